"""Reads of the finance module: receivables with their outstanding amounts, the ageing of overdue
ones, the collection board and the collection analysis (R7.1–R7.3).

Every read starts from the scoped query layer with the viewer: installments and contracts
through ``visible_to`` of the contract (module ``sales``), receipts through
``Receipt.objects.visible_to`` (module ``finance``), refunds through the returns' own scope.
Every figure is computed in SQL (GROUP BY and conditional sums), never by loading rows.

Receivables are the installments of contracts that are signed, executing or completed
(``SIGNED_STATUSES``) and still in their plan; “outstanding” is amount − received − written off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.org.models import User
from crm.sales.choices import SIGNED_STATUSES, ReturnStatus
from crm.sales.models import Contract, ReturnRequest

from .choices import AGEING_BUCKETS, InvoiceStatus, PlanStatus, ReceiptStatus
from .models import Invoice, Receipt, ReceivablePlan
from .policy import MONEY, fen, outstanding_expr

ZERO = Decimal("0.00")
#: the ageing buckets' labels (keys of crm.finance.choices.AGEING_BUCKETS)
BUCKET_LABELS: dict[str, Any] = {
    "1-30": _("1–30 days"),
    "31-60": _("31–60 days"),
    "61-90": _("61–90 days"),
    "90+": _("Over 90 days"),
}
PLAN_STATUS_COLORS: dict[str, str] = {
    PlanStatus.PENDING: "secondary",
    PlanStatus.PARTIAL: "blue",
    PlanStatus.DONE: "green",
    PlanStatus.OVERDUE: "red",
    PlanStatus.VOID: "secondary",
}
RECEIPT_STATUS_COLORS: dict[str, str] = {
    ReceiptStatus.PENDING: "orange",
    ReceiptStatus.CONFIRMED: "green",
    ReceiptStatus.REJECTED: "red",
    ReceiptStatus.VOIDED: "secondary",
}
INVOICE_STATUS_COLORS: dict[str, str] = {
    InvoiceStatus.REQUESTED: "orange",
    InvoiceStatus.ISSUED: "blue",
    InvoiceStatus.MAILED: "green",
    InvoiceStatus.CANCELLED: "secondary",
}


def _zero(expression: Any) -> Coalesce:
    return Coalesce(expression, ZERO, output_field=MONEY)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


# --- receivables ---------------------------------------------------------------------------------
def receivable_plans(user: User) -> QuerySet[Any]:
    """Installments of signed/executing/completed contracts ``user`` sees, still in their plan,
    with ``outstanding_amount``."""
    return (
        ReceivablePlan.objects.visible_to(user)
        .filter(is_void=False, contract__status__in=SIGNED_STATUSES)
        .annotate(outstanding_amount=outstanding_expr())
    )


def open_plans(user: User) -> QuerySet[Any]:
    """Receivables with something left to collect."""
    return receivable_plans(user).filter(outstanding_amount__gt=0)


def plan_status_q(status: str, today: date) -> Q:
    """The installments (annotated by :func:`receivable_plans`) in a derived ``PlanStatus``."""
    if status == PlanStatus.DONE:
        return Q(outstanding_amount__lte=0)
    if status == PlanStatus.OVERDUE:
        return Q(outstanding_amount__gt=0, due_on__lt=today)
    if status == PlanStatus.PARTIAL:
        return Q(outstanding_amount__gt=0, due_on__gte=today, received_amount__gt=0)
    if status == PlanStatus.PENDING:
        return Q(outstanding_amount__gt=0, due_on__gte=today, received_amount=0)
    return Q(pk__in=[])


def bucket_q(low: int, high: int | None, today: date, prefix: str = "") -> Q:
    """Due ``low``…``high`` days before ``today`` (``high`` None: or longer)."""
    q = Q(**{f"{prefix}due_on__lte": today - timedelta(days=low)})
    if high is not None:
        q &= Q(**{f"{prefix}due_on__gte": today - timedelta(days=high)})
    return q


def bucket_of(days: int) -> str | None:
    """The ageing bucket of an installment ``days`` past due (None when not overdue)."""
    for key, low, high in AGEING_BUCKETS:
        if days >= low and (high is None or days <= high):
            return key
    return None


@dataclass
class Bucket:
    key: str
    label: Any
    amount: Decimal
    count: int


def ageing(user: User, today: date) -> list[Bucket]:
    """Overdue outstanding per ageing bucket (1–30, 31–60, 61–90, 90+ days), one query."""
    qs = open_plans(user).filter(due_on__lt=today)
    sums: dict[str, Any] = {}
    for key, low, high in AGEING_BUCKETS:
        q = bucket_q(low, high, today)
        sums[f"amount_{key}"] = _zero(Sum("outstanding_amount", filter=q))
        sums[f"count_{key}"] = Count("pk", filter=q)
    row = qs.aggregate(**sums)
    return [
        Bucket(key, BUCKET_LABELS[key], row[f"amount_{key}"], row[f"count_{key}"])
        for key, _low, _high in AGEING_BUCKETS
    ]


@dataclass
class PlanFigures:
    planned: Decimal
    received: Decimal
    written_off: Decimal
    outstanding: Decimal
    overdue: Decimal
    count: int


def plan_figures(qs: QuerySet[Any], today: date) -> PlanFigures:
    """Totals of annotated installments (planned, received, written off, outstanding, overdue)."""
    row = qs.aggregate(
        planned=_zero(Sum("amount")),
        received=_zero(Sum("received_amount")),
        written_off=_zero(Sum("written_off_amount")),
        outstanding=_zero(Sum("outstanding_amount", filter=Q(outstanding_amount__gt=0))),
        overdue=_zero(
            Sum("outstanding_amount", filter=Q(outstanding_amount__gt=0, due_on__lt=today))
        ),
        count=Count("pk"),
    )
    return PlanFigures(**row)


def plan_row(plan: ReceivablePlan, today: date) -> dict[str, Any]:
    """What a table shows of one installment: status, outstanding, days overdue, bucket."""
    status = plan.status_on(today)
    days = plan.overdue_days(today)
    return {
        "plan": plan,
        "outstanding": plan.outstanding,
        "status": status,
        "status_label": PlanStatus(status).label,
        "status_color": PLAN_STATUS_COLORS.get(status, "secondary"),
        "overdue_days": days,
        "bucket": bucket_of(days),
    }


# --- contracts -----------------------------------------------------------------------------------
def awaiting_contracts(user: User, today: date) -> QuerySet[Contract]:
    """Signed contracts ``user`` sees with money still to collect (R7.3), with
    ``outstanding_amount``, ``overdue_amount`` (of installments past due) and ``next_due_on``;
    the most overdue first."""
    open_plan = Q(receivable_plans__is_void=False) & Q(
        receivable_plans__received_amount__lt=fen(
            F("receivable_plans__amount") - F("receivable_plans__written_off_amount")
        )
    )
    return (
        Contract.objects.visible_to(user)
        .filter(status__in=SIGNED_STATUSES)
        .annotate(outstanding_amount=outstanding_expr())
        .filter(outstanding_amount__gt=0)
        .annotate(
            overdue_amount=_zero(
                Sum(
                    outstanding_expr("receivable_plans__"),
                    filter=open_plan & Q(receivable_plans__due_on__lt=today),
                )
            ),
            next_due_on=Min("receivable_plans__due_on", filter=open_plan),
            oldest_due_on=Min(
                "receivable_plans__due_on", filter=open_plan & Q(receivable_plans__due_on__lt=today)
            ),
        )
        .select_related("customer", "owner")
        .order_by("-overdue_amount", "next_due_on", "pk")
    )


def contract_figures(contract: Contract, today: date) -> dict[str, Any]:
    """Planned, received, written off, outstanding and overdue of one contract's installments,
    and whether the plan adds up to the contract amount (it may not after an amendment)."""
    plans = (
        ReceivablePlan.objects.filter(contract=contract, is_void=False)
        .annotate(outstanding_amount=outstanding_expr())
        .order_by("sequence", "pk")
    )
    figures = plan_figures(plans, today)
    return {
        "rows": [plan_row(p, today) for p in plans],
        "figures": figures,
        "gap": contract.amount - figures.planned,
        "outstanding": contract.outstanding,
    }


# --- the collection board ------------------------------------------------------------------------
@dataclass
class Board:
    today: date
    week_end: date
    due_this_week: list[dict[str, Any]]
    due_this_week_total: Decimal
    overdue: list[dict[str, Any]]
    overdue_total: Decimal
    overdue_count: int
    buckets: list[Bucket]
    received_this_month: Decimal
    receipts_this_month: int
    awaiting: list[Contract]
    awaiting_count: int
    awaiting_total: Decimal
    figures: PlanFigures
    bucket_chart: dict[str, Any] = field(default_factory=dict)


BOARD_LIMIT = 50


def board(user: User, today: date) -> Board:
    """The finance collection board (回款看板): due this week, overdue with ageing, received
    this month, and the contracts awaiting payment."""
    week_end = week_start(today) + timedelta(days=6)
    opened = open_plans(user).select_related("contract", "contract__customer", "contract__owner")
    week = opened.filter(due_on__gte=today, due_on__lte=week_end).order_by("due_on", "pk")
    late = opened.filter(due_on__lt=today).order_by("due_on", "pk")
    week_total = week.aggregate(total=_zero(Sum("outstanding_amount")))["total"]
    late_totals = late.aggregate(total=_zero(Sum("outstanding_amount")), count=Count("pk"))
    month = (
        Receipt.objects.visible_to(user)
        .filter(
            status=ReceiptStatus.CONFIRMED,
            received_on__gte=month_start(today),
            received_on__lte=today,
        )
        .aggregate(total=_zero(Sum("amount")), count=Count("pk"))
    )
    awaiting = awaiting_contracts(user, today)
    awaiting_totals = awaiting.aggregate(count=Count("pk"), total=_zero(Sum("outstanding_amount")))
    buckets = ageing(user, today)
    return Board(
        today=today,
        week_end=week_end,
        due_this_week=[plan_row(p, today) for p in week[:BOARD_LIMIT]],
        due_this_week_total=week_total,
        overdue=[plan_row(p, today) for p in late[:BOARD_LIMIT]],
        overdue_total=late_totals["total"],
        overdue_count=late_totals["count"],
        buckets=buckets,
        received_this_month=month["total"],
        receipts_this_month=month["count"],
        awaiting=list(awaiting[:BOARD_LIMIT]),
        awaiting_count=awaiting_totals["count"],
        awaiting_total=awaiting_totals["total"],
        figures=plan_figures(receivable_plans(user), today),
        bucket_chart={
            "labels": [str(b.label) for b in buckets],
            "amounts": [str(b.amount) for b in buckets],
        },
    )


# --- the collection analysis ---------------------------------------------------------------------
def _months(start: date, end: date) -> list[date]:
    months, cursor = [], month_start(start)
    while cursor < end:
        months.append(cursor)
        cursor = next_month(cursor)
    return months


def _by_month(rows: Any, key: str) -> dict[date, Decimal]:
    result: dict[date, Decimal] = {}
    for row in rows:
        month = row["month"]
        if isinstance(month, datetime):
            month = month.date()
        result[month] = row[key]
    return result


def _confirmed_receipts(user: User, start: date, end: date) -> QuerySet[Receipt]:
    return Receipt.objects.visible_to(user).filter(
        status=ReceiptStatus.CONFIRMED, received_on__gte=start, received_on__lt=end
    )


def _refunds(user: User, start: date, end: date) -> QuerySet[ReturnRequest]:
    return ReturnRequest.objects.visible_to(user).filter(
        status=ReturnStatus.REFUNDED, refunded_on__gte=start, refunded_on__lt=end
    )


def monthly_trend(user: User, start: date, end: date) -> list[dict[str, Any]]:
    """Per month of [start, end): planned (installments due), received, refunds, net flow
    (received − refunds) and the collection rate (received ÷ planned)."""
    received = _by_month(
        _confirmed_receipts(user, start, end)
        .annotate(month=TruncMonth("received_on"))
        .values("month")
        .annotate(total=Sum("amount"))
        .order_by("month"),
        "total",
    )
    planned = _by_month(
        receivable_plans(user)
        .filter(due_on__gte=start, due_on__lt=end)
        .annotate(month=TruncMonth("due_on"))
        .values("month")
        .annotate(total=Sum("amount"))
        .order_by("month"),
        "total",
    )
    refunds = _by_month(
        _refunds(user, start, end)
        .annotate(month=TruncMonth("refunded_on"))
        .values("month")
        .annotate(total=Sum("amount"))
        .order_by("month"),
        "total",
    )
    rows = []
    for month in _months(start, end):
        got = received.get(month) or ZERO
        due = planned.get(month) or ZERO
        back = refunds.get(month) or ZERO
        rows.append(
            {
                "month": month,
                "planned": due,
                "received": got,
                "refunds": back,
                "net": got - back,
                "rate": round(got * 100 / due) if due else None,
            }
        )
    return rows


def per_owner(user: User, start: date, end: date, today: date) -> list[dict[str, Any]]:
    """Per owner (rep) of the contracts: received and refunded in [start, end), net flow, and
    what is outstanding and overdue now."""
    received = {
        row["owner"]: row["total"]
        for row in _confirmed_receipts(user, start, end)
        .values("owner")
        .annotate(total=Sum("amount"))
        .order_by()
    }
    refunds = {
        row["owner"]: row["total"]
        for row in _refunds(user, start, end)
        .values("owner")
        .annotate(total=Sum("amount"))
        .order_by()
    }
    open_rows = {
        row["contract__owner"]: row
        for row in open_plans(user)
        .values("contract__owner")
        .annotate(
            outstanding=Sum("outstanding_amount"),
            overdue=_zero(Sum("outstanding_amount", filter=Q(due_on__lt=today))),
        )
        .order_by()
    }
    owner_ids = set(received) | set(refunds) | set(open_rows)
    people = {u.pk: u for u in User.objects.visible_to(user).filter(pk__in=owner_ids)}
    rows: list[dict[str, Any]] = []
    for owner_id in owner_ids:
        got = received.get(owner_id) or ZERO
        back = refunds.get(owner_id) or ZERO
        still: dict[str, Any] = open_rows.get(owner_id) or {}
        rows.append(
            {
                "user": people.get(owner_id),
                "received": got,
                "refunds": back,
                "net": got - back,
                "outstanding": still.get("outstanding") or ZERO,
                "overdue": still.get("overdue") or ZERO,
            }
        )
    rows.sort(key=lambda r: (-r["net"], -r["outstanding"], str(getattr(r["user"], "pk", 0))))
    return rows


def analysis(user: User, start: date, end: date, today: date) -> dict[str, Any]:
    """The collection analysis of [start, end): totals, ageing now, trend per month and figures
    per owner, with the chart data."""
    trend = monthly_trend(user, start, end)
    owners = per_owner(user, start, end, today)
    figures = plan_figures(receivable_plans(user), today)
    buckets = ageing(user, today)
    received = sum((r["received"] for r in trend), ZERO)
    refunds = sum((r["refunds"] for r in trend), ZERO)
    return {
        "trend": trend,
        "owners": owners,
        "figures": figures,
        "buckets": buckets,
        "received": received,
        "refunds": refunds,
        "net": received - refunds,
        "chart": {
            "months": [r["month"].strftime("%Y-%m") for r in trend],
            "planned": [str(r["planned"]) for r in trend],
            "received": [str(r["received"]) for r in trend],
            "refunds": [str(r["refunds"]) for r in trend],
            "net": [str(r["net"]) for r in trend],
            "owners": [r["user"].display_name if r["user"] else "—" for r in owners],
            "owner_received": [str(r["received"]) for r in owners],
            "owner_refunds": [str(r["refunds"]) for r in owners],
            "owner_net": [str(r["net"]) for r in owners],
            "owner_outstanding": [str(r["outstanding"]) for r in owners],
            "buckets": [str(b.label) for b in buckets],
            "bucket_amounts": [str(b.amount) for b in buckets],
        },
    }


def summary(user: User, today: date) -> dict[str, Any]:
    """The headline figures (for the API): receivables, this month's receipts, ageing."""
    figures = plan_figures(receivable_plans(user), today)
    month = (
        Receipt.objects.visible_to(user)
        .filter(
            status=ReceiptStatus.CONFIRMED,
            received_on__gte=month_start(today),
            received_on__lte=today,
        )
        .aggregate(total=_zero(Sum("amount")), count=Count("pk"))
    )
    week_end = week_start(today) + timedelta(days=6)
    week = (
        open_plans(user)
        .filter(due_on__gte=today, due_on__lte=week_end)
        .aggregate(total=_zero(Sum("outstanding_amount")), count=Count("pk"))
    )
    invoiced = Invoice.objects.visible_to(user).exclude(status=InvoiceStatus.CANCELLED)
    return {
        "today": today,
        "figures": figures,
        "received_this_month": month["total"],
        "receipts_this_month": month["count"],
        "due_this_week": week["total"],
        "due_this_week_count": week["count"],
        "buckets": ageing(user, today),
        "awaiting_contracts": awaiting_contracts(user, today).count(),
        "invoices_to_issue": invoiced.filter(status=InvoiceStatus.REQUESTED).count(),
    }


# --- grading -------------------------------------------------------------------------------------
def signed_contract_amounts(org_id: int, since: datetime) -> dict[int, Decimal]:
    """Signed amount per customer: contracts signed, executing or completed, signed on or after
    ``since`` (the customers' A/B/C grade, ``crm.customers.grading``). A system read: the
    grading job works for the whole organisation."""
    day = timezone.localtime(since).date() if timezone.is_aware(since) else since.date()
    rows = (
        Contract.objects.for_org(org_id)
        .filter(status__in=SIGNED_STATUSES, signed_on__gte=day)
        .values("customer_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return {row["customer_id"]: row["total"] for row in rows if row["total"]}


def latest_receipt_on(contract: Contract) -> date | None:
    return Receipt.objects.filter(contract=contract, status=ReceiptStatus.CONFIRMED).aggregate(
        last=Max("received_on")
    )["last"]
