"""The e-mail campaign job: sends queued campaign mails every minute within the rate limit."""

from __future__ import annotations

from huey import crontab

from crm.core.tasks import periodic_job

from . import sending


@periodic_job(crontab(minute="*"), name="mailing.send")
def send_campaigns() -> str:
    """Start due campaigns and send their mails (claimed one by one: never twice)."""
    return f"sent {sending.run_all()}"
