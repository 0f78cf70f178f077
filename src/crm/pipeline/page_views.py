"""Pages of opportunities (R4.1–R4.3, R4.7–R4.8): the create and edit form, the opportunity page
(stage path with nodes and guidance, facts, follow-up blocks, product lines, stage history, the
sections other modules register for ``pipeline.opportunity`` and the history), and one POST
action per change of stage or status.

Every read goes through ``visible_to`` / ``get_scoped_or_404`` (another organisation's and
out-of-scope ids answer 404, also on every action); a missing permission answers 403; every
write is one call of ``crm.pipeline.opportunities``, whose errors are shown on the form or as a
flash message. Buttons only appear for what the user may do; the services decide anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import BooleanField, Exists, OuterRef, Value
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm.core import confidential_forms
from crm.core.errors import Conflict, DomainError, ValidationFailed
from crm.core.forms import error_text, raise_unless_form_error
from crm.core.locking import EditConflict
from crm.core.money import money
from crm.core.record_sections import page_sections, sections_response
from crm.core.rights import may, with_rights
from crm.core.scoping import get_scoped_or_404
from crm.core.views import require_perm
from crm.customers.selectors import active_customers
from crm.org.models import User

from . import dictionaries, opportunities
from .choices import (
    OPEN_STATUSES,
    STAGE_KIND_COLORS,
    STATUS_COLORS,
    OpportunityStatus,
    StageKind,
)
from .models import DictionaryKind, Opportunity, OpportunityLine, StageHistory
from .opportunities import DICTIONARY_FIELDS
from .opportunity_forms import (
    AbandonForm,
    LoseForm,
    MoveForm,
    NoteForm,
    OpportunityForm,
    ReopenForm,
    TransferForm,
    WinForm,
    default_feedback_cycle,
    form_errors_text,
    line_rows,
    opportunity_initial,
    posted_lines,
    product_choices,
)
from .selectors import stages_for

OPPORTUNITIES = gettext_lazy("Opportunities")
#: the model label other modules register their sections of the opportunity page under
SECTIONS = "pipeline.opportunity"


# --- helpers ------------------------------------------------------------------------------------
def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _url(name: str, *args: Any) -> str | None:
    """The address of a page another module provides, or None while it has not landed."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _crumbs(*items: tuple[Any, str | None]) -> list[tuple[Any, str | None]]:
    return [(OPPORTUNITIES, _url("opportunities:list")), *items]


def _read(me: User) -> Any:
    """Opportunities ``me`` may see, with what their pages show."""
    return Opportunity.objects.visible_to(me).select_related(
        "customer",
        "contact",
        "owner",
        "owner__department",
        "pipeline",
        "stage",
        "node",
        "last_followup_contact",
        "last_followup_by",
        "next_followup_collaborator",
    )


def _may(me: User, opportunity: Opportunity, action: str) -> bool:
    """May ``me`` ``action`` this opportunity (the permission and the data scope)? Answered
    from the opportunity when the page read it with ``me``'s rights."""
    return me.can("opportunities", action) and may(me, opportunity, action)


#: what the opportunity page asks about the viewer's rights on the opportunity
PAGE_RIGHTS = ("edit", "transfer", "delete")


def _page_read(me: User) -> Any:
    """:func:`_read` with what the page needs to know besides: the viewer's rights on the
    opportunity and whether they see its customer (EXISTS through ``visible_to``), so that
    the page and its sections ask no more queries for them (R11.2)."""
    qs = with_rights(_read(me), me, PAGE_RIGHTS)
    if me.can("customers", "view"):
        return qs.annotate(
            customer_open=Exists(active_customers(me).filter(pk=OuterRef("customer_id")))
        )
    return qs.annotate(customer_open=Value(False, output_field=BooleanField()))


def _lines(me: User, opportunity: Opportunity) -> list[OpportunityLine]:
    return list(
        OpportunityLine.objects.visible_to(me)
        .filter(opportunity=opportunity)
        .order_by("sort_order", "pk")
    )


def _error_message(exc: DomainError) -> str:
    """A refused action as one flash message; a conflict says what changed as well."""
    if isinstance(exc, Conflict) and exc.field_errors:
        return f"{exc.message} {error_text(exc)}"
    return error_text(exc)


def _after_leaving(me: User, opportunity: Opportunity) -> str:
    """Where to go once the opportunity is gone or out of sight: its customer, else the list."""
    if (
        me.can("customers", "view")
        and active_customers(me).filter(pk=opportunity.customer_id).exists()
    ):
        return reverse("customers:detail", args=[opportunity.customer_id])
    return _url("opportunities:list") or reverse("core:home")


# --- create and edit ----------------------------------------------------------------------------
def _form_page(
    request: HttpRequest,
    form: OpportunityForm,
    opportunity: Opportunity | None,
    lines: list[dict[str, str]],
) -> HttpResponse:
    me = _me(request)
    assert me.org_id is not None
    if opportunity is not None:
        crumbs = _crumbs(
            (opportunity.name, reverse("opportunities:detail", args=[opportunity.pk])),
            (_("Edit"), None),
        )
    else:
        crumbs = _crumbs((_("New opportunity"), None))
    return render(
        request,
        "pipeline/opportunity/form.html",
        {
            "form": form,
            "opportunity": opportunity,
            "with_contacts": "contact" in form.fields,
            "lines": lines,
            "products": product_choices(me.org_id, lines),
            "customers_url": reverse("api:list_customers"),
            "contacts_url": reverse("api:list_contacts"),
            "crumbs": crumbs,
        },
    )


def _create_initial(me: User, customer: Any) -> dict[str, Any]:
    assert me.org_id is not None
    initial: dict[str, Any] = {"feedback_cycle": default_feedback_cycle(me.org_id)}
    if customer is not None:
        initial["customer"] = customer.pk
    try:
        pipeline = opportunities.default_pipeline(me.org_id)
        stage = opportunities.first_stage(pipeline)
    except ValidationFailed:
        return initial
    initial.update(pipeline=pipeline.pk, stage=stage.pk, probability=stage.default_probability)
    return initial


@login_required
def opportunity_create(request: HttpRequest) -> HttpResponse:
    """A new opportunity (R4.1), owned by its creator; ``?customer=<id>`` chooses the customer
    (an id the user may not see is ignored, like one that does not exist)."""
    require_perm(request, "opportunities", "create")
    me = _me(request)
    if request.method == "POST":
        form = OpportunityForm(request.POST, user=me)
        confidential_forms.attach(form, me)
        lines = posted_lines(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    opportunity = opportunities.create_opportunity(
                        actor=me,
                        customer=data["customer"],
                        data=form.service_data(lines),
                        pipeline=data["pipeline"],
                        stage=data["stage"],
                        node=data["node"],
                        lines=lines,
                        collaborators=list(data["collaborators"]),
                        contacts=form.chosen_contacts(),
                    )
                    confidential_forms.apply(form, me, opportunity)
            except DomainError as exc:
                raise_unless_form_error(exc)
                form.show_error(exc)
            else:
                messages.success(
                    request,
                    _("Opportunity “%(name)s” was created.") % {"name": opportunity.name},
                )
                return redirect("opportunities:detail", pk=opportunity.pk)
    else:
        raw = request.GET.get("customer") or ""
        customer = active_customers(me).filter(pk=int(raw)).first() if raw.isdigit() else None
        form = OpportunityForm(user=me, customer=customer, initial=_create_initial(me, customer))
        confidential_forms.attach(form, me)
        lines = []
    return _form_page(request, form, None, lines)


@login_required
def opportunity_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit an opportunity (R4.1). The hidden ``version`` makes a stale save fail: the form
    then shows who changed which field (old → new) beside it, with the current values loaded
    so the user re-applies their change; nothing of the stale save is written."""
    require_perm(request, "opportunities", "edit")
    me = _me(request)
    opportunity = get_scoped_or_404(_read(me), me, pk, "edit")
    if request.method == "POST":
        form = OpportunityForm(request.POST, user=me, opportunity=opportunity)
        confidential_forms.attach(form, me, opportunity)
        lines = posted_lines(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    opportunities.update_opportunity(
                        actor=me,
                        opportunity=opportunity,
                        data=form.service_data(lines),
                        version=data["version"],
                        lines=lines,
                        collaborators=list(data["collaborators"]),
                        contacts=form.chosen_contacts(),
                    )
                    confidential_forms.apply(form, me, Opportunity.objects.get(pk=opportunity.pk))
            except EditConflict as exc:
                opportunity = get_scoped_or_404(_read(me), me, pk, "edit")
                form = OpportunityForm(
                    user=me, opportunity=opportunity, initial=opportunity_initial(opportunity)
                )
                confidential_forms.attach(form, me, opportunity)
                form.show_error(exc)
                lines = line_rows(_lines(me, opportunity))
            except DomainError as exc:
                raise_unless_form_error(exc)
                form.show_error(exc)
                opportunity = get_scoped_or_404(_read(me), me, pk, "edit")
            else:
                messages.success(
                    request, _("Opportunity “%(name)s” was saved.") % {"name": data["name"]}
                )
                return redirect("opportunities:detail", pk=pk)
    else:
        form = OpportunityForm(
            user=me, opportunity=opportunity, initial=opportunity_initial(opportunity)
        )
        confidential_forms.attach(form, me, opportunity)
        lines = line_rows(_lines(me, opportunity))
    return _form_page(request, form, opportunity, lines)


# --- the opportunity page -----------------------------------------------------------------------
def _render_sections(request: HttpRequest, opportunity: Opportunity) -> list[dict[str, Any]]:
    """Every section registered for opportunities, in order: fetched right after the page
    (crm.core.record_sections), which itself reads the stage path, facts, lines and history."""
    return page_sections(
        request,
        SECTIONS,
        opportunity,
        {"opportunity": opportunity, "customer": opportunity.customer},
        url=reverse("opportunities:sections", args=[opportunity.pk]),
        inline=0,
    )


@login_required
def opportunity_sections(request: HttpRequest, pk: int) -> HttpResponse:
    """The opportunity page's sections (``?keys=a,b``), fetched by the page once it has loaded."""
    require_perm(request, "opportunities", "view")
    me = _me(request)
    opportunity = get_scoped_or_404(_page_read(me), me, pk)
    return sections_response(
        request,
        SECTIONS,
        opportunity,
        {"opportunity": opportunity, "customer": opportunity.customer},
        page_url=reverse("opportunities:detail", args=[opportunity.pk]),
    )


def _stage_path(me: User, opportunity: Opportunity) -> dict[str, Any]:
    """The step bar: the pipeline's active open stages, then the closed stage it ended in (or
    every closing stage while it is open); the nodes of the current stage as sub-steps. From
    the stages the page reads once (``stages_for``)."""
    everything = stages_for(me)
    stages = [
        s
        for s in everything
        if s.pipeline_id == opportunity.pipeline_id
        and s.parent_id is None
        and (s.is_active or s.pk == opportunity.stage_id)
    ]
    closed_at = opportunity.stage if opportunity.stage.kind != StageKind.OPEN else None
    steps = [s for s in stages if s.kind == StageKind.OPEN]
    if closed_at is not None:
        steps.append(closed_at)
    else:
        steps += [s for s in stages if s.kind != StageKind.OPEN]
    current = next((i for i, s in enumerate(steps) if s.pk == opportunity.stage_id), -1)
    nodes = [
        s
        for s in everything
        if s.parent_id == opportunity.stage_id and (s.is_active or s.pk == opportunity.node_id)
    ]
    color = STAGE_KIND_COLORS.get(opportunity.stage.kind, "blue")
    return {
        "steps": [
            {"stage": s, "current": i == current, "done": i < current} for i, s in enumerate(steps)
        ],
        "nodes": nodes,
        "color": color,
    }


def _labels(org_id: int) -> dict[str, dict[str, str]]:
    kinds = {**DICTIONARY_FIELDS, "loss_reason": DictionaryKind.LOSS_REASON}
    return {
        field: dict(dictionaries.choices(org_id, kind, include_inactive=True))
        for field, kind in kinds.items()
    }


def _facts(opportunity: Opportunity, labels: dict[str, dict[str, str]]) -> list[tuple[Any, Any]]:
    def label(field: str) -> str:
        value = getattr(opportunity, field)
        return labels[field].get(value, value)

    facts: list[tuple[Any, Any]] = [
        (_("Pipeline"), opportunity.pipeline.name),
        (_("Business type"), label("business_type")),
        (_("Source"), label("source")),
        (_("Win probability"), f"{opportunity.probability}%"),
        (_("Probability level"), label("probability_level")),
        (_("Feedback cycle"), label("feedback_cycle")),
        (_("Action principle"), label("action_principle")),
        (_("Expected close date"), opportunity.expected_close_date),
    ]
    if opportunity.status == OpportunityStatus.WON:
        facts += [
            (_("Actual close date"), opportunity.actual_close_date),
        ]
    elif opportunity.status in (OpportunityStatus.LOST, OpportunityStatus.ABANDONED):
        facts += [
            (_("Close date"), opportunity.actual_close_date),
            (_("Reason"), label("loss_reason")),
            (_("Lessons learnt"), opportunity.loss_note),
        ]
    facts.append((_("Created"), timezone.localtime(opportunity.created_at).date()))
    return [
        (label, value.strftime("%Y-%m-%d") if isinstance(value, date) else value)
        for label, value in facts
    ]


def _actions(me: User, opportunity: Opportunity) -> dict[str, bool]:
    editable = _may(me, opportunity, "edit")
    is_open = opportunity.status in OPEN_STATUSES
    closed = not is_open
    return {
        "edit": editable,
        "move": editable and is_open,
        "win": editable and is_open,
        "lose": editable and is_open,
        "abandon": editable and is_open,
        "pause": editable and opportunity.status == OpportunityStatus.CONTINUE,
        "resume": editable and opportunity.status == OpportunityStatus.PAUSE,
        "reopen": editable and closed and opportunities.can_reopen(me),
        "key": editable,
        "transfer": _may(me, opportunity, "transfer"),
        "delete": _may(me, opportunity, "delete"),
        "followup": me.can("activities", "create"),
    }


def _followup_url(opportunity: Opportunity) -> str | None:
    base = _url("activities:followup_create")
    if base is None:
        return None
    params = {"customer": opportunity.customer_id, "opportunity": opportunity.pk}
    if opportunity.contact_id:
        params["contact"] = opportunity.contact_id
    return f"{base}?{urlencode(params)}"


@login_required
def opportunity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The opportunity page (R4.2, R4.3, R4.7): header, stage path and guidance, facts,
    follow-up blocks, product lines, stage history, registered sections, history."""
    require_perm(request, "opportunities", "view")
    me = _me(request)
    assert me.org_id is not None
    opportunity = get_scoped_or_404(_page_read(me), me, pk)
    stages = stages_for(me)  # the stage path and the action forms read the same stages
    now = timezone.now()
    actions = _actions(me, opportunity)
    labels = _labels(me.org_id)
    lines = _lines(me, opportunity)
    product_labels = dict(
        dictionaries.choices(me.org_id, DictionaryKind.PRODUCT, include_inactive=True)
    )
    history = list(
        StageHistory.objects.visible_to(me)
        .filter(opportunity=opportunity)
        .select_related("stage", "node", "contact", "person")
        .order_by("entered_at", "pk")
    )
    is_continue = opportunity.status == OpportunityStatus.CONTINUE
    initial = {"version": opportunity.version}
    forms: dict[str, Any] = {}
    if actions["move"]:
        forms["move"] = MoveForm(
            user=me,
            opportunity=opportunity,
            stages=stages,
            initial={**initial, "stage": opportunity.stage_id, "node": opportunity.node_id},
        )
    if actions["win"]:
        forms["win"] = WinForm(
            initial={
                **initial,
                "actual_amount": (
                    f"{opportunity.expected_amount:.2f}" if opportunity.expected_amount else ""
                ),
                "actual_close_date": timezone.localdate().isoformat(),
            }
        )
    if actions["lose"]:
        forms["lose"] = LoseForm(user=me, opportunity=opportunity, stages=stages, initial=initial)
    if actions["abandon"]:
        forms["abandon"] = AbandonForm(user=me, initial=initial)
    if actions["pause"]:
        forms["pause"] = NoteForm(prefix_id="pause", initial=initial)
    if actions["resume"]:
        forms["resume"] = NoteForm(prefix_id="resume", initial=initial)
    if actions["reopen"]:
        forms["reopen"] = ReopenForm(
            user=me, opportunity=opportunity, stages=stages, initial=initial
        )
    if actions["transfer"]:
        forms["transfer"] = TransferForm(user=me, opportunity=opportunity)
    return render(
        request,
        "pipeline/opportunity/detail.html",
        {
            "opportunity": opportunity,
            "customer_url": (
                reverse("customers:detail", args=[opportunity.customer_id])
                if opportunity.customer_open
                else None
            ),
            "status_color": STATUS_COLORS.get(opportunity.status, "secondary"),
            "collaborators": list(opportunity.collaborators.order_by("name", "username")),
            "contacts": list(opportunity.contacts.order_by("name", "pk")),
            "path": _stage_path(me, opportunity),
            "days_in_stage": (
                max((now - opportunity.stage_entered_at).days, 0)
                if opportunity.status in OPEN_STATUSES
                else None
            ),
            "stalled": bool(
                is_continue and opportunity.stall_due_at and opportunity.stall_due_at < now
            ),
            "overdue": bool(
                is_continue and opportunity.feedback_due_at and opportunity.feedback_due_at < now
            ),
            "facts": [(label, value) for label, value in _facts(opportunity, labels) if value],
            "lines": [
                {"line": line, "product": product_labels.get(line.product, line.product)}
                for line in lines
            ],
            "lines_total": money(sum((line.amount for line in lines), Decimal(0))),
            "stage_history": history,
            "actions": actions,
            "forms": forms,
            "followup_url": _followup_url(opportunity) if actions["followup"] else None,
            "sections": _render_sections(request, opportunity),
            "crumbs": _crumbs((opportunity.name, None)),
        },
    )


# --- actions ------------------------------------------------------------------------------------
def _act(
    request: HttpRequest,
    pk: int,
    run: Callable[[User, Opportunity], str],
    *,
    perm: str = "edit",
    scope: str | None = None,
) -> HttpResponse:
    """Run one action on an opportunity the user may ``scope`` (default: ``perm``), then back
    to its page with the outcome as a flash message. Out of scope: 404 before anything runs."""
    require_perm(request, "opportunities", perm)
    me = _me(request)
    opportunity = get_scoped_or_404(_read(me), me, pk, scope or perm)
    try:
        done = run(me, opportunity)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, _error_message(exc))
    else:
        messages.success(request, done)
        if not Opportunity.objects.visible_to(me).filter(pk=pk).exists():
            return redirect(_after_leaving(me, opportunity))
    return redirect("opportunities:detail", pk=pk)


def _valid(form: Any) -> dict[str, Any]:
    if not form.is_valid():
        raise ValidationFailed(form_errors_text(form))
    return dict(form.cleaned_data)


@login_required
@require_POST
def opportunity_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move to another stage and/or node, with the contact involved and a note (R4.2)."""

    def run(me: User, opportunity: Opportunity) -> str:
        data = _valid(MoveForm(request.POST, user=me, opportunity=opportunity))
        saved = opportunities.move_stage(
            actor=me,
            opportunity=opportunity,
            stage=data["stage"],
            node=data["node"],
            contact=data["contact"],
            note=data["note"],
            version=data["version"],
        )
        where = f"{saved.stage.name} · {saved.node.name}" if saved.node else saved.stage.name
        return _("Moved to %(stage)s.") % {"stage": where}

    return _act(request, pk, run)


@login_required
@require_POST
def opportunity_win(request: HttpRequest, pk: int) -> HttpResponse:
    """Close as won: actual amount and actual close date are required."""

    def run(me: User, opportunity: Opportunity) -> str:
        data = _valid(WinForm(request.POST))
        opportunities.win_opportunity(
            actor=me,
            opportunity=opportunity,
            actual_amount=data["actual_amount"],
            actual_close_date=data["actual_close_date"],
            note=data["note"],
            version=data["version"],
        )
        return _("Congratulations: “%(name)s” was won.") % {"name": opportunity.name}

    return _act(request, pk, run)


@login_required
@require_POST
def opportunity_lose(request: HttpRequest, pk: int) -> HttpResponse:
    """Close as lost (R4.8): a loss reason from the list, lessons learnt, the lost stage."""

    def run(me: User, opportunity: Opportunity) -> str:
        data = _valid(LoseForm(request.POST, user=me, opportunity=opportunity))
        opportunities.lose_opportunity(
            actor=me,
            opportunity=opportunity,
            reason=data["reason"],
            note=data["note"],
            stage=data["stage"],
            actual_close_date=data["actual_close_date"] or None,
            version=data["version"],
        )
        return _("“%(name)s” was closed as lost.") % {"name": opportunity.name}

    return _act(request, pk, run)


@login_required
@require_POST
def opportunity_abandon(request: HttpRequest, pk: int) -> HttpResponse:
    """Close as abandoned, with a reason from the list and a note."""

    def run(me: User, opportunity: Opportunity) -> str:
        data = _valid(AbandonForm(request.POST, user=me))
        opportunities.abandon_opportunity(
            actor=me,
            opportunity=opportunity,
            reason=data["reason"],
            note=data["note"],
            version=data["version"],
        )
        return _("“%(name)s” was abandoned.") % {"name": opportunity.name}

    return _act(request, pk, run)


@login_required
@require_POST
def opportunity_pause(request: HttpRequest, pk: int) -> HttpResponse:
    def run(me: User, opportunity: Opportunity) -> str:
        data = _valid(NoteForm(request.POST, prefix_id="pause"))
        opportunities.pause_opportunity(
            actor=me, opportunity=opportunity, note=data["note"], version=data["version"]
        )
        return _("“%(name)s” is paused.") % {"name": opportunity.name}

    return _act(request, pk, run)


@login_required
@require_POST
def opportunity_resume(request: HttpRequest, pk: int) -> HttpResponse:
    def run(me: User, opportunity: Opportunity) -> str:
        data = _valid(NoteForm(request.POST, prefix_id="resume"))
        opportunities.resume_opportunity(
            actor=me, opportunity=opportunity, note=data["note"], version=data["version"]
        )
        return _("“%(name)s” is being worked again.") % {"name": opportunity.name}

    return _act(request, pk, run)


@login_required
@require_POST
def opportunity_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    """A manager (who may approve opportunities) reopens a closed one at an open stage."""

    def run(me: User, opportunity: Opportunity) -> str:
        data = _valid(ReopenForm(request.POST, user=me, opportunity=opportunity))
        opportunities.reopen_opportunity(
            actor=me,
            opportunity=opportunity,
            stage=data["stage"],
            note=data["note"],
            version=data["version"],
        )
        return _("“%(name)s” was reopened.") % {"name": opportunity.name}

    return _act(request, pk, run, perm="approve", scope="edit")


@login_required
@require_POST
def opportunity_key(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark or unmark a key opportunity (``is_key`` 1 or 0)."""

    def run(me: User, opportunity: Opportunity) -> str:
        is_key = request.POST.get("is_key") == "1"
        opportunities.set_key(actor=me, opportunity=opportunity, is_key=is_key)
        if is_key:
            return _("Marked as a key opportunity.")
        return _("No longer a key opportunity.")

    return _act(request, pk, run)


@login_required
@require_POST
def opportunity_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    """Give the opportunity to a colleague (needs opportunities:transfer)."""

    def run(me: User, opportunity: Opportunity) -> str:
        data = _valid(TransferForm(request.POST, user=me, opportunity=opportunity))
        opportunities.transfer_opportunities(
            actor=me, opportunities=[opportunity], to_user=data["to_user"], reason=data["reason"]
        )
        return _("“%(name)s” was transferred to %(user)s.") % {
            "name": opportunity.name,
            "user": data["to_user"].display_name,
        }

    return _act(request, pk, run, perm="transfer")


@login_required
@require_POST
def opportunity_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete the opportunity (needs opportunities:delete); back to its customer."""

    def run(me: User, opportunity: Opportunity) -> str:
        opportunities.delete_opportunity(actor=me, opportunity=opportunity)
        return _("Opportunity “%(name)s” was deleted.") % {"name": opportunity.name}

    return _act(request, pk, run, perm="delete")
