"""Reads of the service module: ticket lists, the analysis figures (R3.7), the customer 360
"Service" section and the My day block. Every read starts from ``visible_to`` of tickets and
return visits, so each figure follows the viewer's data scope; figures aggregate in SQL
(GROUP BY), except the medians, which read one sorted column."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Avg, Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.analytics.figures import COUNT, DAYS, PERCENT, TEXT, Column, Figure, rate

from .choices import (
    UNFINISHED_STATUSES,
    Priority,
    TicketStatus,
    TicketType,
    VisitStatus,
)
from .models import ReturnVisit, Ticket
from .services import missed_q, overdue_q


def tickets_for(user: Any, action: str = "view") -> QuerySet[Ticket]:
    return Ticket.objects.visible_to(user, action)


def visits_for(user: Any, action: str = "view") -> QuerySet[ReturnVisit]:
    return ReturnVisit.objects.visible_to(user, action)


def hours(seconds: int | None) -> Decimal | None:
    if seconds is None:
        return None
    return (Decimal(seconds) / 3600).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def median(values: list[int]) -> int | None:
    """The median of sorted ``values`` (mean of the middle two for an even count)."""
    if not values:
        return None
    n = len(values)
    mid = n // 2
    if n % 2:
        return values[mid]
    return (values[mid - 1] + values[mid]) // 2


# --- analysis ---------------------------------------------------------------------------------
@dataclass
class Period:
    start: date | None
    end: date | None

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        tz = timezone.get_current_timezone()
        start = datetime.combine(self.start, time.min, tz) if self.start else None
        end = datetime.combine(self.end + timedelta(days=1), time.min, tz) if self.end else None
        return start, end


def _in_period(qs: QuerySet[Any], field: str, period: Period) -> QuerySet[Any]:
    start, end = period.bounds()
    if start:
        qs = qs.filter(**{f"{field}__gte": start})
    if end:
        qs = qs.filter(**{f"{field}__lt": end})
    return qs


def _list_url(**params: Any) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return reverse("service:ticket_list") + ("?" + urlencode(clean) if clean else "")


def analysis(user: Any, period: Period) -> dict[str, Any]:
    """Headline numbers and the figures of the service analysis page."""
    now = timezone.now()
    tickets = _in_period(tickets_for(user), "opened_at", period)
    visits = _in_period(
        visits_for(user).filter(status=VisitStatus.DONE, satisfaction__isnull=False),
        "done_at",
        period,
    )
    head = tickets.aggregate(
        total=Count("pk"),
        missed=Count("pk", filter=missed_q(now)),
        unfinished=Count("pk", filter=Q(status__in=UNFINISHED_STATUSES)),
        overdue_now=Count("pk", filter=overdue_q(now)),
    )
    head["missed_rate"] = rate(head["missed"], head["total"])
    response = list(
        tickets.filter(response_seconds__isnull=False)
        .order_by("response_seconds")
        .values_list("response_seconds", flat=True)
    )
    resolution = list(
        tickets.filter(resolution_seconds__isnull=False)
        .order_by("resolution_seconds")
        .values_list("resolution_seconds", flat=True)
    )
    head["median_response_hours"] = hours(median(response))
    head["median_resolution_hours"] = hours(median(resolution))
    sat = visits.aggregate(avg=Avg("satisfaction"), n=Count("pk"))
    head["satisfaction"] = (
        Decimal(str(sat["avg"])).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if sat["avg"] is not None
        else None
    )
    head["satisfaction_count"] = sat["n"]

    figures = [
        _by_choice(tickets, now, "type", TicketType, "by_type", _("Tickets by type")),
        _by_choice(tickets, now, "priority", Priority, "by_priority", _("Tickets by priority")),
        _by_choice(tickets, now, "status", TicketStatus, "by_status", _("Tickets by status")),
        _by_owner(tickets, visits, now),
        _by_product(tickets, visits, now),
        _by_customer(tickets, visits, now),
    ]
    return {"head": head, "figures": figures}


def _columns_counts() -> list[Column]:
    return [
        Column("tickets", _("Tickets"), COUNT),
        Column("missed", _("Missed a deadline"), COUNT),
        Column("missed_rate", _("Overdue rate"), PERCENT),
    ]


def _by_choice(
    tickets: QuerySet[Ticket], now: datetime, field: str, choices: Any, key: str, title: str
) -> Figure:
    counts = {
        row[field]: row
        for row in tickets.values(field).annotate(
            tickets=Count("pk"), missed=Count("pk", filter=missed_q(now))
        )
    }
    rows = []
    for value, label in choices.choices:
        row = counts.get(value)
        if not row:
            continue
        rows.append(
            {
                "label": str(label),
                "tickets": row["tickets"],
                "missed": row["missed"],
                "missed_rate": rate(row["missed"], row["tickets"]),
                "_url": _list_url(**{field: value}),
            }
        )
    return Figure(
        key=key,
        title=title,
        columns=[Column("label", _("Group"), TEXT), *_columns_counts()],
        rows=rows,
        chart={"type": "pie" if field != "status" else "bar", "x": "label", "series": ["tickets"]},
    )


def _sat(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _by_owner(tickets: QuerySet[Ticket], visits: QuerySet[ReturnVisit], now: datetime) -> Figure:
    rows: dict[Any, dict[str, Any]] = {}
    for row in tickets.values("owner_id", "owner__name", "owner__username").annotate(
        tickets=Count("pk"), missed=Count("pk", filter=missed_q(now))
    ):
        rows[row["owner_id"]] = {
            "label": row["owner__name"] or row["owner__username"],
            "tickets": row["tickets"],
            "missed": row["missed"],
            "missed_rate": rate(row["missed"], row["tickets"]),
            "_url": _list_url(owner=row["owner_id"]),
        }
    for sat in visits.values("owner_id", "owner__name", "owner__username").annotate(
        avg=Avg("satisfaction"), n=Count("pk")
    ):
        entry = rows.setdefault(
            sat["owner_id"],
            {
                "label": sat["owner__name"] or sat["owner__username"],
                "tickets": 0,
                "missed": 0,
                "missed_rate": None,
                "_url": _list_url(owner=sat["owner_id"]),
            },
        )
        entry["satisfaction"] = _sat(sat["avg"])
        entry["visits"] = sat["n"]
    ordered = sorted(rows.values(), key=lambda r: (-r["tickets"], r["label"]))
    return Figure(
        key="by_owner",
        title=_("Tickets and satisfaction per owner"),
        columns=[
            Column("label", _("Owner"), TEXT),
            *_columns_counts(),
            Column("visits", _("Return visits"), COUNT),
            Column("satisfaction", _("Average satisfaction"), DAYS),
        ],
        rows=ordered,
        chart={"type": "bar", "x": "label", "series": ["tickets", "missed"]},
    )


def _by_product(tickets: QuerySet[Ticket], visits: QuerySet[ReturnVisit], now: datetime) -> Figure:
    rows: dict[Any, dict[str, Any]] = {}
    none_label = _("No product")
    for row in tickets.values("product_id", "product__name").annotate(
        tickets=Count("pk"), missed=Count("pk", filter=missed_q(now))
    ):
        rows[row["product_id"]] = {
            "label": row["product__name"] or none_label,
            "tickets": row["tickets"],
            "missed": row["missed"],
            "missed_rate": rate(row["missed"], row["tickets"]),
        }
    for sat in (
        visits.filter(ticket__isnull=False)
        .values("ticket__product_id", "ticket__product__name")
        .annotate(avg=Avg("satisfaction"), n=Count("pk"))
    ):
        entry = rows.setdefault(
            sat["ticket__product_id"],
            {
                "label": sat["ticket__product__name"] or none_label,
                "tickets": 0,
                "missed": 0,
                "missed_rate": None,
            },
        )
        entry["satisfaction"] = _sat(sat["avg"])
        entry["visits"] = sat["n"]
    ordered = sorted(rows.values(), key=lambda r: (-r["tickets"], r["label"]))
    return Figure(
        key="by_product",
        title=_("Tickets and satisfaction per product"),
        columns=[
            Column("label", _("Product"), TEXT),
            *_columns_counts(),
            Column("visits", _("Return visits"), COUNT),
            Column("satisfaction", _("Average satisfaction"), DAYS),
        ],
        rows=ordered,
        chart={"type": "hbar", "x": "label", "series": ["tickets"]},
        note=_("Satisfaction per product counts return visits after tickets about it."),
    )


CUSTOMER_LIMIT = 30


def _by_customer(tickets: QuerySet[Ticket], visits: QuerySet[ReturnVisit], now: datetime) -> Figure:
    rows: dict[Any, dict[str, Any]] = {}
    top = (
        tickets.values("customer_id", "customer__name")
        .annotate(tickets=Count("pk"), missed=Count("pk", filter=missed_q(now)))
        .order_by("-tickets", "customer__name")[:CUSTOMER_LIMIT]
    )
    for row in top:
        rows[row["customer_id"]] = {
            "label": row["customer__name"],
            "tickets": row["tickets"],
            "missed": row["missed"],
            "missed_rate": rate(row["missed"], row["tickets"]),
            "_url": _list_url(customer=row["customer_id"]),
        }
    sat_rows = (
        visits.values("customer_id", "customer__name")
        .annotate(avg=Avg("satisfaction"), n=Count("pk"))
        .order_by("-n", "customer__name")[:CUSTOMER_LIMIT]
    )
    for sat in sat_rows:
        entry = rows.setdefault(
            sat["customer_id"],
            {
                "label": sat["customer__name"],
                "tickets": 0,
                "missed": 0,
                "missed_rate": None,
                "_url": _list_url(customer=sat["customer_id"]),
            },
        )
        entry["satisfaction"] = _sat(sat["avg"])
        entry["visits"] = sat["n"]
    ordered = sorted(rows.values(), key=lambda r: (-r["tickets"], r["label"]))
    return Figure(
        key="by_customer",
        title=_("Tickets and satisfaction per customer"),
        columns=[
            Column("label", _("Customer"), TEXT),
            *_columns_counts(),
            Column("visits", _("Return visits"), COUNT),
            Column("satisfaction", _("Average satisfaction"), DAYS),
        ],
        rows=ordered,
        chart=None,
        note=_("The %(n)s customers with the most tickets (and with the most return visits).")
        % {"n": CUSTOMER_LIMIT},
    )


# --- customer 360 and My day ----------------------------------------------------------------------
SECTION_LIMIT = 10


def customer_service(user: Any, customer: Any) -> dict[str, Any] | None:
    """The "Service" section of the customer 360 page: the customer's tickets and return
    visits the viewer may see, with the average satisfaction. None without service:view."""
    if not user.can("service", "view"):
        return None
    tickets = tickets_for(user).filter(customer=customer)
    counts = tickets.aggregate(
        total=Count("pk"),
        unfinished=Count("pk", filter=Q(status__in=UNFINISHED_STATUSES)),
        overdue=Count("pk", filter=overdue_q()),
    )
    visits = visits_for(user).filter(customer=customer)
    sat = visits.filter(status=VisitStatus.DONE, satisfaction__isnull=False).aggregate(
        avg=Avg("satisfaction"), n=Count("pk")
    )
    return {
        "tickets": list(
            tickets.select_related("owner").order_by("-opened_at", "-pk")[:SECTION_LIMIT]
        ),
        "counts": counts,
        "satisfaction": _sat(sat["avg"]),
        "satisfaction_count": sat["n"],
        "visits": list(visits.select_related("owner").order_by("-due_on", "-pk")[:5]),
        "can_create": user.can("service", "create"),
        "new_url": reverse("service:ticket_create") + f"?customer={customer.pk}",
        "plan_url": reverse("service:visit_create")
        + f"?customer={customer.pk}&next={reverse('customers:detail', args=[customer.pk])}",
        "list_url": _list_url(customer=customer.pk),
    }


def my_day(user: Any) -> dict[str, Any] | None:
    """My day: my return visits due today or overdue, and my overdue tickets."""
    if not user.can("service", "view"):
        return None
    today = timezone.localdate()
    visits = list(
        visits_for(user)
        .filter(owner=user, status=VisitStatus.PLANNED, due_on__lte=today)
        .select_related("customer")
        .order_by("due_on", "pk")[:20]
    )
    overdue = list(
        tickets_for(user)
        .filter(overdue_q(), owner=user)
        .select_related("customer")
        .order_by("resolution_due_at", "pk")[:20]
    )
    if not visits and not overdue:
        return None
    return {"svc_visits": visits, "svc_overdue": overdue, "today": today}
