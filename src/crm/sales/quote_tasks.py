"""Periodic job of quotes: sent quotes past their validity date become expired (hourly, in each
organisation's time zone). Imported by ``wiring.register`` so the worker schedules it."""

from __future__ import annotations

from huey import crontab

from crm.core.tasks import periodic_job
from crm.org.models import Organization

from . import quote_services


@periodic_job(crontab(minute="7"), name="sales.expire_quotes")
def expire_quotes() -> str:
    """Mark sent quotes whose validity ended expired (idempotent; locked against double runs)."""
    total = sum(
        quote_services.expire_quotes(org) for org in Organization.objects.filter(is_active=True)
    )
    return f"expired {total}"
