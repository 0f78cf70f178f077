"""API schemas of imports (names start with ``Import`` to stay unique in the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from .registry import get_resource


class ImportFieldRead(Schema):
    key: str
    label: str
    required: bool
    aliases: list[str]


class ImportResourceRead(Schema):
    key: str
    label: str
    module: str
    fields: list[ImportFieldRead]

    @staticmethod
    def resolve_label(obj: Any) -> str:
        return str(obj.label)

    @staticmethod
    def resolve_fields(obj: Any) -> list[dict[str, Any]]:
        return [
            {
                "key": f.key,
                "label": str(f.label),
                "required": f.required,
                "aliases": list(f.aliases),
            }
            for f in obj.fields
        ]


class ImportJobRead(Schema):
    id: int
    resource: str
    file_name: str
    file_format: str
    encoding: str
    headers: list[str]
    mapping: list[str] = Field(..., description="The field key of each column (empty: ignored)")
    duplicate_mode: str = Field(..., description="skip, update or create")
    strict: bool = Field(..., description="All or nothing")
    status: str = Field(..., description="draft, queued, running, done, failed or cancelled")
    total_rows: int
    rows_done: int = Field(..., description="Data rows committed so far")
    created: int
    updated: int
    skipped: int
    failed: int
    message: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    required_fields: list[str]

    @staticmethod
    def resolve_rows_done(obj: Any) -> int:
        return int(obj.next_row)

    @staticmethod
    def resolve_created(obj: Any) -> int:
        return int(obj.created_count)

    @staticmethod
    def resolve_updated(obj: Any) -> int:
        return int(obj.updated_count)

    @staticmethod
    def resolve_skipped(obj: Any) -> int:
        return int(obj.skipped_count)

    @staticmethod
    def resolve_failed(obj: Any) -> int:
        return int(obj.failed_count)

    @staticmethod
    def resolve_required_fields(obj: Any) -> list[str]:
        resource = get_resource(obj.resource)
        return [f.key for f in resource.required] if resource else []


class ImportJobUpdate(Schema):
    """The mapping and options of a draft import (absent keys are left alone)."""

    mapping: list[str] | None = Field(
        None, max_length=200, description='One field key per column, "" to ignore a column'
    )
    duplicate_mode: Literal["skip", "update", "create"] | None = None
    strict: bool | None = None


class ImportPreviewRead(Schema):
    line: int
    action: str = Field(..., description="created, updated, skipped or failed")
    message: str
    values: list[str]


class ImportRowErrorRead(Schema):
    line: int
    message: str
