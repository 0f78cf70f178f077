"""Jobs of the webhooks: a delivery run right after a transaction that wrote events commits, and
a sweep every minute that catches everything else (bulk-written events, retries, a worker that
was down). A lock keeps two schedulers from sweeping at once; the claim of each delivery
(``crm.core.webhooks._claim``) keeps any two senders from posting one delivery twice."""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from huey import crontab
from huey.contrib.djhuey import HUEY, db_task
from huey.exceptions import TaskLockedException

from . import webhooks
from .models import Event
from .tasks import periodic_job

log = logging.getLogger("crm.webhooks")


@db_task()
def deliver_org(org_id: int) -> str | None:
    """Fan out and send one organisation's new events (skipped while a run for it is going)."""
    try:
        with HUEY.lock_task(f"webhooks:org:{org_id}"):
            return webhooks.sweep(org_id)
    except TaskLockedException:
        return None  # the running one, or the next sweep, picks the events up


@periodic_job(crontab(minute="*"), name="webhooks.sweep")
def sweep() -> str:
    """Every minute: fan out new events of every organisation and send due deliveries."""
    return webhooks.sweep()


def _after_commit(org_id: int) -> None:
    try:
        if webhooks.has_active_endpoints(org_id):
            deliver_org(org_id)
    except Exception:  # a webhook problem never breaks the request that wrote the event
        log.exception("webhook delivery for org %s could not be started", org_id)


def _on_event(sender: Any, instance: Event, created: bool, **kwargs: Any) -> None:
    """Once per transaction and organisation: deliver after the commit (never on rollback)."""
    if not created or instance.verb.startswith("webhook."):
        return
    conn = transaction.get_connection()
    org_id = instance.org_id
    if conn.in_atomic_block:
        for _sids, fn, _robust in conn.run_on_commit:
            if getattr(fn, "webhook_org", None) == org_id:
                return
    callback = functools.partial(_after_commit, org_id)
    callback.webhook_org = org_id  # type: ignore[attr-defined]
    transaction.on_commit(callback, robust=True)


post_save.connect(_on_event, sender=Event, dispatch_uid="crm.core.webhooks.on_event")
