"""The lead list's filters: one schema shared by the pages and the API (STYLE rule 9)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from ninja import Field, FilterSchema
from pydantic import ValidationError

from crm.core.api import FilterDate, FilterId

from .choices import OPEN_STATUSES, LeadStatus
from .selectors import search_q

LEAD_SORTS = {
    "created": "created_at",
    "updated": "updated_at",
    "assigned": "assigned_at",
    "company": "company",
    "contact": "contact_name",
    "status": "status",
    "score": "score",
    "region": "region",
}


class LeadFilter(FilterSchema):
    """Filters of a lead list. Every one narrows the rows the user may already see."""

    q: str | None = Field(None, description="Company, contact, mobile or e-mail contains")
    status: str | None = Field(
        None, description="new, contacted, qualified, converted, invalid, or open"
    )
    pool_id: FilterId | None = None
    owner_id: FilterId | None = None
    mine: bool | None = Field(None, description="Only leads I own")
    unassigned: bool | None = Field(None, description="Only leads without an owner")
    source: str | None = None
    region: str | None = None
    industry: str | None = None
    product_line: str | None = None
    campaign_id: FilterId | None = Field(None, description="From this campaign")
    created_after: FilterDate | None = None
    created_before: FilterDate | None = None
    # H-LSCORE: score range, inclusive
    score_min: int | None = Field(None, ge=-1_000_000, le=1_000_000, description="Score at least")
    score_max: int | None = Field(None, ge=-1_000_000, le=1_000_000, description="Score at most")

    def apply(self, qs: QuerySet, user: Any) -> QuerySet:
        """Narrow ``qs`` (already ``visible_to`` the user)."""
        if self.q:
            qs = qs.filter(search_q(self.q))
        if self.status == "open":
            qs = qs.filter(status__in=OPEN_STATUSES)
        elif self.status:
            qs = qs.filter(status=self.status) if self.status in LeadStatus.values else qs.none()
        if self.pool_id is not None:
            qs = qs.filter(pool_id=self.pool_id)
        if self.campaign_id is not None:  # H-CAMP
            qs = qs.filter(campaign_id=self.campaign_id)
        if self.owner_id is not None:
            qs = qs.filter(owner_id=self.owner_id)
        if self.mine:
            qs = qs.filter(owner_id=user.pk)
        if self.unassigned:
            qs = qs.filter(owner__isnull=True)
        for name in ("source", "region", "industry", "product_line"):
            value = getattr(self, name)
            if value:
                qs = qs.filter(**{name: value.strip()})
        if self.score_min is not None:
            qs = qs.filter(score__gte=self.score_min)
        if self.score_max is not None:
            qs = qs.filter(score__lte=self.score_max)
        if self.created_after:
            qs = qs.filter(created_at__date__gte=self.created_after)
        if self.created_before:
            qs = qs.filter(created_at__date__lte=self.created_before)
        return qs

    @classmethod
    def from_query(cls, query: Any) -> LeadFilter:
        """From a page's query string: empty values are ignored, a malformed one drops the
        filter it belongs to rather than failing the page."""
        values = {k: query.get(k) for k in cls.model_fields if query.get(k) not in (None, "")}
        try:
            return cls(**values)
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
            return cls(**{k: v for k, v in values.items() if k not in bad})
