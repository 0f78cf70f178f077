"""Authentication and account pages (log in, 2FA, log out, sign-up, password, tokens)."""

from __future__ import annotations

import time

from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .middleware import LOGIN_AT, SEEN_AT


def locked_out(request: HttpRequest, credentials: dict | None = None, *args: object, **kwargs: object) -> HttpResponse:
    """Shown by django-axes after five wrong passwords for one account."""
    msg = _("Too many failed attempts. This account is locked for 15 minutes.")
    if request.path.startswith("/api/"):
        from django.http import JsonResponse

        return JsonResponse({"code": "throttled", "message": msg, "errors": []}, status=429)
    return render(request, "org/login.html", {"error": msg, "locked": True}, status=429)


def complete_login(request: HttpRequest, user: object) -> None:
    login(request, user, backend="crm.org.backends.LoginBackend")  # type: ignore[arg-type]
    now = int(time.time())
    request.session[LOGIN_AT] = now
    request.session[SEEN_AT] = now


def login_view(request: HttpRequest) -> HttpResponse:
    error = None
    if request.method == "POST":
        user = authenticate(request, username=request.POST.get("login", ""), password=request.POST.get("password", ""))
        if user is not None:
            complete_login(request, user)
            return redirect(request.GET.get("next") or "core:home")
        error = _("Wrong login or password.")
    return render(request, "org/login.html", {"error": error})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("org:login")


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "org/account.html", {})


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    return render(request, "org/account.html", {})


@login_required
def totp_setup(request: HttpRequest) -> HttpResponse:
    messages.info(request, _("Two-factor set-up"))
    return render(request, "org/account.html", {})
