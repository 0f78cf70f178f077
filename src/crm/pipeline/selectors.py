"""Reads of pipelines, stage trees and dictionaries that need more than a filter. Every read
starts from ``visible_to``: pipelines and stages are visible organisation-wide to whoever may
view opportunities; dictionary items to every member."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

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
