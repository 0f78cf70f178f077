"""Periodic jobs of the finance module: receivable reminders.

Every day the owner of each signed contract hears about each installment that falls due within
its “remind N days before” window and still has money outstanding: exactly once per installment
and due date, whatever number of workers or schedulers run the job, and however often. The
once-key is the unique ``reminder_once`` constraint of ``crm.activities.models.Reminder``
(kind ``receivable_due``, the installment, the recipient and the due date); a due date that
moves gets a reminder of its own.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from huey import crontab

from crm.activities.models import Reminder
from crm.core.models import Notification
from crm.core.notifications import notification_for
from crm.core.tasks import periodic_job
from crm.org.models import Organization
from crm.sales.choices import SIGNED_STATUSES

from .models import ReceivablePlan
from .plan_services import MAX_REMIND_DAYS
from .policy import cny, outstanding_expr

KIND = "receivable_due"


def _contract_url(contract_id: int) -> str:
    try:
        return reverse("sales:contract_detail", args=[contract_id])
    except Exception:  # the contract pages are mounted by the sales module
        return reverse("finance:plan_list")


def remind_org(org_id: int, *, today: date | None = None) -> int:
    """Send the receivable reminders of one organisation that are due ``today`` (the
    organisation's date); returns how many were new."""
    today = today or timezone.localdate()
    plans = (
        ReceivablePlan.objects.for_org(org_id)
        .filter(
            is_void=False,
            contract__status__in=SIGNED_STATUSES,
            due_on__gte=today,
            due_on__lte=today + timedelta(days=MAX_REMIND_DAYS),
        )
        .annotate(outstanding_amount=outstanding_expr())
        .filter(outstanding_amount__gt=0)
        .select_related("contract", "contract__owner", "contract__customer")
        .order_by("due_on", "pk")
    )
    sent = 0
    now = timezone.now()
    for plan in plans.iterator(chunk_size=500):
        if plan.due_on - timedelta(days=plan.remind_days) > today:
            continue
        owner = plan.contract.owner
        if owner is None or not owner.is_active:
            continue
        due_at = timezone.make_aware(datetime.combine(plan.due_on, time(9, 0)))
        days = (plan.due_on - today).days
        message = _(
            "Installment %(n)s of contract %(number)s (%(customer)s), %(amount)s, is due on "
            "%(day)s (in %(days)s days)."
        ) % {
            "n": plan.sequence,
            "number": plan.contract.number,
            "customer": plan.contract.customer.name,
            "amount": cny(plan.outstanding_amount),
            "day": formats.date_format(plan.due_on, "SHORT_DATE_FORMAT"),
            "days": days,
        }
        url = _contract_url(plan.contract_id)
        try:
            with transaction.atomic():
                Reminder.objects.create(
                    org_id=org_id,
                    recipient=owner,
                    kind=KIND,
                    target_type=plan._meta.label_lower,
                    target_id=str(plan.pk),
                    due_at=due_at,
                    message=message[:500],
                    url=url,
                    sent_at=now,
                )
                Notification.objects.bulk_create(
                    [
                        notification_for(
                            recipient=owner,
                            verb=f"reminder.{KIND}",
                            message=message,
                            url=url,
                            target=plan.contract,
                        )
                    ]
                )
        except IntegrityError:  # sent already: the once-key
            continue
        sent += 1
    return sent


@periodic_job(crontab(hour="8", minute="5"), name="finance.receivable_reminders")
def send_receivable_reminders() -> str:
    """Remind contract owners of installments falling due (daily; each reminder exactly once)."""
    total = 0
    for org in Organization.objects.filter(is_active=True):
        try:
            tz = zoneinfo.ZoneInfo(org.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            tz = zoneinfo.ZoneInfo("Asia/Shanghai")
        with timezone.override(tz):
            total += remind_org(org.pk)
    return f"sent {total}"
