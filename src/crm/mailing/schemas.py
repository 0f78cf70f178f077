"""API schemas of e-mail campaigns (R9.3). Names start with ``Mail`` (unique in the API)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Schema

from crm.core.api import RecordId

ShortText = str  # bounded by Field(max_length=…) where used


class MailSegment(Schema):
    """Contacts of customers matching every filter (values of one filter are alternatives)."""

    industries: list[str] = Field(default_factory=list, max_length=50)
    regions: list[str] = Field(default_factory=list, max_length=50)
    grades: list[str] = Field(default_factory=list, max_length=50)
    customer_types: list[str] = Field(default_factory=list, max_length=50)
    tag_ids: list[RecordId] = Field(default_factory=list, max_length=50)
    department_ids: list[RecordId] = Field(default_factory=list, max_length=50)


class MailCampaignWrite(Schema):
    subject: str = Field(..., max_length=200)
    from_name: str = Field("", max_length=100)
    body_html: str = Field("", max_length=100_000, description="Sanitised on save")
    body_text: str = Field("", max_length=100_000, description="Derived from the HTML if empty")
    segment: MailSegment = Field(default_factory=MailSegment)
    rate_per_minute: int = Field(60, ge=1, le=1000)
    campaign_id: RecordId | None = Field(None, description="The marketing campaign it belongs to")
    version: int | None = Field(None, ge=1, le=2**31 - 1)


class MailSendIn(Schema):
    scheduled_at: datetime | None = Field(None, description="Empty: send now")


class MailCampaignRead(Schema):
    id: int
    subject: str
    from_name: str
    body_html: str
    body_text: str
    segment: dict[str, list[str | int]]
    status: str
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    rate_per_minute: int
    campaign_id: int | None
    owner_id: int
    version: int
    created_at: datetime


class MailBounceCounts(Schema):
    hard: int = Field(..., description="Recipients that hard-bounced (status bounced)")
    soft: int = Field(..., description="Recipients that soft-bounced at least once")


class MailCampaignDetail(MailCampaignRead):
    counts: dict[str, int]
    bounces: MailBounceCounts


class MailPreviewPerson(Schema):
    name: str
    email: str
    customer: str


class MailPreview(Schema):
    contacts: int
    addresses: int
    to_send: int
    unsubscribed: int
    invalid: int
    sample: list[MailPreviewPerson]


class MailRecipientRead(Schema):
    id: int
    email: str
    name: str
    contact_id: int | None
    status: str
    error: str
    soft_bounces: int
    sent_at: datetime | None


class MailUnsubscribeRead(Schema):
    id: int
    email: str
    source: str
    note: str
    created_at: datetime


class MailUnsubscribeIn(Schema):
    email: str = Field(..., max_length=254)
    note: str = Field("", max_length=200)


class MailUnsubscribeRemoveIn(Schema):
    reason: str = Field("", max_length=200, description="Why the address may be mailed again")


class MailBounceIn(Schema):
    """One bounce event of the mail provider."""

    email: str = Field(..., max_length=254)
    kind: Literal["hard", "soft"] = Field(..., description="hard: 5.x.x, permanent; soft: 4.x.x")
    reason: str = Field("", max_length=500, description="The provider's diagnostic text")
    campaign_id: RecordId | None = Field(None, description="The e-mail campaign, when known")
    event_id: str = Field("", max_length=200, description="The provider's event id (dedupes)")


class MailBounceBatch(Schema):
    bounces: list[MailBounceIn] = Field(..., max_length=1000, description="At most 1000 events")


class MailBounceResult(Schema):
    hard: int = Field(..., description="Hard bounces applied (recipient bounced, suppressed)")
    soft: int = Field(..., description="Soft bounces counted")
    duplicate: int = Field(..., description="Events processed before: nothing changed")
    unmatched: int = Field(..., description="Events that named nothing of the organisation")
    invalid: int = Field(..., description="Events with an address that is not valid")
