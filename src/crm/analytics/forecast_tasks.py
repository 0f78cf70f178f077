"""The weekly forecast job (R8.5): fill what was won in finished periods, then snapshot every
rep's forecast for the open month and quarter.

Runs daily at 06:10 (so a missed Monday is made up the next day): a snapshot is keyed on the
Monday of its week (``fsnap_unique``), so the first run of a week takes the week's snapshot
and any further run or second scheduler inserts nothing (``bulk_create(ignore_conflicts=True)``);
``periodic_job`` also takes a lock so two workers never run it at once."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from huey import crontab

from crm.core.tasks import periodic_job
from crm.org.models import Organization

from . import forecast_services


def _today(org: Organization) -> datetime:
    try:
        zone = ZoneInfo(org.time_zone)
    except (KeyError, ValueError):
        zone = ZoneInfo("Asia/Shanghai")
    return datetime.now(tz=zone)


def snapshot_all() -> str:
    taken = filled = 0
    for org in Organization.objects.filter(is_active=True):
        t, f = forecast_services.run_weekly(org.pk, _today(org).date())
        taken += t
        filled += f
    return f"snapshots {taken}, actuals {filled}"


@periodic_job(crontab(minute="10", hour="6"), name="analytics.forecast_snapshots")
def forecast_snapshots() -> str:
    """Weekly forecast snapshots and actuals of finished periods (once per week per rep)."""
    return snapshot_all()
