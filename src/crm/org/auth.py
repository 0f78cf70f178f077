"""One-time links: invitations and password resets (Django's token generator: a link works
once, because it is bound to the password hash and last login, and expires after
PASSWORD_RESET_TIMEOUT)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from .models import User


def one_time_path(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("org:password_reset_confirm", kwargs={"uidb64": uid, "token": token})


def send_invitation(user: User, base_url: str = "") -> str:
    """E-mail ``user`` a link to set their password; returns the link's path."""
    path = one_time_path(user)
    org_name = user.org.name if user.org else ""
    send_mail(
        subject=_("You are invited to %(org)s's CRM") % {"org": org_name},
        message=_("Hello %(name)s,\n\nAn account was created for you. Set your password here "
                  "(the link works once and expires in an hour):\n\n%(url)s\n\nLogin: %(login)s\n")
        % {"name": user.display_name, "url": (base_url or getattr(settings, "CRM_BASE_URL", "")) + path,
           "login": user.email or user.username},
        from_email=None, recipient_list=[user.email],
    )
    return path
