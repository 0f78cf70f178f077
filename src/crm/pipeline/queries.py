"""The opportunity query engine (R4.6): conditions people build, the four built-in queries of
seed 001 with their live counts, saved queries, and the sort and column whitelists of the list.

Conditions are JSON (stored in ``SavedQuery.conditions`` and carried in the list's URL)::

    {"match": "all" | "any",
     "rules": [{"field": "stage", "op": "eq", "value": 12}, ...],
     "groups": [{"match": ..., "rules": [...], "groups": [...]}, ...]}

Every field, operator and value is checked against :data:`FIELDS` (a whitelist: a client never
names a database column), and anything unknown or malformed raises ``ValidationFailed`` with a
message people can read. Lookups are built with ``Q((lookup, value))`` from the registry only.

Every read starts from ``Opportunity.objects.visible_to(user)``, so counts and lists never show
a record outside the viewer's data scope. The built-in counts and the saved-query counts are one
SQL query each (conditional aggregation); the per-rep overdue breakdown is one GROUP BY.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Count, F, OrderBy, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from crm.core import audit, custom_fields
from crm.core.context import request_memo
from crm.core.errors import NotFound, PermissionDenied, ValidationFailed
from crm.core.money import parse_money
from crm.org.models import Department, User

from .choices import OPEN_STATUSES, OpportunityStatus
from .models import (
    DictionaryItem,
    DictionaryKind,
    Opportunity,
    Pipeline,
    SavedQuery,
    SavedQueryShare,
    Stage,
)

SUBJECT = "opportunity"
#: Limits that keep a query cheap to validate and to run.
MAX_RULES = 50
MAX_DEPTH = 3
MAX_IN_VALUES = 100
MAX_TEXT = 200
MAX_DAYS = 3650
MAX_SEARCH = 100
#: Saved queries one person may keep, and how many get a live count in the sidebar.
MAX_SAVED = 50
MAX_COUNTED = 20


# --- field types and operators --------------------------------------------------------------------
class FieldType:
    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"
    DATE = "date"
    DATETIME = "datetime"
    CHOICE = "choice"
    DICTIONARY = "dictionary"
    USER = "user"
    REF = "ref"
    BOOL = "bool"


OP_LABELS: dict[str, Any] = {
    "eq": pgettext_lazy("query operator", "is"),
    "ne": pgettext_lazy("query operator", "is not"),
    "contains": pgettext_lazy("query operator", "contains"),
    "in": pgettext_lazy("query operator", "is any of"),
    "gt": pgettext_lazy("query operator", "greater than"),
    "gte": pgettext_lazy("query operator", "at least"),
    "lt": pgettext_lazy("query operator", "less than"),
    "lte": pgettext_lazy("query operator", "at most"),
    "between": pgettext_lazy("query operator", "between"),
    "empty": pgettext_lazy("query operator", "is empty"),
    "not_empty": pgettext_lazy("query operator", "is not empty"),
    "last_days": pgettext_lazy("query operator", "in the last N days"),
    "next_days": pgettext_lazy("query operator", "in the next N days"),
}
#: Date fields read better with these words.
DATE_OP_LABELS: dict[str, Any] = {
    "eq": pgettext_lazy("query operator", "on"),
    "gt": pgettext_lazy("query operator", "after"),
    "gte": pgettext_lazy("query operator", "on or after"),
    "lt": pgettext_lazy("query operator", "before"),
    "lte": pgettext_lazy("query operator", "on or before"),
}
EMPTY_OPS = ("empty", "not_empty")
OPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    FieldType.TEXT: ("eq", "ne", "contains", "empty", "not_empty"),
    FieldType.NUMBER: ("eq", "ne", "gt", "gte", "lt", "lte", "between", "empty", "not_empty"),
    FieldType.MONEY: ("eq", "ne", "gt", "gte", "lt", "lte", "between", "empty", "not_empty"),
    FieldType.DATE: (
        "eq",
        "gt",
        "gte",
        "lt",
        "lte",
        "between",
        "last_days",
        "next_days",
        "empty",
        "not_empty",
    ),
    FieldType.CHOICE: ("eq", "ne", "in"),
    FieldType.DICTIONARY: ("eq", "ne", "in", "empty", "not_empty"),
    FieldType.USER: ("eq", "ne", "in", "empty", "not_empty"),
    FieldType.REF: ("eq", "ne", "in", "empty", "not_empty"),
    FieldType.BOOL: ("eq",),
}
OPS_BY_TYPE[FieldType.DATETIME] = OPS_BY_TYPE[FieldType.DATE]

#: A compiled rule for a computed field: (op, cleaned value, now) -> Q.
Compiler = Callable[[str, Any, datetime], Q]


@dataclass(frozen=True)
class QueryField:
    """One field people may filter on: its type, the ORM lookup it reads, and what it allows.

    ``kind`` is the dictionary kind of a dictionary field or the model of a ref field
    (``pipeline``, ``stage``, ``node``, ``department``). ``empty`` says how an unset value is
    stored (``"null"``, ``"blank"``) or that the field is never empty (``""``). ``compile``
    replaces the generic lookups for computed fields (days in stage, stalled, overdue).
    """

    key: str
    label: Any
    type: str
    lookup: str
    kind: str = ""
    empty: str = ""
    choices: tuple[tuple[str, Any], ...] = ()
    compile: Compiler | None = None
    integer: bool = False

    @property
    def ops(self) -> tuple[str, ...]:
        ops = OPS_BY_TYPE[self.type]
        return ops if self.empty else tuple(op for op in ops if op not in EMPTY_OPS)

    def op_label(self, op: str) -> Any:
        if self.type in (FieldType.DATE, FieldType.DATETIME) and op in DATE_OP_LABELS:
            return DATE_OP_LABELS[op]
        return OP_LABELS[op]


def _cutoff(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def _days_in_stage(op: str, value: Any, now: datetime) -> Q:
    """Whole days since ``stage_entered_at`` (as ``(now - entered).days``) compared with ``value``
    become ranges on the column, so the comparison can use an index."""

    def at_least(n: int) -> Q:
        return Q(stage_entered_at__lte=_cutoff(now, n))

    def below(n: int) -> Q:
        return Q(stage_entered_at__gt=_cutoff(now, n))

    if op == "between":
        low, high = value
        return at_least(low) & below(high + 1)
    n = int(value)
    return {
        "eq": lambda: at_least(n) & below(n + 1),
        "ne": lambda: ~(at_least(n) & below(n + 1)),
        "gt": lambda: at_least(n + 1),
        "gte": lambda: at_least(n),
        "lt": lambda: below(n),
        "lte": lambda: below(n + 1),
    }[op]()


def stalled_q(now: datetime) -> Q:
    """Still worked (continue) and longer in its stage than the stage allows."""
    return Q(status=OpportunityStatus.CONTINUE, stall_due_at__lt=now)


def overdue_q(now: datetime) -> Q:
    """Still worked (continue) and no feedback within its feedback cycle (延期)."""
    return Q(status=OpportunityStatus.CONTINUE, feedback_due_at__lt=now)


def _flag(q_for: Callable[[datetime], Q]) -> Compiler:
    def compile_flag(op: str, value: Any, now: datetime) -> Q:
        return q_for(now) if value else ~q_for(now)

    return compile_flag


def _f(key: str, label: Any, type_: str, lookup: str | None = None, **kw: Any) -> QueryField:
    return QueryField(key=key, label=label, type=type_, lookup=lookup or key, **kw)


T = FieldType
_FIELD_LIST: list[QueryField] = [
    _f("name", gettext_lazy("Name"), T.TEXT),
    _f("customer", gettext_lazy("Customer name"), T.TEXT, "customer__name"),
    _f("owner", gettext_lazy("Owner"), T.USER, "owner_id"),
    _f(
        "department",
        gettext_lazy("Owner's department"),
        T.REF,
        "owner__department_id",
        kind="department",
        empty="null",
    ),
    _f("pipeline", gettext_lazy("Pipeline"), T.REF, "pipeline_id", kind="pipeline"),
    _f("stage", gettext_lazy("Stage"), T.REF, "stage_id", kind="stage"),
    _f("node", gettext_lazy("Node"), T.REF, "node_id", kind="node", empty="null"),
    _f(
        "status",
        gettext_lazy("Status"),
        T.CHOICE,
        choices=tuple(OpportunityStatus.choices),
    ),
    _f(
        "business_type",
        gettext_lazy("Business type"),
        T.DICTIONARY,
        kind=DictionaryKind.BUSINESS_CATEGORY,
        empty="blank",
    ),
    _f("source", gettext_lazy("Source"), T.DICTIONARY, kind=DictionaryKind.SOURCE, empty="blank"),
    _f("probability", gettext_lazy("Win probability (%)"), T.NUMBER, integer=True),
    _f(
        "probability_level",
        gettext_lazy("Probability level"),
        T.DICTIONARY,
        kind=DictionaryKind.PROBABILITY_LEVEL,
        empty="blank",
    ),
    _f(
        "feedback_cycle",
        gettext_lazy("Feedback cycle"),
        T.DICTIONARY,
        kind=DictionaryKind.FEEDBACK_CYCLE,
        empty="blank",
    ),
    _f(
        "action_principle",
        gettext_lazy("Action principle"),
        T.DICTIONARY,
        kind=DictionaryKind.ACTION_PRINCIPLE,
        empty="blank",
    ),
    _f("is_key", gettext_lazy("Key opportunity"), T.BOOL),
    _f("expected_amount", gettext_lazy("Expected amount"), T.MONEY, empty="null"),
    _f("expected_close_date", gettext_lazy("Expected close date"), T.DATE, empty="null"),
    _f("actual_amount", gettext_lazy("Actual amount"), T.MONEY, empty="null"),
    _f("actual_close_date", gettext_lazy("Actual close date"), T.DATE, empty="null"),
    _f(
        "loss_reason",
        gettext_lazy("Loss reason"),
        T.DICTIONARY,
        kind=DictionaryKind.LOSS_REASON,
        empty="blank",
    ),
    _f("created_at", gettext_lazy("Created"), T.DATETIME),
    _f("updated_at", gettext_lazy("Updated"), T.DATETIME),
    _f("closed_at", gettext_lazy("Closed at"), T.DATETIME, empty="null"),
    _f("last_followup_at", gettext_lazy("Last follow-up"), T.DATETIME, empty="null"),
    _f("next_followup_at", gettext_lazy("Next follow-up"), T.DATETIME, empty="null"),
    _f(
        "last_followup_by",
        gettext_lazy("Last followed up by"),
        T.USER,
        "last_followup_by_id",
        empty="null",
    ),
    _f(
        "days_in_stage",
        gettext_lazy("Days in stage"),
        T.NUMBER,
        "stage_entered_at",
        integer=True,
        compile=_days_in_stage,
    ),
    _f(
        "stalled",
        gettext_lazy("Stalled"),
        T.BOOL,
        "stall_due_at",
        compile=_flag(stalled_q),
    ),
    _f(
        "overdue",
        gettext_lazy("Overdue feedback"),
        T.BOOL,
        "feedback_due_at",
        compile=_flag(overdue_q),
    ),
]
#: Every field of an opportunity people may filter on, by key.
FIELDS: dict[str, QueryField] = {f.key: f for f in _FIELD_LIST}


# --- validation and compilation -------------------------------------------------------------------
def _fail(message: str) -> ValidationFailed:
    return ValidationFailed(message, field_errors={"conditions": [message]})


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class _Compiler:
    """Validates one conditions tree for ``user`` and builds its Q. Lookups of dictionaries,
    colleagues and stages needed for validation run once per tree."""

    def __init__(self, user: Any, now: datetime | None = None):
        self.user = user
        self.org_id = getattr(user, "org_id", None)
        self.now = now or timezone.now()
        self.rule_count = 0
        self._dictionary: dict[str, set[str]] = {}

    # -- tree ---------------------------------------------------------------------------------
    def tree(self, node: Any, depth: int = 1) -> tuple[Q, dict[str, Any]]:
        if not isinstance(node, dict):
            raise _fail(_("The conditions are not in the expected form."))
        unknown = set(node) - {"match", "rules", "groups"}
        if unknown:
            raise _fail(
                _("Unknown part of the conditions: %(keys)s.")
                % {"keys": ", ".join(sorted(unknown))}
            )
        match = node.get("match", "all") or "all"
        if match not in ("all", "any"):
            raise _fail(_("Match must be “all” or “any”."))
        rules = node.get("rules", []) or []
        groups = node.get("groups", []) or []
        if not isinstance(rules, list) or not isinstance(groups, list):
            raise _fail(_("The conditions are not in the expected form."))
        if groups and depth >= MAX_DEPTH:
            raise _fail(_("Groups may be nested at most %(n)s deep.") % {"n": MAX_DEPTH})
        parts: list[Q] = []
        clean_rules = []
        for rule in rules:
            q, clean = self.rule(rule)
            parts.append(q)
            clean_rules.append(clean)
        clean_groups = []
        for group in groups:
            q, clean = self.tree(group, depth + 1)
            if clean["rules"] or clean["groups"]:
                parts.append(q)
                clean_groups.append(clean)
        combined: Q | None = None
        for part in parts:
            if combined is None:
                combined = part
            elif match == "any":
                combined = combined | part
            else:
                combined = combined & part
        result: dict[str, Any] = {"match": match, "rules": clean_rules}
        if clean_groups:
            result["groups"] = clean_groups
        return (combined if combined is not None else Q()), result

    # -- one rule ------------------------------------------------------------------------------
    def rule(self, rule: Any) -> tuple[Q, dict[str, Any]]:
        self.rule_count += 1
        if self.rule_count > MAX_RULES:
            raise _fail(_("At most %(n)s conditions.") % {"n": MAX_RULES})
        if not isinstance(rule, dict) or set(rule) - {"field", "op", "value"}:
            raise _fail(_("A condition needs a field, an operator and a value."))
        key = rule.get("field")
        if isinstance(key, str) and key.startswith(custom_fields.CONDITION_PREFIX):
            return self.custom_rule(key, rule)  # H-CF
        field = FIELDS.get(key) if isinstance(key, str) else None
        if field is None:
            raise _fail(_("Unknown field “%(field)s”.") % {"field": str(key)[:40]})
        op = rule.get("op")
        if not isinstance(op, str) or op not in field.ops:
            raise _fail(
                _("“%(op)s” cannot be used with %(field)s.")
                % {"op": str(op)[:20], "field": field.label}
            )
        value = self.value(field, op, rule.get("value"))
        clean = {"field": field.key, "op": op, "value": _jsonable(value)}
        return self.q(field, op, value), clean

    def custom_rule(self, key: str, rule: dict[str, Any]) -> tuple[Q, dict[str, Any]]:
        """A condition on a custom field (``cf.<key>``, H-CF): its operators suit its kind."""
        field = custom_fields.condition_field(self.user, SUBJECT, key)
        if field is None:
            raise _fail(_("Unknown field “%(field)s”.") % {"field": key[:45]})
        op = rule.get("op")
        if not isinstance(op, str) or op not in custom_fields.condition_ops(field):
            raise _fail(
                _("“%(op)s” cannot be used with %(field)s.")
                % {"op": str(op)[:20], "field": field.label}
            )
        try:
            q, value = custom_fields.condition_q(self.org_id or 0, field, op, rule.get("value"))
        except (ValueError, InvalidOperation) as exc:
            message = str(exc.args[0]) if exc.args else ""
            raise _fail(
                _("%(field)s: %(message)s") % {"field": field.label, "message": message}
            ) from None
        return q, {"field": key, "op": op, "value": value}

    def value(self, field: QueryField, op: str, raw: Any) -> Any:
        if op in EMPTY_OPS:
            return None
        if op in ("last_days", "next_days"):
            return self.integer(field, raw, low=1, high=MAX_DAYS)
        if op == "between":
            if not isinstance(raw, list | tuple) or len(raw) != 2:
                raise self.bad(field)
            low, high = self.scalar(field, raw[0]), self.scalar(field, raw[1])
            if low > high:
                raise _fail(
                    _("%(field)s: the first value must not be above the second.")
                    % {"field": field.label}
                )
            return [low, high]
        if op == "in":
            if not isinstance(raw, list | tuple) or not 1 <= len(raw) <= MAX_IN_VALUES:
                raise _fail(
                    _("%(field)s: choose between 1 and %(n)s values.")
                    % {"field": field.label, "n": MAX_IN_VALUES}
                )
            values = [self.scalar(field, v) for v in raw]
            return list(dict.fromkeys(values))
        return self.scalar(field, raw)

    def bad(self, field: QueryField) -> ValidationFailed:
        return _fail(_("Enter a valid value for %(field)s.") % {"field": field.label})

    def integer(self, field: QueryField, raw: Any, *, low: int, high: int) -> int:
        if isinstance(raw, bool):
            raise self.bad(field)
        try:
            number = int(str(raw).strip())
        except (TypeError, ValueError):
            raise self.bad(field) from None
        if not low <= number <= high:
            raise _fail(
                _("%(field)s: enter a whole number from %(low)s to %(high)s.")
                % {"field": field.label, "low": low, "high": high}
            )
        return number

    def scalar(self, field: QueryField, raw: Any) -> Any:
        t = field.type
        if t == FieldType.TEXT:
            if not isinstance(raw, str | int) or isinstance(raw, bool):
                raise self.bad(field)
            text = str(raw).strip()
            if not text or len(text) > MAX_TEXT:
                raise _fail(
                    _("%(field)s: enter 1 to %(n)s characters.")
                    % {"field": field.label, "n": MAX_TEXT}
                )
            return text
        if t == FieldType.NUMBER:
            if field.integer:
                high = 100 if field.key == "probability" else 100_000
                return self.integer(field, raw, low=0, high=high)
            try:
                number = Decimal(str(raw).strip())
            except (InvalidOperation, ValueError):
                raise self.bad(field) from None
            if not number.is_finite():
                raise self.bad(field)
            return number
        if t == FieldType.MONEY:
            if isinstance(raw, bool):
                raise self.bad(field)
            try:
                amount = parse_money(raw)
            except ValueError:
                amount = None
            if amount is None:
                raise self.bad(field)
            return amount
        if t in (FieldType.DATE, FieldType.DATETIME):
            parsed = None
            if isinstance(raw, str):
                try:
                    parsed = parse_date(raw.strip())
                except ValueError:
                    parsed = None
            if parsed is None:
                raise _fail(_("%(field)s: enter a date as YYYY-MM-DD.") % {"field": field.label})
            return parsed
        if t == FieldType.CHOICE:
            if raw not in {value for value, _label in field.choices}:
                raise self.bad(field)
            return raw
        if t == FieldType.DICTIONARY:
            if not isinstance(raw, str) or raw not in self.dictionary(field.kind):
                raise _fail(_("%(field)s: choose a value from the list.") % {"field": field.label})
            return raw
        if t == FieldType.USER:
            if raw == "me":
                return "me"
            pk = self.integer(field, raw, low=1, high=2**62)
            if not User.objects.visible_to(self.user).filter(pk=pk).exists():
                raise _fail(_("%(field)s: choose a colleague.") % {"field": field.label})
            return pk
        if t == FieldType.REF:
            pk = self.integer(field, raw, low=1, high=2**62)
            if not self.ref_exists(field.kind, pk):
                raise self.bad(field)
            return pk
        if t == FieldType.BOOL:
            if raw in (True, "true", "1", 1, "yes", "on"):
                return True
            if raw in (False, "false", "0", 0, "no", "off"):
                return False
            raise self.bad(field)
        raise self.bad(field)  # pragma: no cover - every type is handled above

    def dictionary(self, kind: str) -> set[str]:
        if kind not in self._dictionary:
            self._dictionary[kind] = set(
                DictionaryItem.objects.visible_to(self.user)
                .filter(kind=kind)
                .values_list("value", flat=True)
            )
        return self._dictionary[kind]

    def ref_exists(self, kind: str, pk: int) -> bool:
        if kind == "pipeline":
            return Pipeline.objects.visible_to(self.user).filter(pk=pk).exists()
        if kind == "stage":
            return Stage.objects.visible_to(self.user).filter(pk=pk, parent__isnull=True).exists()
        if kind == "node":
            return Stage.objects.visible_to(self.user).filter(pk=pk, parent__isnull=False).exists()
        if kind == "department":
            return Department.objects.visible_to(self.user).filter(pk=pk).exists()
        return False  # pragma: no cover

    # -- Q ---------------------------------------------------------------------------------------
    def q(self, field: QueryField, op: str, value: Any) -> Q:
        if field.compile is not None:
            return field.compile(op, value, self.now)
        if field.type == FieldType.USER:
            value = self._me(value)
        lookup = field.lookup
        if op == "empty":
            return self.empty(field)
        if op == "not_empty":
            return ~self.empty(field)
        if field.type == FieldType.DATETIME:
            return self.datetime_q(lookup, op, value)
        if field.type == FieldType.DATE:
            return self.date_q(lookup, op, value)
        if op == "eq":
            return Q((lookup, value))
        if op == "ne":
            return ~Q((lookup, value))
        if op == "contains":
            return Q((f"{lookup}__icontains", value))
        if op == "in":
            return Q((f"{lookup}__in", value))
        if op == "between":
            return Q((f"{lookup}__gte", value[0])) & Q((f"{lookup}__lte", value[1]))
        return Q((f"{lookup}__{op}", value))  # gt, gte, lt, lte

    def _me(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._me(v) for v in value]
        return self.user.pk if value == "me" else value

    def empty(self, field: QueryField) -> Q:
        isnull = Q((f"{field.lookup}__isnull", True))
        if field.empty == "blank":
            return Q((field.lookup, "")) | isnull
        return isnull

    def date_q(self, lookup: str, op: str, value: Any) -> Q:
        today = timezone.localdate(self.now)
        if op == "last_days":
            return Q((f"{lookup}__gte", today - timedelta(days=value))) & Q(
                (f"{lookup}__lte", today)
            )
        if op == "next_days":
            return Q((f"{lookup}__gte", today)) & Q(
                (f"{lookup}__lte", today + timedelta(days=value))
            )
        if op == "between":
            return Q((f"{lookup}__gte", value[0])) & Q((f"{lookup}__lte", value[1]))
        if op == "eq":
            return Q((lookup, value))
        return Q((f"{lookup}__{op}", value))

    def datetime_q(self, lookup: str, op: str, value: Any) -> Q:
        """Days are days in the organisation's time zone, as ranges on the column."""
        if op == "last_days":
            return Q((f"{lookup}__gte", self.now - timedelta(days=value))) & Q(
                (f"{lookup}__lte", self.now)
            )
        if op == "next_days":
            return Q((f"{lookup}__gte", self.now)) & Q(
                (f"{lookup}__lte", self.now + timedelta(days=value))
            )
        if op == "between":
            low, high = value
            return Q((f"{lookup}__gte", _day_start(low))) & Q(
                (f"{lookup}__lt", _day_start(high + timedelta(days=1)))
            )
        start = _day_start(value)
        end = _day_start(value + timedelta(days=1))
        return {
            "eq": lambda: Q((f"{lookup}__gte", start)) & Q((f"{lookup}__lt", end)),
            "gt": lambda: Q((f"{lookup}__gte", end)),
            "gte": lambda: Q((f"{lookup}__gte", start)),
            "lt": lambda: Q((f"{lookup}__lt", start)),
            "lte": lambda: Q((f"{lookup}__lt", end)),
        }[op]()


def _jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def compile_conditions(user: Any, conditions: Any, *, now: datetime | None = None) -> Q:
    """The Q of a conditions tree for ``user`` (``"me"`` is the user). Empty conditions give an
    empty Q. Raises ValidationFailed for an unknown field or operator or a bad value."""
    if not conditions:
        return Q()
    q, _clean = _Compiler(user, now).tree(conditions)
    return q


def compile_and_clean(
    user: Any, conditions: Any, *, now: datetime | None = None
) -> tuple[Q, dict[str, Any]]:
    """``compile_conditions`` and ``clean_conditions`` in one pass."""
    if not conditions:
        return Q(), {"match": "all", "rules": []}
    return _Compiler(user, now).tree(conditions)


def clean_conditions(user: Any, conditions: Any) -> dict[str, Any]:
    """The validated, normalised form of a conditions tree (what a saved query stores)."""
    if not conditions:
        return {"match": "all", "rules": []}
    _q, clean = _Compiler(user).tree(conditions)
    return clean


def parse_conditions(raw: str | None) -> dict[str, Any] | None:
    """Conditions from the list's URL (``?cond=<json>``); None when absent."""
    if raw is None or not raw.strip():
        return None
    if len(raw) > 20_000:
        raise _fail(_("The conditions are too long."))
    try:
        value = json.loads(raw)
    except ValueError:
        raise _fail(_("The conditions are not valid JSON.")) from None
    if not isinstance(value, dict):
        raise _fail(_("The conditions are not in the expected form."))
    return value


def dictionary_labels(user: Any, kinds: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """``kind -> [(value, label), ...]`` of several dictionaries (inactive entries included,
    since old records still use them) in one query."""
    result: dict[str, list[tuple[str, str]]] = {kind: [] for kind in kinds}
    rows = (
        DictionaryItem.objects.visible_to(user)
        .filter(kind__in=list(result))
        .order_by("kind", "sort_order", "pk")
        .values_list("kind", "value", "label")
    )
    for kind, value, label in rows:
        result[kind].append((value, label))
    return result


@dataclass(frozen=True, slots=True)
class Colleague:
    """A colleague as the pickers and the per-rep breakdown show one. Five hundred of them are
    read on every list and board page: as plain values they cost a tenth of User objects."""

    pk: int
    display_name: str
    department_id: int | None
    department_name: str

    @property
    def is_active(self) -> bool:
        return True  # only active colleagues are read


def colleagues(user: Any) -> list[User]:
    """Active colleagues of ``user`` (the directory every member reads), by name."""
    return list(
        User.objects.visible_to(user)
        .filter(is_active=True)
        .select_related("department")
        .order_by("name", "username", "pk")
    )


def colleague_choices(user: Any) -> list[Colleague]:
    """``colleagues`` as plain values, for pickers: the same people in the same order."""
    rows = (
        User.objects.visible_to(user)
        .filter(is_active=True)
        .order_by("name", "username", "pk")
        .values_list(
            "pk", "name", "first_name", "last_name", "username", "department_id", "department__name"
        )
    )
    return [
        # User.display_name: the name, else the full name, else the username
        Colleague(pk, name or f"{first} {last}".strip() or username, dept, dept_name or "")
        for pk, name, first, last, username, dept, dept_name in rows
    ]


def field_options(
    user: Any,
    *,
    people: list[User] | list[Colleague] | None = None,
    labels: dict[str, list[tuple[str, str]]] | None = None,
) -> list[dict[str, Any]]:
    """What the condition builder offers ``user``: every field with its operators and, for
    list-like fields, the values to pick from. ``people`` and ``labels`` may be passed in when
    the page has loaded them already (three queries otherwise: stages, departments and, unless
    given, colleagues and dictionaries)."""
    kinds = {f.kind for f in FIELDS.values() if f.type == FieldType.DICTIONARY}
    if labels is None or not kinds <= set(labels):
        labels = dictionary_labels(user, kinds)
    if people is None:
        people = colleagues(user)
    users: list[list[Any]] = [["me", _("Me")], *([u.pk, u.display_name] for u in people)]
    stages = list(
        Stage.objects.visible_to(user)
        .select_related("pipeline", "parent")
        .order_by("pipeline__sort_order", "pipeline_id", "parent__sort_order", "sort_order", "pk")
    )
    pipelines = {s.pipeline_id: s.pipeline for s in stages}
    refs: dict[str, list[list[Any]]] = {
        "pipeline": [[p.pk, p.name] for p in pipelines.values()],
        "stage": [[s.pk, f"{s.pipeline.name} / {s.name}"] for s in stages if s.parent_id is None],
        "node": [
            [s.pk, f"{s.parent.name} / {s.name}"]
            for s in stages
            if s.parent_id is not None and s.parent is not None
        ],
        "department": [
            [d.pk, d.name] for d in Department.objects.visible_to(user).order_by("path", "pk")
        ],
    }
    result = []
    for f in FIELDS.values():
        options: list[list[Any]] = []
        if f.type == FieldType.CHOICE:
            options = [[v, str(label)] for v, label in f.choices]
        elif f.type == FieldType.DICTIONARY:
            options = [[v, label] for v, label in labels[f.kind]]
        elif f.type == FieldType.USER:
            options = users
        elif f.type == FieldType.REF:
            options = refs[f.kind]
        elif f.type == FieldType.BOOL:
            options = [[True, _("Yes")], [False, _("No")]]
        result.append(
            {
                "key": f.key,
                "label": str(f.label),
                "type": f.type,
                "ops": [{"key": op, "label": str(f.op_label(op))} for op in f.ops],
                "options": options,
            }
        )
    return result + _custom_field_options(user, people)


def _custom_field_options(user: Any, people: list[User] | list[Colleague]) -> list[dict[str, Any]]:
    """The builder's entries of the organisation's custom fields of opportunities (H-CF)."""
    result = []
    for f in custom_fields.fields_for(user, SUBJECT):
        type_ = custom_fields.condition_type(f)
        options: list[list[Any]] = []
        if f.kind in custom_fields.CHOICE_KINDS:
            options = [[c, c] for c in f.choices]
        elif type_ == FieldType.USER:
            options = [[u.pk, u.display_name] for u in people if u.is_active]
        labels = DATE_OP_LABELS if type_ == FieldType.DATE else {}
        result.append(
            {
                "key": custom_fields.CONDITION_PREFIX + f.key,
                "label": f.label,
                "type": type_,
                "ops": [
                    {"key": op, "label": str(labels.get(op) or OP_LABELS[op])}
                    for op in custom_fields.condition_ops(f)
                ],
                "options": options,
                "custom": True,
            }
        )
    return result


# --- built-in queries (seed 001) ------------------------------------------------------------------
@dataclass(frozen=True)
class BuiltinQuery:
    """A query of seed 001 defined in code: its key, label, and its condition for a viewer."""

    key: str
    label: Any
    help: Any
    condition: Callable[[Any, datetime], Q]
    #: The same query as condition-builder rules (used when a built-in query is saved).
    rules: tuple[dict[str, Any], ...] = ()


BUILTIN: list[BuiltinQuery] = [
    BuiltinQuery(
        "mine",
        pgettext_lazy("opportunity query", "Mine"),
        gettext_lazy("Open opportunities I own."),
        lambda user, now: Q(owner_id=user.pk, status__in=OPEN_STATUSES),
        (
            {"field": "owner", "op": "eq", "value": "me"},
            {"field": "status", "op": "in", "value": [str(s) for s in OPEN_STATUSES]},
        ),
    ),
    BuiltinQuery(
        "overdue",
        pgettext_lazy("opportunity query", "Overdue"),
        gettext_lazy("No feedback within the feedback cycle."),
        lambda user, now: overdue_q(now),
        ({"field": "overdue", "op": "eq", "value": True},),
    ),
    BuiltinQuery(
        "plan7",
        pgettext_lazy("opportunity query", "7-day plan"),
        gettext_lazy("Open opportunities with a follow-up planned in the next 7 days."),
        lambda user, now: Q(
            status__in=OPEN_STATUSES,
            next_followup_at__gte=now,
            next_followup_at__lte=now + timedelta(days=7),
        ),
        (
            {"field": "status", "op": "in", "value": [str(s) for s in OPEN_STATUSES]},
            {"field": "next_followup_at", "op": "next_days", "value": 7},
        ),
    ),
    BuiltinQuery(
        "done7",
        pgettext_lazy("opportunity query", "7-day done"),
        gettext_lazy("Opportunities followed up in the last 7 days."),
        lambda user, now: Q(last_followup_at__gte=now - timedelta(days=7)),
        ({"field": "last_followup_at", "op": "last_days", "value": 7},),
    ),
]
BUILTIN_BY_KEY: dict[str, BuiltinQuery] = {b.key: b for b in BUILTIN}


def visible(user: Any) -> QuerySet[Opportunity]:
    """Every opportunity ``user`` may see: the start of every list and count."""
    return Opportunity.objects.visible_to(user, "view")


def builtin_counts(user: Any, *, now: datetime | None = None) -> dict[str, int]:
    """The number of opportunities in each built-in query, in the viewer's scope."""
    return builtin_figures(user, now=now or timezone.now())[0]


def builtin_figures(user: Any, *, now: datetime) -> tuple[dict[str, int], dict[int, int]]:
    """The four built-in counts (``key -> n``) and the overdue count per owner
    (``owner_id -> n``) in one SQL statement, read once per request for the same moment.

    Each count is its own scalar subquery (``SELECT COUNT(*) FROM (…)``) so the planner walks
    the index its condition suits: the owner index for "mine", the feedback, next- and last-
    follow-up indexes for the others. A single pass with ``COUNT(*) FILTER`` over the union of
    the conditions read every matching row of the table (620–690 ms for a manager or the
    director at a million opportunities, issue 8). The overdue total is the sum of the
    per-owner groups, so the overdue rows are read once for both."""
    return request_memo(
        ("opp-builtin-figures", getattr(user, "pk", None), now),
        lambda: _builtin_figures(user, now),
    )


def _builtin_figures(user: Any, now: datetime) -> tuple[dict[str, int], dict[int, int]]:
    parts: list[str] = []
    params: list[Any] = []
    try:
        for b in BUILTIN:
            if b.key == "overdue":
                continue
            sql, p = (
                visible(user).filter(b.condition(user, now)).order_by().values("pk").query
            ).sql_with_params()
            # the ORM's own compiled SQL; values stay parameters
            parts.append(f"SELECT %s, CAST(NULL AS BIGINT), (SELECT COUNT(*) FROM ({sql}) c)")  # noqa: S608
            params += [b.key, *p]
        grouped = (
            visible(user)
            .filter(overdue_q(now))
            .order_by()
            .values("owner_id")
            .annotate(n=Count("pk"))
            .values_list("owner_id", "n")
        )
        sql, p = grouped.query.sql_with_params()
        parts.append(f"SELECT %s, g.owner_id, g.n FROM ({sql}) g")  # noqa: S608
        params += ["overdue", *p]
    except EmptyResultSet:  # the viewer sees no opportunity at all
        parts = []
    counts = {b.key: 0 for b in BUILTIN}
    per_owner: dict[int, int] = {}
    if not parts:
        return counts, per_owner
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for key, owner_id, n in cursor.fetchall():
            counts[key] += int(n or 0)
            if key == "overdue" and owner_id is not None:
                per_owner[owner_id] = int(n)
    return counts, per_owner


def overdue_by_rep(
    user: Any,
    *,
    now: datetime | None = None,
    limit: int = 50,
    people: Iterable[User | Colleague] = (),
) -> list[tuple[Any, int]]:
    """``(owner, count)`` of the overdue opportunities the viewer sees, most first: from
    ``builtin_figures`` (shared with the counts for the same moment); the owners come from
    ``people`` when given, else from one more query."""
    per_owner = builtin_figures(user, now=now or timezone.now())[1]
    top = sorted(per_owner.items(), key=lambda item: (-item[1], item[0]))[:limit]
    known: dict[int, Any] = {u.pk: u for u in people}
    missing = [owner_id for owner_id, _n in top if owner_id not in known]
    if missing:
        known.update(User.objects.visible_to(user).in_bulk(missing))
    return [(known[owner_id], n) for owner_id, n in top if owner_id in known]


# --- saved queries --------------------------------------------------------------------------------
def saved_queries(user: Any) -> QuerySet[SavedQuery]:
    """The user's own opportunity queries and those shared with them (department or everyone)."""
    return (
        SavedQuery.objects.visible_to(user)
        .filter(subject=SUBJECT)
        .select_related("owner")
        .order_by("sort_order", "name", "pk")
    )


def saved_counts(
    user: Any, queries: Iterable[SavedQuery], *, now: datetime | None = None
) -> dict[int, int | None]:
    """Live counts of up to ``MAX_COUNTED`` saved queries in one SQL query. A query whose
    conditions no longer validate (a removed stage or colleague) counts as None."""
    return sidebar_counts(user, queries, now=now, builtin=False)[1]


def sidebar_counts(
    user: Any,
    saved: Iterable[SavedQuery],
    *,
    now: datetime | None = None,
    builtin: bool = True,
) -> tuple[dict[str, int], dict[int, int | None]]:
    """The counts of the list's sidebar: the built-in queries (``key -> n``, from
    ``builtin_figures``) and up to ``MAX_COUNTED`` saved ones (``pk -> n``, None when its
    conditions no longer validate) in one more SQL query (conditional aggregation)."""
    now = now or timezone.now()
    counts = builtin_figures(user, now=now)[0] if builtin else {}
    aggregates: dict[str, Any] = {}
    saved_result: dict[int, int | None] = {}
    for query in list(saved)[:MAX_COUNTED]:
        try:
            q = compile_conditions(user, query.conditions, now=now)
        except ValidationFailed:
            saved_result[query.pk] = None
            continue
        aggregates[f"s_{query.pk}"] = Count("pk", filter=q) if q else Count("pk")
    if aggregates:
        row = visible(user).aggregate(**aggregates)
        for key, value in row.items():
            saved_result[int(key[2:])] = int(value or 0)
    return counts, saved_result


def can_change(user: Any, query: SavedQuery) -> bool:
    """Only the owner changes or deletes a saved query; shared ones are read-only to others."""
    return bool(getattr(user, "pk", None)) and query.owner_id == user.pk


def _require_view(actor: Any) -> None:
    if not getattr(actor, "is_authenticated", False) or not actor.can("opportunities", "view"):
        raise PermissionDenied()


def _own(actor: Any, query: SavedQuery) -> None:
    if not SavedQuery.objects.visible_to(actor).filter(pk=query.pk).exists():
        raise NotFound()
    if not can_change(actor, query):
        raise PermissionDenied(_("Only the person who saved this query may change it."))


def clean_columns(columns: Any) -> list[str]:
    if columns in (None, ""):
        return []
    if isinstance(columns, str):
        columns = [c for c in columns.split(",") if c]
    if not isinstance(columns, list | tuple) or any(
        c not in COLUMN_KEYS and not custom_fields.COLUMN_RE.match(str(c)) for c in columns
    ):
        raise ValidationFailed(field_errors={"columns": [_("Choose columns from the list.")]})
    # custom-field columns (cf_<key>, H-CF) follow the built-in ones; a retired field's column
    # is simply not shown
    custom = [c for c in columns if c not in COLUMN_KEYS]
    return [c for c in COLUMN_KEYS if c in columns] + list(dict.fromkeys(custom))


def clean_sort(sort: Any) -> str:
    sort = (sort or "").strip() if isinstance(sort, str) else sort
    if not sort:
        return ""
    if not isinstance(sort, str) or sort.lstrip("-") not in SORTS:
        raise ValidationFailed(field_errors={"sort": [_("Choose a sort order from the list.")]})
    return sort


@transaction.atomic
def save_query(actor: Any, data: dict[str, Any], query: SavedQuery | None = None) -> SavedQuery:
    """Save a new opportunity query of ``actor`` (or change ``query``, which only its owner
    may do). ``data``: name, conditions, columns, sort, shared (private, team, org); keys left
    out of ``data`` keep their value when changing."""
    _require_view(actor)
    if query is not None:
        _own(actor, query)
    errors: dict[str, list[str]] = {}
    name = str(data.get("name", query.name if query else "") or "").strip()
    if not name:
        errors["name"] = [_("Enter a name for the query.")]
    elif len(name) > 100:
        errors["name"] = [_("At most 100 characters.")]
    shared = data.get("shared", query.shared if query else SavedQueryShare.PRIVATE)
    if shared not in SavedQueryShare.values:
        errors["shared"] = [_("Choose who may use the query.")]
    clean: dict[str, Any] = {"name": name, "shared": shared}
    try:
        if "conditions" in data or query is None:
            clean["conditions"] = clean_conditions(actor, data.get("conditions"))
    except ValidationFailed as exc:
        errors["conditions"] = [str(exc.message)]
    for key, cleaner in (("columns", clean_columns), ("sort", clean_sort)):
        if key in data or query is None:
            try:
                clean[key] = cleaner(data.get(key))
            except ValidationFailed as exc:
                errors.update(exc.field_errors)
    if errors:
        raise ValidationFailed(field_errors=errors)
    if query is None:
        mine = SavedQuery.objects.filter(org_id=actor.org_id, owner=actor, subject=SUBJECT)
        if mine.count() >= MAX_SAVED:
            raise ValidationFailed(
                _("You may keep at most %(n)s saved queries; delete one first.") % {"n": MAX_SAVED}
            )
        last = mine.order_by("-sort_order").values_list("sort_order", flat=True).first()
        query = SavedQuery.objects.create(
            org_id=actor.org_id,
            owner=actor,
            subject=SUBJECT,
            sort_order=(last or 0) + 1,
            **clean,
        )
        audit.record_created(actor=actor, obj=query, verb="savedquery.saved")
        return query
    before = audit.snapshot(query)
    for key, value in clean.items():
        setattr(query, key, value)
    query.save(update_fields=[*clean.keys(), "updated_at"])
    changes = audit.diff(before, audit.snapshot(query))
    if changes:
        audit.record(actor=actor, obj=query, verb="savedquery.saved", changes=changes)
    return query


@transaction.atomic
def delete_query(actor: Any, query: SavedQuery) -> None:
    """Delete a saved query (its owner only)."""
    _require_view(actor)
    _own(actor, query)
    audit.record(
        actor=actor,
        obj=query,
        verb="savedquery.deleted",
        data={"name": query.name, "shared": query.shared},
    )
    query.delete()


# --- the list: search, sort, columns -------------------------------------------------------------
def search_q(text: str) -> Q:
    """Quick search: the opportunity's or the customer's name contains ``text``."""
    text = (text or "").strip()[:MAX_SEARCH]
    if not text:
        return Q()
    return Q(name__icontains=text) | Q(customer__name__icontains=text)


def _nulls_last(name: str) -> Callable[[bool], OrderBy]:
    def order(descending: bool) -> OrderBy:
        return F(name).desc(nulls_last=True) if descending else F(name).asc(nulls_last=True)

    return order


def _plain(name: str, reverse: bool = False) -> Callable[[bool], OrderBy]:
    def order(descending: bool) -> OrderBy:
        return F(name).asc() if descending == reverse else F(name).desc()

    return order


#: Sort keys of the list: key -> (label, ordering for ascending/descending).
SORTS: dict[str, tuple[Any, Callable[[bool], OrderBy]]] = {
    "name": (gettext_lazy("Name"), _plain("name")),
    "customer": (gettext_lazy("Customer"), _plain("customer__name")),
    "amount": (gettext_lazy("Expected amount"), _nulls_last("expected_amount")),
    "probability": (gettext_lazy("Win probability"), _plain("probability")),
    "owner": (gettext_lazy("Owner"), _plain("owner__name")),
    "expected_close": (gettext_lazy("Expected close date"), _nulls_last("expected_close_date")),
    "last_followup": (gettext_lazy("Last follow-up"), _nulls_last("last_followup_at")),
    "next_followup": (gettext_lazy("Next follow-up"), _nulls_last("next_followup_at")),
    "days_in_stage": (gettext_lazy("Days in stage"), _plain("stage_entered_at", reverse=True)),
    "created": (gettext_lazy("Created"), _plain("created_at")),
    "updated": (gettext_lazy("Updated"), _plain("updated_at")),
}
DEFAULT_SORT = "-updated"


def apply_sort(qs: QuerySet[Opportunity], sort: str) -> QuerySet[Opportunity]:
    """Order by a whitelisted sort key (``-`` for descending); the id breaks ties."""
    sort = clean_sort(sort) or DEFAULT_SORT
    descending = sort.startswith("-")
    order = SORTS[sort.lstrip("-")][1](descending)
    return qs.order_by(order, "-pk" if descending else "pk")


@dataclass(frozen=True)
class Column:
    """A column of the list: key, header, and the sort key its header toggles (if any)."""

    key: str
    label: Any
    sort: str | None = None


COLUMNS: list[Column] = [
    Column("customer", gettext_lazy("Customer"), "customer"),
    Column("stage", gettext_lazy("Stage"), None),
    Column("status", gettext_lazy("Status"), None),
    Column("amount", gettext_lazy("Expected amount"), "amount"),
    Column("probability", gettext_lazy("Win probability"), "probability"),
    Column("owner", gettext_lazy("Owner"), "owner"),
    Column("expected_close", gettext_lazy("Expected close date"), "expected_close"),
    Column("last_followup", gettext_lazy("Last follow-up"), "last_followup"),
    Column("next_followup", gettext_lazy("Next follow-up"), "next_followup"),
    Column("days_in_stage", gettext_lazy("Days in stage"), "days_in_stage"),
    Column("is_key", pgettext_lazy("key opportunity", "Key"), None),
    Column("flags", gettext_lazy("Alerts"), None),
    Column("pipeline", gettext_lazy("Pipeline"), None),
    Column("business_type", gettext_lazy("Business type"), None),
    Column("source", gettext_lazy("Source"), None),
    Column("action_principle", gettext_lazy("Action principle"), None),
    Column("actual_amount", gettext_lazy("Actual amount"), None),
    Column("actual_close", gettext_lazy("Actual close date"), None),
    Column("created", gettext_lazy("Created"), "created"),
    Column("updated", gettext_lazy("Updated"), "updated"),
]
COLUMN_KEYS = [c.key for c in COLUMNS]
DEFAULT_COLUMNS = [
    "customer",
    "stage",
    "status",
    "amount",
    "probability",
    "owner",
    "expected_close",
    "last_followup",
    "next_followup",
    "days_in_stage",
    "is_key",
    "flags",
]


def merged_conditions(
    builtin: BuiltinQuery | None, rep: int | None, conditions: dict[str, Any] | None
) -> dict[str, Any]:
    """One conditions tree for what the list shows: a built-in query's rules, the rep picked
    under "overdue", and the builder's conditions (what "save this query" stores)."""
    rules: list[dict[str, Any]] = list(builtin.rules) if builtin else []
    if rep:
        rules.append({"field": "owner", "op": "eq", "value": rep})
    cond = conditions or {"match": "all", "rules": []}
    if not rules:
        return cond
    if cond.get("match", "all") == "all":
        merged: dict[str, Any] = {"match": "all", "rules": rules + list(cond.get("rules") or [])}
        if cond.get("groups"):
            merged["groups"] = cond["groups"]
        return merged
    return {"match": "all", "rules": rules, "groups": [cond]}
