"""Form helpers shared by every app's pages: Tabler styling and showing service errors."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_noop

from .errors import DomainError

# Django 6.1's label of an empty choice, which its own catalogue does not translate into
# Chinese yet: marked here so that ours does (LOCALE_PATHS come before Django's catalogue).
BLANK_CHOICE_LABEL = gettext_noop("- Select an option -")

_UNSTYLED = (forms.RadioSelect, forms.CheckboxSelectMultiple, forms.HiddenInput)


def choices_from(field: forms.ModelChoiceField, objects: list[Any]) -> list[tuple[Any, Any]]:
    """The options ``field`` would render for ``objects`` (its empty option first), built from
    rows the page has read already instead of a query of its own (R11.2); the same values as
    the field's iterator (widgets that read ``value.instance`` keep working). The field keeps
    its queryset: a posted choice is still checked against it."""
    iterator = field.iterator(field)
    empty = [] if field.empty_label is None else [("", field.empty_label)]
    return empty + [iterator.choice(obj) for obj in objects]


def show_choices(field: Any, objects: list[Any]) -> None:
    """Let the model choice ``field`` render ``objects`` (see :func:`choices_from`)."""
    field.choices = choices_from(field, objects)


class _FastSelectRender:
    """``Select.render`` without a template per option: the same HTML as Django's templates
    (``select.html`` including ``select_option.html`` and ``attrs.html`` for every option), but
    written in Python. A filter bar's owner select of a 500-person organisation rendered 500
    template includes, ~40 ms of a list page (R11.2)."""

    @staticmethod
    def _attrs(attrs: dict[str, Any]) -> str:
        """``attrs.html``: in order, ``True`` as a bare name, ``False`` left out."""
        return mark_safe(  # noqa: S308  (each piece went through format_html)
            "".join(
                format_html(" {}", name) if value is True else format_html(' {}="{}"', name, value)
                for name, value in attrs.items()
                if value is not False
            )
        )

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> str:
        widget = self.get_context(name, value, attrs)["widget"]  # type: ignore[attr-defined]
        out: list[str] = [
            format_html('<select name="{}"{}>', widget["name"], self._attrs(widget["attrs"]))
        ]
        for group_name, options, _index in widget["optgroups"]:
            if group_name:
                out.append(format_html('\n  <optgroup label="{}">', group_name))
            out.extend(
                format_html(
                    '\n  <option value="{}"{}>{}</option>\n',
                    str(option["value"]),
                    self._attrs(option["attrs"]),
                    option["label"],
                )
                for option in options
            )
            if group_name:
                out.append("\n  </optgroup>")
        out.append("\n</select>")
        return mark_safe("".join(out))  # noqa: S308  (every piece went through format_html)


class FastSelect(_FastSelectRender, forms.Select):  # type: ignore[misc]
    pass


_FAST: dict[type, type] = {forms.Select: FastSelect}


class TablerFormMixin:
    """Gives every widget its Tabler class (call ``style_fields()`` once the fields are final)
    and marks fields with errors ``is-invalid``."""

    fields: dict[str, forms.Field]

    def style_fields(self) -> None:
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, _UNSTYLED):
                continue
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
                if type(widget) in _FAST:  # plain selects only: custom ones keep their templates
                    widget.__class__ = _FAST[type(widget)]
            else:
                css = "form-control"
            if css not in widget.attrs.get("class", "").split():
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def set_queryset(self, name: str, queryset: Any) -> None:
        """Limit the choices of the model choice field ``name`` to ``queryset``."""
        field = self.fields[name]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = queryset

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        self._mark_invalid()

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)  # type: ignore[misc]
        self._mark_invalid()

    def _mark_invalid(self) -> None:
        for name in getattr(self, "_errors", None) or {}:
            if name in self.fields:
                widget = self.fields[name].widget
                if "is-invalid" not in widget.attrs.get("class", ""):
                    widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()


class TablerForm(TablerFormMixin, forms.Form):
    """A plain form styled for Tabler."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style_fields()


def apply_domain_error(
    form: forms.Form, exc: DomainError, aliases: dict[str, str] | None = None
) -> None:
    """Show a service error on ``form``: field errors on their fields (renamed through
    ``aliases``, e.g. ``{"permissions": "perm"}``), anything else at the top of the form."""
    aliases = aliases or {}
    for field, messages in exc.field_errors.items():
        name = aliases.get(field, field)
        if hasattr(form, "field_for_error"):  # custom fields: "custom.<key>" -> "cf_<key>"
            name = form.field_for_error(name)
        for message in messages:
            form.add_error(name if name in form.fields else None, str(message))
    if not exc.field_errors:
        form.add_error(None, str(exc.message))


def raise_unless_form_error(exc: DomainError) -> None:
    """Not-found and permission errors go to the error pages; the rest belong on the form."""
    if exc.status in (403, 404):
        raise exc


def error_text(exc: DomainError) -> str:
    """One line for a flash message: the field messages, or the error's message."""
    texts = [str(m) for msgs in exc.field_errors.values() for m in msgs]
    return " ".join(texts) if texts else str(exc.message)
