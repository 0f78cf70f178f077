"""Record-page sections of the opportunities module (``crm.core.registry.register_section``).

- ``customers.customer`` / ``opportunities`` (order 30): the customer's opportunities the user
  may see on the customer 360 page, with a link to create one for the customer;
- ``pipeline.opportunity`` / ``history`` (order 1000, always last): the opportunity's audit
  history. The opportunity page renders every section registered for ``pipeline.opportunity``
  the way the customer 360 page does (follow-ups, comments and attachments come from their
  modules); ``context(request, opportunity) -> dict | None``, ``None`` hides the section.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Case, IntegerField, Value, When
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm.core.registry import Section, register_section
from crm.core.views import history_context

from .choices import OPEN_STATUSES, STATUS_COLORS
from .models import Opportunity

#: opportunities listed on a customer's page (the newest open ones first)
CUSTOMER_SECTION_LIMIT = 100


def customer_opportunities(request: HttpRequest, customer: Any) -> Any:
    """The customer's opportunities ``request.user`` may see (a dict); None hides the section
    from those who may not view opportunities."""
    user: Any = request.user
    if not user.can("opportunities", "view"):
        return None
    rows = list(
        Opportunity.objects.visible_to(user)
        .filter(customer=customer)
        .select_related("stage", "node", "owner")
        .annotate(
            closed=Case(
                When(status__in=OPEN_STATUSES, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("closed", "-updated_at", "-pk")[:CUSTOMER_SECTION_LIMIT]
    )
    return {
        "opportunities": [
            {"opportunity": o, "status_color": STATUS_COLORS.get(o.status, "secondary")}
            for o in rows
        ],
        "can_create": user.can("opportunities", "create") and customer.merged_into_id is None,
    }


def history_section_context(request: HttpRequest, opportunity: Opportunity) -> dict[str, Any]:
    return history_context(opportunity)


def register() -> None:
    register_section(
        "customers.customer",
        Section(
            30,
            "opportunities",
            _("Opportunities"),
            "pipeline/opportunity/customer_section.html",
            customer_opportunities,
        ),
    )
    register_section(
        "pipeline.opportunity",
        Section(
            1000,
            "history",
            _("History"),
            "pipeline/opportunity/history_section.html",
            history_section_context,
        ),
    )


register()
