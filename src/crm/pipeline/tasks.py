"""Periodic jobs of the opportunities module: stalled detection (R4.7)."""

from __future__ import annotations

from huey import crontab

from crm.core.tasks import periodic_job
from crm.org.models import Organization

from . import opportunities


@periodic_job(crontab(minute="*/30"), name="opportunities.stalled")
def stalled() -> str:
    """Tell managers about opportunities stuck in a stage too long (once per stay)."""
    total = sum(
        opportunities.flag_stalled(org.pk) for org in Organization.objects.filter(is_active=True)
    )
    return f"flagged {total}"
