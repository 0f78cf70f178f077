"""Record-page sections of quotes (``crm.core.registry.register_section``):

- ``customers.customer`` / ``quotes`` (order 40): the customer's quotes the user may see, with a
  link to a new quote for the customer;
- ``pipeline.opportunity`` / ``quotes`` (order 40): the opportunity's quotes, with a link to a
  new quote prefilled from the opportunity (customer, main contact, product lines).

Superseded revisions are left out (their page lists every revision). Without ``sales:view``
the section is hidden (``None``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm.core.registry import Section, register_section

from .choices import QuoteStatus
from .models import Quote
from .quote_services import STATUS_COLORS

SECTION_LIMIT = 20


def _section(request: HttpRequest, field: str, record: Any, query: dict[str, Any]) -> Any:
    user: Any = request.user
    if not user.can("sales", "view"):
        return None
    qs = (
        Quote.objects.visible_to(user)
        .filter(**{field: record})
        .exclude(status=QuoteStatus.SUPERSEDED)
        .order_by("-updated_at", "-pk")
    )
    rows = list(qs[: SECTION_LIMIT + 1])
    return {
        "rows": [
            {"quote": q, "color": STATUS_COLORS.get(q.status, "secondary")}
            for q in rows[:SECTION_LIMIT]
        ],
        "more": len(rows) > SECTION_LIMIT,
        "list_url": f"{reverse('sales:quote_list')}?{urlencode(query)}",
        "create_url": (
            f"{reverse('sales:quote_create')}?{urlencode(query)}"
            if user.can("sales", "create")
            else None
        ),
    }


def customer_quotes(request: HttpRequest, customer: Any) -> Any:
    if customer.merged_into_id:
        return None
    return _section(request, "customer", customer, {"customer": customer.pk})


def opportunity_quotes(request: HttpRequest, opportunity: Any) -> Any:
    return _section(request, "opportunity", opportunity, {"opportunity": opportunity.pk})


def register() -> None:
    register_section(
        "customers.customer",
        Section(40, "quotes", _("Quotes"), "sales/quotes/section.html", customer_quotes),
    )
    register_section(
        "pipeline.opportunity",
        Section(40, "quotes", _("Quotes"), "sales/quotes/section.html", opportunity_quotes),
    )
