"""Authentication: log in with e-mail or username; inactive users never authenticate."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.db.models import Q

from .models import User


def find_login(login: str) -> User | None:
    """The user whose username or e-mail is ``login`` (case-insensitive)."""
    login = (login or "").strip()
    if not login:
        return None
    return (
        User.objects.filter(Q(username__iexact=login) | Q(email__iexact=login))
        .order_by("pk")
        .first()
    )


def axes_username(request: Any, credentials: dict[str, Any]) -> str:
    """Throttle per account, whichever of username or e-mail was typed."""
    login = (credentials or {}).get("username") or ""
    user = find_login(login)
    return f"user:{user.pk}" if user else f"login:{login.strip().lower()}"


class LoginBackend(ModelBackend):
    """Username-or-e-mail login with Argon2-hashed passwords."""

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if username is None or password is None:
            return None
        user = find_login(username)
        if user is None:
            User().set_password(
                password
            )  # same work as a real check: no user enumeration by timing
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def get_user(self, user_id: Any) -> User | None:
        """The logged-in user of a request, with the organisation and department that every
        page reads (time zone, scope rules): one query instead of three (R11.2)."""
        try:
            user = User._default_manager.select_related("org", "department").get(pk=user_id)
        except User.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
