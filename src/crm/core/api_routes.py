"""/api/v1/core/: the audit trail, my notifications, and the state of background jobs."""

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router
from ninja.pagination import paginate

from .api import Paginated, scoped, scoped_get
from .models import Event, Notification
from .schemas import EventFilter, EventRead, JobRead, NotificationRead
from .selectors import job_runs

router = Router()


@router.get("/events", response=list[EventRead], summary="The organisation's audit trail (admins)")
@paginate(Paginated)
def list_events(request: HttpRequest, filters: Query[EventFilter]) -> Any:
    qs = scoped(request, Event).select_related("actor")
    if filters.actor_id is not None:
        qs = qs.filter(actor_id=filters.actor_id)
    if filters.verb:
        qs = qs.filter(verb=filters.verb)
    if filters.object_type:
        qs = qs.filter(object_type=filters.object_type)
    if filters.object_id:
        qs = qs.filter(object_id=filters.object_id)
    if filters.since:
        qs = qs.filter(created_at__gte=filters.since)
    if filters.until:
        qs = qs.filter(created_at__lt=filters.until)
    return qs.order_by("-created_at", "-id")


@router.get("/notifications", response=list[NotificationRead], summary="My notifications")
@paginate(Paginated)
def list_notifications(request: HttpRequest, unread: bool = False) -> Any:
    qs = scoped(request, Notification).select_related("actor")
    return qs.filter(read_at__isnull=True) if unread else qs


@router.post("/notifications/{notification_id}/read", response=NotificationRead)
def read_notification(request: HttpRequest, notification_id: int) -> Any:
    from .notifications import mark_read

    return mark_read(
        actor=request.user, notification=scoped_get(request, Notification, notification_id)
    )


@router.post("/notifications/read-all", response={200: dict})
def read_all_notifications(request: HttpRequest) -> Any:
    updated = (
        scoped(request, Notification).filter(read_at__isnull=True).update(read_at=timezone.now())
    )
    return {"updated": updated}


@router.get("/jobs", response=list[JobRead], summary="Background jobs and their last run (admins)")
def list_jobs(request: HttpRequest) -> Any:
    return job_runs(request.user)
