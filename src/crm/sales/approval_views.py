"""Approval pages (R9.1): the inbox "待我审批" (the approvals waiting for me, with approve and
reject buttons — a rejection needs a comment), my submissions, one request's page with every
approver's decision, and the settings of the approval flows (flows per subject with conditions,
ordered steps, activate and deactivate, reorder).

A request is seen by its submitter and its approvers only (404 for anyone else); deciding is the
engine's (``crm.sales.approvals``): only the approver of the current step decides, only the
submitter withdraws. Flow settings need ``sales:configure`` (or ``settings:configure``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm.core.errors import DomainError
from crm.core.forms import error_text, raise_unless_form_error
from crm.core.scoping import get_scoped_or_404
from crm.org.models import User

from . import approvals, flow_services
from .choices import ApprovalStatus, ApprovalSubject, ApproverKind, TaskStatus
from .contract_forms import DecisionForm, FlowForm, StepForm, flow_initial, step_initial
from .models import ApprovalFlow, ApprovalRequest, ApprovalStep

APPROVALS = gettext_lazy("Approvals")
FLOWS = gettext_lazy("Approval flows")
STATUS_COLORS = {
    ApprovalStatus.PENDING: "orange",
    ApprovalStatus.APPROVED: "green",
    ApprovalStatus.REJECTED: "red",
    ApprovalStatus.WITHDRAWN: "secondary",
}
TASK_COLORS = {
    TaskStatus.WAITING: "secondary",
    TaskStatus.PENDING: "orange",
    TaskStatus.APPROVED: "green",
    TaskStatus.REJECTED: "red",
    TaskStatus.SKIPPED: "secondary",
}


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def record_link(me: User, request: ApprovalRequest) -> str | None:
    """The page of the record an approval is about, when ``me`` may see that record."""
    outcome = approvals.OUTCOMES.get(request.subject)
    if outcome is None or outcome.resolve is None:
        return None
    try:
        record, url = outcome.resolve(request.subject_id)
    except Exception:  # the record is gone
        return None
    if getattr(record, "org_id", None) != me.org_id:
        return None
    manager = type(record)._default_manager
    if not manager.visible_to(me).filter(pk=record.pk).exists():
        return None
    return url or None


def _requests(me: User) -> Any:
    return ApprovalRequest.objects.visible_to(me).select_related("flow", "submitter")


def _next(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


# --- the inbox ----------------------------------------------------------------------------------
@login_required
def approval_inbox(request: HttpRequest) -> HttpResponse:
    """待我审批: the approvals waiting for me (oldest first) with approve and reject buttons;
    the "my submissions" tab lists what I submitted and where it stands."""
    me = _me(request)
    tab = "submitted" if request.GET.get("tab") == "submitted" else "mine"
    context: dict[str, Any] = {"tab": tab, "crumbs": [(APPROVALS, None)]}
    pending_count = approvals.pending_count(me)
    if tab == "mine":
        tasks = list(approvals.my_pending_tasks(me)[:200])
        context["rows"] = [
            {
                "task": t,
                "request": t.request,
                "url": record_link(me, t.request),
                "detail": reverse("sales:approval_detail", args=[t.request_id]),
            }
            for t in tasks
        ]
    else:
        qs = _requests(me).filter(submitter=me).order_by("-created_at", "-pk")
        page = Paginator(qs, 30).get_page(request.GET.get("page"))
        context["page"] = page
        context["submitted"] = [
            {
                "request": r,
                "color": STATUS_COLORS.get(r.status, "secondary"),
                "url": record_link(me, r),
            }
            for r in page
        ]
    context["pending_count"] = pending_count
    context["here"] = request.get_full_path()
    return render(request, "sales/approvals/inbox.html", context)


@login_required
def approval_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One approval request: the record, the flow's steps and every approver's decision."""
    me = _me(request)
    row = get_scoped_or_404(_requests(me), me, pk)
    tasks = list(row.tasks.select_related("approver").order_by("step", "pk"))
    mine = next(
        (
            t
            for t in tasks
            if t.approver_id == me.pk and t.status == TaskStatus.PENDING and t.step == row.step
        ),
        None,
    )
    return render(
        request,
        "sales/approvals/detail.html",
        {
            "req": row,
            "color": STATUS_COLORS.get(row.status, "secondary"),
            "tasks": [{"task": t, "color": TASK_COLORS.get(t.status, "secondary")} for t in tasks],
            "url": record_link(me, row),
            "can_decide": row.status == ApprovalStatus.PENDING and mine is not None,
            "can_withdraw": row.status == ApprovalStatus.PENDING and row.submitter_id == me.pk,
            "form": DecisionForm(),
            "crumbs": [(APPROVALS, reverse("sales:approval_inbox")), (row.subject_repr, None)],
        },
    )


def _decide(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    me = _me(request)
    row = get_scoped_or_404(_requests(me), me, pk)
    form = DecisionForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    try:
        if verb == "approve":
            approvals.approve(actor=me, request=row, comment=comment)
            messages.success(request, _("You approved “%(name)s”.") % {"name": row.subject_repr})
        elif verb == "reject":
            approvals.reject(actor=me, request=row, comment=comment)
            messages.success(request, _("You rejected “%(name)s”.") % {"name": row.subject_repr})
        else:
            approvals.withdraw(actor=me, request=row)
            messages.success(request, _("You withdrew “%(name)s”.") % {"name": row.subject_repr})
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
    return redirect(_next(request) or reverse("sales:approval_detail", args=[pk]))


@login_required
@require_POST
def approval_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, "approve")


@login_required
@require_POST
def approval_reject(request: HttpRequest, pk: int) -> HttpResponse:
    """Reject (a comment is required): the record goes back to its submitter."""
    return _decide(request, pk, "reject")


@login_required
@require_POST
def approval_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """The submitter takes a pending request back (the record returns to draft)."""
    return _decide(request, pk, "withdraw")


# --- flow settings ------------------------------------------------------------------------------
def _flows(me: User) -> Any:
    return ApprovalFlow.objects.visible_to(me, flow_services.configure_action(me))


def _flow_crumbs(*items: tuple[Any, str | None]) -> list[tuple[Any, str | None]]:
    return [(_("Settings"), None), (FLOWS, reverse("sales:flow_list")), *items]


def _approver_label(step: ApprovalStep) -> str:
    if step.approver_kind == ApproverKind.USER and step.user is not None:
        return str(step.user.display_name)
    if step.approver_kind == ApproverKind.ROLE and step.role is not None:
        return f"{step.role.name} · {step.get_mode_display()}"
    return str(step.get_approver_kind_display())


@login_required
def flow_list(request: HttpRequest) -> HttpResponse:
    """The organisation's flows per subject, in the order they are tried, with their steps."""
    me = _me(request)
    flows = list(
        _flows(me)
        .prefetch_related("steps__user", "steps__role")
        .order_by("subject", "sort_order", "pk")
    )
    groups = []
    for value, label in ApprovalSubject.choices:
        rows = [
            {
                "flow": f,
                "steps": [
                    {"step": s, "approver": _approver_label(s)}
                    for s in sorted(f.steps.all(), key=lambda s: (s.sort_order, s.pk))
                ],
            }
            for f in flows
            if f.subject == value
        ]
        groups.append({"subject": value, "label": label, "flows": rows})
    return render(
        request,
        "sales/approvals/flow_list.html",
        {"groups": groups, "crumbs": [*_flow_crumbs()[:-1], (FLOWS, None)]},
    )


def _flow_form_page(request: HttpRequest, flow: ApprovalFlow | None) -> HttpResponse:
    me = _me(request)
    if request.method == "POST":
        form = FlowForm(request.POST, flow=flow)
        if flow is not None:
            form.fields["subject"].initial = flow.subject
        if form.is_valid():
            data = dict(form.cleaned_data)
            if flow is not None:
                data["subject"] = flow.subject
            try:
                saved = flow_services.save_flow(actor=me, data=data, flow=flow)
            except DomainError as exc:
                raise_unless_form_error(exc)
                form.show_error(exc)
            else:
                messages.success(request, _("Flow “%(name)s” was saved.") % {"name": saved.name})
                return redirect("sales:flow_edit", pk=saved.pk)
    elif flow is not None:
        form = FlowForm(initial=flow_initial(flow), flow=flow)
    else:
        subject = request.GET.get("subject")
        form = FlowForm(
            initial={
                "is_active": True,
                "subject": subject if subject in ApprovalSubject.values else "contract",
            }
        )
    steps = []
    if flow is not None:
        steps = [
            {"step": s, "approver": _approver_label(s)}
            for s in ApprovalStep.objects.visible_to(me, flow_services.configure_action(me))
            .filter(flow=flow)
            .select_related("user", "role")
            .order_by("sort_order", "pk")
        ]
    return render(
        request,
        "sales/approvals/flow_form.html",
        {
            "form": form,
            "flow": flow,
            "steps": steps,
            "crumbs": _flow_crumbs((flow.name if flow else _("New flow"), None)),
        },
    )


@login_required
def flow_create(request: HttpRequest) -> HttpResponse:
    flow_services.configure_action(_me(request))
    return _flow_form_page(request, None)


@login_required
def flow_edit(request: HttpRequest, pk: int) -> HttpResponse:
    me = _me(request)
    return _flow_form_page(
        request, get_scoped_or_404(_flows(me), me, pk, flow_services.configure_action(me))
    )


@login_required
@require_POST
def flow_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    """Activate or deactivate a flow (a deactivated flow is never chosen)."""
    me = _me(request)
    flow = get_scoped_or_404(_flows(me), me, pk, flow_services.configure_action(me))
    saved = flow_services.set_flow_active(actor=me, flow=flow, active=not flow.is_active)
    if saved.is_active:
        messages.success(request, _("Flow “%(name)s” is active.") % {"name": saved.name})
    else:
        messages.success(request, _("Flow “%(name)s” was deactivated.") % {"name": saved.name})
    return redirect(_next(request) or reverse("sales:flow_list"))


@login_required
@require_POST
def flow_move(request: HttpRequest, pk: int, direction: str) -> HttpResponse:
    """One place up or down: the first active flow whose conditions match is used."""
    if direction not in flow_services.OFFSETS:
        raise Http404
    me = _me(request)
    flow = get_scoped_or_404(_flows(me), me, pk, flow_services.configure_action(me))
    flow_services.move_flow(actor=me, flow=flow, direction=direction)
    return redirect("sales:flow_list")


def _steps(me: User) -> Any:
    return ApprovalStep.objects.visible_to(me, flow_services.configure_action(me)).select_related(
        "flow"
    )


def _step_form_page(
    request: HttpRequest, flow: ApprovalFlow, step: ApprovalStep | None
) -> HttpResponse:
    me = _me(request)
    if request.method == "POST":
        form = StepForm(request.POST, user=me)
        if form.is_valid():
            try:
                flow_services.save_step(actor=me, flow=flow, data=form.cleaned_data, step=step)
            except DomainError as exc:
                raise_unless_form_error(exc)
                form.show_error(exc)
            else:
                messages.success(request, _("The step was saved."))
                return redirect("sales:flow_edit", pk=flow.pk)
    elif step is not None:
        form = StepForm(user=me, initial=step_initial(step))
    else:
        form = StepForm(user=me, initial={"approver_kind": ApproverKind.MANAGER, "mode": "any"})
    return render(
        request,
        "sales/approvals/step_form.html",
        {
            "form": form,
            "flow": flow,
            "step": step,
            "crumbs": _flow_crumbs(
                (flow.name, reverse("sales:flow_edit", args=[flow.pk])),
                (step.name if step else _("New step"), None),
            ),
        },
    )


@login_required
def step_create(request: HttpRequest, pk: int) -> HttpResponse:
    me = _me(request)
    flow = get_scoped_or_404(_flows(me), me, pk, flow_services.configure_action(me))
    return _step_form_page(request, flow, None)


@login_required
def step_edit(request: HttpRequest, pk: int) -> HttpResponse:
    me = _me(request)
    step = get_scoped_or_404(_steps(me), me, pk, flow_services.configure_action(me))
    return _step_form_page(request, step.flow, step)


@login_required
@require_POST
def step_delete(request: HttpRequest, pk: int) -> HttpResponse:
    me = _me(request)
    step = get_scoped_or_404(_steps(me), me, pk, flow_services.configure_action(me))
    flow_id = step.flow_id
    flow_services.delete_step(actor=me, step=step)
    messages.success(request, _("Step “%(name)s” was removed.") % {"name": step.name})
    return redirect("sales:flow_edit", pk=flow_id)


@login_required
@require_POST
def step_move(request: HttpRequest, pk: int, direction: str) -> HttpResponse:
    if direction not in flow_services.OFFSETS:
        raise Http404
    me = _me(request)
    step = get_scoped_or_404(_steps(me), me, pk, flow_services.configure_action(me))
    flow_services.move_step(actor=me, step=step, direction=direction)
    return redirect("sales:flow_edit", pk=step.flow_id)
