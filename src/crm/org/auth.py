"""One-time links: invitations and password resets (Django's token generator: a link works
once, because it is bound to the password hash and last login, and expires after
PASSWORD_RESET_TIMEOUT)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.urls import reverse
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _

from .models import User


def one_time_path(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("org:password_reset_confirm", kwargs={"uidb64": uid, "token": token})


def user_for_link(uidb64: str) -> User | None:
    """The active user a one-time link was made for (None for a garbled or stale id)."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        return None
    return User.objects.filter(pk=pk, is_active=True).first()


def check_link_token(user: User | None, token: str) -> bool:
    """Is ``token`` a valid, unused one-time token of ``user``?"""
    return user is not None and default_token_generator.check_token(user, token)


def base_url(request: Any = None) -> str:
    """Links in e-mails use the configured address (CRM_BASE_URL), never a request's Host
    header when one is configured; without it, the (ALLOWED_HOSTS-checked) request host."""
    configured = getattr(settings, "CRM_BASE_URL", "")
    if configured:
        return configured.rstrip("/")
    if request is not None:
        return f"{request.scheme}://{request.get_host()}"
    return ""


def send_invitation(user: User, base_url: str = "") -> str:
    """E-mail ``user`` a link to set their password; returns the link's path."""
    path = one_time_path(user)
    org_name = user.org.name if user.org else ""
    send_mail(
        subject=_("You are invited to %(org)s's CRM") % {"org": org_name},
        message=_(
            "Hello %(name)s,\n\nAn account was created for you. Set your password here "
            "(the link works once and expires in an hour):\n\n%(url)s\n\nLogin: %(login)s\n"
        )
        % {
            "name": user.display_name,
            "url": (base_url or getattr(settings, "CRM_BASE_URL", "")) + path,
            "login": user.email or user.username,
        },
        from_email=None,
        recipient_list=[user.email],
    )
    return path


def send_password_reset(user: User, base: str = "") -> str:
    """E-mail ``user`` a one-time link to choose a new password; returns the link's path."""
    path = one_time_path(user)
    send_mail(
        subject=_("Reset your CRM password"),
        message=_(
            "Hello %(name)s,\n\nSomeone (hopefully you) asked to reset the password of your "
            "CRM account. Choose a new password here (the link works once and expires in "
            "an hour):\n\n%(url)s\n\nLogin: %(login)s\n\nIf you did not ask for this, ignore "
            "this e-mail; your password stays the same.\n"
        )
        % {
            "name": user.display_name,
            "url": (base or base_url()) + path,
            "login": user.email or user.username,
        },
        from_email=None,
        recipient_list=[user.email],
    )
    return path


def active_user(pk: Any) -> User | None:
    """The active user with primary key ``pk`` (for a half-finished two-factor login)."""
    try:
        return User.objects.filter(pk=int(pk), is_active=True).first()
    except (TypeError, ValueError):
        return None


RESET_REQUESTS_PER_HOUR = 5


def request_password_reset(email: str, base: str = "") -> bool:
    """E-mail a reset link to the active account with this e-mail, if there is one.

    The caller answers the same whatever happens (no account enumeration). At most
    RESET_REQUESTS_PER_HOUR e-mails per address and hour are sent. Returns whether one was sent.
    """
    import hashlib

    from django.core.cache import cache

    email = (email or "").strip().lower()
    if not email or "@" not in email:
        return False
    key = "crm:pwreset:" + hashlib.sha256(email.encode()).hexdigest()
    cache.add(key, 0, timeout=3600)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)
        count = 1
    if count > RESET_REQUESTS_PER_HOUR:
        return False
    user = User.objects.filter(email__iexact=email, is_active=True).order_by("pk").first()
    if user is None:
        return False
    send_password_reset(user, base)
    return True
