"""Periodic jobs of the follow-up module: reminders, missed visit plans."""

from __future__ import annotations

from huey import crontab

from crm.core.tasks import periodic_job
from crm.org.models import Organization

from . import reminders, services


@periodic_job(crontab(minute="*/5"), name="activities.reminders")
def send_reminders() -> str:
    """Send due reminders (every 5 minutes; each reminder exactly once)."""
    total = sum(reminders.remind_org(org.pk) for org in Organization.objects.filter(is_active=True))
    return f"sent {total}"


@periodic_job(crontab(minute="20"), name="activities.missed_plans")
def missed_plans() -> str:
    """Planned visits a day past their time without a follow-up become missed (hourly)."""
    total = sum(
        services.mark_missed_plans(org.pk) for org in Organization.objects.filter(is_active=True)
    )
    return f"missed {total}"
