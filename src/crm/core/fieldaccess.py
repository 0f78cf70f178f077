"""Field-level permissions (R1.4): which fields a role may see, see masked, or not change.

A role's ``field_rules`` maps a *protectable key* (``"customers.Customer.phone"``) to one of
``visible`` (the default), ``readonly``, ``masked`` or ``hidden``. A key covers one or more
model fields (``"sales.Contract.amount"`` covers the amount and the received, invoiced,
written-off and refunded amounts, which would give the amount away).

Effective rule of a user: the **most permissive** rule across their roles (roles combine with
OR, as data scopes do); a role that says nothing about a key leaves it visible. Organisation
admins (``settings:configure``) see and edit everything.

Enforcement happens in one place: :meth:`ScopedQuerySet.visible_to` attaches the viewer to the
queryset (:func:`attach`), and everything read through it is redacted:

* model instances (and the rows they ``select_related``) get masked values (phone
  ``138****1234``, e-mail ``a***@example.com``, text ``****1234``) or blanks/``None`` for hidden
  fields and amounts; the originals stay on the instance (``_fa_state``) so a later ``save()``
  puts them back when the field was not changed and refuses a change
  (:class:`~crm.core.errors.PermissionDenied`);
* ``values()`` / ``values_list()`` rows and ``aggregate()`` results that read a masked or
  hidden field (directly or through an annotation) are masked or ``None``.

Services that write with ``QuerySet.update`` call :func:`guard_write` first. Pages disable the
fields (:func:`protect_form`). Webhook payloads are redacted as the endpoint's creator
(:func:`redact_event_data`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import F
from django.db.models.expressions import Col
from django.db.models.query import FlatValuesListIterable, ValuesIterable, ValuesListIterable
from django.utils.translation import gettext_lazy as _

from .errors import PermissionDenied

VISIBLE = "visible"
READONLY = "readonly"
MASKED = "masked"
HIDDEN = "hidden"
RULES: list[tuple[str, Any]] = [
    (VISIBLE, _("Visible")),
    (READONLY, _("Read-only")),
    (MASKED, _("Masked")),
    (HIDDEN, _("Hidden")),
]
RULE_KEYS = [r for r, _label in RULES]
#: higher = more restrictive; the effective rule is the lowest across a user's roles
RANK = {VISIBLE: 0, READONLY: 1, MASKED: 2, HIDDEN: 3}

PHONE, EMAIL, AMOUNT, TEXT = "phone", "email", "amount", "text"


@dataclass(frozen=True)
class Protectable:
    """One protectable item: ``key`` names it in role rules; ``fields`` are the model fields."""

    key: str
    label: Any
    kind: str
    fields: tuple[str, ...]
    #: fields of other models that give the same value away: ((model label, fields), ...)
    also: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def model_label(self) -> str:
        return self.key.rsplit(".", 1)[0]


def _p(
    key: str,
    label: Any,
    kind: str,
    *fields: str,
    also: tuple[tuple[str, tuple[str, ...]], ...] = (),
) -> Protectable:
    return Protectable(key, label, kind, fields or (key.rsplit(".", 1)[1],), also)


#: The registry. Personal data (docs/security.md) = every phone, e-mail and invoicing entry.
PROTECTABLE: list[Protectable] = [
    _p("customers.Customer.phone", _("Customer phone"), PHONE),
    _p("customers.Customer.email", _("Customer e-mail"), EMAIL),
    _p("customers.Customer.invoice_title", _("Invoice title"), TEXT),
    _p("customers.Customer.tax_number", _("Tax number"), TEXT),
    _p("customers.Customer.invoice_address_phone", _("Invoice address and phone"), TEXT),
    _p("customers.Customer.bank_name", _("Bank"), TEXT),
    _p("customers.Customer.bank_account", _("Bank account"), TEXT),
    _p("customers.Contact.mobile", _("Contact mobile"), PHONE),
    _p("customers.Contact.office_phone", _("Contact office phone"), PHONE),
    _p("customers.Contact.email", _("Contact e-mail"), EMAIL),
    _p("leads.Lead.mobile", _("Lead mobile"), PHONE),
    _p("leads.Lead.phone", _("Lead phone"), PHONE),
    _p("leads.Lead.email", _("Lead e-mail"), EMAIL),
    _p(
        "pipeline.Opportunity.amount",
        _("Opportunity amounts"),
        AMOUNT,
        "expected_amount",
        "actual_amount",
        also=(("pipeline.OpportunityLine", ("unit_price", "amount")),),
    ),
    _p(
        "sales.Quote.total",
        _("Quote amounts"),
        AMOUNT,
        "subtotal",
        "discount_total",
        "tax_total",
        "total",
        also=(("sales.QuoteLine", ("unit_price", "subtotal", "discount", "tax", "total")),),
    ),
    _p(
        "sales.Contract.amount",
        _("Contract amounts"),
        AMOUNT,
        "amount",
        "received_amount",
        "written_off_amount",
        "invoiced_amount",
        "refunded_amount",
        also=(
            (
                "finance.ReceivablePlan",
                ("amount", "received_amount", "written_off_amount"),
            ),
        ),
    ),
    _p(
        "finance.Receipt.amount",
        _("Receipt amount"),
        AMOUNT,
        also=(("finance.ReceiptAllocation", ("amount",)),),
    ),
]
BY_KEY = {p.key: p for p in PROTECTABLE}
#: rules a kind accepts (an amount cannot be partly shown: "masked" means hidden)
KIND_RULES = {
    PHONE: RULE_KEYS,
    EMAIL: RULE_KEYS,
    TEXT: RULE_KEYS,
    AMOUNT: [VISIBLE, READONLY, HIDDEN],
}


# --- Masks ---------------------------------------------------------------------------------------
class HiddenAmount(Decimal):
    """A hidden amount: zero in arithmetic and comparisons (so pages and model properties that
    compute with it keep working and give nothing away), ``***`` when shown or serialised."""

    hidden = True
    TEXT = "***"

    def __new__(cls) -> HiddenAmount:
        return super().__new__(cls, "0")

    def __str__(self) -> str:
        return self.TEXT

    def __repr__(self) -> str:
        return "HiddenAmount()"

    def __format__(self, spec: str, context: Any = None, /) -> str:
        return self.TEXT

    def quantize(self, *args: Any, **kwargs: Any) -> HiddenAmount:
        return self


def is_hidden(value: Any) -> bool:
    return isinstance(value, HiddenAmount)


def mask_phone(value: str) -> str:
    """138****1234: keep the first three and the last four digits."""
    digits = re.sub(r"\D", "", value or "")
    if len(digits) == 13 and digits.startswith("86"):  # +86 mobile: mask the number itself
        digits = digits[2:]
    if not digits:
        return ""
    if len(digits) < 8:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def mask_email(value: str) -> str:
    """a***@example.com."""
    if not value:
        return ""
    local, _sep, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_text(value: str) -> str:
    """****1234: only the last four characters."""
    if not value:
        return ""
    return "****" + value[-4:] if len(value) > 6 else "****"


def masked_value(kind: str, rule: str, value: Any) -> Any:
    """What a viewer with ``rule`` sees of ``value``."""
    if rule in (VISIBLE, READONLY):
        return value
    if kind == AMOUNT:
        return None if value is None else HiddenAmount()
    if rule == HIDDEN:
        return "" if isinstance(value, str) or value is None else None
    if kind == PHONE:
        return mask_phone(str(value or ""))
    if kind == EMAIL:
        return mask_email(str(value or ""))
    return mask_text(str(value or ""))


# --- Rules ---------------------------------------------------------------------------------------
def clean_rules(raw: Any) -> dict[str, str]:
    """Keep the known keys with a rule their kind accepts; drop ``visible`` (the default)."""
    if not isinstance(raw, dict):
        return {}
    out: dict[str, str] = {}
    for key, rule in raw.items():
        item = BY_KEY.get(str(key))
        if item is None or rule not in KIND_RULES[item.kind] or rule == VISIBLE:
            continue
        out[item.key] = str(rule)
    return out


def rules_for(user: Any) -> dict[str, str]:
    """``{key: rule}`` of ``user`` (only the restricted keys). Memoised on the user."""
    if user is None or not getattr(user, "is_authenticated", False):
        return {}
    cached = user.__dict__.get("_field_rules")
    if cached is not None:
        return cached
    result: dict[str, str] = {}
    if not user.is_org_admin:
        roles = user._roles()
        if roles:
            for item in PROTECTABLE:
                ranks = [RANK.get((r.field_rules or {}).get(item.key, VISIBLE), 0) for r in roles]
                best = min(ranks)
                if best:
                    result[item.key] = RULE_KEYS[best]
    user.__dict__["_field_rules"] = result
    return result


def model_rules(user: Any, model: type[models.Model] | models.Model) -> dict[str, tuple[str, str]]:
    """``{field name: (rule, kind)}`` of ``model`` restricted for ``user``."""
    rules = rules_for(user)
    if not rules:
        return {}
    label = model._meta.label
    out: dict[str, tuple[str, str]] = {}
    for key, rule in rules.items():
        item = BY_KEY[key]
        for model_label, names in ((item.model_label, item.fields), *item.also):
            if model_label == label:
                for name in names:
                    out[name] = (rule, item.kind)
    return out


def hides_lookup(user: Any, model: Any, path: str) -> bool:
    """Does the lookup ``path`` from ``model`` (``"lines__amount"``) reach a field that is
    masked or hidden for ``user``? (Report measures and dimensions use it.)"""
    return _path_rule(user, model, path) is not None


def rule_of(user: Any, model: Any, field: str) -> str:
    return model_rules(user, model).get(field, (VISIBLE, ""))[0]


def can_see(user: Any, model: Any, field: str) -> bool:
    """False when ``field`` is hidden or masked for ``user``."""
    return rule_of(user, model, field) in (VISIBLE, READONLY)


def can_edit(user: Any, model: Any, field: str) -> bool:
    return rule_of(user, model, field) == VISIBLE


# --- Instances -----------------------------------------------------------------------------------
@dataclass
class _State:
    viewer_pk: int
    originals: dict[str, Any]
    shown: dict[str, Any]
    rules: dict[str, tuple[str, str]]


def redact(obj: models.Model, user: Any, _depth: int = 0) -> models.Model:
    """Mask ``obj``'s protected fields for ``user`` in place (and its select_related rows)."""
    rules = model_rules(user, obj)
    if rules and "_fa_state" not in obj.__dict__:
        originals: dict[str, Any] = {}
        shown: dict[str, Any] = {}
        for name, (rule, kind) in rules.items():
            if name not in obj.__dict__:  # deferred: left alone (loading it reads the database)
                continue
            value = obj.__dict__[name]
            originals[name] = value
            shown[name] = masked_value(kind, rule, value)
            obj.__dict__[name] = shown[name]
        obj.__dict__["_fa_state"] = _State(user.pk, originals, shown, rules)
    if _depth < 3:
        for related in list(getattr(obj._state, "fields_cache", {}).values()):
            if isinstance(related, models.Model):
                redact(related, user, _depth + 1)
        for rows in list(getattr(obj, "_prefetched_objects_cache", {}).values()):
            for row in getattr(rows, "_result_cache", None) or []:
                if isinstance(row, models.Model):
                    redact(row, user, _depth + 1)
    return obj


def is_redacted(obj: models.Model) -> bool:
    state = obj.__dict__.get("_fa_state")
    return bool(state and any(k in state.originals for k in state.rules))


def _field_label(model: Any, name: str) -> Any:
    try:
        return model._meta.get_field(name).verbose_name
    except Exception:
        return name


def refused(model: Any, names: Iterable[str]) -> PermissionDenied:
    labels = "、".join(str(_field_label(model, n)) for n in names)
    return PermissionDenied(
        _("You may not change these fields: %(fields)s.") % {"fields": labels},
        field_errors={n: [str(_("You may not change this field."))] for n in names},
    )


def unredact(obj: models.Model) -> None:
    """Put the original values back (before a write): refuse fields changed by a viewer who
    may not change them; fields left as shown get their original value back."""
    state: _State | None = obj.__dict__.get("_fa_state")
    if state is None:
        return
    changed = []
    for name, (rule, _kind) in state.rules.items():
        if name not in obj.__dict__:
            continue
        current = obj.__dict__[name]
        if name in state.originals:
            if current == state.shown[name]:
                obj.__dict__[name] = state.originals[name]
            elif rule != VISIBLE:
                changed.append(name)
    if changed:
        raise refused(type(obj), changed)
    del obj.__dict__["_fa_state"]
    obj.__dict__["_fa_viewer_pk"] = state.viewer_pk


def guard_write(actor: Any, obj: models.Model | type[models.Model], data: dict[str, Any]) -> None:
    """Before a service writes ``data`` onto ``obj``: drop the fields sent back unchanged (as
    shown: masked or blank), refuse real changes of fields ``actor`` may not change, and put
    the original values back on ``obj`` so derived fields are computed from them."""
    rules = model_rules(actor, obj)
    if not rules:
        return
    state: _State | None = obj.__dict__.get("_fa_state") if isinstance(obj, models.Model) else None
    changed = []
    for name in list(data):
        if name not in rules:
            continue
        value = data[name]
        if state is not None and name in state.shown and _as_shown(value, state.shown[name]):
            del data[name]
            continue
        if isinstance(obj, models.Model) and name in (state.originals if state else obj.__dict__):
            original = state.originals[name] if state else obj.__dict__[name]
            if _same(original, value):
                del data[name]
                continue
        changed.append(name)
    if changed:
        raise refused(obj if isinstance(obj, type) else type(obj), changed)
    if isinstance(obj, models.Model):
        unredact(obj)


def _as_shown(value: Any, shown: Any) -> bool:
    """Was ``value`` sent back as the viewer was shown it (a hidden amount reads ``***`` or
    comes back empty from a disabled form field)?"""
    if is_hidden(shown):
        return value is None or value == "" or str(value) == HiddenAmount.TEXT
    return bool(value == shown)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        try:
            return Decimal(str(a)) == Decimal(str(b))
        except Exception:
            return False
    return (a or "") == (b or "")


def _pre_save(sender: Any, instance: models.Model, **kwargs: Any) -> None:
    if "_fa_state" in instance.__dict__:
        unredact(instance)


def connect_signals() -> None:
    """Guard ``save()`` of redacted instances of every model with protectable fields."""
    from django.apps import apps
    from django.db.models.signals import pre_save

    labels = {p.model_label for p in PROTECTABLE} | {m for p in PROTECTABLE for m, _f in p.also}
    for label in labels:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        pre_save.connect(_pre_save, sender=model, dispatch_uid=f"fieldaccess:{label}")


# --- Querysets -----------------------------------------------------------------------------------
def _path_rule(user: Any, model: Any, path: str) -> tuple[str, str] | None:
    """The (rule, kind) of the field reached by the lookup ``path`` from ``model``."""
    parts = path.split("__")
    current = model
    for i, part in enumerate(parts):
        try:
            field = current._meta.get_field(part)
        except Exception:
            return None
        if i == len(parts) - 1 or field.related_model is None:
            found = model_rules(user, current).get(field.name)
            return found if found and found[0] in (MASKED, HIDDEN) else None
        current = field.related_model
    return None


def _expr_protected(user: Any, model: Any, expr: Any, annotations: dict[str, Any]) -> bool:
    if isinstance(expr, Col):
        target = expr.target
        found = model_rules(user, target.model).get(target.name)
        return bool(found and found[0] in (MASKED, HIDDEN))
    if isinstance(expr, F):
        name: str = expr.name  # type: ignore[attr-defined]
        if name in annotations:
            return _expr_protected(user, model, annotations[name], annotations)
        return _path_rule(user, model, name) is not None
    if isinstance(expr, str):
        return _path_rule(user, model, expr) is not None
    getter = getattr(expr, "get_source_expressions", None)
    if getter is None:
        return False
    return any(_expr_protected(user, model, e, annotations) for e in getter() if e is not None)


class _RedactingMixin:
    """Mixed into the queryset class of a restricted viewer by :func:`attach`."""

    _fa_viewer: Any = None
    model: Any
    query: Any
    _fields: Any
    _iterable_class: Any

    def _clone(self) -> Any:
        c = super()._clone()  # type: ignore[misc]
        c._fa_viewer = self._fa_viewer
        return c

    def _fa_names(self) -> list[str]:
        q = self.query
        if self._iterable_class in (ValuesListIterable, FlatValuesListIterable) and self._fields:
            names = list(self._fields)
            return names + [a for a in q.annotation_select if a not in names]
        return [*q.extra_select, *q.values_select, *q.annotation_select]

    def _fa_value_rules(self) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        annotations = self.query.annotations
        for name in self._fa_names():
            if name in self.query.annotation_select:
                if _expr_protected(self._fa_viewer, self.model, annotations[name], annotations):
                    out[name] = (HIDDEN, AMOUNT)
            else:
                found = _path_rule(self._fa_viewer, self.model, name)
                if found:
                    out[name] = found
        return out

    def _fa_redact_row(self, row: Any, rules: dict[str, tuple[str, str]], names: list[str]) -> Any:
        cls = self._iterable_class
        if isinstance(row, models.Model):
            redact(row, self._fa_viewer)
            for alias in rules:
                if alias in row.__dict__:
                    row.__dict__[alias] = masked_value(AMOUNT, HIDDEN, row.__dict__[alias])
            return row
        if cls is ValuesIterable and isinstance(row, dict):
            for name, (rule, kind) in rules.items():
                if name in row:
                    row[name] = masked_value(kind, rule, row[name])
            return row
        if cls is FlatValuesListIterable:
            name = names[0] if names else ""
            if name in rules:
                rule, kind = rules[name]
                return masked_value(kind, rule, row)
            return row
        if cls is ValuesListIterable and isinstance(row, tuple):
            if not any(n in rules for n in names):
                return row
            values = list(row)
            for i, name in enumerate(names[: len(values)]):
                if name in rules:
                    rule, kind = rules[name]
                    values[i] = masked_value(kind, rule, values[i])
            return type(row)(values) if type(row) is tuple else row
        return row

    def _fa_rules_for_rows(self) -> tuple[dict[str, tuple[str, str]], list[str]]:
        if self._iterable_class in (ValuesIterable, ValuesListIterable, FlatValuesListIterable):
            return self._fa_value_rules(), self._fa_names()
        annotations = self.query.annotations
        hidden = {
            alias: (HIDDEN, AMOUNT)
            for alias in self.query.annotation_select
            if _expr_protected(self._fa_viewer, self.model, annotations[alias], annotations)
        }
        return hidden, []

    def _fetch_all(self) -> None:
        fresh = getattr(self, "_result_cache", None) is None
        super()._fetch_all()  # type: ignore[misc]
        if fresh and self._fa_viewer is not None:
            rules, names = self._fa_rules_for_rows()
            cache: list[Any] = self._result_cache  # type: ignore[has-type]
            self._result_cache = [self._fa_redact_row(r, rules, names) for r in cache]

    def _iterator(self, use_chunked_fetch: bool, chunk_size: int | None) -> Iterator[Any]:
        rules, names = self._fa_rules_for_rows()
        for row in super()._iterator(use_chunked_fetch, chunk_size):  # type: ignore[misc]
            yield self._fa_redact_row(row, rules, names)

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        result = super().aggregate(*args, **kwargs)  # type: ignore[misc]
        annotations = self.query.annotations
        for expr in args:
            alias = getattr(expr, "default_alias", None)
            if alias in result and _expr_protected(self._fa_viewer, self.model, expr, annotations):
                result[alias] = masked_value(AMOUNT, HIDDEN, result[alias])
        for alias, expr in kwargs.items():
            if _expr_protected(self._fa_viewer, self.model, expr, annotations):
                result[alias] = masked_value(AMOUNT, HIDDEN, result[alias])
        return result


_CLASSES: dict[type, type] = {}


def _redacting_class(cls: type) -> type:
    if issubclass(cls, _RedactingMixin):
        return cls
    if cls not in _CLASSES:
        _CLASSES[cls] = type(f"Redacting{cls.__name__}", (_RedactingMixin, cls), {})
    return _CLASSES[cls]


_RELEVANT: dict[str, bool] = {}


def _relevant(model: Any) -> bool:
    """Can rows of ``model`` carry a protectable value (its own fields, or a row it joins)?"""
    label = model._meta.label
    if label not in _RELEVANT:
        labels = {p.model_label for p in PROTECTABLE} | {m for p in PROTECTABLE for m, _f in p.also}
        related = {
            f.related_model._meta.label
            for f in model._meta.get_fields()
            if f.is_relation
            and f.related_model is not None
            and not isinstance(f.related_model, str)
        }
        _RELEVANT[label] = label in labels or bool(related & labels)
    return _RELEVANT[label]


def attach(qs: Any, user: Any) -> Any:
    """``qs`` redacting what it returns for ``user`` (unchanged when nothing is restricted)."""
    if not _relevant(qs.model) or not rules_for(user):
        return qs
    clone = qs._chain()
    clone.__class__ = _redacting_class(type(qs))
    clone._fa_viewer = user
    return clone


# --- Other output paths --------------------------------------------------------------------------
def redact_mapping(user: Any, model_label: str, data: Any) -> Any:
    """Mask the protected keys of a ``{field: value}`` (or ``{field: [old, new]}``) mapping of
    an instance of ``model_label`` (audit changes, webhook payloads, snapshots)."""
    from django.apps import apps

    if not isinstance(data, dict):
        return data
    try:
        model = apps.get_model(model_label)
    except (LookupError, ValueError):
        return data
    if user is None or not getattr(user, "is_active", False):  # nobody answers for it: hide all
        rules = {
            n: (HIDDEN, p.kind)
            for p in PROTECTABLE
            for m, names in ((p.model_label, p.fields), *p.also)
            if m == model._meta.label
            for n in names
        }
    else:
        rules = model_rules(user, model)
    if not rules:
        return data
    out = dict(data)
    for name, (rule, kind) in rules.items():
        if rule not in (MASKED, HIDDEN) or name not in out:
            continue
        value = out[name]
        if isinstance(value, list):
            out[name] = [masked_value(kind, rule, v) for v in value]
        else:
            out[name] = masked_value(kind, rule, value)
    return out


def protect_form(form: Any, user: Any, model: Any, instance: Any = None) -> None:
    """Disable the form fields ``user`` may not change: they show (and, being disabled, keep)
    the value as ``user`` sees it on ``instance``; the services put the real value back."""
    for name, (_rule, _kind) in model_rules(user, model).items():
        field = form.fields.get(name)
        if field is not None:
            field.disabled = True
            field.required = False
            field.help_text = _("You may not change this field.")
            if instance is not None:
                value = getattr(instance, name, "")
                form.initial[name] = None if is_hidden(value) else value


def redact_payload(user: Any, body: dict[str, Any]) -> dict[str, Any]:
    """A webhook body (crm.core.webhooks.payload) as ``user`` (the endpoint's creator) may see
    it: ``changes`` and ``data`` of the event's object masked like its pages. An endpoint whose
    creator is gone or deactivated gets every protectable field hidden."""
    obj = body.get("object") or {}
    label = str(obj.get("type") or "")
    out = dict(body)
    out["changes"] = redact_mapping(user, label, body.get("changes"))
    out["data"] = redact_mapping(user, label, body.get("data"))
    return out


def _mask_changes(rules: dict[str, tuple[str, str]], data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, (rule, kind) in rules.items():
        if rule in (MASKED, HIDDEN) and name in out:
            value = out[name]
            out[name] = (
                [masked_value(kind, rule, v) for v in value]
                if isinstance(value, list)
                else masked_value(kind, rule, value)
            )
    return out


class _EventRedactingMixin:
    _fa_rules: dict[str, tuple[str, str]] = {}

    def _clone(self) -> Any:
        c = super()._clone()  # type: ignore[misc]
        c._fa_rules = self._fa_rules
        return c

    def _fa_row(self, row: Any) -> Any:
        if isinstance(row, models.Model):
            row.changes = _mask_changes(self._fa_rules, row.changes)  # type: ignore[attr-defined]
            row.data = _mask_changes(self._fa_rules, row.data)  # type: ignore[attr-defined]
        elif isinstance(row, dict):
            for key in ("changes", "data"):
                if key in row:
                    row[key] = _mask_changes(self._fa_rules, row[key])
        return row

    def _fetch_all(self) -> None:
        fresh = getattr(self, "_result_cache", None) is None
        super()._fetch_all()  # type: ignore[misc]
        if fresh:
            cache: list[Any] = self._result_cache  # type: ignore[has-type]
            self._result_cache = [self._fa_row(r) for r in cache]

    def _iterator(self, use_chunked_fetch: bool, chunk_size: int | None) -> Iterator[Any]:
        for row in super()._iterator(use_chunked_fetch, chunk_size):  # type: ignore[misc]
            yield self._fa_row(row)


_EVENT_CLASSES: dict[type, type] = {}


def redact_history(qs: Any, obj: models.Model) -> Any:
    """The events of ``obj`` (``audit.history_for``) with the field changes masked as ``obj``
    itself was masked for its viewer (a record read through ``visible_to``)."""
    state: _State | None = obj.__dict__.get("_fa_state")
    if state is None or not any(r in (MASKED, HIDDEN) for r, _k in state.rules.values()):
        return qs
    cls = type(qs)
    if cls not in _EVENT_CLASSES:
        _EVENT_CLASSES[cls] = type(f"Redacting{cls.__name__}", (_EventRedactingMixin, cls), {})
    clone = qs._chain()
    clone.__class__ = _EVENT_CLASSES[cls]
    clone._fa_rules = state.rules
    return clone
