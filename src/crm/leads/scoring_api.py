"""/api/v1/leads/scoring/: lead scoring rules (``leads:configure``), their preview, a lead's
score explained, and follow-ups logged on a lead (R2.5)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from pydantic import field_validator

from crm.core.api import scoped, scoped_get
from crm.org.models import User

from . import scoring
from .models import Lead, LeadScoringRule

router = Router()


class LeadScoringRuleRead(Schema):
    id: int
    name: str
    is_active: bool
    kind: str
    field: str
    operator: str
    values: list[str]
    event: str
    method: str
    points: int
    cap: int | None


class LeadScoringRuleWrite(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    is_active: bool = True
    kind: str = Field(..., max_length=10, description="attribute or behaviour")
    field: str = Field(
        "",
        max_length=80,
        description="attribute: industry, region, source, title, product_line, company, "
        "campaign_type, email, mobile, phone, or custom:<key>",
    )
    operator: str = Field("", max_length=10, description="attribute: equals, in, contains, is_set")
    values: list[str] = Field(default_factory=list, max_length=scoring.MAX_VALUES)
    event: str = Field(
        "", max_length=30, description="behaviour: form_submission, followup, campaign_response"
    )
    method: str = Field("", max_length=12, description="followup only: call, visit, email…")
    points: int = Field(..., ge=-scoring.MAX_POINTS, le=scoring.MAX_POINTS)
    cap: int | None = Field(None, ge=1, le=scoring.MAX_CAP, description="Most occurrences counted")

    @field_validator("points", "cap", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        """JSON true/false is not a number (pydantic would read it as 1/0)."""
        if isinstance(value, bool):
            raise ValueError("expected a whole number, not true/false")
        return value


class LeadScoringPointsRow(Schema):
    points: int
    leads: int


class LeadScoringGradeRow(Schema):
    grade: str
    before: int
    after: int


class LeadScoringPreview(Schema):
    leads: int
    matched: int
    points: list[LeadScoringPointsRow]
    grades: list[LeadScoringGradeRow]


class LeadScoreRead(Schema):
    id: int
    score: int
    grade: str
    breakdown: list[dict[str, Any]]
    events: dict[str, int]


class LeadFollowUpWrite(Schema):
    method: str = Field(
        ..., max_length=12, description="call, visit, wechat, email, meeting, other"
    )
    note: str = Field("", max_length=300)


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _score(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.pk,
        "score": lead.score,
        "grade": scoring.grade(lead.score),
        "breakdown": lead.score_breakdown or [],
        "events": lead.score_events or {},
    }


@router.get("/rules", response=list[LeadScoringRuleRead], summary="Lead scoring rules")
def list_scoring_rules(request: HttpRequest) -> Any:
    return scoped(request, LeadScoringRule, "configure").order_by("kind", "name", "pk")


@router.post(
    "/rules", response={201: LeadScoringRuleRead}, summary="Add a scoring rule (rescores leads)"
)
def create_scoring_rule(request: HttpRequest, payload: LeadScoringRuleWrite) -> Any:
    return Status(201, scoring.save_rule(actor=_me(request), data=payload.dict()))


@router.get("/rules/{scoring_rule_id}", response=LeadScoringRuleRead)
def get_scoring_rule(request: HttpRequest, scoring_rule_id: int) -> Any:
    return scoped_get(request, LeadScoringRule, scoring_rule_id, "configure")


@router.put(
    "/rules/{scoring_rule_id}",
    response=LeadScoringRuleRead,
    summary="Replace a scoring rule (rescores leads)",
)
def update_scoring_rule(
    request: HttpRequest, scoring_rule_id: int, payload: LeadScoringRuleWrite
) -> Any:
    rule = scoped_get(request, LeadScoringRule, scoring_rule_id, "configure")
    return scoring.save_rule(actor=_me(request), rule=rule, data=payload.dict())


@router.delete("/rules/{scoring_rule_id}", response={204: None})
def delete_scoring_rule(request: HttpRequest, scoring_rule_id: int) -> Any:
    rule = scoped_get(request, LeadScoringRule, scoring_rule_id, "configure")
    scoring.delete_rule(actor=_me(request), rule=rule)
    return Status(204, None)


@router.post(
    "/preview",
    response=LeadScoringPreview,
    summary="What a draft rule would do to the leads you see (nothing is saved)",
)
def preview_scoring_rule(request: HttpRequest, payload: LeadScoringRuleWrite) -> Any:
    return scoring.preview(_me(request), payload.dict())


@router.get("/leads/{lead_id}", response=LeadScoreRead, summary="A lead's score explained")
def get_lead_score(request: HttpRequest, lead_id: int) -> Any:
    return _score(scoped_get(request, Lead, lead_id))


@router.post(
    "/leads/{lead_id}/followups",
    response={201: LeadScoreRead},
    summary="Log a follow-up with a lead (counted by behaviour rules)",
)
def log_lead_followup(request: HttpRequest, lead_id: int, payload: LeadFollowUpWrite) -> Any:
    lead = scoped_get(request, Lead, lead_id)
    lead = scoring.log_followup(
        actor=_me(request), lead=lead, method=payload.method, note=payload.note
    )
    return Status(201, _score(lead))
