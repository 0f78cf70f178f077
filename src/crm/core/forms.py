"""Form helpers shared by every app's pages: Tabler styling and showing service errors."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_noop

from .errors import DomainError

# Django 6.1's label of an empty choice, which its own catalogue does not translate into
# Chinese yet: marked here so that ours does (LOCALE_PATHS come before Django's catalogue).
BLANK_CHOICE_LABEL = gettext_noop("- Select an option -")

_UNSTYLED = (forms.RadioSelect, forms.CheckboxSelectMultiple, forms.HiddenInput)


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
