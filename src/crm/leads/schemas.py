"""API schemas of the leads module (XCreate / XUpdate / XRead / XBrief)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import field_validator

from crm.core.api import ObjectIn, RecordId
from crm.core.custom_fields import CUSTOM_HELP, CUSTOM_HELP_UPDATE


class LeadUserBrief(Schema):
    id: int
    name: str

    @staticmethod
    def resolve_name(obj: Any) -> str:
        return obj.display_name


class LeadPoolBrief(Schema):
    id: int
    name: str
    kind: str


class LeadCampaignBrief(Schema):
    id: int
    name: str


class LeadRead(Schema):
    id: int
    pool: LeadPoolBrief
    campaign: LeadCampaignBrief | None = Field(None, description="The campaign it came from")
    owner: LeadUserBrief | None
    source: str
    company: str
    contact_name: str
    title: str
    mobile: str
    phone: str
    email: str
    region: str
    industry: str
    product_line: str
    notes: str
    extra: dict[str, Any]
    custom: dict[str, Any] = Field(default_factory=dict, description=CUSTOM_HELP)
    score: int
    score_breakdown: list[dict[str, Any]] = Field(
        default_factory=list, description="Which scoring rules gave how many points"
    )
    status: str
    invalid_reason: str
    invalid_note: str
    assigned_at: datetime | None
    assigned_by_rule_id: int | None
    assignment_note: str
    converted_customer_id: int | None
    converted_contact_id: int | None
    converted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class LeadCreate(Schema):
    company: str = Field("", max_length=200)
    contact_name: str = Field("", max_length=100)
    title: str = Field("", max_length=100)
    mobile: str = Field("", max_length=40)
    phone: str = Field("", max_length=40)
    email: str = Field("", max_length=254)
    region: str = Field("", max_length=100)
    industry: str = Field("", max_length=60, description="A value of the industry dictionary")
    product_line: str = Field("", max_length=100)
    notes: str = ""
    source: str = Field(
        "", max_length=60, description="A value of the source dictionary (default: api)"
    )
    extra: dict[str, Any] = Field(
        default_factory=dict, description="Any other attributes; all are kept"
    )
    custom: dict[str, Any] = Field(default_factory=dict, description=CUSTOM_HELP)
    pool_id: int | None = Field(None, description="Default: the total pool")
    campaign_id: RecordId | None = Field(
        None, description="The campaign (default: matched by extra utm_source/utm_campaign)"
    )
    owner_id: int | None = Field(None, description="Assign at once (else the rules decide)")


class LeadUpdate(Schema):
    company: str | None = Field(None, max_length=200)
    contact_name: str | None = Field(None, max_length=100)
    title: str | None = Field(None, max_length=100)
    mobile: str | None = Field(None, max_length=40)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    region: str | None = Field(None, max_length=100)
    industry: str | None = Field(None, max_length=60)
    product_line: str | None = Field(None, max_length=100)
    notes: str | None = None
    source: str | None = Field(None, max_length=60)
    extra: dict[str, Any] | None = Field(None, description="Replaces the extra attributes")
    custom: dict[str, Any] | None = Field(None, description=CUSTOM_HELP_UPDATE)
    campaign_id: RecordId | None = Field(None, description="Set the campaign (null clears it)")
    version: int | None = Field(None, description="The version you read (stale: 409)")


class LeadInvalid(Schema):
    reason: str = Field(..., description="A value of the invalid-reason dictionary")
    note: str = Field("", max_length=300)


class LeadRelease(Schema):
    reason: str = Field("", max_length=200)


class LeadAssign(Schema):
    user_id: int


class LeadConvert(Schema):
    customer_id: int | None = Field(None, description="Link to this existing customer")
    create_opportunity: bool = False
    allow_duplicate: bool = Field(
        False, description="Create a new customer although similar ones exist (not 撞单)"
    )


class BulkIds(Schema):
    lead_ids: list[RecordId] = Field(..., min_length=1, max_length=500)


class BulkDistribute(BulkIds):
    pool_id: int


class BulkAssign(BulkIds):
    user_id: int


class BulkInvalid(BulkIds):
    reason: str
    note: str = Field("", max_length=300)


class BulkResult(Schema):
    count: int


class LeadDuplicateCandidate(Schema):
    id: int | None
    name: str
    visible: bool
    in_pool: bool
    owner: str
    phone: str
    email: str
    reasons: list[str]


class FieldError(Schema):
    field: str
    message: str


class LeadDuplicateError(Schema):
    """409 of a conversion: customers like this lead exist (masked if not yours to see)."""

    code: str
    message: str
    errors: list[FieldError] = []
    candidates: list[LeadDuplicateCandidate] = []  # none on a stale version's 409


class LeadPoolRead(Schema):
    id: int
    kind: str
    name: str
    region: str
    product_line: str
    description: str
    is_active: bool
    form_enabled: bool
    form_url: str
    manager_ids: list[RecordId]
    member_ids: list[RecordId]

    @staticmethod
    def resolve_form_url(obj: Any) -> str:
        return f"/leads/form/{obj.form_token}/"

    @staticmethod
    def resolve_manager_ids(obj: Any) -> list[int]:
        return sorted(u.pk for u in obj.managers.all())

    @staticmethod
    def resolve_member_ids(obj: Any) -> list[int]:
        return sorted(u.pk for u in obj.members.all())


class PoolWrite(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    region: str | None = Field(None, max_length=100)
    product_line: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=300)
    is_active: bool | None = None
    form_enabled: bool | None = None
    manager_ids: list[RecordId] | None = None
    member_ids: list[RecordId] | None = None


class PoolMembers(Schema):
    member_ids: list[RecordId]


#: H-LSCORE: a score bound of an assignment rule
ScoreBound = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]


class RuleConditions(ObjectIn):
    region: list[str] = []
    industry: list[str] = []
    source: list[str] = []
    product_line: list[str] = []
    # H-LSCORE: lead score range, inclusive (empty: any score)
    min_score: ScoreBound | None = None
    max_score: ScoreBound | None = None

    @field_validator("min_score", "max_score", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        """JSON true/false is not a score (pydantic would read it as 1/0)."""
        if isinstance(value, bool):
            raise ValueError("expected a whole number, not true/false")
        return value


class RuleRead(Schema):
    id: int
    name: str
    order: int
    is_active: bool
    object_type: str
    conditions: dict[str, list[str] | int]
    strategy: str
    eligible_user_ids: list[RecordId]
    fixed_user_id: int | None
    cap: int | None
    target_pool_id: int | None
    cursor: int

    @staticmethod
    def resolve_eligible_user_ids(obj: Any) -> list[int]:
        return sorted(u.pk for u in obj.eligible_users.all())


class RuleWrite(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    order: int = Field(10, ge=0)
    is_active: bool = True
    conditions: RuleConditions = Field(default_factory=RuleConditions)
    strategy: str = Field("round_robin", description="round_robin, least_load or fixed_user")
    eligible_user_ids: list[RecordId] = []
    fixed_user_id: int | None = None
    cap: int | None = Field(None, ge=1, description="Most open leads per rep (empty: no cap)")
    target_pool_id: int | None = None
