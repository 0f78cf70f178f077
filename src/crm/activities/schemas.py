"""API schemas of follow-ups, visit plans, reminders and reminder rules.

Times are ISO 8601 with their offset (a time sent without one is in the organisation's time
zone); coordinates are strings with six decimals. Write schemas list the fields a client may
set: anything else (organisation, author, status, version of a create …) is ignored.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.utils import timezone
from ninja import Field, FilterSchema, Schema

from crm.core.api import FilterDate
from crm.customers.schemas import CustomerBrief, UserBrief
from crm.pipeline.opportunity_schemas import (
    ContactBrief,
    FilterDateTime,
    FilterId,
    NodeBrief,
    OpportunityBrief,
    StageBrief,
)

METHOD_VALUES = Literal["call", "visit", "wechat", "email", "meeting", "other"]
REMINDER_KINDS = Literal["new_opportunity", "next_followup", "visit_plan", "feedback_overdue"]


def _coordinate(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.6f}"


# --- Follow-ups -----------------------------------------------------------------------------------
class FollowUpRead(Schema):
    """A follow-up: who contacted which customer (opportunity, contact) how, when, and what is
    next. ``stage``/``node`` are where the opportunity stood at the time (R4.2)."""

    id: int
    customer: CustomerBrief
    opportunity: OpportunityBrief | None
    contact: ContactBrief | None
    stage: StageBrief | None
    node: NodeBrief | None
    owner: UserBrief = Field(..., description="Who followed up")
    collaborator: UserBrief | None
    method: str
    method_label: str
    content: str
    happened_at: datetime
    next_at: datetime | None
    next_content: str
    location: str
    latitude: str | None
    longitude: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_method_label(obj: Any) -> str:
        return str(obj.get_method_display())

    @staticmethod
    def resolve_latitude(obj: Any) -> str | None:
        return _coordinate(obj.latitude)

    @staticmethod
    def resolve_longitude(obj: Any) -> str | None:
        return _coordinate(obj.longitude)


class FollowUpCreate(Schema):
    customer_id: int
    opportunity_id: int | None = Field(None, description="An opportunity of the customer")
    contact_id: int | None = Field(None, description="A contact of the customer")
    collaborator_id: int | None = Field(None, description="The colleague of the next follow-up")
    method: METHOD_VALUES
    content: str = Field(..., min_length=1, max_length=10000)
    happened_at: datetime | None = Field(None, description="Defaults to now; never in the future")
    next_at: datetime | None = Field(None, description="The next follow-up, after this one")
    next_content: str = ""
    location: str = Field("", max_length=300)
    latitude: Decimal | None = Field(None, ge=-90, le=90)
    longitude: Decimal | None = Field(None, ge=-180, le=180)
    plan_id: int | None = Field(None, description="The planned visit this follow-up completes")


class FollowUpUpdate(Schema):
    """Only the fields sent change. ``version`` is the one you read (stale → 409)."""

    version: int = Field(..., ge=1, description="The version you read; a stale one answers 409")
    method: METHOD_VALUES | None = None
    content: str | None = Field(None, min_length=1, max_length=10000)
    happened_at: datetime | None = None
    next_at: datetime | None = Field(None, description="Send null to clear")
    next_content: str | None = None
    location: str | None = Field(None, max_length=300)
    latitude: Decimal | None = Field(None, ge=-90, le=90, description="Send null to clear")
    longitude: Decimal | None = Field(None, ge=-180, le=180, description="Send null to clear")
    contact_id: int | None = Field(None, description="Send null to clear")
    collaborator_id: int | None = Field(None, description="Send null to clear")


class FollowUpFilter(FilterSchema):
    customer_id: FilterId | None = Field(
        None, description="All follow-ups of this customer (when you may see the customer)"
    )
    opportunity_id: FilterId | None = Field(
        None, description="All follow-ups of this opportunity (when you may see it)"
    )
    owner_id: FilterId | None = Field(None, description="Followed up by")
    method: METHOD_VALUES | None = None
    since: FilterDateTime | None = Field(None, description="Happened at or after")
    until: FilterDateTime | None = Field(None, description="Happened before")


FOLLOWUP_SORTS = {"happened": "happened_at", "next": "next_at", "created": "created_at"}
FOLLOWUP_DEFAULT_SORT = ["-happened_at", "-pk"]


# --- Visit plans ----------------------------------------------------------------------------------
class VisitPlanRead(Schema):
    id: int
    owner: UserBrief
    customer: CustomerBrief
    opportunity: OpportunityBrief | None
    contact: ContactBrief | None
    method: str
    method_label: str
    planned_at: datetime
    purpose: str
    status: str
    status_label: str
    overdue: bool = Field(..., description="Still planned and its time has passed")
    followup_id: int | None = Field(..., description="The follow-up that completed it")
    done_at: datetime | None
    note: str
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_method_label(obj: Any) -> str:
        return str(obj.get_method_display())

    @staticmethod
    def resolve_status_label(obj: Any) -> str:
        return str(obj.get_status_display())

    @staticmethod
    def resolve_overdue(obj: Any) -> bool:
        return bool(obj.status == "planned" and obj.planned_at < timezone.now())


class VisitPlanCreate(Schema):
    customer_id: int
    opportunity_id: int | None = None
    contact_id: int | None = None
    owner_id: int | None = Field(None, description="Defaults to you (managers plan for the team)")
    method: METHOD_VALUES = "visit"
    planned_at: datetime
    purpose: str = Field(..., min_length=1, max_length=300)
    note: str = Field("", max_length=500)


class VisitPlanUpdate(Schema):
    """Only a planned visit changes; ``version`` is the one you read (stale → 409)."""

    version: int = Field(..., ge=1, description="The version you read; a stale one answers 409")
    method: METHOD_VALUES | None = None
    planned_at: datetime | None = None
    purpose: str | None = Field(None, min_length=1, max_length=300)
    note: str | None = Field(None, max_length=500)


class PlanStatusIn(Schema):
    status: Literal["missed", "cancelled"]
    note: str = Field("", max_length=500)


class VisitPlanFilter(FilterSchema):
    owner_id: FilterId | None = None
    status: Literal["planned", "done", "missed", "cancelled"] | None = None
    date_from: FilterDate | None = Field(
        None, alias="from", description="Planned on or after this day"
    )
    date_to: FilterDate | None = Field(
        None, alias="to", description="Planned on or before this day"
    )


PLAN_SORTS = {"planned": "planned_at", "created": "created_at", "status": "status"}
PLAN_DEFAULT_SORT = ["planned_at", "pk"]


# --- Reminders ------------------------------------------------------------------------------------
class ReminderRead(Schema):
    """A reminder sent to you about one record, by a reminder rule."""

    id: int
    kind: str
    kind_label: str
    message: str
    url: str
    target_type: str
    target_id: str
    due_at: datetime
    sent_at: datetime | None
    done_at: datetime | None
    overdue: bool

    @staticmethod
    def resolve_kind_label(obj: Any) -> str:
        return str(obj.get_kind_display())

    @staticmethod
    def resolve_overdue(obj: Any) -> bool:
        return bool(obj.is_overdue)


class ReminderFilter(FilterSchema):
    open: bool | None = Field(None, description="true: not done yet; false: done")
    due: bool | None = Field(None, description="true: due by now; false: still ahead")


# --- Reminder rules -------------------------------------------------------------------------------
class ReminderRuleRead(Schema):
    id: int
    kind: str
    kind_label: str
    name: str
    offsets: list[int] = Field(..., description="Days (opportunity, feedback) or hours before")
    notify_manager: bool
    send_email: bool
    is_active: bool

    @staticmethod
    def resolve_kind_label(obj: Any) -> str:
        return str(obj.get_kind_display())


class ReminderRuleCreate(Schema):
    kind: REMINDER_KINDS
    name: str = Field(..., min_length=1, max_length=100)
    offsets: list[int] = Field(..., min_length=1, max_length=10)
    notify_manager: bool = False
    send_email: bool = True
    is_active: bool = True


class ReminderRuleUpdate(Schema):
    kind: REMINDER_KINDS | None = None
    name: str | None = Field(None, min_length=1, max_length=100)
    offsets: list[int] | None = Field(None, min_length=1, max_length=10)
    notify_manager: bool | None = None
    send_email: bool | None = None
    is_active: bool | None = None
