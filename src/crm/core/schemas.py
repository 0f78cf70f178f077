"""API schemas of the core app: events (audit trail), notifications, jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, FilterSchema, Schema

from crm.core.api import FilterId


class ActorBrief(Schema):
    id: int
    username: str
    name: str


class EventRead(Schema):
    id: int
    created_at: datetime
    actor: ActorBrief | None
    actor_label: str
    verb: str
    object_type: str
    object_id: str
    object_repr: str
    changes: dict[str, Any]
    data: dict[str, Any]
    request_id: str


class EventFilter(FilterSchema):
    actor_id: FilterId | None = None
    verb: str | None = Field(None, description="Exact verb, e.g. user.created")
    object_type: str | None = Field(None, description="e.g. org.user")
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class NotificationRead(Schema):
    id: int
    created_at: datetime
    verb: str
    message: str
    url: str
    read_at: datetime | None
    actor: ActorBrief | None


class JobRead(Schema):
    name: str
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: str
    last_message: str
    runs: int
