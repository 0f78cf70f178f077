"""Reads of the follow-up module that are more than a filter: a record's timeline, the team a
manager sees, "my day", the visit calendar and the visit-plan analysis (R5.1–R5.4).

Every read starts from ``visible_to`` with the viewer, except the two record-section reads
(``record_followups`` / ``record_plans``), whose callers already checked that the viewer may
see the customer or opportunity: a record's page shows all of that record's follow-ups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from crm.core.scoping import UNRESTRICTED, DataScope, ownership_q
from crm.org.models import User

from .choices import Method, PlanStatus
from .models import FollowUp, Reminder, VisitPlan


# --- days and periods ----------------------------------------------------------------------------
def day_start(day: date) -> datetime:
    """Midnight of ``day`` in the current (organisation) time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def week_start(day: date) -> date:
    """The Monday of ``day``'s week (Chinese calendars start on Monday)."""
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    first = month_start(day)
    return (first + timedelta(days=32)).replace(day=1)


# --- who is on the viewer's team -----------------------------------------------------------------
def _strip_owner(q: Q) -> Q:
    """``q`` on a visit plan's ``owner`` rewritten as a filter of users."""
    clone = Q()
    clone.connector, clone.negated = q.connector, q.negated
    for child in q.children:
        if isinstance(child, Q):
            clone.children.append(_strip_owner(child))
            continue
        key, value = child  # type: ignore[misc]
        if key in ("owner_id", "owner_id__in"):
            key = key.replace("owner_id", "pk")
        elif key.startswith("owner__"):
            key = key.removeprefix("owner__")
        clone.children.append((key, value))
    return clone


def team_members(user: User) -> QuerySet[User]:
    """Active colleagues whose follow-ups and visit plans ``user`` sees (``user`` included):
    the owners the user's data scope covers for the activities module."""
    base = User.objects.visible_to(user).filter(is_active=True).select_related("department")
    rule = ownership_q(user, VisitPlan, "view")
    if rule is None:
        return base.none()
    if rule is UNRESTRICTED:
        return base.order_by("name", "username")
    assert isinstance(rule, Q)
    return base.filter(_strip_owner(rule)).order_by("name", "username")


def has_team(user: User) -> bool:
    """Does the user's scope for follow-ups reach beyond their own records?"""
    if not any(s != DataScope.SELF for s, _d in user.role_grants("activities", "view")):
        return False
    return team_members(user).exclude(pk=user.pk).exists()


def member_or_none(user: User, raw: Any) -> User | None:
    """The team member with id ``raw`` (None when it is not one the user sees)."""
    text = str(raw or "")
    if not text.isdigit():
        return None
    return team_members(user).filter(pk=int(text)).first()


# --- the sections of a customer or opportunity page ----------------------------------------------
def _record_filter(record: Any) -> Q:
    if record._meta.label_lower == "pipeline.opportunity":
        return Q(org_id=record.org_id, opportunity_id=record.pk)
    return Q(org_id=record.org_id, customer_id=record.pk)


def record_followups(record: Any) -> QuerySet[FollowUp]:
    """Every follow-up of one customer or opportunity, newest first.

    The caller is a record page's section: the page has already checked (``get_scoped_or_404``)
    that the viewer may see ``record``, and a record's page shows all of its follow-ups to
    whoever sees the record (not only the ones the viewer wrote).
    """
    return (
        FollowUp.objects.filter(_record_filter(record))
        .select_related("owner", "contact", "collaborator", "opportunity", "stage", "node")
        .order_by("-happened_at", "-pk")
    )


def record_plans(record: Any) -> QuerySet[VisitPlan]:
    """The planned (not yet done, missed or cancelled) visits of one customer or opportunity,
    soonest first. Like ``record_followups``, the page checked that the viewer sees ``record``.
    """
    return (
        VisitPlan.objects.filter(_record_filter(record), status=PlanStatus.PLANNED)
        .select_related("owner", "contact", "opportunity")
        .order_by("planned_at", "pk")
    )


# --- my day (R5.4) -------------------------------------------------------------------------------
@dataclass
class MyDay:
    """Everything a rep should act on today."""

    followups: list[dict[str, Any]] = field(default_factory=list)
    plans: list[VisitPlan] = field(default_factory=list)
    reminders: list[Reminder] = field(default_factory=list)
    feedback_overdue: list[Any] = field(default_factory=list)
    stalled: list[Any] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (
            len(self.followups)
            + len(self.plans)
            + len(self.reminders)
            + len(self.feedback_overdue)
            + len(self.stalled)
        )


MY_DAY_LIMIT = 100


def my_day(user: User, *, now: datetime | None = None) -> MyDay:
    """Overdue and today's next follow-ups (of the user's opportunities and customers), today's
    and overdue planned visits, open reminders, opportunities overdue on feedback and stalled
    ones — only records the user sees and owns (or follows up as the collaborator)."""
    from crm.customers.selectors import active_customers
    from crm.pipeline.models import Opportunity

    now = now or timezone.now()
    end = day_start(timezone.localdate(now) + timedelta(days=1))
    result = MyDay()
    today = timezone.localdate(now)
    opportunities = Opportunity.objects.visible_to(user).active()
    due_opps = list(
        opportunities.filter(next_followup_at__lt=end)
        .filter(Q(owner=user) | Q(next_followup_collaborator=user))
        .select_related("customer")
        .order_by("next_followup_at", "pk")[:MY_DAY_LIMIT]
    )
    seen = {(o.customer_id, o.next_followup_at) for o in due_opps}
    rows: list[dict[str, Any]] = [
        {
            "kind": "opportunity",
            "at": o.next_followup_at,
            "content": o.next_followup_content,
            "customer_id": o.customer_id,
            "customer_name": o.customer.name,
            "opportunity": o,
        }
        for o in due_opps
    ]
    for c in (
        active_customers(user)
        .filter(owner=user, next_followup_at__lt=end)
        .order_by("next_followup_at", "pk")[:MY_DAY_LIMIT]
    ):
        if (c.pk, c.next_followup_at) in seen:
            continue
        rows.append(
            {
                "kind": "customer",
                "at": c.next_followup_at,
                "content": "",
                "customer_id": c.pk,
                "customer_name": c.name,
                "opportunity": None,
            }
        )
    for row in rows:
        row["overdue"] = timezone.localdate(row["at"]) < today
    result.followups = sorted(rows, key=lambda r: r["at"])
    result.plans = list(
        VisitPlan.objects.visible_to(user)
        .filter(owner=user, status=PlanStatus.PLANNED, planned_at__lt=end)
        .select_related("customer", "opportunity")
        .order_by("planned_at", "pk")[:MY_DAY_LIMIT]
    )
    for plan in result.plans:
        plan.overdue = plan.planned_at < now  # type: ignore[attr-defined]
    result.reminders = list(
        Reminder.objects.visible_to(user)
        .filter(done_at__isnull=True, due_at__lte=now)
        .order_by("-due_at", "-pk")[:MY_DAY_LIMIT]
    )
    mine = opportunities.filter(owner=user).select_related("customer", "stage")
    result.feedback_overdue = list(
        mine.filter(feedback_due_at__lt=now).order_by("feedback_due_at", "pk")[:MY_DAY_LIMIT]
    )
    result.stalled = list(
        mine.filter(stall_due_at__lt=now).order_by("stall_due_at", "pk")[:MY_DAY_LIMIT]
    )
    return result


def _counts(qs: QuerySet[Any], **annotations: Any) -> dict[int, dict[str, int]]:
    rows = qs.order_by().values("owner_id").annotate(**annotations)
    return {r["owner_id"]: r for r in rows}


def team_day(user: User, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per member of the user's team: today's planned and done visits, follow-ups today and
    this week, overdue next follow-ups and overdue visits (one GROUP BY query each)."""
    from crm.customers.selectors import active_customers
    from crm.pipeline.models import Opportunity

    now = now or timezone.now()
    today = timezone.localdate(now)
    start, end = day_start(today), day_start(today + timedelta(days=1))
    monday = day_start(week_start(today))
    members = list(team_members(user))
    plans = _counts(
        VisitPlan.objects.visible_to(user).filter(planned_at__gte=start, planned_at__lt=end),
        planned=Count("pk", filter=~Q(status=PlanStatus.CANCELLED)),
        done=Count("pk", filter=Q(status=PlanStatus.DONE)),
    )
    followups = _counts(
        FollowUp.objects.visible_to(user).filter(happened_at__gte=monday, happened_at__lt=end),
        week=Count("pk"),
        today=Count("pk", filter=Q(happened_at__gte=start)),
    )
    late_plans = _counts(
        VisitPlan.objects.visible_to(user).filter(status=PlanStatus.PLANNED, planned_at__lt=now),
        n=Count("pk"),
    )
    late_opps = _counts(
        Opportunity.objects.visible_to(user).active().filter(next_followup_at__lt=start),
        n=Count("pk"),
    )
    late_customers = _counts(
        active_customers(user).filter(next_followup_at__lt=start), n=Count("pk")
    )
    rows = []
    for member in members:
        p = plans.get(member.pk, {})
        f = followups.get(member.pk, {})
        planned, done = p.get("planned", 0), p.get("done", 0)
        rows.append(
            {
                "user": member,
                "planned": planned,
                "done": done,
                "percent": round(100 * done / planned) if planned else None,
                "followups_today": f.get("today", 0),
                "followups_week": f.get("week", 0),
                "overdue_followups": late_opps.get(member.pk, {}).get("n", 0)
                + late_customers.get(member.pk, {}).get("n", 0),
                "overdue_visits": late_plans.get(member.pk, {}).get("n", 0),
            }
        )
    return rows


# --- the visit calendar --------------------------------------------------------------------------
def calendar_items(
    user: User,
    start: date,
    end: date,
    *,
    owners: list[User] | None,
    with_followups: bool,
) -> dict[date, list[dict[str, Any]]]:
    """Visit plans (and done follow-ups when asked) from ``start`` up to ``end`` (exclusive) by
    local day; ``owners`` None means everyone the user sees."""
    begin, finish = day_start(start), day_start(end)
    plans = VisitPlan.objects.visible_to(user).filter(planned_at__gte=begin, planned_at__lt=finish)
    if owners is not None:
        plans = plans.filter(owner__in=owners)
    days: dict[date, list[dict[str, Any]]] = {}
    for plan in plans.select_related("customer", "owner").order_by("planned_at", "pk")[:2000]:
        days.setdefault(timezone.localdate(plan.planned_at), []).append(
            {"kind": "plan", "at": plan.planned_at, "plan": plan}
        )
    if with_followups:
        done = FollowUp.objects.visible_to(user).filter(
            happened_at__gte=begin, happened_at__lt=finish
        )
        if owners is not None:
            done = done.filter(owner__in=owners)
        for fu in done.select_related("customer", "owner").order_by("happened_at", "pk")[:2000]:
            days.setdefault(timezone.localdate(fu.happened_at), []).append(
                {"kind": "followup", "at": fu.happened_at, "followup": fu}
            )
        for items in days.values():
            items.sort(key=lambda item: item["at"])
    return days


# --- visit-plan analysis -------------------------------------------------------------------------
def plan_analysis(user: User, start: date, end: date) -> list[dict[str, Any]]:
    """Per rep in the user's scope, for plans from ``start`` up to ``end`` (exclusive): planned,
    done, missed, cancelled, still open, the completion rate (done of those not cancelled) and
    the follow-ups by method. Two GROUP BY queries."""
    begin, finish = day_start(start), day_start(end)
    plan_rows = _counts(
        VisitPlan.objects.visible_to(user).filter(planned_at__gte=begin, planned_at__lt=finish),
        total=Count("pk"),
        done=Count("pk", filter=Q(status=PlanStatus.DONE)),
        missed=Count("pk", filter=Q(status=PlanStatus.MISSED)),
        cancelled=Count("pk", filter=Q(status=PlanStatus.CANCELLED)),
        open=Count("pk", filter=Q(status=PlanStatus.PLANNED)),
    )
    methods: dict[int, dict[str, int]] = {}
    for row in (
        FollowUp.objects.visible_to(user)
        .filter(happened_at__gte=begin, happened_at__lt=finish)
        .order_by()
        .values("owner_id", "method")
        .annotate(n=Count("pk"))
    ):
        methods.setdefault(row["owner_id"], {})[row["method"]] = row["n"]
    people = {u.pk: u for u in team_members(user)}
    missing = (set(plan_rows) | set(methods)) - set(people)
    if missing:
        people.update({u.pk: u for u in User.objects.visible_to(user).filter(pk__in=missing)})
    rows: list[dict[str, Any]] = []
    for pk, person in people.items():
        p = plan_rows.get(pk, {})
        by_method = methods.get(pk, {})
        total, cancelled, done = p.get("total", 0), p.get("cancelled", 0), p.get("done", 0)
        counted = total - cancelled
        rows.append(
            {
                "user": person,
                "total": total,
                "done": done,
                "missed": p.get("missed", 0),
                "cancelled": cancelled,
                "open": p.get("open", 0),
                "rate": round(100 * done / counted) if counted else None,
                "methods": [by_method.get(m, 0) for m in Method.values],
                "followups": sum(by_method.values()),
            }
        )
    rows.sort(key=lambda r: (-r["total"], -r["followups"], r["user"].display_name))
    return rows
