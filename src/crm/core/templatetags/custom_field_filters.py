"""``{% cf_list_filters "customer" %}``: the custom-field filter inputs of a list page
(``cf_<key>``, ``cf_<key>_min``/``_max``; issue 7), bound to the request's query string.
Use inside the list's GET form."""

from __future__ import annotations

from typing import Any

from django import template

from crm.core.custom_field_filters import CustomFieldFilterForm

register = template.Library()


@register.inclusion_tag("core/custom_fields/_list_filters.html", takes_context=True)
def cf_list_filters(context: Any, target: str) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or user is None or not getattr(user, "org_id", None):
        return {"cf_filter_form": None}
    return {"cf_filter_form": CustomFieldFilterForm(request.GET, user=user, target=target)}
