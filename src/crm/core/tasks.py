"""Background-job wiring: ``periodic_job`` (lock + last-run record) and the heartbeat."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task

from .context import acting_job
from .models import JobRun

log = logging.getLogger("crm.jobs")


def run_job(name: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` as job ``name``: one at a time (lock), with start, end and outcome recorded."""
    with HUEY.lock_task(f"job:{name}"):
        JobRun.objects.get_or_create(name=name)
        JobRun.objects.filter(name=name).update(last_started_at=timezone.now(), runs=F("runs") + 1)
        try:
            # Jobs write notifications and audit text: in the deployment's default language
            # (the worker is a management command, which switches translation off).
            with acting_job(name), translation.override(settings.LANGUAGE_CODE):
                result = fn()
        except Exception as exc:
            JobRun.objects.filter(name=name).update(
                last_finished_at=timezone.now(), last_status="failed", last_message=str(exc)[:2000]
            )
            log.exception("job %s failed", name)
            raise
        JobRun.objects.filter(name=name).update(
            last_finished_at=timezone.now(),
            last_status="ok",
            last_message="" if result is None else str(result)[:2000],
        )
        return result


def periodic_job(schedule: crontab, name: str | None = None) -> Callable[[Callable[[], Any]], Any]:
    """Declare a periodic job: locked against double runs, recorded on the jobs page."""

    def decorate(fn: Callable[[], Any]) -> Any:
        job_name = name or fn.__name__

        @functools.wraps(fn)
        def wrapper() -> Any:
            return run_job(job_name, fn)

        return db_periodic_task(schedule, name=job_name)(wrapper)

    return decorate


@periodic_job(crontab(minute="*"), name="heartbeat")
def heartbeat() -> str:
    """Runs every minute so admins can see that the worker is alive."""
    with transaction.atomic():
        return "alive"


@periodic_job(crontab(hour="2", minute="30"), name="backup")
def nightly_backup() -> str:
    """A whole-database archive in CRM_BACKUP_DIR every night, keeping the newest
    CRM_BACKUP_KEEP (nothing happens when CRM_BACKUP_DIR is not set)."""
    from .backup import scheduled_backup

    return scheduled_backup()


@periodic_job(crontab(hour="3", minute="10"), name="idempotency_keys")
def forget_idempotency_keys() -> str:
    """Forget API idempotency keys older than 24 hours."""
    from .idempotency import purge_expired

    return f"{purge_expired()} keys forgotten"
