"""Custom fields (issue 7, R10.5): definitions, validation of values, display, filters, import
and export cells, and the administrator's services.

Values live in the ``custom`` JSON column of customers, contacts, leads and opportunities, keyed
by the field's ``key``. Stored forms, per kind:

========== ===============================================
text       string, at most 500 characters
long_text  string, at most 5,000 characters
number     JSON number (int when whole), within ±1e15
money      string with two decimals (``"1234.50"``), ≥ 0
date       ISO date string (``"2026-05-01"``)
choice     one of the field's choices (string)
multi      list of the field's choices, in their order
user       id of an active colleague of the organisation
========== ===============================================

An absent key means "no value": clearing a field removes its key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import DecimalField, Max, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils.translation import gettext as _

from . import audit
from .custom_field_models import CustomField, CustomKind, CustomTarget
from .errors import PermissionDenied, ValidationFailed
from .money import format_cny, parse_money

if TYPE_CHECKING:
    from crm.org.models import User

TEXT_LIMIT = 500
LONG_TEXT_LIMIT = 5000
NUMBER_LIMIT = Decimal("1e15")
MAX_CHOICES = 100
CHOICE_LIMIT = 100
MAX_FIELDS = 50  # per record kind
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
CHOICE_KINDS = (CustomKind.CHOICE, CustomKind.MULTI_CHOICE)
#: separators accepted between several choices in an import cell (exports use "; ")
MULTI_SEPARATORS = re.compile(r"[;；|\n]")

#: The description of the ``custom`` member of the API schemas.
CUSTOM_HELP = "Custom fields of your organisation, by key — see GET /api/v1/custom-fields/"
CUSTOM_HELP_UPDATE = CUSTOM_HELP + '. Only the keys sent change; null or "" clears one.'
#: target -> model label of the records it extends
TARGET_MODELS = {
    CustomTarget.CUSTOMER: "customers.Customer",
    CustomTarget.CONTACT: "customers.Contact",
    CustomTarget.LEAD: "leads.Lead",
    CustomTarget.OPPORTUNITY: "pipeline.Opportunity",
}


# --- definitions --------------------------------------------------------------------------------
def definitions(org_id: int, target: str, *, include_retired: bool = False) -> list[CustomField]:
    """The organisation's fields of one record kind, in form order (one query)."""
    qs = CustomField.objects.for_org(org_id).filter(target=target)
    if not include_retired:
        qs = qs.filter(is_active=True)
    return list(qs.order_by("sort_order", "pk"))


def fields_for(
    user: User | Any, target: str, *, include_retired: bool = False
) -> list[CustomField]:
    """The definitions a member of the organisation works with (any member may read them: forms
    need them). Memoised on the user object for the request, like the scope rules."""
    org_id = getattr(user, "org_id", None)
    if org_id is None:
        return []
    cache: dict[tuple[str, bool], list[CustomField]] = user.__dict__.setdefault(
        "_custom_field_cache", {}
    )
    key = (target, include_retired)
    if key not in cache:
        cache[key] = definitions(org_id, target, include_retired=include_retired)
    return cache[key]


def forget(user: Any) -> None:
    """Drop the memoised definitions (after an administrator changed them)."""
    user.__dict__.pop("_custom_field_cache", None)


def list_fields(user: User | Any) -> list[CustomField]:
    """Every definition of the user's organisation (retired ones too), for the settings page and
    GET /api/v1/custom-fields."""
    org_id = getattr(user, "org_id", None)
    if org_id is None:
        return []
    return list(CustomField.objects.for_org(org_id).order_by("target", "sort_order", "pk"))


def get_field(user: User | Any, pk: Any) -> CustomField:
    """One definition of the user's organisation; another organisation's id is NotFound."""
    from .scoping import get_scoped_or_404

    field: CustomField = get_scoped_or_404(CustomField, user, pk, "configure")
    return field


# --- values -------------------------------------------------------------------------------------
def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _clean_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError(_("Enter a number."))
    if isinstance(value, str):
        value = value.strip().replace(",", "").replace("，", "")
    if isinstance(value, float):
        value = str(value)
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(_("Enter a number.")) from None
    if not number.is_finite() or abs(number) > NUMBER_LIMIT:
        raise ValueError(_("Enter a number between -1e15 and 1e15."))
    if number == number.to_integral_value():
        return int(number)
    return float(number)


def _clean_date(value: Any) -> str:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip().replace("/", "-")
        try:
            return date.fromisoformat(
                text[:10] if len(text) > 10 and "T" in text else text
            ).isoformat()
        except ValueError:
            pass
    raise ValueError(_("Enter a date as YYYY-MM-DD."))


def _clean_user(org_id: int, value: Any) -> int:
    from crm.org.models import User

    pk = getattr(value, "pk", value)
    if isinstance(pk, bool):
        raise ValueError(_("Choose an active colleague."))
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise ValueError(_("Choose an active colleague.")) from None
    if not User.objects.for_org(org_id).filter(pk=pk, is_active=True).exists():
        raise ValueError(_("Choose an active colleague."))
    return int(pk)


def clean_value(org_id: int, field: CustomField, value: Any) -> Any:
    """``value`` in the stored form of ``field``'s kind (see the module docstring); raises
    ValueError with a translated message. Blank values must be handled by the caller."""
    kind = field.kind
    if kind in (CustomKind.TEXT, CustomKind.LONG_TEXT):
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ValueError(_("Enter text."))
        value = value.strip()
        limit = TEXT_LIMIT if kind == CustomKind.TEXT else LONG_TEXT_LIMIT
        if len(value) > limit:
            raise ValueError(_("At most %(n)s characters.") % {"n": limit})
        return value
    if kind == CustomKind.NUMBER:
        return _clean_number(value)
    if kind == CustomKind.MONEY:
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise ValueError(_("Enter an amount, e.g. 1234.50."))
        try:
            amount = parse_money(value)
        except ValueError:
            raise ValueError(_("Enter an amount, e.g. 1234.50.")) from None
        return f"{amount:.2f}"
    if kind == CustomKind.DATE:
        return _clean_date(value)
    if kind == CustomKind.CHOICE:
        if not isinstance(value, str) or value.strip() not in field.choices:
            raise ValueError(
                _("Choose one of: %(choices)s.") % {"choices": "、".join(field.choices)}
            )
        return value.strip()
    if kind == CustomKind.MULTI_CHOICE:
        if isinstance(value, str):
            value = [v for v in MULTI_SEPARATORS.split(value)]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError(_("Give a list of choices."))
        chosen = {v.strip() for v in value if v.strip()}
        unknown = sorted(chosen - set(field.choices))
        if unknown:
            raise ValueError(
                _("Not a choice of this field: %(values)s.") % {"values": "、".join(unknown)}
            )
        return [c for c in field.choices if c in chosen]
    if kind == CustomKind.USER:
        return _clean_user(org_id, value)
    raise ValueError(_("Unknown kind of field."))


def clean_custom(
    org_id: int,
    target: str,
    data: Any,
    current: dict[str, Any] | None = None,
    partial: bool = False,
    *,
    fields: list[CustomField] | None = None,
    enforce_required: bool = True,
) -> dict[str, Any]:
    """Validate ``data`` (key → value) for a record of ``target`` and return the values to store.

    ``current`` is None when the record is being created: defaults are applied and every
    required field must have a value. When editing, ``data`` is merged into ``current`` (a key
    given blank clears the value, which a required field refuses); with ``partial`` false every
    required field must have a value afterwards, with ``partial`` true only the keys given are
    checked. Retired fields keep their stored values; changing one is refused. Unknown keys are
    refused. Errors are ValidationFailed with field names ``custom.<key>``. Channels where
    nobody can fill the field in (the public web form) pass ``enforce_required=False``.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationFailed(
            field_errors={"custom": [_("Custom fields must be an object of key → value.")]}
        )
    every = fields if fields is not None else definitions(org_id, target, include_retired=True)
    by_key = {f.key: f for f in every}
    result: dict[str, Any] = dict(current or {})
    errors: dict[str, list[str]] = {}
    for key, value in data.items():
        name = f"custom.{key}"
        field = by_key.get(str(key))
        if field is None:
            errors[name] = [_("There is no custom field “%(key)s”.") % {"key": key}]
            continue
        if not field.is_active:
            if value != result.get(field.key) and not (_blank(value) and field.key not in result):
                errors[name] = [_("This field is retired and can no longer be changed.")]
            continue
        if _blank(value):
            result.pop(field.key, None)
            if field.required:
                errors[name] = [_("“%(label)s” is required.") % {"label": field.label}]
            continue
        try:
            result[field.key] = clean_value(org_id, field, value)
        except ValueError as exc:
            errors[name] = [str(exc.args[0]) if exc.args else _("Enter a valid value.")]
    active = [f for f in every if f.is_active]
    if current is None:
        for field in active:
            if field.key not in result and field.key not in data and field.default is not None:
                result[field.key] = field.default
    if enforce_required and (current is None or not partial):
        for field in active:
            if field.required and field.key not in result and f"custom.{field.key}" not in errors:
                errors[f"custom.{field.key}"] = [
                    _("“%(label)s” is required.") % {"label": field.label}
                ]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return result


def carry_over(
    org_id: int, source: str, values: dict[str, Any] | None, target: str
) -> dict[str, Any]:
    """Values of a ``source`` record that fit the active fields of ``target`` with the same key
    and kind (a lead's values carried to the customer it converts into)."""
    values = values or {}
    if not values:
        return {}
    src = {f.key: f for f in definitions(org_id, source, include_retired=True)}
    return {
        f.key: values[f.key]
        for f in definitions(org_id, target)
        if f.key in values
        and f.key in src
        and src[f.key].kind == f.kind
        and (f.kind not in CHOICE_KINDS or _fits(f, values[f.key]))
    }


def _fits(field: CustomField, value: Any) -> bool:
    chosen = value if isinstance(value, list) else [value]
    return all(v in field.choices for v in chosen)


# --- display ------------------------------------------------------------------------------------
def user_names(org_id: int, ids: Iterable[Any]) -> dict[int, str]:
    """Display names of the organisation's users among ``ids`` (one query)."""
    from crm.org.models import User

    wanted = {int(i) for i in ids if isinstance(i, int) and not isinstance(i, bool)}
    if not wanted:
        return {}
    return {u.pk: u.display_name for u in User.objects.for_org(org_id).filter(pk__in=wanted)}


def user_ids_in(fields: Iterable[CustomField], values: Iterable[dict[str, Any]]) -> set[Any]:
    keys = [f.key for f in fields if f.kind == CustomKind.USER]
    return {v.get(k) for v in values for k in keys if v and v.get(k) is not None}


def display(field: CustomField, value: Any, names: dict[int, str] | None = None) -> str:
    """``value`` as people read it (money as ¥1,234.50, choices joined, colleagues by name)."""
    if value is None or value == "" or value == []:
        return ""
    if field.kind == CustomKind.MONEY:
        try:
            return format_cny(value)
        except (InvalidOperation, ValueError, TypeError):
            return str(value)
    if field.kind == CustomKind.MULTI_CHOICE and isinstance(value, list):
        return "、".join(str(v) for v in value)
    if field.kind == CustomKind.USER:
        return (names or {}).get(value, "") or f"#{value}"
    if field.kind == CustomKind.NUMBER and isinstance(value, float):
        return f"{Decimal(str(value)):f}"
    return str(value)


def rows_for(user: User | Any, target: str, record: Any) -> list[dict[str, Any]]:
    """The record's custom values for its page: active fields (even empty ones), then retired
    fields that still hold a value."""
    values = getattr(record, "custom", None) or {}
    every = fields_for(user, target, include_retired=True)
    names = user_names(record.org_id, user_ids_in(every, [values]))
    rows = []
    for field in sorted(every, key=lambda f: not f.is_active):
        if not field.is_active and field.key not in values:
            continue
        rows.append(
            {
                "field": field,
                "label": field.label,
                "value": display(field, values.get(field.key), names),
                "kind": field.kind,
                "retired": not field.is_active,
            }
        )
    return rows


def list_columns(user: User | Any, target: str) -> list[CustomField]:
    """The active fields shown as list columns."""
    return [f for f in fields_for(user, target) if f.show_in_list]


def column_cells(
    user: User | Any, fields: list[CustomField], records: Iterable[Any]
) -> dict[int, list[str]]:
    """record pk → the display values of ``fields`` (one query at most, for colleagues)."""
    records = list(records)
    org_id = getattr(user, "org_id", None) or 0
    names = user_names(org_id, user_ids_in(fields, [r.custom or {} for r in records]))
    return {r.pk: [display(f, (r.custom or {}).get(f.key), names) for f in fields] for r in records}


# --- filters ------------------------------------------------------------------------------------
def filter_q(field: CustomField, op: str, value: Any, prefix: str = "") -> Q:
    """A condition on ``field``'s values for querysets of its target (``prefix`` reaches it
    through a relation, e.g. ``"customer__"``). ``op`` is ``eq``, ``contains``, ``gte``, ``lte``
    or ``empty``/``set``. Works on SQLite and PostgreSQL. Raises ValueError for a bad value."""
    column = f"{prefix}custom"
    path = f"{column}__{field.key}"
    if op == "empty":
        return Q(**{f"{path}__isnull": True})
    if op == "set":
        return Q(**{f"{path}__isnull": False})
    kind = field.kind
    if op in ("gte", "lte"):
        lookup = GreaterThanOrEqual if op == "gte" else LessThanOrEqual
        if kind in (CustomKind.NUMBER, CustomKind.MONEY):
            number = Decimal(str(_clean_number(value)))
            expr = Cast(KT(path), DecimalField(max_digits=40, decimal_places=10))
            return Q(lookup(expr, number))
        if kind == CustomKind.DATE:
            return Q(lookup(KT(path), _clean_date(value)))
        raise ValueError(_("This field cannot be compared."))
    if kind == CustomKind.MULTI_CHOICE:
        text = str(value).strip()
        # The JSON text of the list holds the element quoted; SQLite keeps \u escapes,
        # PostgreSQL prints characters: match either spelling.
        return _kt_contains(path, {json.dumps(text), json.dumps(text, ensure_ascii=False)})
    if kind in (CustomKind.TEXT, CustomKind.LONG_TEXT) and op == "contains":
        return Q(**{f"{path}__icontains": str(value).strip()})
    if kind == CustomKind.USER:
        try:
            return Q(**{path: int(getattr(value, "pk", value))})
        except (TypeError, ValueError):
            raise ValueError(_("Choose an active colleague.")) from None
    if kind == CustomKind.NUMBER:
        number = Decimal(str(_clean_number(value)))
        expr = Cast(KT(path), DecimalField(max_digits=40, decimal_places=10))
        return Q(GreaterThanOrEqual(expr, number)) & Q(LessThanOrEqual(expr, number))
    if kind == CustomKind.MONEY:
        return Q(**{path: f"{parse_money(value):.2f}"})
    if kind == CustomKind.DATE:
        return Q(**{path: _clean_date(value)})
    return Q(**{path: str(value).strip()})


def _kt_contains(path: str, variants: Iterable[str]) -> Q:
    from django.db.models.lookups import Contains

    q = Q()
    for variant in variants:
        q |= Q(Contains(KT(path), variant))
    return q


# --- lists: columns and the filter of the customer and lead lists -------------------------------
#: list column keys of custom fields are ``cf_<key>`` (built-in column keys never start so)
COLUMN_PREFIX = "cf_"
COLUMN_RE = re.compile(r"^cf_[a-z][a-z0-9_]{0,39}$")


def column_key(field: CustomField) -> str:
    return COLUMN_PREFIX + field.key


def column_defs(user: User | Any, target: str) -> list[tuple[str, CustomField]]:
    """``(column key, field)`` of the fields offered as list columns (``show_in_list``)."""
    return [(column_key(f), f) for f in list_columns(user, target)]


def column_values(
    user: User | Any, fields: list[CustomField], records: Iterable[Any]
) -> dict[int, dict[str, str]]:
    """record pk → {column key → display value} (one query at most, for colleagues)."""
    cells = column_cells(user, fields, records)
    keys = [column_key(f) for f in fields]
    return {pk: dict(zip(keys, values, strict=True)) for pk, values in cells.items()}


def export_values(fields: list[CustomField], record: Any, names: dict[int, str]) -> dict[str, Any]:
    """{column key → export cell} of one record (``names``: the organisation's colleagues)."""
    values = getattr(record, "custom", None) or {}
    return {column_key(f): export_cell(f, values.get(f.key), names) for f in fields}


def all_user_names(org_id: int) -> dict[int, str]:
    """Every colleague's display name (one query), for exports streamed in chunks."""
    from crm.org.models import User

    return {u.pk: u.display_name for u in User.objects.for_org(org_id)}


#: operators of the list filter (``?cf=<key>&cf_op=<op>&cf_value=<value>``), by kind
TEXT_KINDS = (CustomKind.TEXT, CustomKind.LONG_TEXT)
RANGE_KINDS = (CustomKind.NUMBER, CustomKind.MONEY, CustomKind.DATE)


def filter_ops(field: CustomField) -> tuple[str, ...]:
    """The ``filter_q`` operators that suit ``field``'s kind (the first is the default)."""
    if field.kind in TEXT_KINDS:
        return ("contains", "eq", "empty", "set")
    if field.kind in RANGE_KINDS:
        return ("eq", "gte", "lte", "empty", "set")
    return ("eq", "empty", "set")


def filter_choices(user: User | Any, target: str) -> list[tuple[str, str]]:
    """``(key, label)`` of the fields the list filter offers (every active field)."""
    return [(f.key, f.label) for f in fields_for(user, target)]


def list_filter(user: User | Any, target: str, params: Any) -> tuple[Q | None, str]:
    """The condition of a list's custom-field filter from its query string: ``cf`` (the key),
    ``cf_op`` (see :func:`filter_ops`; default the kind's first) and ``cf_value``. Returns
    ``(None, "")`` when no filter is asked for (or no value given), and ``(None, message)``
    for an unknown key, an operator that does not suit the field, or a bad value."""
    key = str(params.get("cf") or "").strip()
    if not key:
        return None, ""
    field = next((f for f in fields_for(user, target) if f.key == key), None)
    if field is None:
        return None, _("There is no custom field “%(key)s”.") % {"key": key[:40]}
    ops = filter_ops(field)
    op = str(params.get("cf_op") or "").strip() or ops[0]
    if op not in ops:
        return None, _("This condition does not suit the field “%(label)s”.") % {
            "label": field.label
        }
    value = str(params.get("cf_value") or "").strip()[:TEXT_LIMIT]
    if op not in ("empty", "set") and not value:
        return None, ""
    if field.kind == CustomKind.USER and op == "eq" and not value.isdigit():
        value = str(import_cell(int(getattr(user, "org_id", 0) or 0), field, value))
    try:
        return filter_q(field, op, value), ""
    except (ValueError, InvalidOperation) as exc:
        message = str(exc.args[0]) if exc.args else _("Enter a valid value.")
        return None, _("%(field)s: %(message)s") % {"field": field.label, "message": message}


# --- conditions of the opportunity query builder -------------------------------------------------
#: condition field names of custom fields are ``cf.<key>``
CONDITION_PREFIX = "cf."
MAX_CONDITION_VALUES = 100


def condition_field(user: User | Any, target: str, name: str) -> CustomField | None:
    """The active field a condition names (``cf.<key>``), or None."""
    key = name.removeprefix(CONDITION_PREFIX)
    return next((f for f in fields_for(user, target) if f.key == key), None)


def condition_type(field: CustomField) -> str:
    """The condition builder's value type of ``field`` (how its value input is drawn)."""
    if field.kind in TEXT_KINDS:
        return "text"
    if field.kind in CHOICE_KINDS:
        return "choice"
    return str(field.kind)  # number, money, date, user


def condition_ops(field: CustomField) -> tuple[str, ...]:
    if field.kind in TEXT_KINDS:
        return ("contains", "eq", "empty", "not_empty")
    if field.kind in RANGE_KINDS:
        return ("eq", "gte", "lte", "between", "empty", "not_empty")
    return ("eq", "in", "empty", "not_empty")


def _condition_value(org_id: int, field: CustomField, raw: Any) -> Any:
    if _blank(raw) or isinstance(raw, list | dict):
        raise ValueError(_("Enter a value."))
    if field.kind == CustomKind.MULTI_CHOICE:
        if not isinstance(raw, str) or raw.strip() not in field.choices:
            raise ValueError(
                _("Choose one of: %(choices)s.") % {"choices": "、".join(field.choices)}
            )
        return raw.strip()
    if field.kind in TEXT_KINDS:
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ValueError(_("Enter text."))
        text = str(raw).strip()
        if len(text) > 200:
            raise ValueError(_("At most %(n)s characters.") % {"n": 200})
        return text
    return clean_value(org_id, field, raw)


def condition_q(org_id: int, field: CustomField, op: str, raw: Any) -> tuple[Q, Any]:
    """The Q of one condition on ``field`` and its cleaned (JSON) value. ``op`` must be one of
    :func:`condition_ops`; raises ValueError with a translated message for a bad value."""
    if op == "empty":
        return filter_q(field, "empty", None), None
    if op == "not_empty":
        return filter_q(field, "set", None), None
    if op == "between":
        if not isinstance(raw, list | tuple) or len(raw) != 2:
            raise ValueError(_("Enter two values."))
        low, high = (_condition_value(org_id, field, v) for v in raw)
        if field.kind == CustomKind.DATE:
            reversed_range = str(low) > str(high)
        else:
            reversed_range = Decimal(str(low)) > Decimal(str(high))
        if reversed_range:
            raise ValueError(_("The first value must not be above the second."))
        return filter_q(field, "gte", low) & filter_q(field, "lte", high), [low, high]
    if op == "in":
        if not isinstance(raw, list | tuple) or not 1 <= len(raw) <= MAX_CONDITION_VALUES:
            raise ValueError(_("Choose between 1 and %(n)s values.") % {"n": MAX_CONDITION_VALUES})
        values = list(dict.fromkeys(_condition_value(org_id, field, v) for v in raw))
        q = Q()
        for value in values:
            q |= filter_q(field, "eq", value)
        return q, values
    value = _condition_value(org_id, field, raw)
    return filter_q(field, op, value), value


# --- import and export --------------------------------------------------------------------------
def export_cell(field: CustomField, value: Any, names: dict[int, str] | None = None) -> Any:
    """The value of an export cell: numbers and amounts as numbers, lists joined by "; ",
    colleagues by name, everything else as text."""
    if value is None or value == "" or value == []:
        return ""
    if field.kind == CustomKind.MONEY:
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return str(value)
    if field.kind == CustomKind.NUMBER:
        return Decimal(str(value)) if isinstance(value, float) else value
    if field.kind == CustomKind.MULTI_CHOICE and isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if field.kind == CustomKind.USER:
        return (names or {}).get(value, str(value))
    return str(value)


def import_cell(org_id: int, field: CustomField, raw: Any) -> Any:
    """An import cell as a value ``clean_custom`` accepts: colleagues by name, login or id;
    several choices separated by ; ； | or line breaks; blank as None."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if field.kind == CustomKind.USER and isinstance(raw, str) and not raw.strip().isdigit():
        from crm.org.models import User

        text = raw.strip()
        match = (
            User.objects.for_org(org_id)
            .filter(is_active=True)
            .filter(Q(username=text) | Q(name=text) | Q(email__iexact=text))
            .values_list("pk", flat=True)
            .first()
        )
        return match if match is not None else text
    if field.kind == CustomKind.DATE and isinstance(raw, datetime | date):
        return raw
    return raw


# --- administration -----------------------------------------------------------------------------
def _require_admin(actor: Any) -> None:
    if not getattr(actor, "can", None) or not actor.can("settings", "configure"):
        raise PermissionDenied()


def _clean_definition(
    org_id: int, data: dict[str, Any], field: CustomField
) -> dict[str, list[str]]:
    """Validate and apply ``data`` (label, choices, required, default, help_text, sort_order,
    show_in_list) to ``field``; returns field errors."""
    errors: dict[str, list[str]] = {}
    if "label" in data:
        label = str(data.get("label") or "").strip()
        if not label:
            errors["label"] = [_("Enter a label.")]
        elif len(label) > 60:
            errors["label"] = [_("At most %(n)s characters.") % {"n": 60}]
        field.label = label
    if "help_text" in data:
        help_text = str(data.get("help_text") or "").strip()
        if len(help_text) > 200:
            errors["help_text"] = [_("At most %(n)s characters.") % {"n": 200}]
        field.help_text = help_text
    if "choices" in data:
        raw = data.get("choices") or []
        if isinstance(raw, str):
            raw = raw.splitlines()
        if not isinstance(raw, list | tuple) or not all(isinstance(c, str) for c in raw):
            errors["choices"] = [_("Give the choices as a list of texts.")]
            raw = []
        choices: list[str] = []
        for choice in raw:
            choice = choice.strip()
            if choice and choice not in choices:
                choices.append(choice)
        if any(len(c) > CHOICE_LIMIT for c in choices):
            errors["choices"] = [_("A choice has at most %(n)s characters.") % {"n": CHOICE_LIMIT}]
        elif len(choices) > MAX_CHOICES:
            errors["choices"] = [_("At most %(n)s choices.") % {"n": MAX_CHOICES}]
        elif any(MULTI_SEPARATORS.search(c) for c in choices):
            errors["choices"] = [_("A choice cannot contain ; ； or |.")]
        field.choices = choices if field.kind in CHOICE_KINDS else []
    if field.kind in CHOICE_KINDS and not field.choices and "choices" not in errors:
        errors["choices"] = [_("Enter at least one choice, one per line.")]
    for flag in ("required", "show_in_list"):
        if flag in data:
            setattr(field, flag, bool(data.get(flag)))
    if "sort_order" in data and data.get("sort_order") not in (None, ""):
        try:
            order = int(data["sort_order"])
        except (TypeError, ValueError):
            order = -1
        if 0 <= order <= 1_000_000:
            field.sort_order = order
        else:
            errors["sort_order"] = [
                _("Enter a whole number from 0 to %(max)s.") % {"max": 1_000_000}
            ]
    if "default" in data:
        default = data.get("default")
        if _blank(default):
            field.default = None
        elif "choices" not in errors:
            try:
                field.default = clean_value(org_id, field, default)
            except ValueError as exc:
                errors["default"] = [str(exc.args[0])]
    elif field.default is not None and field.kind in CHOICE_KINDS and "choices" in data:
        try:
            field.default = clean_value(org_id, field, field.default)
        except ValueError:
            errors["default"] = [_("The default is no longer one of the choices.")]
    return errors


@transaction.atomic
def create_field(*, actor: User | Any, data: dict[str, Any]) -> CustomField:
    """Define a new field (administrators: ``settings:configure``)."""
    _require_admin(actor)
    org_id = int(actor.org_id or 0)
    errors: dict[str, list[str]] = {}
    target = str(data.get("target") or "")
    kind = str(data.get("kind") or "")
    key = str(data.get("key") or "").strip().lower()
    if target not in CustomTarget.values:
        errors["target"] = [_("Choose the kind of record.")]
    if kind not in CustomKind.values:
        errors["kind"] = [_("Choose the kind of field.")]
    if not KEY_RE.match(key):
        errors["key"] = [
            _(
                "Use a lower-case letter, then letters, digits or underscores "
                "(at most 40), e.g. contract_region."
            )
        ]
    elif target in CustomTarget.values:
        existing = CustomField.objects.for_org(org_id).filter(target=target)
        if existing.filter(key=key).exists():
            errors["key"] = [_("This key is already used by another field of this record kind.")]
        elif existing.count() >= MAX_FIELDS:
            errors["target"] = [_("At most %(n)s fields per record kind.") % {"n": MAX_FIELDS}]
    if "label" not in data:
        errors["label"] = [_("Enter a label.")]
    field = CustomField(org_id=org_id, target=target, key=key, kind=kind)
    if kind in CustomKind.values:
        errors.update({k: v for k, v in _clean_definition(org_id, data, field).items()})
    if errors:
        raise ValidationFailed(field_errors=errors)
    if "sort_order" not in data or data.get("sort_order") in (None, ""):
        top = (
            CustomField.objects.for_org(org_id)
            .filter(target=target)
            .aggregate(top=Max("sort_order"))["top"]
        )
        field.sort_order = (top or 0) + 10
    field.save()
    audit.record_created(actor=actor, obj=field, verb="custom_field.created")
    forget(actor)
    return field


@transaction.atomic
def update_field(*, actor: User | Any, field: CustomField, data: dict[str, Any]) -> CustomField:
    """Change a field's label, choices, required flag, default, help text, order or list
    display. Its key, record kind and kind never change (stored values depend on them)."""
    _require_admin(actor)
    if field.org_id != actor.org_id:
        from .errors import NotFound

        raise NotFound()
    errors: dict[str, list[str]] = {}
    for fixed in ("key", "target", "kind"):
        if fixed in data and data[fixed] not in (None, getattr(field, fixed)):
            errors[fixed] = [_("This cannot be changed once the field exists.")]
    before = audit.snapshot(field)
    errors.update(_clean_definition(field.org_id, data, field))
    if errors:
        raise ValidationFailed(field_errors=errors)
    field.save()
    changes = audit.diff(before, audit.snapshot(field))
    if changes:
        audit.record(actor=actor, obj=field, verb="custom_field.updated", changes=changes)
    forget(actor)
    return field


@transaction.atomic
def set_active(*, actor: User | Any, field: CustomField, active: bool) -> CustomField:
    """Retire a field (hidden from forms and lists; stored values are kept) or restore it."""
    _require_admin(actor)
    if field.org_id != actor.org_id:
        from .errors import NotFound

        raise NotFound()
    if field.is_active != active:
        field.is_active = active
        field.save(update_fields=["is_active", "updated_at"])
        audit.record(
            actor=actor,
            obj=field,
            verb="custom_field.restored" if active else "custom_field.retired",
            changes={"is_active": [not active, active]},
        )
    forget(actor)
    return field


@transaction.atomic
def reorder(*, actor: User | Any, target: str, keys: list[str]) -> list[CustomField]:
    """Put the fields of ``target`` in the order of ``keys`` (others keep theirs, after)."""
    _require_admin(actor)
    org_id = int(actor.org_id or 0)
    fields = definitions(org_id, target, include_retired=True)
    by_key = {f.key: f for f in fields}
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise ValidationFailed(
            field_errors={"keys": [_("There is no custom field “%(key)s”.") % {"key": unknown[0]}]}
        )
    order = [by_key[k] for k in dict.fromkeys(keys)] + [f for f in fields if f.key not in keys]
    for position, field in enumerate(order, 1):
        if field.sort_order != position * 10:
            field.sort_order = position * 10
            field.save(update_fields=["sort_order", "updated_at"])
    if order:
        audit.record(
            actor=actor,
            obj=order[0],
            verb="custom_field.reordered",
            data={"target": target, "keys": [f.key for f in order]},
        )
    forget(actor)
    return order
