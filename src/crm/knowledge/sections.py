"""The "Knowledge" section of the opportunity page: published articles linked to the
opportunity's stage or its customer's industry, and the one-step case-study button of a closed
(won or lost) opportunity."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm.core.registry import Section, register_section

from . import selectors
from .services import CASE_STATUSES


def knowledge_context(request: HttpRequest, opportunity: Any) -> dict[str, Any] | None:
    user: Any = request.user
    if not user.can("knowledge", "view"):
        return None
    closed = opportunity.status in CASE_STATUSES
    can_write = closed and user.can("knowledge", "create")
    return {
        "kb_articles": selectors.related_to_opportunity(user, opportunity),
        "kb_can_write_case": can_write,
        "kb_cases": selectors.case_studies_of(user, opportunity) if closed else [],
    }


def register() -> None:
    register_section(
        "pipeline.opportunity",
        Section(
            25,
            "knowledge",
            _("Knowledge"),
            "knowledge/section_opportunity.html",
            knowledge_context,
        ),
    )
