"""Pages of the core app: home, notifications, audit trail, jobs, record history, error pages."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .errors import DomainError
from .models import Event, Notification
from .scoping import get_scoped_or_404


class ScopedMixin:
    """For class-based views: the queryset is always ``visible_to`` the request's user."""

    model: Any = None
    action = "view"
    request: HttpRequest

    def get_queryset(self) -> Any:
        return self.model._default_manager.visible_to(self.request.user, self.action)


def require_perm(request: HttpRequest, module: str, action: str) -> None:
    from .errors import PermissionDenied

    if not request.user.can(module, action):  # type: ignore[union-attr]
        raise PermissionDenied()


def domain_error_response(request: HttpRequest, exc: DomainError) -> HttpResponse:
    """Render a domain error as a styled error page (403/404/409/400)."""
    template = {403: "403.html", 404: "404.html"}.get(exc.status, "error.html")
    return render(
        request, template, {"message": exc.message, "status": exc.status}, status=exc.status
    )


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """My day (later modules add follow-ups, plans, reminders and approvals to it)."""
    recent = Notification.objects.visible_to(request.user).select_related("actor")[:10]
    return render(request, "core/home.html", {"notifications": recent})


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    qs = Notification.objects.visible_to(request.user).select_related("actor")
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    return render(request, "core/notifications.html", {"page": page})


@login_required
@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    from django.utils import timezone

    Notification.objects.visible_to(request.user).filter(read_at__isnull=True).update(
        read_at=timezone.now()
    )
    messages.success(request, _("All notifications marked as read."))
    return redirect("core:notifications")


@login_required
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    from .notifications import mark_read

    note = get_scoped_or_404(Notification, request.user, pk)
    mark_read(actor=request.user, notification=note)
    from django.utils.http import url_has_allowed_host_and_scheme

    if note.url and url_has_allowed_host_and_scheme(note.url, allowed_hosts={request.get_host()}):
        return redirect(note.url)
    return redirect("core:notifications")


@login_required
def audit_trail(request: HttpRequest) -> HttpResponse:
    """The organisation's audit trail with filters (needs the audit:view permission)."""
    require_perm(request, "audit", "view")
    qs = Event.objects.visible_to(request.user).select_related("actor")
    f = request.GET
    if f.get("actor"):
        qs = qs.filter(actor_id=int(f["actor"])) if f["actor"].isdigit() else qs.none()
    if f.get("verb"):
        qs = qs.filter(verb__icontains=f["verb"].strip())
    if f.get("object_type"):
        qs = qs.filter(object_type=f["object_type"])
    if f.get("object_id"):
        qs = qs.filter(object_id=f["object_id"].strip())
    if (since := parse_date(f.get("since") or "")) is not None:
        qs = qs.filter(created_at__date__gte=since)
    if (until := parse_date(f.get("until") or "")) is not None:
        qs = qs.filter(created_at__date__lte=until)
    from crm.org.models import User

    page = Paginator(qs.order_by("-created_at", "-id"), 50).get_page(f.get("page"))
    object_types = (
        Event.objects.visible_to(request.user)
        .order_by()
        .values_list("object_type", flat=True)
        .distinct()
    )
    return render(
        request,
        "core/audit_trail.html",
        {
            "page": page,
            "filters": f,
            "object_types": sorted(set(object_types)),
            "actors": User.objects.visible_to(request.user).order_by("name"),
        },
    )


@login_required
def jobs(request: HttpRequest) -> HttpResponse:
    """Background jobs and when each last ran (the heartbeat shows the worker is alive)."""
    from .selectors import job_runs

    return render(request, "core/jobs.html", {"jobs": job_runs(request.user)})


def history_context(obj: Any) -> dict[str, Any]:
    """Context for the ``core/_history.html`` partial of a record page (caller checked scope):
    the latest 200 events, with the names of the records their changes refer to read at once
    (not one query per value shown)."""
    from .audit import history_for, read_names

    events = list(history_for(obj)[:200])
    read_names(events)
    return {"history": events}


def _api_error(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse | None:
    """The API answers its errors in JSON (``ErrorOut``) even when Django raises them before a
    route runs (an invalid Host header, an unknown path): None for a page."""
    if not request.path.startswith("/api/"):
        return None
    from .api import error_body

    return JsonResponse(error_body(code, message), status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = _("The request was not valid.")
    api = _api_error(request, 400, "bad_request", message)
    return api or render(request, "error.html", {"status": 400, "message": message}, status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = _("You do not have permission to do this.")
    api = _api_error(request, 403, "permission_denied", message)
    return api or render(request, "403.html", {"status": 403}, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    api = _api_error(request, 404, "not_found", _("The record was not found."))
    return api or render(request, "404.html", {"status": 404}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    message = _("Something went wrong on our side. The error has been logged.")
    api = _api_error(request, 500, "server_error", message)
    return api or render(request, "500.html", {"status": 500}, status=500)


@login_required
def search(request: HttpRequest) -> HttpResponse:
    """Global search: every registered provider answers with what the user may see."""
    from .registry import search_providers

    q = (request.GET.get("q") or "").strip()[:100]
    results: list[dict[str, Any]] = []
    if q:
        for provider in search_providers:
            results.extend(provider(request.user, q, 20))
    return render(request, "core/search.html", {"q": q, "results": results})
