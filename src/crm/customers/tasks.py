"""Periodic jobs of the customers module: the pool sweep, return warnings, grading, care."""

from __future__ import annotations

from huey import crontab

from crm.core.tasks import periodic_job
from crm.org.models import Organization

from . import care, grading, pool_services


@periodic_job(crontab(minute="*/15"), name="customers.pool_sweep")
def pool_sweep() -> str:
    """Return due customers to their pools (every 15 minutes; locked against double runs)."""
    total = 0
    for org in Organization.objects.filter(is_active=True).only("pk"):
        total += pool_services.sweep_org(org.pk)["returned"]
    return f"returned {total}"


@periodic_job(crontab(minute="5", hour="8"), name="customers.pool_warnings")
def pool_warnings() -> str:
    total = sum(
        pool_services.warn_org(org.pk) for org in Organization.objects.filter(is_active=True)
    )
    return f"warned {total}"


@periodic_job(crontab(minute="30", hour="2"), name="customers.grading")
def regrade() -> str:
    """Keep A/B/C grades and the new/existing flag current (nightly)."""
    for org in Organization.objects.filter(is_active=True):
        grading.regrade_org(org)
    return "ok"


@periodic_job(crontab(minute="0", hour="8"), name="customers.care_reminders")
def care_reminders() -> str:
    """Birthday and holiday greetings reminders to owners (each exactly once per year)."""
    total = 0
    for org in Organization.objects.filter(is_active=True):
        total += care.remind_org(org)
    return f"reminded {total}"
