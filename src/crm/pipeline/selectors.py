"""Reads of pipelines, stage trees and dictionaries that need more than a filter. Every read
starts from ``visible_to``: pipelines and stages are visible organisation-wide to whoever may
view opportunities; dictionary items to every member."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.signals import post_delete, post_save

from crm.core.context import forget_request_memo, request_memo
from crm.core.models import Event

from .models import DictionaryItem, DictionaryKind, Pipeline, Stage


def pipelines_for(user: Any, *, include_inactive: bool = True) -> QuerySet[Pipeline]:
    """The organisation's pipelines in their order (active ones only unless asked)."""
    qs = Pipeline.objects.visible_to(user).order_by("sort_order", "pk")
    return qs if include_inactive else qs.filter(is_active=True)


def default_pipeline(user: Any) -> Pipeline | None:
    """The pipeline new opportunities start in (the default, else the first active one)."""
    return (
        Pipeline.objects.visible_to(user)
        .filter(is_active=True)
        .order_by("-is_default", "sort_order", "pk")
        .first()
    )


def stage_tree(user: Any, pipeline: Pipeline, *, include_inactive: bool = True) -> list[Stage]:
    """The stages of ``pipeline`` in order, each with ``node_list`` (its nodes in order).

    Two queries at most. Without ``include_inactive``, retired stages and nodes are left out.
    """
    qs = Stage.objects.visible_to(user).filter(pipeline=pipeline).order_by("sort_order", "pk")
    if not include_inactive:
        qs = qs.filter(is_active=True)
    rows = list(qs)
    stages = [s for s in rows if s.parent_id is None]
    by_id = {s.pk: s for s in stages}
    for stage in stages:
        stage.node_list = []  # type: ignore[attr-defined]
    for node in rows:
        if node.parent_id is not None and node.parent_id in by_id:
            node.parent = by_id[node.parent_id]
            by_id[node.parent_id].node_list.append(node)  # type: ignore[attr-defined]
    return stages


def stages_for(user: Any) -> list[Stage]:
    """Every stage and node of the organisation that ``user`` may see (retired ones too), with
    its pipeline, in pipeline order: read once per request (R11.2) for the parts of a page that
    each need some of them (the stage path, the move and close forms)."""

    def load() -> list[Stage]:
        return list(
            Stage.objects.visible_to(user)
            .select_related("pipeline")
            .order_by("pipeline__sort_order", "pipeline_id", "sort_order", "pk")
        )

    return request_memo(("pipeline.stages_for", user.pk), load)


def organisation_stages(org_id: int) -> dict[int, Stage]:
    """Every stage and node of the organisation by id, with its pipeline, read once per request
    (R11.2). For reports, which name stages whatever the viewer's opportunity permission: stage
    names are configuration, not business rows."""

    def load() -> dict[int, Stage]:
        rows = (
            Stage.objects.for_org(org_id)
            .select_related("pipeline")
            .order_by("pipeline__sort_order", "pipeline_id", "sort_order", "pk")
        )
        return {stage.pk: stage for stage in rows}

    return request_memo(("pipeline.organisation_stages", org_id), load)


def _forget_stages(sender: Any, **kwargs: Any) -> None:
    """A request that changes a stage or pipeline and then shows stages shows the change."""
    forget_request_memo(
        lambda key: (
            isinstance(key, tuple)
            and key[0] in ("pipeline.stages_for", "pipeline.organisation_stages")
        )
    )


for _model in (Stage, Pipeline):
    post_save.connect(_forget_stages, sender=_model, dispatch_uid=f"forget-stages-{_model}")
    post_delete.connect(_forget_stages, sender=_model, dispatch_uid=f"forget-stages-d-{_model}")


def trees_for(user: Any, pipelines: list[Pipeline]) -> dict[int, list[Stage]]:
    """``stage_tree`` for several pipelines in one query: pipeline id → stages with nodes."""
    rows = list(
        Stage.objects.visible_to(user)
        .filter(pipeline__in=pipelines)
        .order_by("pipeline_id", "sort_order", "pk")
    )
    result: dict[int, list[Stage]] = {p.pk: [] for p in pipelines}
    by_id: dict[int, Stage] = {}
    for stage in rows:
        if stage.parent_id is None:
            stage.node_list = []  # type: ignore[attr-defined]
            result[stage.pipeline_id].append(stage)
            by_id[stage.pk] = stage
    for node in rows:
        if node.parent_id is not None and node.parent_id in by_id:
            by_id[node.parent_id].node_list.append(node)  # type: ignore[attr-defined]
    return result


def pipeline_history(pipeline: Pipeline) -> QuerySet[Event]:
    """Events of a pipeline and of its current stages and nodes (deleted stages and nodes are
    recorded on the pipeline or stage they belonged to). The caller checked that the user may
    see ``pipeline``."""
    stage_ids = [
        str(pk)
        for pk in Stage.objects.filter(org_id=pipeline.org_id, pipeline=pipeline).values_list(
            "pk", flat=True
        )
    ]
    return (
        Event.objects.filter(org_id=pipeline.org_id)
        .filter(
            Q(object_type=Pipeline._meta.label_lower, object_id=str(pipeline.pk))
            | Q(object_type=Stage._meta.label_lower, object_id__in=stage_ids)
        )
        .select_related("actor")
        .order_by("-created_at", "-id")
    )


def dictionary_items(
    user: Any, kind: str, *, include_inactive: bool = True
) -> QuerySet[DictionaryItem]:
    """The items of one list in their order (active ones only unless asked)."""
    qs = DictionaryItem.objects.visible_to(user).filter(kind=kind).order_by("sort_order", "pk")
    return qs if include_inactive else qs.filter(is_active=True)


def dictionary_kinds() -> list[tuple[str, Any]]:
    """Every list an organisation edits: (kind, translated name)."""
    return list(DictionaryKind.choices)
