"""``{% custom_rows record "customer" as rows %}``: a record's custom field values for display
(H-CF, R10.5), as the viewing user's organisation defines them."""

from __future__ import annotations

from typing import Any

from django import template

from crm.core import custom_fields as cf

register = template.Library()


@register.simple_tag(takes_context=True)
def custom_rows(context: Any, record: Any, target: str) -> list[dict[str, Any]]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if record is None or user is None or getattr(user, "org_id", None) != record.org_id:
        return []
    return cf.rows_for(user, target, record)
