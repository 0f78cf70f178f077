"""API schemas of service tickets and return visits (R3.7). Write schemas list what a client may
set; anything else (number, deadlines, status of a create, version …) is ignored."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from ninja import Field, FilterSchema, Schema

from crm.core.api import FilterDate, RecordId
from crm.customers.schemas import CustomerBrief, UserBrief
from crm.pipeline.opportunity_schemas import FilterId

TYPES = Literal["complaint", "consultation", "repair", "suggestion"]
PRIORITIES = Literal["urgent", "high", "normal", "low"]
STATUSES = Literal["open", "in_progress", "waiting_customer", "resolved", "closed"]
VISIT_STATUSES = Literal["planned", "done", "cancelled"]


class Brief(Schema):
    id: int
    name: str


class NumberBrief(Schema):
    id: int
    number: str


class TicketRead(Schema):
    """A service ticket with its deadlines (ISO 8601) and overdue flags."""

    id: int
    number: str
    customer: CustomerBrief
    contact: Brief | None
    contract: NumberBrief | None
    product: Brief | None
    type: str
    priority: str
    status: str
    subject: str
    description: str
    owner: UserBrief = Field(..., description="The assignee")
    collaborators: list[UserBrief]
    opened_at: datetime
    response_due_at: datetime
    resolution_due_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    paused_at: datetime | None = Field(None, description="Waiting for the customer since")
    paused_seconds: int
    response_seconds: int | None
    resolution_seconds: int | None
    response_breached: bool
    resolution_breached: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_collaborators(obj: Any) -> list[Any]:
        return list(obj.collaborators.all())


class TicketCreate(Schema):
    customer_id: RecordId
    type: TYPES
    priority: PRIORITIES = "normal"
    subject: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=10000)
    contact_id: RecordId | None = None
    contract_id: RecordId | None = None
    product_id: RecordId | None = None
    owner_id: RecordId | None = Field(None, description="Assignee; others than you need transfer")
    collaborator_ids: list[RecordId] = Field([], max_length=50)


class TicketUpdate(Schema):
    type: TYPES | None = None
    priority: PRIORITIES | None = None
    subject: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10000)
    contact_id: RecordId | None = None
    contract_id: RecordId | None = None
    product_id: RecordId | None = None
    collaborator_ids: list[RecordId] | None = Field(None, max_length=50)
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="The version you read")


class StatusIn(Schema):
    status: str = Field(
        ...,
        max_length=20,
        description="open, in_progress, waiting_customer, resolved or closed (allowed moves only)",
    )
    note: str = Field("", max_length=10000)
    version: int | None = Field(None, ge=1, le=2**31 - 1)


class TicketTransferIn(Schema):
    owner_id: RecordId
    version: int | None = Field(None, ge=1, le=2**31 - 1)


class TicketFilter(FilterSchema):
    customer_id: FilterId | None = None
    owner_id: FilterId | None = None
    status: STATUSES | None = None
    type: TYPES | None = None
    priority: PRIORITIES | None = None
    overdue: bool | None = Field(None, description="Only tickets past a deadline now")
    mine: bool | None = Field(None, description="Only tickets assigned to you")
    q: str | None = Field(None, max_length=100)


class VisitRead(Schema):
    id: int
    customer: CustomerBrief
    ticket: NumberBrief | None
    contract: NumberBrief | None
    source: str
    owner: UserBrief
    due_on: date
    status: str
    done_at: datetime | None
    satisfaction: int | None
    comment: str
    note: str = Field(description="What to ask (visits planned by hand)")
    version: int


class VisitCreate(Schema):
    """Plan a return visit by hand."""

    customer_id: RecordId
    due_on: date = Field(..., description="Today or later")
    owner_id: RecordId | None = Field(
        None,
        description="Who makes it (default: the customer's owner if you may assign it, else "
        "you); others than you need service:transfer",
    )
    ticket_id: RecordId | None = Field(None, description="A ticket of the customer it follows")
    note: str = Field("", max_length=2000)


class VisitRescheduleIn(Schema):
    due_on: date = Field(..., description="Today or later")
    owner_id: RecordId | None = Field(None, description="Another owner (service:transfer)")
    note: str | None = Field(None, max_length=2000, description="Replaces the note when sent")
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="The version you read")


class VisitFilter(FilterSchema):
    customer_id: FilterId | None = None
    owner_id: FilterId | None = None
    status: VISIT_STATUSES | None = None
    due_before: FilterDate | None = Field(None, description="Due on or before")


class VisitCompleteIn(Schema):
    satisfaction: int = Field(..., ge=1, le=5)
    comment: str = Field("", max_length=10000)
    version: int | None = Field(None, ge=1, le=2**31 - 1)
