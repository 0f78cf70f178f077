"""Authentication and account pages: sign-up, log in (with two-factor), log out, password
change and reset, the user's own profile, two-factor set-up and personal API tokens.

Each view parses a form, calls one service and renders or redirects with a flash message.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from crm.core.errors import ValidationFailed
from crm.core.forms import apply_domain_error
from crm.core.scoping import get_scoped_or_404

from . import account_services, services
from . import auth as links
from .backends import axes_username
from .forms import (
    LoginForm,
    PasswordChangeForm,
    PasswordResetRequestForm,
    ProfileForm,
    SetPasswordForm,
    SignupForm,
    TokenCreateForm,
    TotpCodeForm,
    TotpDisableForm,
)
from .middleware import LOGIN_AT, OTP_PENDING, SEEN_AT, activate_user_language
from .models import ApiToken, User

OTP_TTL_SECONDS = 5 * 60
OTP_MAX_TRIES = 5
# Session keys and the URL placeholder of the reset link (names, not secrets).
TOTP_SETUP_SECRET = "crm_totp_setup_secret"  # noqa: S105
RESET_SESSION_TOKEN = "crm_reset_token"  # noqa: S105
RESET_URL_TOKEN = "set-password"  # noqa: S105


# --- Log in and out -----------------------------------------------------------------------------
def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
    *args: object,
    **kwargs: object,
) -> HttpResponse:
    """Shown by django-axes after five wrong passwords for one account (HTTP 429)."""
    msg = _(
        "Too many failed attempts. This account is locked for 15 minutes. "
        "You can reset your password by e-mail."
    )
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "throttled", "message": msg, "errors": []}, status=429)
    response = render(
        request, "org/login.html", {"form": LoginForm(), "error": msg, "locked": True}, status=429
    )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


def complete_login(request: HttpRequest, user: object) -> None:
    """Log ``user`` in: a new session key, and the start of its idle and absolute lifetimes."""
    login(request, user, backend="crm.org.backends.LoginBackend")  # type: ignore[arg-type]
    now = int(time.time())
    request.session[LOGIN_AT] = now
    request.session[SEEN_AT] = now


def safe_next(request: HttpRequest, url: str | None) -> str:
    """``url`` if it stays on this site, otherwise the home page."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return reverse(settings.LOGIN_REDIRECT_URL)


def _finish_login(request: HttpRequest, user: User, next_url: str) -> HttpResponse:
    complete_login(request, user)
    response = redirect(safe_next(request, next_url))
    if user.language:
        activate_user_language(request, response, user.language)
    return response


@sensitive_post_parameters("password")
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    """Log in with e-mail or username and password; users with two-factor go on to the code."""
    if request.method != "POST" and request.user.is_authenticated:
        return redirect(safe_next(request, request.GET.get("next")))
    form = LoginForm(request.POST or None, initial={"next": request.GET.get("next", "")})
    error = None
    expired = bool(request.session.pop("crm_expired", False))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = authenticate(request, username=data["login"], password=data["password"])
        if user is not None:
            next_url = safe_next(request, data.get("next"))
            if user.totp_enabled:
                if request.user.is_authenticated:
                    logout(request)
                request.session.cycle_key()
                request.session[OTP_PENDING] = {
                    "uid": user.pk,
                    "at": int(time.time()),
                    "tries": 0,
                    "next": next_url,
                }
                return redirect("org:login_verify")
            return _finish_login(request, user, next_url)
        error = _("Wrong login or password.")
    elif request.method == "POST":
        error = _("Enter your login and password.")
    return render(request, "org/login.html", {"form": form, "error": error, "expired": expired})


def _pending(request: HttpRequest) -> tuple[dict[str, Any] | None, User | None]:
    pending = request.session.get(OTP_PENDING)
    if not isinstance(pending, dict):
        return None, None
    if int(time.time()) - int(pending.get("at", 0)) > OTP_TTL_SECONDS:
        request.session.pop(OTP_PENDING, None)
        return None, None
    user = links.active_user(pending.get("uid"))
    if user is None or not user.totp_enabled:
        request.session.pop(OTP_PENDING, None)
        return None, None
    return pending, user


@never_cache
def login_verify(request: HttpRequest) -> HttpResponse:
    """Second step of a two-factor login: the six-digit code from the authenticator app."""
    pending, user = _pending(request)
    if pending is None or user is None:
        messages.error(request, _("Your login has expired. Please log in again."))
        return redirect("org:login")
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.verify_totp(user.totp_secret, form.cleaned_data["code"]):
            request.session.pop(OTP_PENDING, None)
            return _finish_login(request, user, pending.get("next") or "")
        pending["tries"] = int(pending.get("tries", 0)) + 1
        if pending["tries"] >= OTP_MAX_TRIES:
            request.session.pop(OTP_PENDING, None)
            # Counts as one failed login for the account's throttle (django-axes).
            user_login_failed.send(
                sender=__name__, credentials={"username": user.username}, request=request
            )
            messages.error(request, _("Too many wrong codes. Please log in again."))
            return redirect("org:login")
        request.session[OTP_PENDING] = pending
        form.add_error(
            "code", _("The code is not valid. Check the time on your phone and try again.")
        )
    return render(request, "org/login_verify.html", {"form": form})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """Log out: the server-side session is deleted."""
    logout(request)
    messages.success(request, _("You have logged out."))
    return redirect("org:login")


# --- Sign-up ------------------------------------------------------------------------------------
@sensitive_post_parameters("password1", "password2")
@never_cache
def signup(request: HttpRequest) -> HttpResponse:
    """A company signs up: organisation, built-in roles and its first administrator."""
    if not getattr(settings, "CRM_SIGNUP_ENABLED", True):
        raise Http404()
    if request.method != "POST" and request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            _org, admin = services.create_organization(
                name=data["name"],
                admin_email=data["email"],
                admin_password=data["password1"],
                admin_name=data["admin_name"],
            )
        except ValidationFailed as exc:
            apply_domain_error(
                form, exc, {"admin_email": "email", "username": "email", "password": "password1"}
            )
        else:
            if request.user.is_authenticated:
                logout(request)
            complete_login(request, admin)
            messages.success(request, _("Welcome! Your organisation is ready."))
            return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "org/signup.html", {"form": form})


# --- Password reset and invitations -------------------------------------------------------------
@never_cache
def password_reset(request: HttpRequest) -> HttpResponse:
    """Ask for a reset link. The answer is the same whether or not the e-mail is known."""
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        links.request_password_reset(form.cleaned_data["email"], links.base_url(request))
        return redirect("org:password_reset_sent")
    return render(request, "org/password_reset.html", {"form": form})


def password_reset_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "org/password_reset_sent.html", {})


@sensitive_post_parameters("new_password1", "new_password2")
@never_cache
def password_reset_confirm(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """Choose a password from a one-time link (password reset or invitation).

    The token moves from the URL into the session at once, so it cannot leak through the
    Referer header of the form page.
    """
    user = links.user_for_link(uidb64)
    if token != RESET_URL_TOKEN:
        if links.check_link_token(user, token):
            request.session[RESET_SESSION_TOKEN] = token
            return redirect("org:password_reset_confirm", uidb64=uidb64, token=RESET_URL_TOKEN)
        return render(request, "org/password_reset_confirm.html", {"validlink": False})
    session_token = request.session.get(RESET_SESSION_TOKEN, "")
    if user is None or not links.check_link_token(user, session_token):
        return render(request, "org/password_reset_confirm.html", {"validlink": False})
    invited = not user.has_usable_password()
    form = SetPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.set_password(
                actor=None,
                user=user,
                new_password=form.cleaned_data["new_password1"],
                verb="user.invitation_accepted" if invited else "user.password_reset",
            )
        except ValidationFailed as exc:
            apply_domain_error(form, exc, {"password": "new_password1"})
        else:
            request.session.pop(RESET_SESSION_TOKEN, None)
            _unlock(user)
            messages.success(request, _("Your password is set. You can log in now."))
            return redirect("org:login")
    return render(
        request,
        "org/password_reset_confirm.html",
        {"validlink": True, "form": form, "invited": invited, "target": user},
    )


def _unlock(user: User) -> None:
    """A password chosen through the e-mailed link lifts a brute-force lock of the account."""
    from axes.utils import reset

    reset(username=axes_username(None, {"username": user.username}))


# --- My account ---------------------------------------------------------------------------------
@login_required
def account(request: HttpRequest) -> HttpResponse:
    """The user's own profile: name, mobile and language; links to password, 2FA and tokens."""
    user: User = request.user  # type: ignore[assignment]
    initial = {"name": user.name, "mobile": user.mobile, "language": user.language}
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account_services.update_profile(
                actor=user, name=data["name"], mobile=data["mobile"], language=data["language"]
            )
        except ValidationFailed as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Your profile was saved."))
            response = redirect("org:account")
            if user.language:
                activate_user_language(request, response, user.language)
            return response
    return render(request, "org/account.html", {"form": form, "requires_2fa": user.requires_2fa()})


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@login_required
def password_change(request: HttpRequest) -> HttpResponse:
    """Change my password; this session stays, every other session of mine ends."""
    user: User = request.user  # type: ignore[assignment]
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.change_password(
                actor=user, old_password=data["old_password"], new_password=data["new_password1"]
            )
        except ValidationFailed as exc:
            apply_domain_error(form, exc, {"password": "new_password1"})
        else:
            update_session_auth_hash(request, user)
            messages.success(
                request, _("Your password was changed. Your other sessions have ended.")
            )
            return redirect("org:account")
    return render(request, "org/password_change.html", {"form": form})


# --- Two-factor authentication ------------------------------------------------------------------
def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@sensitive_post_parameters("code", "password")
@login_required
def totp_setup(request: HttpRequest) -> HttpResponse:
    """Set up two-factor login: scan the QR code (or type the key), confirm with a code."""
    user: User = request.user  # type: ignore[assignment]
    required = user.requires_2fa()
    if user.totp_enabled:
        request.session.pop(TOTP_SETUP_SECRET, None)
        return render(
            request,
            "org/totp_setup.html",
            {"enabled": True, "required": required, "disable_form": TotpDisableForm()},
        )
    secret = request.session.get(TOTP_SETUP_SECRET)
    if not secret:
        secret = services.new_totp_secret()
        request.session[TOTP_SETUP_SECRET] = secret
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.enable_totp(actor=user, secret=secret, code=form.cleaned_data["code"])
        except ValidationFailed as exc:
            apply_domain_error(form, exc)
        else:
            request.session.pop(TOTP_SETUP_SECRET, None)
            messages.success(request, _("Two-factor authentication is on."))
            return redirect("org:account")
    qr = segno.make(services.totp_uri(user, secret)).svg_data_uri(scale=4)
    response = render(
        request,
        "org/totp_setup.html",
        {
            "enabled": False,
            "required": required,
            "form": form,
            "qr": qr,
            "secret": _grouped(secret),
        },
    )
    add_never_cache_headers(response)
    return response


@sensitive_post_parameters("password")
@login_required
@require_POST
def totp_disable(request: HttpRequest) -> HttpResponse:
    """Turn two-factor login off (needs the current password; refused when a role requires it)."""
    user: User = request.user  # type: ignore[assignment]
    form = TotpDisableForm(request.POST)
    if form.is_valid():
        try:
            services.disable_totp(actor=user, user=user, password=form.cleaned_data["password"])
        except ValidationFailed as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Two-factor authentication is off."))
            return redirect("org:account")
    return render(
        request,
        "org/totp_setup.html",
        {"enabled": user.totp_enabled, "required": user.requires_2fa(), "disable_form": form},
        status=400,
    )


# --- Personal API tokens ------------------------------------------------------------------------
def _end_of_day(day: Any) -> datetime | None:
    if not day:
        return None
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), dtime.min))


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    """My API tokens; creating one shows the raw token once, on this response only."""
    user: User = request.user  # type: ignore[assignment]
    form = TokenCreateForm(request.POST or None)
    raw_token = None
    blocked = user.requires_2fa() and not user.totp_enabled
    if request.method == "POST" and form.is_valid():
        if blocked:
            form.add_error(None, _("Set up two-factor authentication before creating API tokens."))
        else:
            try:
                _token, raw_token = services.create_token(
                    actor=user,
                    name=form.cleaned_data["name"],
                    expires_at=_end_of_day(form.cleaned_data.get("expires_on")),
                )
            except ValidationFailed as exc:
                apply_domain_error(form, exc, {"expires_at": "expires_on"})
            else:
                form = TokenCreateForm()
    tokens = ApiToken.objects.visible_to(user).order_by("-created_at")
    page = Paginator(tokens, 50).get_page(request.GET.get("page"))
    response = render(
        request,
        "org/token_list.html",
        {"form": form, "page": page, "raw_token": raw_token, "blocked": blocked},
        status=400 if form.errors else 200,
    )
    patch_cache_control(response, no_store=True)
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of my tokens (someone else's token id is a 404)."""
    token = get_scoped_or_404(ApiToken, request.user, pk)
    services.revoke_token(actor=request.user, token=token)  # type: ignore[arg-type]
    messages.success(request, _("The token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("org:token_list")
