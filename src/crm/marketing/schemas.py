"""API schemas of marketing campaigns (R9.3). Write schemas list what a client may set; the form
token, status (moved by its own operation), creator and version are kept by the services."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Field, FilterSchema, Schema

from crm.core.api import FilterDate, RecordId
from crm.customers.schemas import UserBrief
from crm.pipeline.opportunity_schemas import FilterId

TYPES = Literal["exhibition", "webinar", "email", "ads", "referral", "other"]
STATUSES = Literal["planned", "active", "completed", "cancelled"]
MAX_MONEY = Decimal("99999999999999.99")


class CampaignPoolBrief(Schema):
    id: int
    name: str


class CampaignRead(Schema):
    """A campaign with its web-form address (when the form is on)."""

    id: int
    name: str
    code: str
    campaign_type: TYPES
    channel: str
    status: STATUSES
    owner: UserBrief
    start_date: date | None
    end_date: date | None
    budget: Decimal
    actual_cost: Decimal
    target_segment: str
    description: str
    utm_source: str
    utm_campaign: str
    form_enabled: bool
    form_pool: CampaignPoolBrief | None
    form_url: str | None = Field(None, description="The public campaign form (when enabled)")
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_form_url(obj: Any) -> str | None:
        return f"/marketing/form/{obj.form_token}/" if obj.form_enabled else None


class CampaignCreate(Schema):
    name: str = Field(..., min_length=1, max_length=120)
    code: str = Field("", max_length=60)
    campaign_type: TYPES = "other"
    channel: str = Field("", max_length=100)
    start_date: date | None = None
    end_date: date | None = None
    budget: Decimal = Field(Decimal("0"), ge=0, le=MAX_MONEY, decimal_places=2)
    actual_cost: Decimal = Field(Decimal("0"), ge=0, le=MAX_MONEY, decimal_places=2)
    target_segment: str = Field("", max_length=300)
    description: str = Field("", max_length=10000)
    utm_source: str = Field("", max_length=100)
    utm_campaign: str = Field("", max_length=100)
    form_enabled: bool = False
    form_pool_id: RecordId | None = Field(None, description="Default: the total pool")
    owner_id: RecordId | None = Field(None, description="Who runs it (default: you)")


class CampaignUpdate(Schema):
    """Only the fields sent change."""

    name: str | None = Field(None, min_length=1, max_length=120)
    code: str | None = Field(None, max_length=60)
    campaign_type: TYPES | None = None
    channel: str | None = Field(None, max_length=100)
    start_date: date | None = None
    end_date: date | None = None
    budget: Decimal | None = Field(None, ge=0, le=MAX_MONEY, decimal_places=2)
    actual_cost: Decimal | None = Field(None, ge=0, le=MAX_MONEY, decimal_places=2)
    target_segment: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=10000)
    utm_source: str | None = Field(None, max_length=100)
    utm_campaign: str | None = Field(None, max_length=100)
    form_enabled: bool | None = None
    form_pool_id: RecordId | None = None
    owner_id: RecordId | None = None
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="The version you read")


class CampaignStatusIn(Schema):
    status: STATUSES
    version: int | None = Field(None, ge=1, le=2**31 - 1)


class CampaignFilterIn(FilterSchema):
    q: str | None = Field(None, max_length=100, description="Name, code, channel or utm_campaign")
    campaign_type: TYPES | None = None
    status: STATUSES | None = None
    owner_id: FilterId | None = None
    start: FilterDate | None = Field(None, description="Running on or after (period overlaps)")
    end: FilterDate | None = Field(None, description="Running on or before (period overlaps)")


class CampaignAttribution(Schema):
    """A campaign's figures, counting only the leads and opportunities you may see."""

    id: int
    campaign: str
    start_date: date | None
    leads: int
    qualified: int
    converted: int
    opportunities: int
    won: int
    won_amount: Decimal
    cost: Decimal
    cost_per_lead: Decimal | None
    roi: Decimal | None = Field(None, description="(won amount − cost) / cost, in per cent")
