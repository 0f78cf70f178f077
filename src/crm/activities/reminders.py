"""The reminder job (R5.2): turns the organisation's reminder rules into reminders, each sent
exactly once — the ``reminder_once`` unique key decides, whatever number of workers or
schedulers run the job at the same time, and however often.

A reminder is due at a moment computed from its record (an opportunity's creation + N days, a
next follow-up − N hours, a planned visit − N hours, a feedback deadline). Moments older than
``LOOKBACK`` are skipped, so a new rule or a long outage does not flood people with stale ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from crm.core.models import Notification
from crm.core.notifications import notification_for

from .choices import PlanStatus, ReminderKind
from .models import FollowUp, Reminder, ReminderRule, VisitPlan

log = logging.getLogger("crm.jobs")

LOOKBACK = timedelta(days=2)


@dataclass
class Due:
    recipient: Any
    target: Any
    due_at: datetime
    message: str
    url: str


def _when(moment: datetime) -> str:
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


def _manager_of(user: Any) -> Any:
    manager = user.manager or (
        user.department.head if user.department_id and user.department else None
    )
    if manager is not None and manager.pk != user.pk and manager.is_active:
        return manager
    return None


def _new_opportunity(rule: ReminderRule, now: datetime) -> Iterator[Due]:
    from crm.pipeline.choices import OpportunityStatus
    from crm.pipeline.models import Opportunity

    for days in rule.offsets:
        delta = timedelta(days=days)
        rows = (
            Opportunity.objects.filter(
                org_id=rule.org_id,
                status=OpportunityStatus.CONTINUE,
                last_followup_at__isnull=True,
                created_at__lte=now - delta,
                created_at__gt=now - delta - LOOKBACK,
            )
            .select_related("owner", "owner__manager", "owner__department__head")
            .order_by("pk")
        )
        for opp in rows.iterator(chunk_size=500):
            message = _("%(name)s was created %(days)s days ago and has no follow-up yet.") % {
                "name": opp.name,
                "days": days,
            }
            url = reverse("opportunities:detail", args=[opp.pk])
            recipients = [opp.owner]
            if rule.notify_manager and days == max(rule.offsets):
                recipients.append(_manager_of(opp.owner))
            for person in recipients:
                if person is not None and person.is_active:
                    yield Due(person, opp, opp.created_at + delta, message, url)


def _next_followup(rule: ReminderRule, now: datetime) -> Iterator[Due]:
    later = FollowUp.objects.filter(
        customer_id=OuterRef("customer_id"), happened_at__gt=OuterRef("happened_at")
    )
    for hours in rule.offsets:
        delta = timedelta(hours=hours)
        rows = (
            FollowUp.objects.filter(
                org_id=rule.org_id,
                next_at__isnull=False,
                next_at__lte=now + delta,
                next_at__gt=now + delta - LOOKBACK,
            )
            .annotate(superseded=Exists(later))
            .filter(superseded=False)
            .select_related("owner", "collaborator", "customer")
            .order_by("pk")
        )
        for fu in rows.iterator(chunk_size=500):
            assert fu.next_at is not None
            message = _("Follow up with %(customer)s by %(when)s: %(content)s") % {
                "customer": fu.customer.name,
                "when": _when(fu.next_at),
                "content": fu.next_content or fu.content[:80],
            }
            url = (
                reverse("opportunities:detail", args=[fu.opportunity_id])
                if fu.opportunity_id
                else reverse("customers:detail", args=[fu.customer_id])
            )
            for person in (fu.owner, fu.collaborator):
                if person is not None and person.is_active:
                    yield Due(person, fu, fu.next_at - delta, message, url)


def _visit_plan(rule: ReminderRule, now: datetime) -> Iterator[Due]:
    for hours in rule.offsets:
        delta = timedelta(hours=hours)
        rows = (
            VisitPlan.objects.filter(
                org_id=rule.org_id,
                status=PlanStatus.PLANNED,
                planned_at__lte=now + delta,
                planned_at__gt=now + delta - LOOKBACK,
            )
            .select_related("owner", "customer")
            .order_by("pk")
        )
        for plan in rows.iterator(chunk_size=500):
            message = _("Planned for %(when)s at %(customer)s: %(purpose)s") % {
                "when": _when(plan.planned_at),
                "customer": plan.customer.name,
                "purpose": plan.purpose,
            }
            if plan.owner.is_active:
                yield Due(
                    plan.owner, plan, plan.planned_at - delta, message, reverse("activities:my_day")
                )


def _feedback_overdue(rule: ReminderRule, now: datetime) -> Iterator[Due]:
    from crm.pipeline.choices import OpportunityStatus
    from crm.pipeline.models import Opportunity

    for days in rule.offsets:
        delta = timedelta(days=days)
        rows = (
            Opportunity.objects.filter(
                org_id=rule.org_id,
                status=OpportunityStatus.CONTINUE,
                feedback_due_at__lte=now - delta,
                feedback_due_at__gt=now - delta - LOOKBACK,
            )
            .select_related("owner", "owner__manager", "owner__department__head")
            .order_by("pk")
        )
        for opp in rows.iterator(chunk_size=500):
            assert opp.feedback_due_at is not None
            message = _(
                "Overdue: %(name)s has had no feedback within its cycle (due %(when)s)."
            ) % {
                "name": opp.name,
                "when": _when(opp.feedback_due_at),
            }
            url = reverse("opportunities:detail", args=[opp.pk])
            recipients = [opp.owner]
            if rule.notify_manager:
                recipients.append(_manager_of(opp.owner))
            for person in recipients:
                if person is not None and person.is_active:
                    yield Due(person, opp, opp.feedback_due_at + delta, message, url)


SOURCES: dict[str, Any] = {
    ReminderKind.NEW_OPPORTUNITY: _new_opportunity,
    ReminderKind.NEXT_FOLLOWUP: _next_followup,
    ReminderKind.VISIT_PLAN: _visit_plan,
    ReminderKind.FEEDBACK_OVERDUE: _feedback_overdue,
}


def _deliver(rule: ReminderRule, due: Due, now: datetime) -> Reminder | None:
    """Insert the reminder and its notification together; None when it was already sent."""
    try:
        with transaction.atomic():
            reminder = Reminder.objects.create(
                org_id=rule.org_id,
                recipient=due.recipient,
                rule=rule,
                kind=rule.kind,
                target_type=due.target._meta.label_lower,
                target_id=str(due.target.pk),
                due_at=due.due_at,
                message=due.message[:500],
                url=due.url,
                sent_at=now,
            )
            Notification.objects.bulk_create(
                [
                    notification_for(
                        recipient=due.recipient,
                        verb=f"reminder.{rule.kind}",
                        message=due.message,
                        url=due.url,
                        target=due.target,
                    )
                ]
            )
    except IntegrityError:
        return None
    return reminder


def remind_org(org_id: int, *, now: datetime | None = None) -> int:
    """Send every due reminder of one organisation; returns how many were new."""
    now = now or timezone.now()
    sent = 0
    mails: list[tuple[str, str, str, list[str]]] = []
    for rule in ReminderRule.objects.filter(org_id=org_id, is_active=True).order_by("pk"):
        source = SOURCES.get(rule.kind)
        if source is None:  # a kind another module sends by itself (e.g. receivables)
            continue
        for due in source(rule, now):
            reminder = _deliver(rule, due, now)
            if reminder is None:
                continue
            sent += 1
            if rule.send_email and due.recipient.email:
                mails.append(
                    (
                        _("[CRM reminder] %(message)s") % {"message": due.message[:60]},
                        f"{due.message}\n\n{settings.CRM_BASE_URL.rstrip('/')}{due.url}",
                        settings.DEFAULT_FROM_EMAIL,
                        [due.recipient.email],
                    )
                )
    if mails:
        try:
            send_mass_mail(tuple(mails), fail_silently=False)
        except Exception:  # the in-app reminders are written; mail failures are logged
            log.exception("reminder e-mails failed for organisation %s", org_id)
    return sent


def mark_done(*, actor: Any, reminder: Reminder) -> Reminder:
    if reminder.recipient_id == actor.pk and reminder.done_at is None:
        Reminder.objects.filter(pk=reminder.pk).update(done_at=timezone.now())
        reminder.refresh_from_db()
    return reminder
