"""Request binding: session lifetime limits, tenant and time zone, required two-factor."""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone, translation

LOGIN_AT = "crm_login_at"
SEEN_AT = "crm_seen_at"
OTP_PENDING = "crm_otp_pending"


class SessionLifetimeMiddleware:
    """End a session after 30 idle minutes or 12 hours in all (settings), whichever first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = int(time.time())
            login_at = request.session.get(LOGIN_AT) or now
            seen_at = request.session.get(SEEN_AT) or now
            if (
                now - seen_at > settings.CRM_SESSION_IDLE_SECONDS
                or now - login_at > settings.CRM_SESSION_ABSOLUTE_SECONDS
            ):
                logout(request)
                request.session["crm_expired"] = True
            else:
                request.session.setdefault(LOGIN_AT, login_at)
                if (
                    now - seen_at >= 30 or SEEN_AT not in request.session
                ):  # write at most every 30 s
                    request.session[SEEN_AT] = now
        return self.get_response(request)


def bind_request(request: Any, user: Any) -> None:
    """Bind the organisation, its time zone and the user's language to this request."""
    request.org = getattr(user, "org", None) if user is not None and user.is_authenticated else None
    tz = request.org.time_zone if request.org else settings.TIME_ZONE
    try:
        timezone.activate(zoneinfo.ZoneInfo(tz))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        timezone.activate(zoneinfo.ZoneInfo(settings.TIME_ZONE))


class TenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        bind_request(request, getattr(request, "user", None))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class TwoFactorMiddleware:
    """A user whose role requires 2FA but has not set it up may only reach the set-up pages;
    a user half-way through a two-factor login is not logged in yet."""

    ALLOWED_PREFIXES = ("/account/", "/static/", "/i18n/", "/login", "/logout", "/api/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not user.totp_enabled
            and user.org_id
            and user.requires_2fa()
            and not request.path.startswith(self.ALLOWED_PREFIXES)
        ):
            return redirect("org:totp_setup")
        return self.get_response(request)


def activate_user_language(request: HttpRequest, response: HttpResponse, language: str) -> None:
    translation.activate(language)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        samesite="Lax",
        secure=getattr(settings, "LANGUAGE_COOKIE_SECURE", False),
    )
