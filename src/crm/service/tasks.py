"""Periodic jobs of the service module: missed SLA deadlines, return visits of signed contracts."""

from __future__ import annotations

from huey import crontab

from crm.core.tasks import periodic_job
from crm.org.models import Organization

from . import services


@periodic_job(crontab(minute="*/5"), name="service.overdue_tickets")
def overdue_tickets() -> str:
    """Tell assignees and their managers about missed ticket deadlines (each once)."""
    total = sum(
        services.sweep_overdue(org.pk) for org in Organization.objects.filter(is_active=True)
    )
    return f"notified {total}"


@periodic_job(crontab(minute="40"), name="service.contract_visits")
def contract_visits() -> str:
    """Catch up return visits of contracts signed in the last 30 days (hourly, idempotent)."""
    total = sum(
        services.schedule_contract_visits(org.pk)
        for org in Organization.objects.filter(is_active=True)
    )
    return f"scheduled {total}"
