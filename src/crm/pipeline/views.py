"""Settings pages of pipelines, stage trees and dictionaries (R4.4, R4.5).

Every page needs login and ``opportunities:configure`` or ``settings:configure`` (else 403);
records are fetched with ``get_scoped_or_404`` (another organisation's ids answer 404). Views
parse input, call one service and redirect with a flash message; service errors are shown on the
form or as a flash message.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm.core.errors import DomainError
from crm.core.forms import apply_domain_error, error_text, raise_unless_form_error
from crm.core.scoping import get_scoped_or_404

from . import dictionaries, selectors, services
from .choices import STAGE_KIND_COLORS
from .forms import CopyPipelineForm, DictionaryItemForm, PipelineForm, RenameItemForm, StageForm
from .models import DictionaryItem, DictionaryKind, Pipeline, Stage

SETTINGS = gettext_lazy("Settings")
PIPELINES = gettext_lazy("Pipelines and stages")
DICTIONARIES = gettext_lazy("Dictionaries")
OFFSETS = {"up": -1, "down": 1}


def _configurer(request: HttpRequest) -> Any:
    """The request's user, once known to hold a configure permission (else 403)."""
    services.require_configure(request.user)  # type: ignore[arg-type]
    return request.user


def _crumbs(*extra: tuple[Any, str | None]) -> list[tuple[Any, str | None]]:
    return [(SETTINGS, None), (PIPELINES, reverse("pipeline:pipeline_list")), *extra]


def _pipeline(request: HttpRequest, pk: int) -> Pipeline:
    pipeline: Pipeline = get_scoped_or_404(Pipeline, request.user, pk)
    return pipeline


def _stage(request: HttpRequest, pk: int) -> Stage:
    stage: Stage = get_scoped_or_404(
        Stage.objects.visible_to(request.user).select_related("pipeline", "parent"),
        request.user,
        pk,
    )
    return stage


def _business_labels(actor: Any) -> dict[str, str]:
    return dict(
        dictionaries.choices(actor.org_id, DictionaryKind.BUSINESS_CATEGORY, include_inactive=True)
    )


# --- pipelines -----------------------------------------------------------------------------------
@login_required
def pipeline_list(request: HttpRequest) -> HttpResponse:
    """Every pipeline with its stages at a glance."""
    actor = _configurer(request)
    pipelines = list(selectors.pipelines_for(actor))
    trees = selectors.trees_for(actor, pipelines)
    labels = _business_labels(actor)
    for pipeline in pipelines:
        active = [s for s in trees[pipeline.pk] if s.is_active]
        nodes = [n for s in active for n in s.node_list if n.is_active]  # type: ignore[attr-defined]
        pipeline.stage_list = active  # type: ignore[attr-defined]
        pipeline.node_count = len(nodes)  # type: ignore[attr-defined]
        pipeline.business_label = labels.get(  # type: ignore[attr-defined]
            pipeline.business_type, pipeline.business_type
        )
    return render(
        request,
        "pipeline/pipeline_list.html",
        {"pipelines": pipelines, "crumbs": [(SETTINGS, None), (PIPELINES, None)]},
    )


def _pipeline_form_page(request: HttpRequest, pipeline: Pipeline | None) -> HttpResponse:
    actor = _configurer(request)
    current = pipeline.business_type if pipeline else ""
    if request.method == "POST":
        form = PipelineForm(request.POST, org_id=actor.org_id, current=current)
        if form.is_valid():
            try:
                saved = services.save_pipeline(
                    actor=actor, pipeline=pipeline, data=dict(form.cleaned_data)
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request, _("Pipeline “%(name)s” was saved.") % {"name": saved.name}
                )
                return redirect("pipeline:pipeline_detail", pk=saved.pk)
    else:
        initial = (
            {
                "name": pipeline.name,
                "business_type": pipeline.business_type,
                "description": pipeline.description,
                "is_active": pipeline.is_active,
                "is_default": pipeline.is_default,
            }
            if pipeline
            else {"is_active": True}
        )
        form = PipelineForm(org_id=actor.org_id, current=current, initial=initial)
    title = _("Edit pipeline") if pipeline else _("New pipeline")
    crumbs = (
        _crumbs(
            (pipeline.name, reverse("pipeline:pipeline_detail", args=[pipeline.pk])),
            (_("Edit"), None),
        )
        if pipeline
        else _crumbs((title, None))
    )
    return render(
        request,
        "pipeline/pipeline_form.html",
        {"form": form, "pipeline": pipeline, "title": title, "crumbs": crumbs},
    )


@login_required
def pipeline_create(request: HttpRequest) -> HttpResponse:
    """Add a pipeline (it starts with a won and a lost stage)."""
    return _pipeline_form_page(request, None)


@login_required
def pipeline_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename a pipeline, set its business type, make it the default, deactivate it."""
    _configurer(request)
    return _pipeline_form_page(request, _pipeline(request, pk))


@login_required
def pipeline_copy(request: HttpRequest, pk: int) -> HttpResponse:
    """Start a new pipeline from the active stages and nodes of this one."""
    actor = _configurer(request)
    pipeline = _pipeline(request, pk)
    if request.method == "POST":
        form = CopyPipelineForm(request.POST)
        if form.is_valid():
            try:
                copy = services.copy_pipeline(
                    actor=actor, pipeline=pipeline, name=form.cleaned_data["name"]
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request, _("Pipeline “%(name)s” was created.") % {"name": copy.name}
                )
                return redirect("pipeline:pipeline_detail", pk=copy.pk)
    else:
        form = CopyPipelineForm(initial={"name": _("%(name)s (copy)") % {"name": pipeline.name}})
    return render(
        request,
        "pipeline/pipeline_copy.html",
        {
            "form": form,
            "pipeline": pipeline,
            "crumbs": _crumbs(
                (pipeline.name, reverse("pipeline:pipeline_detail", args=[pipeline.pk])),
                (_("Copy"), None),
            ),
        },
    )


@login_required
def pipeline_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The stage tree of a pipeline: stages and nodes in order, with kind, probability,
    days before stalled and guidance, and the actions on each; then the history."""
    actor = _configurer(request)
    pipeline = _pipeline(request, pk)
    stages = selectors.stage_tree(actor, pipeline)
    for stage in stages:
        stage.kind_color = STAGE_KIND_COLORS.get(stage.kind, "secondary")  # type: ignore[attr-defined]
    return render(
        request,
        "pipeline/pipeline_detail.html",
        {
            "pipeline": pipeline,
            "stages": stages,
            "business_label": _business_labels(actor).get(
                pipeline.business_type, pipeline.business_type
            ),
            "history": selectors.pipeline_history(pipeline)[:100],
            "crumbs": _crumbs((pipeline.name, None)),
        },
    )


# --- stages and nodes ----------------------------------------------------------------------------
def _stage_data(form: StageForm) -> dict[str, Any]:
    return dict(form.cleaned_data)


@login_required
def stage_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a stage to a pipeline, or (``?parent=<stage id>``) a node to one of its stages."""
    actor = _configurer(request)
    pipeline = _pipeline(request, pk)
    parent_id = request.POST.get("parent") or request.GET.get("parent")
    parent = _stage(request, int(parent_id)) if parent_id and parent_id.isdigit() else None
    if parent is not None and parent.pipeline_id != pipeline.pk:
        raise Http404
    node = parent is not None
    if request.method == "POST":
        form = StageForm(request.POST, node=node)
        if form.is_valid():
            try:
                if parent is not None:
                    stage = services.add_node(actor=actor, stage=parent, data=_stage_data(form))
                else:
                    stage = services.add_stage(
                        actor=actor, pipeline=pipeline, data=_stage_data(form)
                    )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(request, _("“%(name)s” was added.") % {"name": stage.name})
                return redirect(
                    reverse("pipeline:pipeline_detail", args=[pipeline.pk]) + f"#stage-{stage.pk}"
                )
    else:
        initial = {"default_probability": parent.default_probability if parent else 0}
        form = StageForm(node=node, initial=initial)
    title = _("New node of “%(stage)s”") % {"stage": parent.name} if parent else _("New stage")
    return render(
        request,
        "pipeline/stage_form.html",
        {
            "form": form,
            "pipeline": pipeline,
            "parent": parent,
            "stage": None,
            "title": title,
            "crumbs": _crumbs(
                (pipeline.name, reverse("pipeline:pipeline_detail", args=[pipeline.pk])),
                (title, None),
            ),
        },
    )


@login_required
def stage_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a stage's or node's name, kind, probability, days before stalled and guidance."""
    actor = _configurer(request)
    stage = _stage(request, pk)
    pipeline = stage.pipeline
    if request.method == "POST":
        form = StageForm(request.POST, node=stage.is_node)
        if form.is_valid():
            try:
                services.update_stage(actor=actor, stage=stage, data=_stage_data(form))
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(request, _("“%(name)s” was saved.") % {"name": stage.name})
                return redirect(
                    reverse("pipeline:pipeline_detail", args=[pipeline.pk]) + f"#stage-{stage.pk}"
                )
    else:
        form = StageForm(
            node=stage.is_node,
            initial={
                "name": stage.name,
                "kind": stage.kind,
                "default_probability": stage.default_probability,
                "max_days": stage.max_days,
                "guidance": stage.guidance,
            },
        )
    title = _("Edit “%(name)s”") % {"name": stage.name}
    return render(
        request,
        "pipeline/stage_form.html",
        {
            "form": form,
            "pipeline": pipeline,
            "parent": stage.parent,
            "stage": stage,
            "title": title,
            "crumbs": _crumbs(
                (pipeline.name, reverse("pipeline:pipeline_detail", args=[pipeline.pk])),
                (title, None),
            ),
        },
    )


def _stage_action(request: HttpRequest, pk: int, action: str, success: str) -> HttpResponse:
    actor = _configurer(request)
    stage = _stage(request, pk)
    target = reverse("pipeline:pipeline_detail", args=[stage.pipeline_id])
    try:
        if action == "retire":
            services.retire_stage(actor=actor, stage=stage)
        elif action == "restore":
            services.restore_stage(actor=actor, stage=stage)
        elif action == "delete":
            services.delete_stage(actor=actor, stage=stage)
        else:
            services.move_stage(actor=actor, stage=stage, offset=OFFSETS[action])
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
    else:
        if success:
            messages.success(request, success % {"name": stage.name})
        if action != "delete":
            target += f"#stage-{stage.pk}"
    return redirect(target)


@login_required
@require_POST
def stage_move(request: HttpRequest, pk: int, direction: str) -> HttpResponse:
    """Move a stage or node one place up or down among its siblings."""
    if direction not in OFFSETS:
        raise Http404
    return _stage_action(request, pk, direction, "")


@login_required
@require_POST
def stage_retire(request: HttpRequest, pk: int) -> HttpResponse:
    """Retire a stage or node: no longer offered, kept for history."""
    return _stage_action(request, pk, "retire", _("“%(name)s” was retired."))


@login_required
@require_POST
def stage_restore(request: HttpRequest, pk: int) -> HttpResponse:
    """Offer a retired stage or node again."""
    return _stage_action(request, pk, "restore", _("“%(name)s” was restored."))


@login_required
@require_POST
def stage_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a stage (with its nodes) or node that no opportunity uses."""
    return _stage_action(request, pk, "delete", _("“%(name)s” was deleted."))


# --- dictionaries --------------------------------------------------------------------------------
def _dictionary_url(kind: str) -> str:
    return reverse("pipeline:dictionary_list") + f"?kind={kind}"


@login_required
def dictionary_list(request: HttpRequest) -> HttpResponse:
    """One tab per list; the chosen list's items with their actions, and a form to add one."""
    actor = _configurer(request)
    kinds = selectors.dictionary_kinds()
    kind = request.POST.get("kind") or request.GET.get("kind") or kinds[0][0]
    if kind not in DictionaryKind.values:
        raise Http404
    if request.method == "POST":
        form = DictionaryItemForm(request.POST)
        if form.is_valid():
            try:
                item = services.add_dictionary_item(
                    actor=actor,
                    kind=kind,
                    label=form.cleaned_data["label"],
                    value=form.cleaned_data["value"],
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(request, _("“%(label)s” was added.") % {"label": item.label})
                return redirect(_dictionary_url(kind))
    else:
        form = DictionaryItemForm()
    return render(
        request,
        "pipeline/dictionary_list.html",
        {
            "kinds": kinds,
            "kind": kind,
            "kind_label": DictionaryKind(kind).label,
            "items": selectors.dictionary_items(actor, kind),
            "form": form,
            "crumbs": [(SETTINGS, None), (DICTIONARIES, None)],
        },
    )


@login_required
def dictionary_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename an item (its stored value stays)."""
    actor = _configurer(request)
    item: DictionaryItem = get_scoped_or_404(DictionaryItem, actor, pk)
    if request.method == "POST":
        form = RenameItemForm(request.POST)
        if form.is_valid():
            try:
                services.rename_dictionary_item(
                    actor=actor, item=item, label=form.cleaned_data["label"]
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(request, _("“%(label)s” was saved.") % {"label": item.label})
                return redirect(_dictionary_url(item.kind))
    else:
        form = RenameItemForm(initial={"label": item.label})
    kind_label = DictionaryKind(item.kind).label
    return render(
        request,
        "pipeline/dictionary_edit.html",
        {
            "form": form,
            "item": item,
            "kind_label": kind_label,
            "crumbs": [
                (SETTINGS, None),
                (DICTIONARIES, reverse("pipeline:dictionary_list")),
                (kind_label, _dictionary_url(item.kind)),
                (item.label, None),
            ],
        },
    )


def _item_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    actor = _configurer(request)
    item: DictionaryItem = get_scoped_or_404(DictionaryItem, actor, pk)
    try:
        if action == "deactivate":
            services.deactivate_dictionary_item(actor=actor, item=item)
            messages.success(
                request, _("“%(label)s” is no longer offered.") % {"label": item.label}
            )
        elif action == "reactivate":
            services.reactivate_dictionary_item(actor=actor, item=item)
            messages.success(request, _("“%(label)s” is offered again.") % {"label": item.label})
        else:
            services.move_dictionary_item(actor=actor, item=item, offset=OFFSETS[action])
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
    return redirect(_dictionary_url(item.kind))


@login_required
@require_POST
def dictionary_move(request: HttpRequest, pk: int, direction: str) -> HttpResponse:
    """Move an item one place up or down in its list."""
    if direction not in OFFSETS:
        raise Http404
    return _item_action(request, pk, direction)


@login_required
@require_POST
def dictionary_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop offering an item; records that store it keep showing its label."""
    return _item_action(request, pk, "deactivate")


@login_required
@require_POST
def dictionary_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """Offer a deactivated item again."""
    return _item_action(request, pk, "reactivate")
