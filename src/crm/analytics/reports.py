"""The custom-report engine (自定义报表, R8.8).

A report definition is plain JSON (stored in ``SavedReport.definition``, sent to the API)::

    {
      "subject": "opportunities",
      "dimensions": ["owner", "stage"],          # 1 or 2
      "measures": ["count", "sum_expected_amount"],  # 1 to 6
      "filters": {"created": {"period": "this_month"}, "status": ["continue", "won"],
                  "owner": [12, 15], "department": 4},
      "sort": "-count",                          # a dimension or measure key, "-" descending
      "chart": "bar",                            # bar, hbar, line, pie or table
      "limit": 50                                # at most this many rows (1..500)
    }

Each subject has a whitelist of dimensions, measures and filters (:data:`SUBJECTS`), each
mapped to a fixed ORM expression; a definition naming anything else is refused by
:func:`validate` with a translated message per field, never run. No SQL is built from text.

:func:`run` reads the subject's business model through ``visible_to(user, "view")`` (the
owning module's data scope), so one saved report shows every viewer the figures of *their*
scope. The rows are one GROUP BY query (plus one for the totals and one per dimension whose
labels are names: users, departments, stages); none grows with the number of rows.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncMonth, TruncQuarter, TruncYear
from django.urls import reverse
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from crm.core.errors import ValidationFailed

from .choices import ReportSubject
from .figures import COUNT, MONEY, TEXT, Column, Figure

MAX_DIMENSIONS = 2
MAX_MEASURES = 6
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
#: groups read from the database at most (more are cut, with a note)
MAX_GROUPS = 2000
MAX_VALUES = 50
MAX_TEXT = 100
MAX_ID = 2**63 - 1
CHARTS = ("bar", "hbar", "line", "pie", "table")
#: date periods relative to the day the report runs (scheduled reports use these)
PERIODS = {
    "today": _("Today"),
    "this_week": _("This week"),
    "last_week": _("Last week"),
    "this_month": _("This month"),
    "last_month": _("Last month"),
    "this_quarter": _("This quarter"),
    "last_quarter": _("Last quarter"),
    "this_year": _("This year"),
    "last_year": _("Last year"),
    "last_7_days": _("Last 7 days"),
    "last_30_days": _("Last 30 days"),
}
NONE_LABEL = _("(none)")


# --- the whitelist ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dim:
    """A dimension: the value grouped by (``expr``, an ORM lookup) and how it is labelled.

    kind: ``user`` / ``department`` / ``stage`` (labels looked up by id in one query),
    ``choice`` (labels from ``choices``), ``dict`` (a value of the organisation's dictionary
    ``choices``, labelled in one query), ``text`` (the value itself), ``month`` / ``quarter``
    / ``year`` (a date truncated in the organisation's time zone)."""

    label: Any
    expr: str
    kind: str = "text"
    choices: Any = None
    per_line: bool = False  # groups by the opportunity's product lines


@dataclass(frozen=True)
class Measure:
    label: Any
    fn: str  # count, distinct, sum, avg
    expr: str = "pk"
    kind: str = COUNT
    line_safe: bool = True  # still right when rows are split by product line


@dataclass(frozen=True)
class Filt:
    """A filter: ``date`` (a range or a relative period on a date or date-time field),
    ``choice`` (some of ``choices``), ``text`` (some free values), ``dict`` (some values of the
    dictionary ``choices``), ``user`` (owners by id),
    ``department`` (one department and those below it), ``ids`` (e.g. stages by id),
    ``product`` (opportunities with a line of these products)."""

    label: Any
    expr: str
    kind: str
    choices: Any = None
    datetime: bool = False


@dataclass(frozen=True)
class Subject:
    key: str
    label: Any
    model: Callable[[], Any]
    dimensions: dict[str, Dim]
    measures: dict[str, Measure]
    filters: dict[str, Filt]
    default_date: str
    list_url: Callable[[dict[str, Any]], str | None] | None = None


def _time_dims(prefix: str, expr: str, label: Any) -> dict[str, Dim]:
    return {
        f"{prefix}_month": Dim(format_lazy(_("{date} (month)"), date=label), expr, "month"),
        f"{prefix}_quarter": Dim(format_lazy(_("{date} (quarter)"), date=label), expr, "quarter"),
        f"{prefix}_year": Dim(format_lazy(_("{date} (year)"), date=label), expr, "year"),
    }


def _owner_dims(customer_prefix: str | None) -> dict[str, Dim]:
    from crm.pipeline.models import DictionaryKind as DK

    dims = {
        "owner": Dim(_("Owner"), "owner_id", "user"),
        "department": Dim(_("Owner's department"), "owner__department_id", "department"),
    }
    if customer_prefix is not None:
        from crm.customers.choices import Grade

        p = customer_prefix
        dims.update(
            {
                "industry": Dim(_("Industry"), f"{p}industry", "dict", DK.INDUSTRY),
                "region": Dim(_("Region"), f"{p}region"),
                "grade": Dim(_("Grade"), f"{p}grade", "choice", Grade.choices),
                "customer_source": Dim(_("Customer source"), f"{p}source", "dict", DK.SOURCE),
            }
        )
    return dims


def _owner_filters(customer_prefix: str | None) -> dict[str, Filt]:
    from crm.pipeline.models import DictionaryKind as DK

    filters = {
        "owner": Filt(_("Owner"), "owner_id", "user"),
        "department": Filt(_("Department"), "owner__department__path", "department"),
    }
    if customer_prefix is not None:
        from crm.customers.choices import Grade

        p = customer_prefix
        filters.update(
            {
                "industry": Filt(_("Industry"), f"{p}industry", "dict", DK.INDUSTRY),
                "region": Filt(_("Region"), f"{p}region", "text"),
                "grade": Filt(_("Grade"), f"{p}grade", "choice", Grade.choices),
            }
        )
    return filters


def _count(label: Any = None) -> dict[str, Measure]:
    return {"count": Measure(label or _("Count"), "count")}


def _money(key: str, expr: str, label: Any, line_safe: bool = False) -> dict[str, Measure]:
    return {
        f"sum_{key}": Measure(
            format_lazy(_("{field} (total)"), field=label), "sum", expr, MONEY, line_safe
        ),
        f"avg_{key}": Measure(
            format_lazy(_("{field} (average)"), field=label), "avg", expr, MONEY, line_safe
        ),
    }


def _customers_url(values: dict[str, Any]) -> str | None:
    if "owner" not in values:
        return None
    return reverse("customers:list") + "?" + urlencode({"view": "all", "owner_id": values["owner"]})


def _opportunities_url(values: dict[str, Any]) -> str | None:
    import json

    rules = []
    for key, field_name in (("owner", "owner"), ("stage", "stage"), ("status", "status")):
        if key in values and values[key] not in (None, ""):
            rules.append({"field": field_name, "op": "eq", "value": values[key]})
    if not rules:
        return None
    cond = json.dumps({"match": "all", "rules": rules}, separators=(",", ":"))
    return reverse("opportunities:list") + "?" + urlencode({"cond": cond})


def _owner_url(name: str, param: str, extra: dict[str, Any] | None = None) -> Callable[..., Any]:
    def build(values: dict[str, Any]) -> str | None:
        if "owner" not in values or values["owner"] is None:
            return None
        return reverse(name) + "?" + urlencode({**(extra or {}), param: values["owner"]})

    return build


def _subjects() -> dict[str, Subject]:
    from crm.activities.choices import Method
    from crm.activities.models import FollowUp
    from crm.customers.models import Customer
    from crm.finance.choices import PaymentMethod, ReceiptStatus
    from crm.finance.models import Receipt
    from crm.pipeline.choices import OpportunityStatus
    from crm.pipeline.models import DictionaryKind as DK
    from crm.pipeline.models import Opportunity
    from crm.sales.choices import ContractStatus
    from crm.sales.models import Contract

    created = _("Created")
    customers = Subject(
        ReportSubject.CUSTOMERS,
        ReportSubject.CUSTOMERS.label,
        lambda: Customer,
        {
            **_owner_dims(""),
            "source": Dim(_("Source"), "source", "dict", DK.SOURCE),
            "customer_type": Dim(_("Type"), "customer_type", "dict", DK.CUSTOMER_TYPE),
            **_time_dims("created", "created_at", created),
        },
        {
            **_count(_("Customers")),
            **_money("signed_12m", "signed_amount_12m", _("Signed in 12 months")),
        },
        {
            "created": Filt(created, "created_at", "date", datetime=True),
            **_owner_filters(""),
            "source": Filt(_("Source"), "source", "dict", DK.SOURCE),
        },
        "created",
        _customers_url,
    )
    opportunities = Subject(
        ReportSubject.OPPORTUNITIES,
        ReportSubject.OPPORTUNITIES.label,
        lambda: Opportunity,
        {
            **_owner_dims("customer__"),
            "stage": Dim(_("Stage"), "stage_id", "stage"),
            "status": Dim(_("Status"), "status", "choice", OpportunityStatus.choices),
            "source": Dim(_("Source"), "source", "dict", DK.SOURCE),
            "business_type": Dim(_("Business type"), "business_type", "dict", DK.BUSINESS_CATEGORY),
            "product": Dim(_("Product"), "lines__product", per_line=True),
            **_time_dims("created", "created_at", created),
            **_time_dims("expected_close", "expected_close_date", _("Expected close")),
            **_time_dims("closed", "actual_close_date", _("Actual close")),
        },
        {
            **_count(_("Opportunities")),
            "customers": Measure(_("Customers"), "distinct", "customer_id"),
            **_money("expected_amount", "expected_amount", _("Expected amount")),
            **_money("actual_amount", "actual_amount", _("Won amount")),
            "sum_line_amount": Measure(
                _("Product line amount (total)"), "sum", "lines__amount", MONEY
            ),
        },
        {
            "created": Filt(created, "created_at", "date", datetime=True),
            "expected_close": Filt(_("Expected close"), "expected_close_date", "date"),
            "closed": Filt(_("Actual close"), "actual_close_date", "date"),
            **_owner_filters("customer__"),
            "status": Filt(_("Status"), "status", "choice", OpportunityStatus.choices),
            "stage": Filt(_("Stage"), "stage_id", "ids"),
            "source": Filt(_("Source"), "source", "dict", DK.SOURCE),
            "product": Filt(_("Product"), "lines__product", "product"),
        },
        "created",
        _opportunities_url,
    )
    followups = Subject(
        ReportSubject.FOLLOWUPS,
        ReportSubject.FOLLOWUPS.label,
        lambda: FollowUp,
        {
            **_owner_dims("customer__"),
            "method": Dim(_("Method"), "method", "choice", Method.choices),
            **_time_dims("happened", "happened_at", _("Follow-up date")),
        },
        {
            **_count(_("Follow-ups")),
            "customers": Measure(_("Customers"), "distinct", "customer_id"),
            "opportunities": Measure(_("Opportunities"), "distinct", "opportunity_id"),
        },
        {
            "happened": Filt(_("Follow-up date"), "happened_at", "date", datetime=True),
            **_owner_filters("customer__"),
            "method": Filt(_("Method"), "method", "choice", Method.choices),
        },
        "happened",
        _owner_url("activities:followup_list", "owner", {"view": "team"}),
    )
    contracts = Subject(
        ReportSubject.CONTRACTS,
        ReportSubject.CONTRACTS.label,
        lambda: Contract,
        {
            **_owner_dims("customer__"),
            "status": Dim(_("Status"), "status", "choice", ContractStatus.choices),
            **_time_dims("signed", "signed_on", _("Signed on")),
            **_time_dims("renewal", "renewal_on", _("Renewal date")),
        },
        {
            **_count(_("Contracts")),
            "customers": Measure(_("Customers"), "distinct", "customer_id"),
            **_money("amount", "amount", _("Contract amount")),
            **_money("received", "received_amount", _("Received")),
            "sum_invoiced": Measure(_("Invoiced (total)"), "sum", "invoiced_amount", MONEY),
        },
        {
            "signed": Filt(_("Signed on"), "signed_on", "date"),
            "renewal": Filt(_("Renewal date"), "renewal_on", "date"),
            **_owner_filters("customer__"),
            "status": Filt(_("Status"), "status", "choice", ContractStatus.choices),
        },
        "signed",
        _owner_url("sales:contract_list", "owner_id"),
    )
    receipts = Subject(
        ReportSubject.RECEIPTS,
        ReportSubject.RECEIPTS.label,
        lambda: Receipt,
        {
            **_owner_dims("customer__"),
            "method": Dim(_("Method"), "method", "choice", PaymentMethod.choices),
            "status": Dim(_("Status"), "status", "choice", ReceiptStatus.choices),
            **_time_dims("received", "received_on", _("Received on")),
        },
        {
            **_count(_("Receipts")),
            "customers": Measure(_("Customers"), "distinct", "customer_id"),
            **_money("amount", "amount", _("Amount received")),
        },
        {
            "received": Filt(_("Received on"), "received_on", "date"),
            **_owner_filters("customer__"),
            "method": Filt(_("Method"), "method", "choice", PaymentMethod.choices),
            "status": Filt(_("Status"), "status", "choice", ReceiptStatus.choices),
        },
        "received",
        _owner_url("finance:receipt_list", "owner"),
    )
    return {s.key: s for s in (customers, opportunities, followups, contracts, receipts)}


_CACHE: dict[str, Subject] = {}


def subjects() -> dict[str, Subject]:
    """The whitelist (built once: the models are imported lazily)."""
    if not _CACHE:
        _CACHE.update(_subjects())
    return _CACHE


def subject(key: str) -> Subject:
    return subjects()[key]


# --- validation ----------------------------------------------------------------------------------
@dataclass
class Definition:
    """A validated definition: only whitelisted keys, typed values."""

    subject: str
    dimensions: list[str]
    measures: list[str]
    filters: dict[str, Any] = field(default_factory=dict)
    sort: str = ""
    chart: str = "bar"
    limit: int = DEFAULT_LIMIT

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "dimensions": list(self.dimensions),
            "measures": list(self.measures),
            "filters": self.filters,
            "sort": self.sort,
            "chart": self.chart,
            "limit": self.limit,
        }


KEYS = ("subject", "dimensions", "measures", "filters", "sort", "chart", "limit")


def _str_list(value: Any, max_items: int) -> list[str] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > max_items:
        return None
    if not all(isinstance(v, str) and 0 < len(v) <= MAX_TEXT and "\x00" not in v for v in value):
        return None
    return list(dict.fromkeys(value))


def record_id(value: Any) -> int | None:
    """A record id from JSON or a form (1 … 2**63 − 1), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 20:
        value = int(value.strip())
    if isinstance(value, int) and 1 <= value <= MAX_ID:
        return value
    return None


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _clean_filter(f: Filt, value: Any) -> tuple[Any, Any]:
    """(clean value, error message); a value of None means "no filter"."""
    if f.kind == "date":
        if not isinstance(value, dict) or set(value) - {"from", "to", "period"}:
            return None, _("Give a period, or a start and/or an end date (YYYY-MM-DD).")
        if value.get("period"):
            if value["period"] not in PERIODS or len(value) > 1:
                return None, _("Unknown period.")
            return {"period": value["period"]}, None
        out: dict[str, str] = {}
        for end in ("from", "to"):
            raw = value.get(end)
            if raw in (None, ""):
                continue
            day = _date(raw)
            if day is None:
                return None, _("Enter a date as YYYY-MM-DD.")
            out[end] = day.isoformat()
        if "from" in out and "to" in out and out["to"] < out["from"]:
            return None, _("The end date is before the start date.")
        return (out or None), None
    if f.kind == "department":
        pk = record_id(value)
        if pk is None:
            return None, _("Choose a department.")
        return pk, None
    if f.kind in ("user", "ids"):
        items = value if isinstance(value, list) else [value]
        if len(items) > MAX_VALUES:
            return None, _("Choose at most %(n)s values.") % {"n": MAX_VALUES}
        ids = [record_id(v) for v in items]
        if any(v is None for v in ids):
            return None, _("Choose records from the list.")
        return (list(dict.fromkeys(ids)) or None), None
    values = _str_list(value, MAX_VALUES)
    if values is None:
        return None, _("Choose at most %(n)s values of at most %(len)s characters.") % {
            "n": MAX_VALUES,
            "len": MAX_TEXT,
        }
    if f.kind == "choice":
        allowed = {str(k) for k, _label in f.choices}
        if any(v not in allowed for v in values):
            return None, _("Choose values from the list.")
    return (values or None), None


def validate(raw: Any) -> Definition:
    """A :class:`Definition` from untrusted JSON, or ValidationFailed with a message per field."""
    if not isinstance(raw, dict):
        problem: dict[str, list[Any]] = {"definition": [_("Enter a JSON object.")]}
        raise ValidationFailed(field_errors=problem)
    errors: dict[str, list[Any]] = {}
    for key in raw:
        if key not in KEYS:
            errors[str(key)[:50]] = [_("Unknown field.")]
    subj_key = raw.get("subject")
    if not isinstance(subj_key, str) or subj_key not in subjects():
        errors["subject"] = [_("Choose what the report is about.")]
        raise ValidationFailed(field_errors=errors)
    subj = subject(subj_key)

    dims = _str_list(raw.get("dimensions") or [], MAX_DIMENSIONS)
    if dims is None or not dims:
        errors["dimensions"] = [_("Choose one or two dimensions.")]
        dims = []
    elif any(d not in subj.dimensions for d in dims):
        unknown = ", ".join(d for d in dims if d not in subj.dimensions)
        errors["dimensions"] = [_("Unknown dimension: %(name)s.") % {"name": unknown}]
    measures = _str_list(raw.get("measures") or [], MAX_MEASURES)
    if measures is None or not measures:
        errors["measures"] = [_("Choose one to six measures.")]
        measures = []
    elif any(m not in subj.measures for m in measures):
        unknown = ", ".join(m for m in measures if m not in subj.measures)
        errors["measures"] = [_("Unknown measure: %(name)s.") % {"name": unknown}]
    elif any(subj.dimensions[d].per_line for d in dims if d in subj.dimensions) and any(
        not subj.measures[m].line_safe for m in measures
    ):
        errors["measures"] = [
            _("Split by product, only counts and the product line amount add up.")
        ]

    filters: dict[str, Any] = {}
    raw_filters = raw.get("filters") or {}
    if not isinstance(raw_filters, dict):
        errors["filters"] = [_("Enter a JSON object.")]
    else:
        for key, value in raw_filters.items():
            f = subj.filters.get(key) if isinstance(key, str) else None
            if f is None:
                errors[f"filters.{str(key)[:50]}"] = [_("Unknown filter.")]
                continue
            if value in (None, "", [], {}):
                continue
            clean, problem = _clean_filter(f, value)
            if problem is not None:
                errors[f"filters.{key}"] = [problem]
            elif clean is not None:
                filters[key] = clean

    sort = raw.get("sort") or ""
    if not isinstance(sort, str) or sort.lstrip("-") not in (*dims, *measures, ""):
        errors["sort"] = [_("Sort by one of the chosen dimensions or measures.")]
        sort = ""
    chart = raw.get("chart") or "bar"
    if chart not in CHARTS:
        errors["chart"] = [_("Choose a bar, line or pie chart, or a table only.")]
    limit = raw.get("limit", DEFAULT_LIMIT)
    if limit in (None, ""):
        limit = DEFAULT_LIMIT
    if isinstance(limit, str) and limit.isdigit() and len(limit) < 5:
        limit = int(limit)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        errors["limit"] = [_("Show between 1 and %(n)s rows.") % {"n": MAX_LIMIT}]
        limit = DEFAULT_LIMIT
    if errors:
        raise ValidationFailed(field_errors=errors)
    return Definition(subj_key, dims, measures, filters, sort, str(chart), limit)


# --- running -----------------------------------------------------------------------------------
def period_range(period: str, today: date) -> tuple[date, date]:
    """The first and last day of a relative period, for the day ``today``."""
    if period == "today":
        return today, today
    if period in ("this_week", "last_week"):
        start = today - timedelta(days=today.weekday())
        if period == "last_week":
            start -= timedelta(days=7)
        return start, start + timedelta(days=6)
    if period in ("this_month", "last_month"):
        first = today.replace(day=1)
        if period == "last_month":
            first = (first - timedelta(days=1)).replace(day=1)
        return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])
    if period in ("this_quarter", "last_quarter"):
        q_month = (today.month - 1) // 3 * 3 + 1
        first = date(today.year, q_month, 1)
        if period == "last_quarter":
            first = (
                date(first.year - 1, 10, 1) if q_month == 1 else date(today.year, q_month - 3, 1)
            )
        last_month = first.month + 2
        return first, date(first.year, last_month, calendar.monthrange(first.year, last_month)[1])
    if period in ("this_year", "last_year"):
        year = today.year - (period == "last_year")
        return date(year, 1, 1), date(year, 12, 31)
    days = 7 if period == "last_7_days" else 30
    return today - timedelta(days=days - 1), today


def date_bounds(value: dict[str, Any], today: date) -> tuple[date | None, date | None]:
    if "period" in value:
        return period_range(value["period"], today)
    start = date.fromisoformat(value["from"]) if value.get("from") else None
    last = date.fromisoformat(value["to"]) if value.get("to") else None
    return start, last


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _filter_q(user: Any, f: Filt, value: Any, today: date) -> Q:
    from crm.org.models import Department
    from crm.pipeline.models import OpportunityLine

    if f.kind == "date":
        start, last = date_bounds(value, today)
        q = Q()
        if f.datetime:
            if start:
                q &= Q(**{f"{f.expr}__gte": _day_start(start)})
            if last:
                q &= Q(**{f"{f.expr}__lt": _day_start(last + timedelta(days=1))})
        else:
            if start:
                q &= Q(**{f"{f.expr}__gte": start})
            if last:
                q &= Q(**{f"{f.expr}__lte": last})
        return q
    if f.kind == "department":
        # an id of another organisation (or none) matches no row
        dept = Department.objects.filter(org_id=user.org_id, pk=value).only("path").first()
        if dept is None:
            return Q(pk__in=[])
        return Q(**{f"{f.expr}__startswith": dept.path})
    if f.kind == "product":
        lines = OpportunityLine.objects.filter(product__in=value).values("opportunity_id")
        return Q(pk__in=lines)
    return Q(**{f"{f.expr}__in": value})


def base_queryset(user: Any, d: Definition, today: date | None = None) -> QuerySet[Any]:
    """The subject's rows visible to ``user`` and matching the definition's filters."""
    subj = subject(d.subject)
    today = today or timezone.localdate()
    qs = subj.model().objects.visible_to(user, "view")
    for key, value in d.filters.items():
        qs = qs.filter(_filter_q(user, subj.filters[key], value, today))
    return qs


def _aggregates(key: str, m: Measure) -> dict[str, Any]:
    """The SQL aggregates of one measure. An average is the exact sum over the count of the
    values present (a database's AVG may go through floating point)."""
    if m.fn == "count":
        return {f"m_{key}": Count("pk", distinct=True)}
    if m.fn == "distinct":
        return {f"m_{key}": Count(m.expr, distinct=True)}
    out = DecimalField(max_digits=20, decimal_places=2)
    total = {f"m_{key}": Coalesce(Sum(m.expr), Decimal("0"), output_field=out)}
    if m.fn == "sum":
        return total
    return {**total, f"n_{key}": Count(m.expr)}


def _measure(row: dict[str, Any], key: str, m: Measure) -> Any:
    value = row[f"m_{key}"]
    if m.fn == "avg":
        n = row[f"n_{key}"]
        return _money_value(Decimal(value) / n) if n else None
    if m.kind == MONEY:
        return _money_value(value)
    return int(value or 0)


def _group_expr(dim: Dim) -> Any:
    if dim.kind in ("month", "quarter", "year"):
        trunc = {"month": TruncMonth, "quarter": TruncQuarter, "year": TruncYear}[dim.kind]
        if _is_datetime(dim):  # the month of a moment in the organisation's time zone
            return trunc(dim.expr, tzinfo=timezone.get_current_timezone())
        return trunc(dim.expr)
    return F(dim.expr)


def _is_datetime(dim: Dim) -> bool:
    return dim.expr.endswith("_at")


def _money_value(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _period_label(kind: str, value: Any) -> str:
    if value is None:
        return str(NONE_LABEL)
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        value = value.date()
    if kind == "month":
        return f"{value.year}-{value.month:02d}"
    if kind == "quarter":
        return f"{value.year} Q{(value.month - 1) // 3 + 1}"
    return str(value.year)


def _labels(user: Any, dim: Dim, values: set[Any]) -> dict[Any, tuple[str, Any]]:
    """value -> (label, sort key) for one dimension, with one query for named records."""
    from crm.org.models import Department, User
    from crm.pipeline.models import Stage

    out: dict[Any, tuple[str, Any]] = {}
    ids = [v for v in values if v is not None]
    if dim.kind == "user":
        names = {
            u.pk: u.display_name
            for u in User.objects.filter(org_id=user.org_id, pk__in=ids).only(
                "pk", "name", "username", "first_name", "last_name"
            )
        }
        for v in values:
            label = names.get(v, str(NONE_LABEL)) if v is not None else str(NONE_LABEL)
            out[v] = (label, (label, v or 0))
    elif dim.kind == "department":
        depts = {
            d.pk: (d.name, d.path)
            for d in Department.objects.filter(org_id=user.org_id, pk__in=ids).only(
                "pk", "name", "path"
            )
        }
        for v in values:
            name, path = depts.get(v, (str(NONE_LABEL), "~"))
            out[v] = (name, path)
    elif dim.kind == "stage":
        stages = {
            s.pk: (s.name, (s.pipeline_id, s.sort_order, s.pk))
            for s in Stage.objects.filter(org_id=user.org_id, pk__in=ids).only(
                "pk", "name", "pipeline_id", "sort_order"
            )
        }
        for v in values:
            out[v] = stages.get(v, (str(NONE_LABEL), (0, 0, 0)))
    elif dim.kind == "choice":
        order = {str(k): i for i, (k, _label) in enumerate(dim.choices)}
        names = {str(k): str(label) for k, label in dim.choices}
        for v in values:
            key = str(v) if v not in (None, "") else ""
            out[v] = (names.get(key, key or str(NONE_LABEL)), order.get(key, len(order)))
    elif dim.kind == "dict":
        from crm.pipeline.dictionaries import choices as dictionary

        items = dictionary(user.org_id, dim.choices, include_inactive=True)
        order = {value: i for i, (value, _label) in enumerate(items)}
        names = dict(items)
        for v in values:
            key = v or ""
            out[v] = (
                names.get(key, key or str(NONE_LABEL)),
                (not key, order.get(key, len(order)), key),
            )
    elif dim.kind in ("month", "quarter", "year"):
        for v in values:
            label = _period_label(dim.kind, v)
            out[v] = (label, label if v is not None else "~")
    else:
        for v in values:
            label = str(v) if v not in (None, "") else str(NONE_LABEL)
            out[v] = (label, (v in (None, ""), label))
    return out


@dataclass
class Result:
    definition: Definition
    figure: Figure
    truncated: bool = False
    groups: int = 0


def figure_key(d: Definition) -> str:
    return "report"


def hidden_keys(user: Any, subject_key: str) -> set[str]:
    """Measures and dimensions of ``subject_key`` that read a field hidden or masked for
    ``user`` (field-level permissions, crm.core.fieldaccess): unavailable to them."""
    from crm.core.fieldaccess import hides_lookup, rules_for

    if not rules_for(user):
        return set()
    subj = subject(subject_key)
    model = subj.model()
    exprs = [(k, m.expr) for k, m in subj.measures.items()]
    exprs += [(k, dim.expr) for k, dim in subj.dimensions.items()]
    return {key for key, expr in exprs if hides_lookup(user, model, expr)}


def check_field_access(user: Any, d: Definition) -> None:
    """Refuse a definition that uses a measure or dimension ``user`` may not see (H-FIELD)."""
    hidden = hidden_keys(user, d.subject)
    used = [k for k in [*d.measures, *d.dimensions] if k in hidden]
    if used:
        raise ValidationFailed(
            field_errors={
                "measures": [
                    _("You may not see the fields behind: %(names)s.") % {"names": ", ".join(used)}
                ]
            }
        )


def run(user: Any, definition: Any, *, title: Any = None, today: date | None = None) -> Result:
    """Compute a report over ``user``'s data scope (``definition``: JSON or a Definition)."""
    d = definition if isinstance(definition, Definition) else validate(definition)
    subj = subject(d.subject)
    check_field_access(user, d)
    qs = base_queryset(user, d, today)
    dims = [subj.dimensions[k] for k in d.dimensions]
    measures = {k: subj.measures[k] for k in d.measures}
    aggregates: dict[str, Any] = {}
    for k, m in measures.items():
        aggregates.update(_aggregates(k, m))
    group_names = []
    annotations: dict[str, Any] = {}
    for i, dim in enumerate(dims):
        name = f"d{i}"
        annotations[name] = _group_expr(dim)
        group_names.append(name)
    grouped = list(
        qs.annotate(**annotations)
        .values(*group_names)
        .annotate(**aggregates)
        .order_by(*group_names)[: MAX_GROUPS + 1]
    )
    truncated = len(grouped) > MAX_GROUPS
    grouped = grouped[:MAX_GROUPS]
    labels = [_labels(user, dim, {row[f"d{i}"] for row in grouped}) for i, dim in enumerate(dims)]
    rows: list[dict[str, Any]] = []
    for row in grouped:
        out: dict[str, Any] = {}
        keys: list[Any] = []
        url_values: dict[str, Any] = {}
        for i, key in enumerate(d.dimensions):
            label, sort_key = labels[i][row[f"d{i}"]]
            out[key] = label
            keys.append(sort_key)
            url_values[key] = row[f"d{i}"]
        for key, m in measures.items():
            out[key] = _measure(row, key, m)
        out["_sort"] = keys
        out["_label"] = " · ".join(str(out[k]) for k in d.dimensions)
        if subj.list_url is not None and not any(dim.per_line for dim in dims):
            out["_url"] = subj.list_url(url_values)
        rows.append(out)
    _sort_rows(rows, d)
    if len(rows) > d.limit:
        rows = rows[: d.limit]
        truncated = True
    for r in rows:
        r.pop("_sort", None)
    totals_raw = qs.aggregate(**aggregates)
    totals: dict[str, Any] = {d.dimensions[0]: str(_("Total"))}
    for key, m in measures.items():
        totals[key] = _measure(totals_raw, key, m)
    columns = [Column(k, subj.dimensions[k].label, TEXT) for k in d.dimensions] + [
        Column(k, m.label, m.kind) for k, m in measures.items()
    ]
    chart = None
    if d.chart != "table" and rows:
        series = list(d.measures) if d.chart != "pie" else [d.measures[0]]
        chart = {
            "type": d.chart,
            "x": "_label" if len(d.dimensions) > 1 else d.dimensions[0],
            "series": series,
        }
    note: Any = ""
    if truncated:
        note = _("Only the first %(n)s rows are shown; the totals cover every row.") % {
            "n": len(rows)
        }
    figure = Figure(
        key=figure_key(d),
        title=title or subj.label,
        columns=columns,
        rows=rows,
        chart=chart,
        note=note,
        totals=totals,
        extra={"height": max(320, min(900, 28 * len(rows))) if d.chart == "hbar" else 360},
    )
    return Result(d, figure, truncated, len(grouped))


def _sort_rows(rows: list[dict[str, Any]], d: Definition) -> None:
    if not d.sort:
        # time first (chronological), else the first measure, largest first
        subj = subject(d.subject)
        if subj.dimensions[d.dimensions[0]].kind in ("month", "quarter", "year", "stage"):
            rows.sort(key=lambda r: r["_sort"])
        else:
            first = d.measures[0]
            rows.sort(key=lambda r: r["_sort"])
            rows.sort(key=lambda r: r[first] if r[first] is not None else -1, reverse=True)
        return
    key = d.sort.lstrip("-")
    desc = d.sort.startswith("-")
    if key in d.dimensions:
        i = d.dimensions.index(key)
        rows.sort(key=lambda r: r["_sort"][i], reverse=desc)
    else:
        rows.sort(key=lambda r: r["_sort"])
        rows.sort(key=lambda r: r[key] if r[key] is not None else -1, reverse=desc)


def xlsx_bytes(figure: Figure) -> bytes:
    """The figure's table as an XLSX file (for e-mail attachments)."""
    import io

    from crm.imports.exporters import write_xlsx

    handle = io.BytesIO()
    rows = figure.export_rows()
    if figure.totals:
        rows.append(
            [
                figure.totals.get(c.key, "") if figure.totals.get(c.key) is not None else ""
                for c in figure.columns
            ]
        )
    write_xlsx(handle, rows, [str(c.label) for c in figure.columns], title=str(figure.title))
    return handle.getvalue()


def describe(d: Definition) -> dict[str, Any]:
    """Labels of a definition, for the detail page and the e-mail."""
    subj = subject(d.subject)
    filters = []
    for key, value in d.filters.items():
        f = subj.filters[key]
        if f.kind == "date":
            text = (
                str(PERIODS[value["period"]])
                if "period" in value
                else "{} – {}".format(value.get("from", "…"), value.get("to", "…"))
            )
        elif f.kind == "choice":
            names = {str(k): str(label) for k, label in f.choices}
            text = ", ".join(names.get(v, v) for v in value)
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        else:
            text = str(value)
        filters.append((f.label, text))
    return {
        "subject": subj.label,
        "dimensions": [subj.dimensions[k].label for k in d.dimensions],
        "measures": [subj.measures[k].label for k in d.measures],
        "filters": filters,
    }
