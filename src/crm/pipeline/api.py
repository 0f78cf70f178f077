"""/api/v1/pipeline/: pipelines with their stage trees, and the dictionaries (R4.4, R4.5).

Reading needs ``opportunities:view`` (pipelines, stages) or membership (dictionaries); writing
needs ``opportunities:configure`` or ``settings:configure``. Another organisation's ids are 404.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from ninja import Router, Status
from ninja.pagination import paginate

from crm.core.api import Paginated, apply_sort, scoped, scoped_get
from crm.core.errors import NotFound

from . import selectors, services
from .models import DictionaryItem, DictionaryKind, Pipeline, Stage
from .schemas import (
    DictionaryItemCreate,
    DictionaryItemRead,
    DictionaryItemUpdate,
    DictionaryKindRead,
    DictionaryReorder,
    PipelineCopy,
    PipelineCreate,
    PipelineDetail,
    PipelineRead,
    PipelineUpdate,
    Reorder,
    StageCreate,
    StageRead,
    StageUpdate,
)

router = Router()

PIPELINE_SORTS = {"order": "sort_order", "name": "name", "created": "created_at"}


def _me(request: HttpRequest) -> Any:
    return request.user


def _detail(request: HttpRequest, pipeline_id: int) -> Pipeline:
    pipeline: Pipeline = scoped_get(request, Pipeline, pipeline_id)
    pipeline.stage_list = selectors.stage_tree(request.user, pipeline)  # type: ignore[attr-defined]
    return pipeline


def _stage(request: HttpRequest, stage_id: int) -> Stage:
    stage: Stage = scoped_get(
        request, scoped(request, Stage).select_related("pipeline", "parent"), stage_id
    )
    return stage


def _stage_read(request: HttpRequest, stage: Stage) -> Stage:
    """The stage as read again, with its nodes."""
    fresh = _stage(request, stage.pk)
    fresh.node_list = list(  # type: ignore[attr-defined]
        scoped(request, Stage).filter(parent=fresh).order_by("sort_order", "pk")
    )
    return fresh


# --- pipelines -----------------------------------------------------------------------------------
@router.get("/pipelines", response=list[PipelineRead], summary="The organisation's pipelines")
@paginate(Paginated)
def list_pipelines(
    request: HttpRequest, include_inactive: bool = True, sort: str | None = None
) -> Any:
    qs = scoped(request, Pipeline)
    if not include_inactive:
        qs = qs.filter(is_active=True)
    return apply_sort(qs, sort, PIPELINE_SORTS, ["sort_order", "pk"])


@router.post("/pipelines", response={201: PipelineDetail}, summary="Add a pipeline")
def create_pipeline(request: HttpRequest, payload: PipelineCreate) -> Any:
    pipeline = services.save_pipeline(actor=_me(request), data=payload.dict())
    return Status(201, _detail(request, pipeline.pk))


@router.get("/pipelines/{pipeline_id}", response=PipelineDetail, summary="A pipeline and stages")
def get_pipeline(request: HttpRequest, pipeline_id: int) -> Any:
    return _detail(request, pipeline_id)


@router.patch("/pipelines/{pipeline_id}", response=PipelineDetail, summary="Change a pipeline")
def update_pipeline(request: HttpRequest, pipeline_id: int, payload: PipelineUpdate) -> Any:
    services.save_pipeline(
        actor=_me(request),
        pipeline=scoped_get(request, Pipeline, pipeline_id),
        data=payload.dict(exclude_unset=True),
    )
    return _detail(request, pipeline_id)


@router.post(
    "/pipelines/{pipeline_id}/copy", response={201: PipelineDetail}, summary="Copy a pipeline"
)
def copy_pipeline(request: HttpRequest, pipeline_id: int, payload: PipelineCopy) -> Any:
    copy = services.copy_pipeline(
        actor=_me(request),
        pipeline=scoped_get(request, Pipeline, pipeline_id),
        name=payload.name,
    )
    return Status(201, _detail(request, copy.pk))


# --- stages and nodes ----------------------------------------------------------------------------
@router.get(
    "/pipelines/{pipeline_id}/stages",
    response=list[StageRead],
    summary="The stage tree of a pipeline (stages with their nodes)",
)
def list_stages(request: HttpRequest, pipeline_id: int, include_inactive: bool = True) -> Any:
    pipeline = scoped_get(request, Pipeline, pipeline_id)
    return selectors.stage_tree(request.user, pipeline, include_inactive=include_inactive)


@router.post(
    "/pipelines/{pipeline_id}/stages",
    response={201: StageRead},
    summary="Add a stage, or a node of the stage parent_id",
)
def create_stage(request: HttpRequest, pipeline_id: int, payload: StageCreate) -> Any:
    pipeline = scoped_get(request, Pipeline, pipeline_id)
    data = payload.dict(exclude_unset=True)
    parent_id = data.pop("parent_id", None)
    if data.get("default_probability") is None:
        data.pop("default_probability", None)
    if parent_id is not None:
        parent = _stage(request, parent_id)
        if parent.pipeline_id != pipeline.pk:
            raise NotFound()
        stage = services.add_node(actor=_me(request), stage=parent, data=data)
    else:
        stage = services.add_stage(actor=_me(request), pipeline=pipeline, data=data)
    return Status(201, _stage_read(request, stage))


@router.post(
    "/pipelines/{pipeline_id}/stages/reorder",
    response=list[StageRead],
    summary="Reorder the stages (or the nodes of parent_id)",
)
def reorder_stages(request: HttpRequest, pipeline_id: int, payload: Reorder) -> Any:
    pipeline = scoped_get(request, Pipeline, pipeline_id)
    parent = _stage(request, payload.parent_id) if payload.parent_id is not None else None
    services.reorder_stages(actor=_me(request), pipeline=pipeline, ids=payload.ids, parent=parent)
    return selectors.stage_tree(request.user, pipeline)


@router.get("/stages/{stage_id}", response=StageRead, summary="A stage (with nodes) or a node")
def get_stage(request: HttpRequest, stage_id: int) -> Any:
    return _stage_read(request, _stage(request, stage_id))


@router.patch(
    "/stages/{stage_id}",
    response=StageRead,
    summary="Change a stage or node; is_active false retires it, true restores it",
)
def update_stage(request: HttpRequest, stage_id: int, payload: StageUpdate) -> Any:
    stage = _stage(request, stage_id)
    services.require_configure(_me(request))  # also for an empty change: never a silent 200
    data = payload.dict(exclude_unset=True)
    is_active = data.pop("is_active", None)
    with transaction.atomic():
        if data:
            stage = services.update_stage(actor=_me(request), stage=stage, data=data)
        if is_active is True:
            services.restore_stage(actor=_me(request), stage=stage)
        elif is_active is False:
            services.retire_stage(actor=_me(request), stage=stage)
    return _stage_read(request, stage)


@router.post("/stages/{stage_id}/retire", response=StageRead, summary="Retire a stage or node")
def retire_stage(request: HttpRequest, stage_id: int) -> Any:
    stage = services.retire_stage(actor=_me(request), stage=_stage(request, stage_id))
    return _stage_read(request, stage)


@router.post("/stages/{stage_id}/restore", response=StageRead, summary="Restore a stage or node")
def restore_stage(request: HttpRequest, stage_id: int) -> Any:
    stage = services.restore_stage(actor=_me(request), stage=_stage(request, stage_id))
    return _stage_read(request, stage)


@router.delete(
    "/stages/{stage_id}",
    response={204: None},
    summary="Delete an unused stage (with its nodes) or node; one in use answers 409",
)
def delete_stage(request: HttpRequest, stage_id: int) -> Any:
    services.delete_stage(actor=_me(request), stage=_stage(request, stage_id))
    return Status(204, None)


# --- dictionaries --------------------------------------------------------------------------------
def _kind(kind: str) -> str:
    if kind not in DictionaryKind.values:
        raise NotFound()
    return kind


def _item(request: HttpRequest, kind: str, item_id: int) -> DictionaryItem:
    item: DictionaryItem = scoped_get(
        request, scoped(request, DictionaryItem).filter(kind=_kind(kind)), item_id
    )
    return item


@router.get("/dictionaries", response=list[DictionaryKindRead], summary="The lists admins edit")
def list_dictionaries(request: HttpRequest) -> Any:
    return [{"kind": k, "label": str(label)} for k, label in selectors.dictionary_kinds()]


@router.get(
    "/dictionaries/{kind}", response=list[DictionaryItemRead], summary="The items of one list"
)
def list_dictionary_items(request: HttpRequest, kind: str, include_inactive: bool = True) -> Any:
    return selectors.dictionary_items(request.user, _kind(kind), include_inactive=include_inactive)


@router.post(
    "/dictionaries/{kind}", response={201: DictionaryItemRead}, summary="Add an item to a list"
)
def create_dictionary_item(request: HttpRequest, kind: str, payload: DictionaryItemCreate) -> Any:
    item = services.add_dictionary_item(
        actor=_me(request), kind=_kind(kind), label=payload.label, value=payload.value
    )
    return Status(201, item)


@router.post(
    "/dictionaries/{kind}/reorder",
    response=list[DictionaryItemRead],
    summary="Reorder a list (every item's id once)",
)
def reorder_dictionary(request: HttpRequest, kind: str, payload: DictionaryReorder) -> Any:
    return services.reorder_dictionary_items(actor=_me(request), kind=_kind(kind), ids=payload.ids)


@router.patch(
    "/dictionaries/{kind}/{item_id}",
    response=DictionaryItemRead,
    summary="Rename an item, or deactivate / reactivate it (its value never changes)",
)
def update_dictionary_item(
    request: HttpRequest, kind: str, item_id: int, payload: DictionaryItemUpdate
) -> Any:
    item = _item(request, kind, item_id)
    services.require_configure(_me(request))  # also for an empty change: never a silent 200
    data = payload.dict(exclude_unset=True)
    if data.get("label") is not None:
        item = services.rename_dictionary_item(actor=_me(request), item=item, label=data["label"])
    if data.get("is_active") is not None:
        item = services.set_dictionary_item_active(
            actor=_me(request), item=item, is_active=data["is_active"]
        )
    return item
