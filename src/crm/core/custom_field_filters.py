"""Filters on custom fields by query parameter (issue 7): ``cf_<key>=value`` on the customer,
lead and opportunity list pages, their exports, and their list APIs.

=================== ================================== =========================================
kind                ``cf_<key>=value``                 ``cf_<key>_min`` / ``cf_<key>_max``
=================== ================================== =========================================
text, long text     contains, case-insensitive         —
choice              equals (one of the choices)        —
multiple choice     the list holds the choice          —
colleague           equals (id, login or name)         —
number, money       equals                             at least / at most (numerically)
date                equals (``YYYY-MM-DD``)            on or after / on or before
=================== ================================== =========================================

Several parameters combine with AND. The conditions run in SQL on the ``custom`` JSON column
(:func:`crm.core.custom_fields.filter_q`), on SQLite and PostgreSQL alike. ``cf_op`` and
``cf_value`` stay the single-field filter of :func:`crm.core.custom_fields.list_filter`; a key
that itself ends in ``_min``/``_max`` is matched as that key first.

An unknown key (also another organisation's or a retired field's), a range on a kind without
one, or a bad value is a problem: the API answers 422 naming the parameter; a page ignores that
parameter and shows the message above the list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import custom_fields as cf
from .custom_field_models import CustomField, CustomKind
from .errors import ValidationFailed
from .money import parse_money

PARAM_PREFIX = "cf_"
#: the single-field filter's parameters (``cf``, ``cf_op``, ``cf_value``), never a field filter
RESERVED = frozenset({"cf_op", "cf_value"})
#: the longest value a filter parameter takes (longer is a problem, not silently cut)
MAX_VALUE = 200
#: the most filter parameters one request may carry
MAX_PARAMS = 50
BOUNDS = {"_min": "gte", "_max": "lte"}


class FilterProblem(ValidationFailed):
    """A custom-field filter parameter the API cannot apply (422, like any bad parameter)."""

    status = 422


@dataclass
class ParamFilters:
    """The parsed ``cf_*`` parameters of one request."""

    q: Q = field(default_factory=Q)
    applied: list[str] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def problem(self, param: str, message: str) -> None:
        self.errors.setdefault(param, []).append(message)

    @property
    def messages(self) -> list[str]:
        return [f"{param}: {m}" for param, msgs in self.errors.items() for m in msgs]


def _field_of(fields: dict[str, CustomField], name: str) -> tuple[CustomField | None, str, str]:
    """(field, op suffix "" / "_min" / "_max", key) of a parameter name without its prefix."""
    if name in fields:
        return fields[name], "", name
    for suffix in BOUNDS:
        if name.endswith(suffix) and name[: -len(suffix)] in fields:
            return fields[name[: -len(suffix)]], suffix, name[: -len(suffix)]
    base = next((name[: -len(s)] for s in BOUNDS if name.endswith(s)), name)
    return None, "", base


def _condition(org_id: int, f: CustomField, suffix: str, value: str) -> tuple[Q, Any]:
    """The Q of one parameter and its cleaned value; ValueError with a translated message."""
    kind = f.kind
    if suffix and kind not in cf.RANGE_KINDS:
        raise ValueError(_("Only numbers, amounts and dates have a range (_min, _max)."))
    if kind in cf.TEXT_KINDS:
        return cf.filter_q(f, "contains", value), value
    if kind in cf.CHOICE_KINDS:
        if value not in f.choices:
            raise ValueError(_("Choose one of: %(choices)s.") % {"choices": "、".join(f.choices)})
        return cf.filter_q(f, "eq", value), value
    if kind == CustomKind.USER:
        pk = cf.import_cell(org_id, f, value)
        if not str(pk).isdigit():
            raise ValueError(_("Choose an active colleague."))
        return cf.filter_q(f, "eq", int(pk)), int(pk)
    op = BOUNDS.get(suffix, "eq")
    if kind == CustomKind.DATE:
        cleaned: Any = cf._clean_date(value)
    elif kind == CustomKind.MONEY:
        try:
            cleaned = parse_money(value)
        except ValueError:
            raise ValueError(_("Enter an amount of 0 or more, e.g. 1234.50.")) from None
    else:
        cleaned = Decimal(str(cf._clean_number(value)))
    return cf.filter_q(f, op, cleaned), cleaned


def parse(user: Any, target: str, params: Any) -> ParamFilters:
    """The ``cf_<key>``, ``cf_<key>_min`` and ``cf_<key>_max`` parameters of ``params`` (a
    QueryDict or dict) as one Q over ``target``'s records, with the problems by parameter.
    Blank values are ignored (a filter form sends every input)."""
    out = ParamFilters()
    names = [n for n in params if n.startswith(PARAM_PREFIX) and n not in RESERVED]
    if not names:
        return out
    if len(names) > MAX_PARAMS:
        out.problem("cf_", _("At most %(n)s custom-field filters.") % {"n": MAX_PARAMS})
        return out
    org_id = int(getattr(user, "org_id", 0) or 0)
    fields = {f.key: f for f in cf.fields_for(user, target)}
    bounds: dict[str, dict[str, Any]] = {}
    for name in names:
        raw = params.get(name)
        value = str(raw if raw is not None else "").strip()
        if not value:
            continue
        param = name[:60]
        f, suffix, key = _field_of(fields, name[len(PARAM_PREFIX) :])
        if f is None:
            out.problem(param, _("There is no custom field “%(key)s”.") % {"key": key[:40]})
            continue
        if len(value) > MAX_VALUE:
            out.problem(param, _("At most %(n)s characters.") % {"n": MAX_VALUE})
            continue
        try:
            q, cleaned = _condition(org_id, f, suffix, value)
        except (ValueError, InvalidOperation) as exc:
            message = str(exc.args[0]) if exc.args else _("Enter a valid value.")
            out.problem(param, f"{f.label}: {message}")
            continue
        if suffix:
            bounds.setdefault(f.key, {})[suffix] = cleaned
        out.q &= q
        out.applied.append(name)
    for key, pair in bounds.items():
        if "_min" in pair and "_max" in pair and pair["_min"] > pair["_max"]:
            out.problem(
                f"{PARAM_PREFIX}{key}_min",
                _("%(label)s: the lower bound is above the upper bound.")
                % {"label": fields[key].label},
            )
    return out


def filter_for_api(user: Any, target: str, params: Any, qs: Any) -> Any:
    """``qs`` narrowed by the request's ``cf_*`` parameters; any problem raises
    :class:`FilterProblem` (the API answers 422 with the parameter as the field)."""
    parsed = parse(user, target, params)
    if parsed.errors:
        raise FilterProblem(_("Please correct the errors below."), field_errors=parsed.errors)
    return qs.filter(parsed.q) if parsed.applied else qs


def filter_for_page(user: Any, target: str, params: Any, qs: Any, problems: list[str]) -> Any:
    """``qs`` narrowed by the valid ``cf_*`` parameters; each bad one is left out and its
    message added to ``problems`` (shown above the list)."""
    parsed = parse(user, target, params)
    for message in parsed.messages:
        problems.append(_("Filter ignored: %(message)s") % {"message": message})
    return qs.filter(parsed.q) if parsed.applied else qs


def has_filters(params: Any) -> bool:
    """Whether the request carries any non-blank ``cf_<key>`` parameter."""
    return any(
        n.startswith(PARAM_PREFIX) and n not in RESERVED and str(params.get(n) or "").strip()
        for n in params
    )


#: the help of the list APIs' custom-field parameters (also in docs/custom-fields.md)
API_HELP = (
    "Custom-field filters (not listed as parameters, their names depend on your fields): "
    "cf_<key>=value (text contains; choice, colleague, number, amount and date equal; "
    "multiple choice holds), cf_<key>_min and cf_<key>_max for numbers, amounts and dates. "
    "An unknown key or a bad value answers 422."
)


# --- the filter inputs of the list pages ---------------------------------------------------------
class CustomFieldFilterForm(forms.Form):
    """One input per active custom field of ``target`` (two for ranges), named like the
    parameters :func:`parse` reads, bound to the list's query string."""

    def __init__(self, data: Any, *, user: Any, target: str) -> None:
        super().__init__(data or None)
        colleagues: list[tuple[str, str]] | None = None
        for f in cf.fields_for(user, target):
            name = PARAM_PREFIX + f.key
            if f.kind in cf.RANGE_KINDS:
                attrs: dict[str, str] = {"data-cf-filter": f.key}
                widget: type[forms.Widget] = (
                    forms.DateInput if f.kind == CustomKind.DATE else (forms.NumberInput)
                )
                if f.kind == CustomKind.DATE:
                    attrs["type"] = "date"
                else:
                    attrs["step"] = "0.01" if f.kind == CustomKind.MONEY else "any"
                for suffix, label in (("_min", gettext_lazy("from")), ("_max", gettext_lazy("to"))):
                    self.fields[name + suffix] = forms.CharField(
                        label=f"{f.label} · {label}",
                        required=False,
                        max_length=MAX_VALUE,
                        widget=widget(attrs=dict(attrs)),
                    )
            elif f.kind in cf.CHOICE_KINDS:
                self.fields[name] = forms.ChoiceField(
                    label=f.label,
                    required=False,
                    choices=[("", "—"), *((c, c) for c in f.choices)],
                    widget=forms.Select(attrs={"data-cf-filter": f.key}),
                )
            elif f.kind == CustomKind.USER:
                if colleagues is None:
                    names = cf.all_user_names(int(getattr(user, "org_id", 0) or 0))
                    ordered = sorted(names.items(), key=lambda item: item[1])
                    colleagues = [(str(pk), n) for pk, n in ordered]
                self.fields[name] = forms.ChoiceField(
                    label=f.label,
                    required=False,
                    choices=[("", "—"), *colleagues],
                    widget=forms.Select(attrs={"data-cf-filter": f.key}),
                )
            else:
                self.fields[name] = forms.CharField(
                    label=f.label,
                    required=False,
                    max_length=MAX_VALUE,
                    widget=forms.TextInput(
                        attrs={"data-cf-filter": f.key, "placeholder": _("contains")}
                    ),
                )
        for form_field in self.fields.values():
            css = "form-select" if isinstance(form_field.widget, forms.Select) else "form-control"
            form_field.widget.attrs["class"] = f"{css} form-control-sm".replace(
                "form-select form-control-sm", "form-select form-select-sm"
            )

    @property
    def active(self) -> bool:
        """Whether any of the inputs holds a value (the section opens)."""
        return bool(self.data) and has_filters(self.data)
