"""Every write on pipelines, their stage trees and the dictionaries admins edit (R4.4, R4.5).

Services take ``actor`` first, need ``opportunities:configure`` or ``settings:configure``, write in
one transaction and record an event. Rules they keep:

- a pipeline has exactly one active won stage and at least one active lost stage, and every
  open stage comes before the won and lost ones;
- nodes (sub-steps) live only under open, top-level stages;
- probabilities are whole percentages 0–100; ``max_days`` (days before an opportunity counts as
  stalled) is at least 1, or empty for never;
- a stage that opportunities use (any registered ``stage_in_use`` hook says so) is retired,
  never deleted;
- a dictionary item's value never changes once created (records store it), only its label,
  order and whether it is offered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from crm.core import audit
from crm.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from crm.core.scoping import assert_in_scope
from crm.org.models import User

from . import dictionaries
from .choices import CLOSED_KINDS, StageKind
from .models import DictionaryItem, DictionaryKind, Pipeline, Stage
from .templates_data import TEMPLATES, PipelineTemplate

PIPELINE_FIELDS = ("name", "business_type", "description", "is_active", "is_default", "sort_order")
STAGE_FIELDS = ("name", "kind", "default_probability", "max_days", "guidance")
VALUE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]*$")

# --- permission and ownership --------------------------------------------------------------------


def can_configure(user: Any) -> bool:
    """May ``user`` change pipelines, stages and dictionaries?"""
    return bool(
        getattr(user, "is_authenticated", False)
        and (user.can("opportunities", "configure") or user.can("settings", "configure"))
    )


def require_configure(actor: User) -> None:
    """Raise PermissionDenied unless ``actor`` may configure pipelines and dictionaries."""
    if not can_configure(actor):
        raise PermissionDenied()


def _org(actor: User) -> int:
    """The actor's organisation id (a user without one may configure nothing)."""
    if actor.org_id is None:
        raise PermissionDenied()
    return actor.org_id


def _same_org(actor: User, *objs: Any) -> None:
    for obj in objs:
        if obj is not None and obj.org_id != actor.org_id:
            raise NotFound()


# --- stages in use (registered by the opportunities module) ---------------------------------------

StageInUse = Callable[[Stage], bool]
#: Functions ``fn(stage) -> bool`` that say whether records use a stage or node. A stage any of
#: them claims cannot be deleted, only retired. With none registered every stage may be deleted.
stage_in_use_hooks: list[StageInUse] = []


def register_stage_in_use(fn: StageInUse) -> None:
    """Register a hook that tells whether a stage (or node) is used by records."""
    if fn not in stage_in_use_hooks:
        stage_in_use_hooks.append(fn)


def stage_in_use(stage: Stage) -> bool:
    """Does any registered hook report that records use ``stage``?"""
    return any(hook(stage) for hook in stage_in_use_hooks)


HistoryChanged = Callable[[int, list[int]], None]
StagesChanged = Callable[[int, int], None]
#: Functions told, inside the writer's transaction, that the stage history of some opportunities
#: changed (``fn(org_id, opportunity_ids)``) or that a pipeline's stages changed order or kind
#: (``fn(org_id, pipeline_id)``), so that summaries of the history (the funnel's stays) follow.
history_hooks: list[HistoryChanged] = []
stage_order_hooks: list[StagesChanged] = []


def register_history_hooks(on_history: HistoryChanged, on_stages: StagesChanged) -> None:
    """Register what to do when stage history, or a pipeline's order of stages, changes."""
    if on_history not in history_hooks:
        history_hooks.append(on_history)
    if on_stages not in stage_order_hooks:
        stage_order_hooks.append(on_stages)


def history_changed(org_id: int, opportunity_ids: Iterable[int]) -> None:
    """Every writer of stage history calls this, in its transaction, with the opportunities."""
    ids = list(opportunity_ids)
    for hook in history_hooks:
        hook(org_id, ids)


def stages_changed(org_id: int, pipeline_id: int) -> None:
    """The pipeline's stages changed relative order or kind (called in the transaction)."""
    for hook in stage_order_hooks:
        hook(org_id, pipeline_id)


# --- validation helpers --------------------------------------------------------------------------


def _clean_name(value: Any, errors: dict[str, list[str]], field: str = "name") -> str:
    name = str(value or "").strip()
    if not name:
        errors[field] = [_("Enter a name.")]
    elif len(name) > 100:
        errors[field] = [_("At most 100 characters.")]
    return name


def _clean_probability(value: Any, errors: dict[str, list[str]]) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if isinstance(value, bool) or not 0 <= number <= 100 or str(number) != str(value).strip():
        errors["default_probability"] = [_("Enter a whole percentage from 0 to 100.")]
    return number


def _clean_max_days(value: Any, errors: dict[str, list[str]]) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or not 1 <= number <= 36500 or str(number) != str(value).strip():
        errors["max_days"] = [_("Enter 1 to 36500 days, or leave it empty for never.")]
    return number


def _clean_stage_data(data: dict[str, Any]) -> dict[str, Any]:
    """Validate the given stage fields (only those present); raise ValidationFailed."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for key in STAGE_FIELDS:
        if key not in data:
            continue
        value = data[key]
        if key == "name":
            clean[key] = _clean_name(value, errors)
        elif key == "kind":
            if value not in StageKind.values:
                errors["kind"] = [_("Choose open, won or lost.")]
            clean[key] = value
        elif key == "default_probability":
            clean[key] = _clean_probability(value, errors)
        elif key == "max_days":
            clean[key] = _clean_max_days(value, errors)
        else:
            clean[key] = (value or "").strip()
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _check_shape(pipeline: Pipeline) -> None:
    """Exactly one active won stage, at least one active lost stage, open stages first."""
    kinds = list(
        Stage.objects.filter(pipeline=pipeline, parent__isnull=True)
        .order_by("sort_order", "pk")
        .values_list("kind", "is_active")
    )
    active = [kind for kind, is_active in kinds if is_active]
    errors: list[str] = []
    if active.count(StageKind.WON) != 1:
        errors.append(_("A pipeline has exactly one active won stage."))
    if active.count(StageKind.LOST) < 1:
        errors.append(_("A pipeline needs at least one active lost stage."))
    seen_closed = False
    for kind, _is_active in kinds:
        if kind in CLOSED_KINDS:
            seen_closed = True
        elif seen_closed:
            errors.append(_("Open stages come before the won and lost stages."))
            break
    if errors:
        raise ValidationFailed(" ".join(errors), field_errors={"kind": errors})


def _renumber(stages: list[Stage]) -> None:
    """Give ``stages`` the sort orders 1, 2, 3… in list order (only rows that change)."""
    changed = []
    for index, stage in enumerate(stages, start=1):
        if stage.sort_order != index:
            stage.sort_order = index
            changed.append(stage)
    if changed:
        Stage.objects.bulk_update(changed, ["sort_order"])


def _partition(pipeline: Pipeline) -> None:
    """Keep the stages' order, but move every open stage before the won and lost ones."""
    stages = list(
        Stage.objects.filter(pipeline=pipeline, parent__isnull=True).order_by("sort_order", "pk")
    )
    stages.sort(key=lambda s: s.kind in CLOSED_KINDS)  # stable: relative order stays
    _renumber(stages)


def _unique_sibling_name(
    pipeline: Pipeline, parent: Stage | None, name: str, exclude: Stage | None = None
) -> None:
    qs = Stage.objects.filter(pipeline=pipeline, parent=parent, name=name)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    if qs.exists():
        message = (
            _("This stage already has a node with this name.")
            if parent is not None
            else _("This pipeline already has a stage with this name.")
        )
        raise ValidationFailed(field_errors={"name": [message]})


def _verb(stage: Stage, action: str) -> str:
    return f"{'node' if stage.is_node else 'stage'}.{action}"


def _next_order(qs: Any) -> int:
    return (qs.aggregate(m=Max("sort_order"))["m"] or 0) + 1


# --- pipelines -----------------------------------------------------------------------------------


def _closing_stage_names() -> tuple[str, str]:
    """The names of a new pipeline's won and lost stages, in the default language."""
    with translation.override(settings.LANGUAGE_CODE):
        return (
            str(pgettext_lazy("pipeline stage", "Won")),
            str(pgettext_lazy("pipeline stage", "Lost")),
        )


def _clean_pipeline_data(
    actor: User, data: dict[str, Any], pipeline: Pipeline | None
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for key in PIPELINE_FIELDS:
        if key not in data:
            continue
        value = data[key]
        if key == "name":
            clean[key] = _clean_name(value, errors)
        elif key in ("business_type", "description"):
            clean[key] = (value or "").strip()
        elif key == "sort_order":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                errors[key] = [_("Enter a whole number, 0 or more.")]
            clean[key] = value
        else:
            clean[key] = bool(value)
    if pipeline is None and "name" not in clean:
        errors["name"] = [_("Enter a name.")]
    business_type = clean.get("business_type")
    if business_type and not dictionaries.is_valid(
        actor.org_id,  # type: ignore[arg-type]
        DictionaryKind.BUSINESS_CATEGORY,
        business_type,
    ):
        errors["business_type"] = [_("Choose a value from the list.")]
    if clean.get("name") and "name" not in errors:
        taken = Pipeline.objects.filter(org_id=_org(actor), name=clean["name"])
        if pipeline is not None:
            taken = taken.exclude(pk=pipeline.pk)
        if taken.exists():
            errors["name"] = [_("A pipeline with this name exists.")]
    is_default = clean.get("is_default", pipeline.is_default if pipeline else False)
    is_active = clean.get("is_active", pipeline.is_active if pipeline else True)
    if pipeline is not None and pipeline.is_default and clean.get("is_default") is False:
        errors["is_default"] = [_("Make another pipeline the default instead.")]
    if is_default and not is_active:
        errors["is_active"] = [_("The default pipeline must stay active.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _make_default(pipeline: Pipeline) -> None:
    Pipeline.objects.filter(org_id=pipeline.org_id, is_default=True).exclude(pk=pipeline.pk).update(
        is_default=False
    )


@transaction.atomic
def save_pipeline(
    *, actor: User, pipeline: Pipeline | None = None, data: dict[str, Any]
) -> Pipeline:
    """Create a pipeline (``pipeline`` None) or change the given fields of one.

    ``data`` may hold name, business_type (a business-category value), description, is_active,
    is_default and sort_order. A new pipeline starts with a won and a lost stage; the first
    pipeline of an organisation becomes its default. Making a pipeline the default takes the
    flag from the previous one; the default cannot be deactivated or un-defaulted directly.
    Raises PermissionDenied, NotFound (another organisation's pipeline) or ValidationFailed.
    """
    require_configure(actor)
    _same_org(actor, pipeline)
    if pipeline is not None:
        pipeline.refresh_from_db(fields=["is_default", "is_active"])
    clean = _clean_pipeline_data(actor, data, pipeline)
    if pipeline is None:
        has_default = Pipeline.objects.filter(org_id=_org(actor), is_default=True).exists()
        if not has_default:
            clean["is_default"] = True
            clean["is_active"] = True
        if "sort_order" not in clean:
            clean["sort_order"] = _next_order(Pipeline.objects.filter(org_id=actor.org_id))
        if clean.get("is_default"):
            Pipeline.objects.filter(org_id=_org(actor), is_default=True).update(is_default=False)
        pipeline = Pipeline.objects.create(org_id=_org(actor), **clean)
        audit.record_created(actor=actor, obj=pipeline, verb="pipeline.created")
        won, lost = _closing_stage_names()
        for order, (name, kind, probability) in enumerate(
            [(won, StageKind.WON, 100), (lost, StageKind.LOST, 0)], start=1
        ):
            stage = Stage.objects.create(
                org_id=_org(actor),
                pipeline=pipeline,
                name=name,
                kind=kind,
                default_probability=probability,
                sort_order=order,
            )
            audit.record_created(actor=actor, obj=stage, verb="stage.created")
    else:
        before = audit.snapshot(pipeline)
        if clean.get("is_default") and not pipeline.is_default:
            _make_default(pipeline)
        for key, value in clean.items():
            setattr(pipeline, key, value)
        pipeline.save(update_fields=[*clean.keys(), "updated_at"])
        changes = audit.diff(before, audit.snapshot(pipeline))
        if changes:
            audit.record(actor=actor, obj=pipeline, verb="pipeline.updated", changes=changes)
    assert_in_scope(actor, pipeline, "view")
    return pipeline


@transaction.atomic
def copy_pipeline(*, actor: User, pipeline: Pipeline, name: str) -> Pipeline:
    """A new, non-default pipeline named ``name`` with the active stages and nodes of
    ``pipeline`` (names, kinds, probabilities, stalled days, guidance, order)."""
    require_configure(actor)
    _same_org(actor, pipeline)
    clean = _clean_pipeline_data(actor, {"name": name}, None)
    copy = Pipeline.objects.create(
        org_id=_org(actor),
        name=clean["name"],
        business_type=pipeline.business_type,
        description=pipeline.description,
        is_active=True,
        is_default=False,
        sort_order=_next_order(Pipeline.objects.filter(org_id=actor.org_id)),
    )
    stages = Stage.objects.filter(pipeline=pipeline, is_active=True).order_by("sort_order", "pk")
    tops = [s for s in stages if s.parent_id is None]
    copied: dict[int, Stage] = {}
    for source in tops + [s for s in stages if s.parent_id is not None]:
        if source.parent_id is not None and source.parent_id not in copied:
            continue  # a node of a retired stage
        copied[source.pk] = Stage.objects.create(
            org_id=_org(actor),
            pipeline=copy,
            parent=copied[source.parent_id] if source.parent_id else None,
            sort_order=source.sort_order,
            name=source.name,
            default_probability=source.default_probability,
            kind=source.kind,
            max_days=source.max_days,
            guidance=source.guidance,
        )
    values = {k: v for k, v in audit.snapshot(copy).items() if v not in (None, "", False)}
    audit.record(
        actor=actor,
        obj=copy,
        verb="pipeline.copied",
        changes=audit.diff({}, values),
        data={"source_id": pipeline.pk, "source": pipeline.name},
    )
    _check_shape(copy)
    assert_in_scope(actor, copy, "view")
    return copy


@transaction.atomic
def reorder_pipelines(*, actor: User, ids: list[int]) -> list[Pipeline]:
    """Put the organisation's pipelines in the order of ``ids`` (every pipeline exactly once)."""
    require_configure(actor)
    pipelines = {p.pk: p for p in Pipeline.objects.filter(org_id=actor.org_id)}
    if len(ids) != len(set(ids)) or set(ids) != set(pipelines):
        raise ValidationFailed(field_errors={"ids": [_("Give every pipeline exactly once.")]})
    result = []
    for index, pk in enumerate(ids, start=1):
        pipeline = pipelines[pk]
        if pipeline.sort_order != index:
            old = pipeline.sort_order
            pipeline.sort_order = index
            pipeline.save(update_fields=["sort_order", "updated_at"])
            audit.record(
                actor=actor,
                obj=pipeline,
                verb="pipeline.updated",
                changes={"sort_order": [old, index]},
            )
        result.append(pipeline)
    return result


# --- stages and nodes ----------------------------------------------------------------------------


@transaction.atomic
def add_stage(*, actor: User, pipeline: Pipeline, data: dict[str, Any]) -> Stage:
    """Add a stage to ``pipeline``: name, kind (default open), default_probability (default
    0, or 100 for a won stage), max_days, guidance. An open stage goes after the last open
    stage, a won or lost stage at the end. Raises ValidationFailed when a rule would break."""
    require_configure(actor)
    _same_org(actor, pipeline)
    data = {"kind": StageKind.OPEN, **data}
    if "default_probability" not in data:
        data["default_probability"] = 100 if data["kind"] == StageKind.WON else 0
    if "name" not in data:
        data["name"] = ""
    clean = _clean_stage_data(data)
    if clean["kind"] in CLOSED_KINDS:
        clean["max_days"] = None  # won and lost stages never stall
    _unique_sibling_name(pipeline, None, clean["name"])
    stage = Stage.objects.create(
        org_id=_org(actor),
        pipeline=pipeline,
        sort_order=_next_order(Stage.objects.filter(pipeline=pipeline, parent__isnull=True)),
        **clean,
    )
    _partition(pipeline)
    _check_shape(pipeline)
    stage.refresh_from_db()
    audit.record_created(actor=actor, obj=stage, verb="stage.created")
    assert_in_scope(actor, stage, "view")
    return stage


@transaction.atomic
def add_node(*, actor: User, stage: Stage, data: dict[str, Any]) -> Stage:
    """Add a node (sub-step) at the end of an open stage: name, guidance, and optionally
    default_probability (default: the stage's) and max_days."""
    require_configure(actor)
    _same_org(actor, stage)
    if stage.is_node:
        raise ValidationFailed(field_errors={"parent": [_("A node cannot have nodes of its own.")]})
    if stage.kind != StageKind.OPEN:
        raise ValidationFailed(
            field_errors={"parent": [_("Only open stages have nodes.")]},
        )
    data = {"name": "", "default_probability": stage.default_probability, **data}
    data.pop("kind", None)
    clean = _clean_stage_data(data)
    _unique_sibling_name(stage.pipeline, stage, clean["name"])
    node = Stage.objects.create(
        org_id=_org(actor),
        pipeline=stage.pipeline,
        parent=stage,
        kind=StageKind.OPEN,
        sort_order=_next_order(Stage.objects.filter(parent=stage)),
        **clean,
    )
    audit.record_created(actor=actor, obj=node, verb="node.created")
    assert_in_scope(actor, node, "view")
    return node


@transaction.atomic
def update_stage(*, actor: User, stage: Stage, data: dict[str, Any]) -> Stage:
    """Change the given fields of a stage or node (name, kind, default_probability, max_days,
    guidance). A node stays open; a stage with nodes stays open; a stage whose kind changes
    moves to keep open stages before won and lost ones. Raises ValidationFailed."""
    require_configure(actor)
    _same_org(actor, stage)
    clean = _clean_stage_data(data)
    kind = clean.get("kind", stage.kind)
    if stage.is_node and kind != StageKind.OPEN:
        raise ValidationFailed(field_errors={"kind": [_("Nodes are always open.")]})
    if kind in CLOSED_KINDS and Stage.objects.filter(parent=stage).exists():
        raise ValidationFailed(
            field_errors={"kind": [_("Only open stages have nodes: delete its nodes first.")]}
        )
    if kind in CLOSED_KINDS and not stage.is_node:
        clean["max_days"] = None
    if "name" in clean:
        _unique_sibling_name(stage.pipeline, stage.parent, clean["name"], exclude=stage)
    before = audit.snapshot(stage)
    original = {key: getattr(stage, key) for key in clean}
    for key, value in clean.items():
        setattr(stage, key, value)
    try:
        stage.save(update_fields=[*clean.keys(), "updated_at"])
        if not stage.is_node and "kind" in clean:
            _partition(stage.pipeline)
            _check_shape(stage.pipeline)
            stage.refresh_from_db()
            if original["kind"] != stage.kind:
                stages_changed(stage.org_id, stage.pipeline_id)
    except ValidationFailed:
        for key, value in original.items():  # the caller's instance stays as stored
            setattr(stage, key, value)
        raise
    changes = audit.diff(before, audit.snapshot(stage))
    changes.pop("sort_order", None)
    if changes:
        audit.record(actor=actor, obj=stage, verb=_verb(stage, "updated"), changes=changes)
    assert_in_scope(actor, stage, "view")
    return stage


@transaction.atomic
def reorder_stages(
    *, actor: User, pipeline: Pipeline, ids: list[int], parent: Stage | None = None
) -> list[Stage]:
    """Put the stages of ``pipeline`` (or the nodes of ``parent``) in the order of ``ids``:
    every one of them exactly once, retired ones included. Open stages must come before the
    won and lost ones."""
    require_configure(actor)
    _same_org(actor, pipeline, parent)
    if parent is not None and parent.pipeline_id != pipeline.pk:
        raise NotFound()
    siblings = {s.pk: s for s in Stage.objects.filter(pipeline=pipeline, parent=parent)}
    if len(ids) != len(set(ids)) or set(ids) != set(siblings):
        message = (
            _("Give every node of the stage exactly once.")
            if parent is not None
            else _("Give every stage of the pipeline exactly once.")
        )
        raise ValidationFailed(field_errors={"ids": [message]})
    before = [s.pk for s in sorted(siblings.values(), key=lambda s: (s.sort_order, s.pk))]
    ordered = [siblings[pk] for pk in ids]
    _renumber(ordered)
    if parent is None:
        _check_shape(pipeline)
    if before != ids:
        if parent is None:
            stages_changed(pipeline.org_id, pipeline.pk)
        target: Pipeline | Stage = parent if parent is not None else pipeline
        audit.record(
            actor=actor,
            obj=target,
            verb="node.reordered" if parent is not None else "stage.reordered",
            changes={"nodes" if parent is not None else "stages": [before, list(ids)]},
        )
    return ordered


def move_stage(*, actor: User, stage: Stage, offset: int) -> list[Stage]:
    """Move a stage or node ``offset`` places among its siblings (-1 up, +1 down)."""
    siblings = list(
        Stage.objects.filter(pipeline_id=stage.pipeline_id, parent_id=stage.parent_id)
        .order_by("sort_order", "pk")
        .values_list("pk", flat=True)
    )
    index = siblings.index(stage.pk)
    target = min(max(index + offset, 0), len(siblings) - 1)
    siblings.insert(target, siblings.pop(index))
    return reorder_stages(actor=actor, pipeline=stage.pipeline, ids=siblings, parent=stage.parent)


@transaction.atomic
def retire_stage(*, actor: User, stage: Stage) -> Stage:
    """Stop offering a stage or node; it stays for the history of the records that passed it.
    A pipeline keeps one active won and one active lost stage, so those cannot be retired alone."""
    return _set_stage_active(actor, stage, False)


@transaction.atomic
def restore_stage(*, actor: User, stage: Stage) -> Stage:
    """Offer a retired stage or node again (the pipeline's rules must still hold)."""
    return _set_stage_active(actor, stage, True)


def _set_stage_active(actor: User, stage: Stage, active: bool) -> Stage:
    require_configure(actor)
    _same_org(actor, stage)
    if stage.is_active == active:
        return stage
    Stage.objects.filter(pk=stage.pk).update(is_active=active, updated_at=timezone.now())
    if not stage.is_node:
        _check_shape(stage.pipeline)
    stage.is_active = active
    audit.record(
        actor=actor,
        obj=stage,
        verb=_verb(stage, "restored" if active else "retired"),
        changes={"is_active": [not active, active]},
    )
    assert_in_scope(actor, stage, "view")
    return stage


@transaction.atomic
def delete_stage(*, actor: User, stage: Stage) -> None:
    """Delete a stage (with its nodes) or a node that no record uses.

    Raises Conflict when a ``stage_in_use`` hook reports the stage or one of its nodes in use
    (retire it instead), ValidationFailed when the pipeline would lose its won or lost stage.
    """
    require_configure(actor)
    _same_org(actor, stage)
    family = [stage, *Stage.objects.filter(parent=stage)]
    if any(stage_in_use(s) for s in family):
        raise Conflict(_("Opportunities use this stage, so it cannot be deleted: retire it."))
    pipeline = stage.pipeline
    audit.record(
        actor=actor,
        obj=stage.parent if stage.is_node else pipeline,  # type: ignore[arg-type]
        verb=_verb(stage, "deleted"),
        changes={"name": [stage.name, None]},
        data={"stage_id": stage.pk},
    )
    Stage.objects.filter(pk=stage.pk).delete()  # the caller's instance keeps its id
    if not stage.is_node:
        _check_shape(pipeline)
        _partition(pipeline)
    else:
        assert stage.parent is not None
        _renumber(list(Stage.objects.filter(parent=stage.parent).order_by("sort_order", "pk")))


# --- templates (organisation initializer) --------------------------------------------------------


def _install_template(org_id: int, template: PipelineTemplate, order: int, default: bool) -> None:
    pipeline = Pipeline.objects.create(
        org_id=org_id,
        name=str(template.name),
        business_type=template.business_type,
        description=str(template.description),
        is_default=default,
        sort_order=order,
    )
    for stage_order, item in enumerate(template.stages, start=1):
        stage = Stage.objects.create(
            org_id=org_id,
            pipeline=pipeline,
            sort_order=stage_order,
            name=str(item.name),
            default_probability=item.probability,
            kind=item.kind,
            max_days=item.max_days,
            guidance=str(item.guidance),
        )
        Stage.objects.bulk_create(
            [
                Stage(
                    org_id=org_id,
                    pipeline=pipeline,
                    parent=stage,
                    sort_order=node_order,
                    name=str(node.name),
                    default_probability=item.probability,
                    kind=StageKind.OPEN,
                )
                for node_order, node in enumerate(item.nodes, start=1)
            ]
        )


def install_pipeline_templates(
    org_id: int, templates: Iterable[PipelineTemplate] = TEMPLATES
) -> None:
    """Install the template pipelines the organisation does not have yet (by name), in the
    default language (CRM_LANGUAGE). The first template becomes the default pipeline when the
    organisation has none."""
    with translation.override(settings.LANGUAGE_CODE):
        existing = set(Pipeline.objects.filter(org_id=org_id).values_list("name", flat=True))
        has_default = Pipeline.objects.filter(org_id=org_id, is_default=True).exists()
        order = _next_order(Pipeline.objects.filter(org_id=org_id))
        for template in templates:
            if str(template.name) in existing:
                continue
            default = template.is_default and not has_default
            _install_template(org_id, template, order, default)
            has_default = has_default or default
            order += 1


def initialize_org(org: Any, admin: Any = None) -> None:
    """Organisation initializer: the default dictionaries, then the template pipelines."""
    dictionaries.install_defaults(org.pk)
    install_pipeline_templates(org.pk)


# --- dictionaries --------------------------------------------------------------------------------


def _clean_kind(kind: str) -> str:
    if kind not in DictionaryKind.values:
        raise ValidationFailed(field_errors={"kind": [_("Choose a list.")]})
    return kind


def _clean_label(actor: User, kind: str, label: Any, exclude: DictionaryItem | None) -> str:
    errors: dict[str, list[str]] = {}
    text = _clean_name(label, errors, "label")
    if not errors:
        taken = DictionaryItem.objects.filter(org_id=_org(actor), kind=kind, label=text)
        if exclude is not None:
            taken = taken.exclude(pk=exclude.pk)
        if taken.exists():
            errors["label"] = [_("This list already has an item with this label.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return text


def _new_value(actor: User, kind: str, label: str, value: str) -> str:
    """The value of a new item: the given one (checked) or one derived from the label."""
    items = DictionaryItem.objects.filter(org_id=_org(actor), kind=kind)
    value = (value or "").strip()
    if kind == DictionaryKind.FEEDBACK_CYCLE:
        if dictionaries.feedback_cycle_days(value) is None:
            raise ValidationFailed(
                field_errors={
                    "value": [_("Enter the number of days followed by “d”, for example 10d.")]
                }
            )
    elif value and (len(value) > 60 or not VALUE_PATTERN.match(value)):
        raise ValidationFailed(
            field_errors={
                "value": [
                    _("Use lowercase letters, digits and underscores (at most 60 characters).")
                ]
            }
        )
    if value:
        if items.filter(value=value).exists():
            raise ValidationFailed(
                field_errors={"value": [_("This list already has an item with this value.")]}
            )
        return value
    base = slugify(label).replace("-", "_")[:50] or "item"
    taken = set(items.values_list("value", flat=True))
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    return candidate


@transaction.atomic
def add_dictionary_item(*, actor: User, kind: str, label: str, value: str = "") -> DictionaryItem:
    """Add an item at the end of the list ``kind``. ``value`` is what records store and never
    changes; left empty it is derived from the label. Feedback-cycle values are days followed by
    “d” (``10d``). Raises ValidationFailed for an unknown list, a taken label or value."""
    require_configure(actor)
    kind = _clean_kind(kind)
    text = _clean_label(actor, kind, label, None)
    item = DictionaryItem.objects.create(
        org_id=_org(actor),
        kind=kind,
        value=_new_value(actor, kind, text, value),
        label=text,
        sort_order=_next_order(DictionaryItem.objects.filter(org_id=_org(actor), kind=kind)),
    )
    audit.record_created(actor=actor, obj=item, verb="dictionary.item_added")
    assert_in_scope(actor, item, "view")
    return item


@transaction.atomic
def rename_dictionary_item(*, actor: User, item: DictionaryItem, label: str) -> DictionaryItem:
    """Change an item's label (records keep its value, so they show the new label)."""
    require_configure(actor)
    _same_org(actor, item)
    text = _clean_label(actor, item.kind, label, item)
    if text != item.label:
        old = item.label
        item.label = text
        item.save(update_fields=["label", "updated_at"])
        audit.record(
            actor=actor,
            obj=item,
            verb="dictionary.item_renamed",
            changes={"label": [old, text]},
        )
    return item


@transaction.atomic
def reorder_dictionary_items(*, actor: User, kind: str, ids: list[int]) -> list[DictionaryItem]:
    """Put the items of the list ``kind`` in the order of ``ids`` (every item exactly once)."""
    require_configure(actor)
    kind = _clean_kind(kind)
    items = {i.pk: i for i in DictionaryItem.objects.filter(org_id=_org(actor), kind=kind)}
    if len(ids) != len(set(ids)) or set(ids) != set(items):
        raise ValidationFailed(
            field_errors={"ids": [_("Give every item of the list exactly once.")]}
        )
    ordered = [items[pk] for pk in ids]
    for index, item in enumerate(ordered, start=1):
        if item.sort_order != index:
            old = item.sort_order
            item.sort_order = index
            item.save(update_fields=["sort_order", "updated_at"])
            audit.record(
                actor=actor,
                obj=item,
                verb="dictionary.item_moved",
                changes={"sort_order": [old, index]},
            )
    return ordered


def move_dictionary_item(*, actor: User, item: DictionaryItem, offset: int) -> list[DictionaryItem]:
    """Move an item ``offset`` places in its list (-1 up, +1 down)."""
    ids = list(
        DictionaryItem.objects.filter(org_id=item.org_id, kind=item.kind)
        .order_by("sort_order", "pk")
        .values_list("pk", flat=True)
    )
    index = ids.index(item.pk)
    target = min(max(index + offset, 0), len(ids) - 1)
    ids.insert(target, ids.pop(index))
    return reorder_dictionary_items(actor=actor, kind=item.kind, ids=ids)


@transaction.atomic
def set_dictionary_item_active(
    *, actor: User, item: DictionaryItem, is_active: bool
) -> DictionaryItem:
    """Stop offering an item (records that store it still show its label) or offer it again."""
    require_configure(actor)
    _same_org(actor, item)
    if item.is_active != is_active:
        item.is_active = is_active
        item.save(update_fields=["is_active", "updated_at"])
        audit.record(
            actor=actor,
            obj=item,
            verb="dictionary.item_reactivated" if is_active else "dictionary.item_deactivated",
            changes={"is_active": [not is_active, is_active]},
        )
    return item


def deactivate_dictionary_item(*, actor: User, item: DictionaryItem) -> DictionaryItem:
    """Stop offering ``item`` in forms (see set_dictionary_item_active)."""
    return set_dictionary_item_active(actor=actor, item=item, is_active=False)


def reactivate_dictionary_item(*, actor: User, item: DictionaryItem) -> DictionaryItem:
    """Offer ``item`` in forms again (see set_dictionary_item_active)."""
    return set_dictionary_item_active(actor=actor, item=item, is_active=True)
