"""Notifications: services call :func:`notify`; delivery by e-mail is a task after commit."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.utils import timezone

from .models import Notification


def notify(
    *,
    recipient: Any,
    verb: str,
    message: str,
    actor: Any = None,
    url: str = "",
    target: models.Model | None = None,
) -> Notification:
    """Create an in-app notification for ``recipient`` (same organisation as the target)."""
    note = notification_for(
        recipient=recipient, verb=verb, message=message, actor=actor, url=url, target=target
    )
    note.save()
    return note


def notification_for(
    *,
    recipient: Any,
    verb: str,
    message: str,
    actor: Any = None,
    url: str = "",
    target: models.Model | None = None,
) -> Notification:
    """An unsaved notification, for set-based jobs that ``bulk_create`` many."""
    return Notification(
        org_id=recipient.org_id,
        recipient=recipient,
        actor=actor if getattr(actor, "pk", None) else None,
        verb=verb,
        message=message[:500],
        url=url,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
    )


@transaction.atomic
def mark_read(*, actor: Any, notification: Notification) -> Notification:
    if notification.recipient_id == actor.pk and notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def unread_count(user: Any) -> int:
    return Notification.objects.visible_to(user).filter(read_at__isnull=True).count()
