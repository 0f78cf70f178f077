"""Template context for the shell: navigation, unread count, organisation."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .navigation import menu_for


def shell(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not getattr(user, "org_id", None):
        return {"nav_menu": [], "unread_notifications": 0}
    from .notifications import unread_count

    return {
        "nav_menu": menu_for(user, request.path),
        "unread_notifications": unread_count(user),
        "current_org": user.org,
    }
