"""Scheduled report delivery (R8.8): every 15 minutes, exactly once per (schedule, recipient,
due slot).

1. **Plan.** For each active schedule whose ``next_run_at`` has come, insert one pending
   :class:`ReportDelivery` per active recipient for that slot (``bulk_create`` with
   ``ignore_conflicts``: the ``rdelivery_once`` unique key drops the rows another run already
   inserted), then move ``next_run_at`` to the first slot after now with a conditional UPDATE
   (``WHERE next_run_at = <the slot>``), so a second scheduler that read the same slot changes
   nothing. Slots missed while the worker was down are delivered once, not once per slot.
2. **Send.** For each pending delivery: in one transaction, *claim* it (``UPDATE … SET status =
   'sent' WHERE status = 'pending'`` — of two workers exactly one updates the row; the other
   waits for the first to commit and then finds no pending row), compute the report **as the
   recipient** (their own data scope: a recipient with a smaller scope never receives figures
   outside it), write the in-app notification and send the e-mail with the XLSX attached.
   A crash before the commit rolls the claim back, so the row is pending again and the next
   run retries it; nothing is sent twice by the database's doing. (The only window left is the
   SMTP server accepting the mail and the process dying before the commit: then the mail
   could go out twice — the cost of not holding a distributed transaction.)
   A send that fails with an error leaves the row pending with the error text, retried every
   run for a day, then marked failed.

The attachment goes only to recipients holding ``analytics:export``; the others get the
notification and the e-mail with the link. ``periodic_job`` also takes a lock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from huey import crontab

from crm.core.notifications import notify
from crm.core.tasks import periodic_job
from crm.org.models import Organization, User

from . import reports
from .choices import DeliveryStatus
from .models import ReportDelivery, ReportSchedule
from .report_services import org_zone, schedule_next

log = logging.getLogger("crm.jobs")

RETRY_FOR = timedelta(days=1)
BATCH = 500
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Skip(Exception):
    """A delivery that cannot be made (recipient left, lost the permission): marked failed."""


def due_schedules(org_id: int, now: datetime) -> list[ReportSchedule]:
    return list(
        ReportSchedule.objects.filter(org_id=org_id, is_active=True, next_run_at__lte=now)
        .select_related("org")
        .prefetch_related("recipients")
        .order_by("next_run_at", "pk")
    )


def plan(schedules: list[ReportSchedule], now: datetime) -> int:
    """Insert the deliveries of each schedule's due slot and advance it; returns the number of
    schedules this call advanced (0 for slots another run planned first)."""
    advanced = 0
    for schedule in schedules:
        slot = schedule.next_run_at
        if slot is None:
            continue
        with transaction.atomic():
            ReportDelivery.objects.bulk_create(
                [
                    ReportDelivery(
                        org_id=schedule.org_id, schedule=schedule, recipient=person, due_at=slot
                    )
                    for person in schedule.recipients.all()
                    if person.is_active
                ],
                ignore_conflicts=True,
            )
            advanced += ReportSchedule.objects.filter(pk=schedule.pk, next_run_at=slot).update(
                next_run_at=schedule_next(schedule, max(now, slot)), last_run_at=now
            )
    return advanced


def _subject(report: Any, due_at: datetime) -> str:
    when = formats.date_format(timezone.localtime(due_at), "SHORT_DATE_FORMAT")
    return _("[CRM report] %(name)s (%(date)s)") % {"name": report.name, "date": when}


def deliver(delivery: ReportDelivery, now: datetime) -> bool:
    """Claim and send one delivery; False when another run had it, or it could not be made."""
    try:
        with transaction.atomic():
            claimed = ReportDelivery.objects.filter(
                pk=delivery.pk, status=DeliveryStatus.PENDING
            ).update(status=DeliveryStatus.SENT, sent_at=now, error="")
            if not claimed:
                return False
            _send(delivery)
        return True
    except Skip as exc:
        ReportDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.FAILED, error=str(exc)[:500]
        )
    except Exception as exc:
        log.exception("report delivery %s failed", delivery.pk)
        give_up = delivery.due_at < now - RETRY_FOR
        ReportDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.FAILED if give_up else DeliveryStatus.PENDING,
            error=(f"{type(exc).__name__}: {exc}")[:500],
        )
    return False


def _send(delivery: ReportDelivery) -> None:
    schedule = delivery.schedule
    report = schedule.report
    # a fresh user: their roles and scope as they are now, nothing cached from elsewhere
    recipient = User.objects.select_related("department", "org").get(pk=delivery.recipient_id)
    if not recipient.is_active:
        raise Skip(_("The recipient is no longer active."))
    if not recipient.can("analytics", "view"):
        raise Skip(_("The recipient can no longer view reports."))
    result = reports.run(recipient, report.definition, title=report.name)
    figure = result.figure
    ReportDelivery.objects.filter(pk=delivery.pk).update(rows=len(figure.rows))
    url = reverse("analytics:delivery_detail", args=[delivery.pk])
    message = _("Your scheduled report %(name)s is ready (%(rows)s rows).") % {
        "name": report.name,
        "rows": len(figure.rows),
    }
    notify(recipient=recipient, verb="report.delivered", message=message, url=url, target=report)
    if not recipient.email:
        return
    link = f"{settings.CRM_BASE_URL.rstrip('/')}{url}"
    attach = recipient.can("analytics", "export")
    body = [message, "", link]
    if not attach:
        body += ["", _("Open the link to see the figures (you may not download Excel files).")]
    mail = EmailMessage(
        subject=_subject(report, delivery.due_at),
        body="\n".join(body),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient.email],
    )
    if attach:
        stamp = timezone.localtime(delivery.due_at).strftime("%Y%m%d")
        mail.attach(f"report-{report.pk}-{stamp}.xlsx", reports.xlsx_bytes(figure), XLSX_TYPE)
    mail.send(fail_silently=False)


def send_pending(org_id: int, now: datetime) -> int:
    pending = list(
        ReportDelivery.objects.filter(org_id=org_id, status=DeliveryStatus.PENDING)
        .select_related("schedule__report")
        .order_by("due_at", "pk")[:BATCH]
    )
    return sum(deliver(d, now) for d in pending)


def run_org(org: Organization, now: datetime | None = None) -> int:
    """Plan and send one organisation's due reports, in its time zone; returns how many were
    sent."""
    now = now or timezone.now()
    with timezone.override(org_zone(org)), translation.override(settings.LANGUAGE_CODE):
        plan(due_schedules(org.pk, now), now)
        return send_pending(org.pk, now)


def run_all(now: datetime | None = None) -> int:
    return sum(run_org(org, now) for org in Organization.objects.filter(is_active=True))


@periodic_job(crontab(minute="*/15"), name="analytics.report_deliveries")
def report_deliveries() -> str:
    """Deliver due scheduled reports (every 15 minutes; each delivery exactly once)."""
    return f"sent {run_all()}"
