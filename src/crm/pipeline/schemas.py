"""API schemas of pipelines, stages and dictionaries (XCreate / XUpdate / XRead)."""

from __future__ import annotations

from typing import Any

from ninja import Field, Schema

from crm.core.api import RecordId

from .choices import StageKind


class NodeRead(Schema):
    id: int
    parent_id: int
    name: str
    sort_order: int
    default_probability: int
    max_days: int | None
    guidance: str
    is_active: bool


class StageRead(Schema):
    """A stage or a node (``parent_id`` set) with, for a stage, its nodes in order."""

    id: int
    pipeline_id: int
    parent_id: int | None
    name: str
    sort_order: int
    kind: StageKind
    default_probability: int
    max_days: int | None
    guidance: str
    is_active: bool
    nodes: list[NodeRead] = []

    @staticmethod
    def resolve_nodes(obj: Any) -> list[Any]:
        return list(getattr(obj, "node_list", []))


class PipelineRead(Schema):
    id: int
    name: str
    business_type: str
    description: str
    is_active: bool
    is_default: bool
    sort_order: int


class PipelineDetail(PipelineRead):
    """A pipeline with its stage tree (stages in order, each with its nodes)."""

    stages: list[StageRead] = []

    @staticmethod
    def resolve_stages(obj: Any) -> list[Any]:
        return list(getattr(obj, "stage_list", []))


class PipelineCreate(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    business_type: str = Field("", max_length=60, description="A business-category value")
    description: str = ""
    is_active: bool = True
    is_default: bool = False


class PipelineUpdate(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    business_type: str | None = Field(None, max_length=60)
    description: str | None = None
    is_active: bool | None = None
    is_default: bool | None = None
    sort_order: int | None = Field(None, ge=0)


class PipelineCopy(Schema):
    name: str = Field(..., min_length=1, max_length=100)


class StageCreate(Schema):
    """A stage (``parent_id`` empty) or a node of the open stage ``parent_id``."""

    name: str = Field(..., min_length=1, max_length=100)
    parent_id: int | None = None
    kind: StageKind = StageKind.OPEN
    default_probability: int | None = Field(None, description="0–100; default per kind")
    max_days: int | None = Field(None, description="Days before stalled; empty for never")
    guidance: str = ""


class StageUpdate(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    kind: StageKind | None = None
    default_probability: int | None = None
    max_days: int | None = None
    guidance: str | None = None
    is_active: bool | None = Field(None, description="false retires, true restores")


class Reorder(Schema):
    ids: list[RecordId] = Field(
        ..., description="Every sibling's id exactly once, in the new order"
    )
    parent_id: int | None = Field(None, description="Reorder the nodes of this stage")


class DictionaryKindRead(Schema):
    kind: str
    label: str


class DictionaryItemRead(Schema):
    id: int
    kind: str
    value: str
    label: str
    sort_order: int
    is_active: bool


class DictionaryItemCreate(Schema):
    label: str = Field(..., min_length=1, max_length=100)
    value: str = Field(
        "",
        max_length=60,
        description="Stored on records and never changes; derived from the label when empty",
    )


class DictionaryItemUpdate(Schema):
    label: str | None = Field(None, min_length=1, max_length=100)
    is_active: bool | None = None


class DictionaryReorder(Schema):
    ids: list[RecordId]
