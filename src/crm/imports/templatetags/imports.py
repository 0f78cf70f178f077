"""``{% export_buttons "customers" %}``: the CSV / XLSX export menu of a list page, shown to
users with the module's export permission, carrying the list's current query string."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

register = template.Library()

MODULES = {"customers": "customers", "opportunities": "opportunities", "leads": "leads"}


@register.inclusion_tag("imports/_export_buttons.html", takes_context=True)
def export_buttons(context: Any, kind: str, **extra: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    module = MODULES.get(kind)
    if request is None or module is None or not getattr(user, "is_authenticated", False):
        return {"show": False}
    if not user.can(module, "view") or not user.can(module, "export"):  # type: ignore[union-attr]
        return {"show": False}
    params = request.GET.copy()
    for key in ("page", "export"):
        params.pop(key, None)
    for key, value in extra.items():
        if value not in (None, ""):
            params[key] = str(value)
    base = reverse(f"imports:export_{kind}")
    links = {}
    for fmt in ("csv", "xlsx"):
        params["export"] = fmt
        links[fmt] = f"{base}?{params.urlencode()}"
    return {"show": True, "kind": kind, "csv": links["csv"], "xlsx": links["xlsx"]}
