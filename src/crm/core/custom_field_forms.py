"""Forms of custom fields (issue 7, R10.5): the mixin that gives the customer, contact, lead and
opportunity forms one field per active custom field (``cf_<key>``), and the administrator's
definition form."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from . import custom_fields as cf
from .custom_field_models import CustomField, CustomKind, CustomTarget
from .forms import TablerForm

PREFIX = "cf_"


def _colleague_choices(org_id: int, current: Any = None) -> list[tuple[str, str]]:
    from crm.org.models import User

    users = User.objects.for_org(org_id).filter(is_active=True).order_by("display_name", "pk")
    choices = [(str(u.pk), u.display_name) for u in users]
    if current not in (None, "") and str(current) not in {c for c, _l in choices}:
        names = cf.user_names(org_id, [current])
        choices.append((str(current), names.get(current, f"#{current}")))
    return [("", "—"), *choices]


def form_field(org_id: int, field: CustomField, current: Any = None) -> forms.Field:
    """The Django form field of one custom field (``current`` keeps a value no longer offered,
    e.g. a choice that was removed, selectable)."""
    common: dict[str, Any] = {
        "label": field.label,
        "required": field.required,
        "help_text": field.help_text,
    }
    kind = field.kind
    if kind == CustomKind.TEXT:
        return forms.CharField(max_length=cf.TEXT_LIMIT, **common)
    if kind == CustomKind.LONG_TEXT:
        return forms.CharField(
            max_length=cf.LONG_TEXT_LIMIT, widget=forms.Textarea(attrs={"rows": 3}), **common
        )
    if kind == CustomKind.NUMBER:
        return forms.DecimalField(
            max_value=cf.NUMBER_LIMIT,
            min_value=-cf.NUMBER_LIMIT,
            widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
            **common,
        )
    if kind == CustomKind.MONEY:
        return forms.CharField(
            max_length=30,
            widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "0.00"}),
            **common,
        )
    if kind == CustomKind.DATE:
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if kind == CustomKind.CHOICE:
        options = list(field.choices)
        if isinstance(current, str) and current and current not in options:
            options.append(current)
        return forms.ChoiceField(choices=[("", "—"), *[(c, c) for c in options]], **common)
    if kind == CustomKind.MULTI_CHOICE:
        options = list(field.choices)
        for value in current if isinstance(current, list) else []:
            if value not in options:
                options.append(value)
        return forms.MultipleChoiceField(
            choices=[(c, c) for c in options],
            widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
            **common,
        )
    return forms.ChoiceField(choices=_colleague_choices(org_id, current), **common)


def form_initial(field: CustomField, value: Any) -> Any:
    """A stored value as the form field's initial value."""
    if value is None:
        return None
    if field.kind == CustomKind.DATE and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    if field.kind == CustomKind.USER:
        return str(value)
    if field.kind == CustomKind.NUMBER:
        return Decimal(str(value))
    return value


def initial_values(org_id: int, target: str, values: dict[str, Any] | None) -> dict[str, Any]:
    """``cf_<key>`` initial values of an edit form from a record's stored values."""
    values = values or {}
    return {
        PREFIX + f.key: form_initial(f, values.get(f.key)) for f in cf.definitions(org_id, target)
    }


class CustomFieldsMixin:
    """Adds ``cf_<key>`` fields to a form. Call ``add_custom_fields(user, target, record)`` in
    ``__init__`` before ``style_fields()``; ``custom_data()`` is the ``custom`` entry of the
    service's data; service errors named ``custom.<key>`` land on their field."""

    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]
    custom_definitions: list[CustomField]

    def add_custom_fields(
        self, user: Any, target: str, record: Any = None, *, creating: bool | None = None
    ) -> None:
        """``record`` is the one edited (its values are the initial ones); creating (no record,
        unless ``creating`` says otherwise) starts from the fields' defaults."""
        org_id = user.org_id
        self.custom_definitions = cf.fields_for(user, target)
        creating = record is None if creating is None else creating
        values = (getattr(record, "custom", None) or {}) if record is not None else {}
        for field in self.custom_definitions:
            current = values.get(field.key)
            form_fld = form_field(org_id, field, current)
            if creating:
                form_fld.initial = form_initial(field, field.default)
            else:
                form_fld.initial = form_initial(field, current)
            form_fld.widget.attrs["data-custom-field"] = field.key
            self.fields[PREFIX + field.key] = form_fld

    def custom_bound_fields(self) -> list[Any]:
        """The bound ``cf_`` fields, in order, for the template."""
        return [self[PREFIX + f.key] for f in getattr(self, "custom_definitions", [])]  # type: ignore[index]

    def custom_data(self) -> dict[str, Any]:
        """The values of the ``cf_`` fields for ``clean_custom`` (blank as None)."""
        data: dict[str, Any] = {}
        for field in getattr(self, "custom_definitions", []):
            value = self.cleaned_data.get(PREFIX + field.key)
            if value in (None, "", []):
                data[field.key] = None
            elif isinstance(value, date):
                data[field.key] = value.isoformat()
            else:
                data[field.key] = value
        return data

    def field_for_error(self, name: str) -> str:
        """The form field a service error named ``custom.<key>`` belongs on."""
        if name.startswith("custom."):
            return PREFIX + name.removeprefix("custom.")
        return name


class CustomFieldForm(TablerForm):
    """An administrator's definition of a custom field. Key, record kind and kind are fixed once
    the field exists (the edit form leaves them out)."""

    target = forms.ChoiceField(label=_("Record kind"), choices=CustomTarget.choices)
    label = forms.CharField(label=_("Label"), max_length=60)
    key = forms.CharField(
        label=_("Key"),
        max_length=40,
        help_text=_(
            "Used in the API, imports and exports; lower-case letters, digits and _; "
            "cannot be changed later."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=CustomKind.choices)
    choices = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("For single and multiple choice: one per line."),
    )
    default = forms.CharField(
        label=_("Default"),
        required=False,
        max_length=500,
        help_text=_(
            "Filled in on new records. Dates as YYYY-MM-DD; several choices separated by ;"
        ),
    )
    help_text = forms.CharField(label=_("Help text"), required=False, max_length=200)
    required = forms.BooleanField(label=_("Required"), required=False)
    show_in_list = forms.BooleanField(label=_("Show as a list column"), required=False)
    sort_order = forms.IntegerField(label=_("Order"), required=False, min_value=0)

    def __init__(self, *args: Any, field: CustomField | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance = field
        if field is not None:
            for name in ("target", "key", "kind"):
                del self.fields[name]

    @staticmethod
    def initial_for(field: CustomField) -> dict[str, Any]:
        default = field.default
        if isinstance(default, list):
            default = "; ".join(str(v) for v in default)
        return {
            "label": field.label,
            "choices": "\n".join(field.choices),
            "default": "" if default is None else str(default),
            "help_text": field.help_text,
            "required": field.required,
            "show_in_list": field.show_in_list,
            "sort_order": field.sort_order,
        }

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["choices"] = (data.get("choices") or "").splitlines()
        default = (data.get("default") or "").strip()
        data["default"] = default or None
        if data.get("sort_order") is None:
            data.pop("sort_order", None)
        return data


#: labels of the list filter's operators (``cf_op``)
FILTER_OP_LABELS: dict[str, Any] = {
    "contains": _("contains"),
    "eq": _("is"),
    "gte": _("at least"),
    "lte": _("at most"),
    "empty": _("is empty"),
    "set": _("is not empty"),
}


def add_filter_fields(form: Any, user: Any, target: str) -> None:
    """Give a list's filter form the custom-field filter: ``cf`` (which field), ``cf_op`` and
    ``cf_value`` (``cf.list_filter`` applies them). Nothing when the organisation has no
    active field of ``target``. Call before ``style_fields()``."""
    choices = cf.filter_choices(user, target)
    if not choices:
        return
    form.fields["cf"] = forms.ChoiceField(
        label=_("Custom field"), required=False, choices=[("", "—"), *choices]
    )
    form.fields["cf_op"] = forms.ChoiceField(
        label=_("Condition"),
        required=False,
        choices=[("", _("is / contains")), *FILTER_OP_LABELS.items()],
    )
    suggestions = sorted({c for f in cf.fields_for(user, target) for c in f.choices})
    form.fields["cf_value"] = forms.CharField(
        label=_("Value"),
        required=False,
        max_length=cf.TEXT_LIMIT,
        widget=forms.TextInput(
            attrs={"list": f"cf-values-{target}", "autocomplete": "off"} if suggestions else {}
        ),
    )
    form.cf_suggestions = suggestions
    form.cf_target = target
