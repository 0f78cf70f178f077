"""Writes a user makes to their own account (profile and preferences)."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import ValidationFailed

from .models import User

_MOBILE_RE = re.compile(r"^\+?[0-9][0-9 \-()]{4,28}$")


def language_codes() -> set[str]:
    return {code for code, _name in settings.LANGUAGES}


@transaction.atomic
def update_profile(*, actor: User, name: str, mobile: str, language: str) -> User:
    """Change the actor's own name, mobile number and interface language ("" = default).

    Raises ValidationFailed for a blank name, a malformed mobile number or an unknown language.
    """
    name = (name or "").strip()
    mobile = (mobile or "").strip()
    language = (language or "").strip().lower()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Enter your name.")]
    elif len(name) > 100:
        errors["name"] = [_("Too long (at most %(n)s characters).") % {"n": 100}]
    if mobile and not _MOBILE_RE.match(mobile):
        errors["mobile"] = [_("Enter a valid mobile number.")]
    if language and language not in language_codes():
        errors["language"] = [_("Choose a supported language.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    user = User.objects.select_for_update().get(pk=actor.pk)
    before = audit.snapshot(user, ["name", "mobile", "language"])
    user.name, user.mobile, user.language = name, mobile, language
    user.save(update_fields=["name", "mobile", "language"])
    actor.name, actor.mobile, actor.language = name, mobile, language
    changes = audit.diff(before, audit.snapshot(user, ["name", "mobile", "language"]))
    if changes:
        audit.record(actor=actor, obj=user, verb="user.profile_updated", changes=changes)
    return actor
