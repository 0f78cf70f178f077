"""The approval engine (R9.1): flows per organisation and subject, ordered steps to a named
user, the submitter's manager or everyone with a role, "any one" or "all of them" (会签).

- ``submit`` picks the first active flow of the subject whose conditions (amount range, least
  discount) match, creates the request and the tasks of every step (the first step's pending,
  later ones waiting), and notifies the first approvers. No matching flow: ``None`` — the
  caller treats the record as approved at once.
- ``approve`` settles the approver's task. An "any one" step is done with the first approval
  (the other tasks of the step are skipped); an "all of them" step when every task is approved.
  The next step's tasks become pending and their approvers are notified; after the last step the
  request is approved and the subject module's ``approved`` outcome runs in the same
  transaction.
- ``reject`` (a comment is required) ends the request at once; ``withdraw`` (the submitter, while
  pending) too. Each runs the subject's outcome. A record has at most one pending request (a
  unique constraint), so double submissions are refused.

Subject modules register how a decision changes their record with ``register_outcome``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from crm.core.notifications import notification_for
from crm.org.models import User

from .choices import ApprovalMode, ApprovalStatus, ApproverKind, TaskStatus
from .models import ApprovalFlow, ApprovalRequest, ApprovalStep, ApprovalTask

Outcome = Callable[[ApprovalRequest, Any], None]


@dataclass
class Outcomes:
    approved: Outcome
    rejected: Outcome
    withdrawn: Outcome | None = None
    #: ``fn(subject_id) -> (record, url)``: the record an approval is about and its page
    resolve: Callable[[str], tuple[Any, str]] | None = None


OUTCOMES: dict[str, Outcomes] = {}


def register_outcome(
    subject: str,
    *,
    approved: Outcome,
    rejected: Outcome,
    withdrawn: Outcome | None = None,
    resolve: Callable[[str], tuple[Any, str]] | None = None,
) -> None:
    """How a decision on ``subject`` changes its record: ``fn(request, actor)`` run inside the
    deciding transaction (``withdrawn`` defaults to ``rejected``)."""
    OUTCOMES[subject] = Outcomes(approved, rejected, withdrawn, resolve)


# --- choosing a flow ------------------------------------------------------------------------------


def _matches(flow: ApprovalFlow, amount: Decimal | None, discount: Decimal | None) -> bool:
    if flow.min_amount is not None and (amount is None or amount < flow.min_amount):
        return False
    if flow.max_amount is not None and (amount is None or amount > flow.max_amount):
        return False
    return flow.min_discount_percent is None or (
        discount is not None and discount >= flow.min_discount_percent
    )


def find_flow(
    org_id: int,
    subject: str,
    *,
    amount: Decimal | None = None,
    discount_percent: Decimal | None = None,
) -> ApprovalFlow | None:
    """The first active flow of ``subject`` (by order) whose conditions match, with steps."""
    flows = ApprovalFlow.objects.filter(org_id=org_id, subject=subject, is_active=True).order_by(
        "sort_order", "pk"
    )
    for flow in flows:
        if _matches(flow, amount, discount_percent) and flow.steps.exists():
            return flow
    return None


# --- resolving approvers --------------------------------------------------------------------------


def _manager_of(user: User) -> User | None:
    manager = user.manager
    if manager is None and user.department_id and user.department is not None:
        head = user.department.head
        manager = head if head is not None and head.pk != user.pk else None
        if manager is None and user.department.parent_id:
            parent = user.department.parent
            manager = parent.head if parent is not None else None
    if manager is not None and manager.is_active and manager.pk != user.pk:
        return manager
    return None


def approvers_for(step: ApprovalStep, submitter: User) -> list[User]:
    """The active people who decide ``step`` for ``submitter`` (never the submitter, unless they
    are the only one a named-user step names)."""
    if step.approver_kind == ApproverKind.USER:
        people = [step.user] if step.user is not None and step.user.is_active else []
    elif step.approver_kind == ApproverKind.MANAGER:
        manager = _manager_of(submitter)
        people = [manager] if manager is not None else []
    else:
        people = list(
            User.objects.filter(org_id=submitter.org_id, is_active=True, roles=step.role_id)
            .exclude(pk=submitter.pk)
            .order_by("pk")
            .distinct()
        )
    return [p for p in people if p is not None and p.org_id == submitter.org_id]


# --- submitting -----------------------------------------------------------------------------------


def _url(subject: str, subject_id: str) -> str:
    outcome = OUTCOMES.get(subject)
    if outcome is not None and outcome.resolve is not None:
        try:
            return outcome.resolve(subject_id)[1]
        except Exception:  # pragma: no cover - a link is a convenience
            return ""
    return ""


def _notify(
    people: list[User], request: ApprovalRequest, verb: str, message: str, actor: Any
) -> None:
    from crm.core.models import Notification

    url = _url(request.subject, request.subject_id)
    Notification.objects.bulk_create(
        notification_for(
            recipient=p, verb=verb, message=message, actor=actor, url=url, target=request
        )
        for p in {p.pk: p for p in people}.values()
    )


@transaction.atomic
def submit(
    *,
    actor: User,
    subject: str,
    obj: Any,
    amount: Decimal | None = None,
    discount_percent: Decimal | None = None,
    comment: str = "",
) -> ApprovalRequest | None:
    """Start the approval of ``obj``; None when no flow applies (approved at once)."""
    flow = find_flow(obj.org_id, subject, amount=amount, discount_percent=discount_percent)
    if flow is None:
        return None
    steps = list(flow.steps.select_related("user", "role").order_by("sort_order", "pk"))
    plan: list[tuple[int, ApprovalStep, list[User]]] = []
    for index, step in enumerate(steps):
        people = approvers_for(step, actor)
        if not people:
            raise ValidationFailed(
                _(
                    "Nobody can approve step “%(step)s” of flow “%(flow)s” for you (no manager or "
                    "no active person with that role). Ask an administrator to fix the flow."
                )
                % {"step": step.name, "flow": flow.name}
            )
        plan.append((index, step, people))
    try:
        with transaction.atomic():
            request = ApprovalRequest.objects.create(
                org_id=obj.org_id,
                subject=subject,
                subject_id=str(obj.pk),
                subject_repr=str(obj)[:200],
                flow=flow,
                submitter=actor,
                amount=amount,
                comment=(comment or "")[:500],
            )
    except IntegrityError:
        raise Conflict(_("This record is already waiting for approval.")) from None
    ApprovalTask.objects.bulk_create(
        ApprovalTask(
            org_id=obj.org_id,
            request=request,
            step=index,
            step_name=step.name,
            mode=step.mode,
            approver=person,
            status=TaskStatus.PENDING if index == 0 else TaskStatus.WAITING,
        )
        for index, step, people in plan
        for person in people
    )
    audit.record(
        actor=actor,
        obj=obj,
        verb="approval.submitted",
        data={"request": request.pk, "flow": flow.name, "comment": comment[:500]},
    )
    _notify(
        plan[0][2],
        request,
        "approval.requested",
        _("%(who)s asks for your approval: %(record)s")
        % {"who": actor.display_name, "record": request.subject_repr},
        actor,
    )
    return request


# --- deciding -------------------------------------------------------------------------------------


def _my_task(actor: User, request: ApprovalRequest) -> ApprovalTask:
    if request.org_id != actor.org_id:
        raise PermissionDenied()
    if request.status != ApprovalStatus.PENDING:
        raise InvalidTransition(_("This approval has already been decided."))
    task = (
        ApprovalTask.objects.select_for_update()
        .filter(request=request, step=request.step, approver=actor, status=TaskStatus.PENDING)
        .first()
    )
    if task is None:
        raise PermissionDenied(_("This approval is not waiting for you."))
    return task


def _subject_record(request: ApprovalRequest) -> Any:
    outcome = OUTCOMES.get(request.subject)
    if outcome is not None and outcome.resolve is not None:
        try:
            return outcome.resolve(request.subject_id)[0]
        except Exception:  # pragma: no cover
            return request
    return request


def _finish(request: ApprovalRequest, status: str, actor: Any, comment: str) -> None:
    updated = ApprovalRequest.objects.filter(pk=request.pk, status=ApprovalStatus.PENDING).update(
        status=status, decided_at=timezone.now()
    )
    if not updated:
        raise InvalidTransition(_("This approval has already been decided."))
    request.status = status
    ApprovalTask.objects.filter(
        request=request, status__in=[TaskStatus.PENDING, TaskStatus.WAITING]
    ).update(status=TaskStatus.SKIPPED)
    outcome = OUTCOMES.get(request.subject)
    if outcome is not None:
        if status == ApprovalStatus.APPROVED:
            outcome.approved(request, actor)
        elif status == ApprovalStatus.REJECTED:
            outcome.rejected(request, actor)
        else:
            (outcome.withdrawn or outcome.rejected)(request, actor)
    audit.record(
        actor=actor,
        obj=_subject_record(request),
        verb=f"approval.{status}",
        data={"request": request.pk, "comment": comment[:500]},
        org_id=request.org_id,
    )


@transaction.atomic
def approve(*, actor: User, request: ApprovalRequest, comment: str = "") -> ApprovalRequest:
    request = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
    task = _my_task(actor, request)
    now = timezone.now()
    ApprovalTask.objects.filter(pk=task.pk).update(
        status=TaskStatus.APPROVED, comment=(comment or "")[:500], decided_at=now
    )
    step_tasks = ApprovalTask.objects.filter(request=request, step=request.step)
    done = (
        task.mode == ApprovalMode.ANY or not step_tasks.exclude(status=TaskStatus.APPROVED).exists()
    )
    if not done:
        return request
    step_tasks.filter(status=TaskStatus.PENDING).update(status=TaskStatus.SKIPPED)
    following = ApprovalTask.objects.filter(request=request, step__gt=request.step)
    if not following.exists():
        _finish(request, ApprovalStatus.APPROVED, actor, comment)
        _notify(
            [request.submitter],
            request,
            "approval.approved",
            _("Approved: %(record)s") % {"record": request.subject_repr},
            actor,
        )
        return request
    next_step = following.order_by("step").values_list("step", flat=True).first()
    assert next_step is not None
    ApprovalRequest.objects.filter(pk=request.pk).update(step=next_step)
    request.step = next_step
    ApprovalTask.objects.filter(request=request, step=next_step).update(status=TaskStatus.PENDING)
    approvers = [
        t.approver
        for t in ApprovalTask.objects.filter(request=request, step=next_step).select_related(
            "approver"
        )
    ]
    _notify(
        approvers,
        request,
        "approval.requested",
        _("%(who)s asks for your approval: %(record)s")
        % {"who": request.submitter.display_name, "record": request.subject_repr},
        actor,
    )
    _notify(
        [request.submitter],
        request,
        "approval.progress",
        _("%(who)s approved a step of %(record)s; it moves on to the next approver.")
        % {"who": actor.display_name, "record": request.subject_repr},
        actor,
    )
    return request


@transaction.atomic
def reject(*, actor: User, request: ApprovalRequest, comment: str) -> ApprovalRequest:
    """Reject with a reason; the request ends and the record goes back to its submitter."""
    comment = (comment or "").strip()
    if not comment:
        raise ValidationFailed(field_errors={"comment": [_("Say why you reject it.")]})
    request = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
    task = _my_task(actor, request)
    ApprovalTask.objects.filter(pk=task.pk).update(
        status=TaskStatus.REJECTED, comment=comment[:500], decided_at=timezone.now()
    )
    _finish(request, ApprovalStatus.REJECTED, actor, comment)
    _notify(
        [request.submitter],
        request,
        "approval.rejected",
        _("Rejected by %(who)s: %(record)s — %(comment)s")
        % {"who": actor.display_name, "record": request.subject_repr, "comment": comment[:200]},
        actor,
    )
    return request


@transaction.atomic
def withdraw(*, actor: User, request: ApprovalRequest) -> ApprovalRequest:
    """The submitter takes a pending request back."""
    request = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
    if request.org_id != actor.org_id or request.submitter_id != actor.pk:
        raise PermissionDenied(_("Only the person who submitted it can withdraw it."))
    if request.status != ApprovalStatus.PENDING:
        raise InvalidTransition(_("This approval has already been decided."))
    approvers = [
        t.approver
        for t in ApprovalTask.objects.filter(
            request=request, status=TaskStatus.PENDING
        ).select_related("approver")
    ]
    _finish(request, ApprovalStatus.WITHDRAWN, actor, "")
    _notify(
        approvers,
        request,
        "approval.withdrawn",
        _("%(who)s withdrew %(record)s")
        % {"who": actor.display_name, "record": request.subject_repr},
        actor,
    )
    return request


# --- reading --------------------------------------------------------------------------------------


def pending_request(subject: str, obj: Any) -> ApprovalRequest | None:
    return ApprovalRequest.objects.filter(
        org_id=obj.org_id, subject=subject, subject_id=str(obj.pk), status=ApprovalStatus.PENDING
    ).first()


def requests_for(subject: str, obj: Any) -> list[ApprovalRequest]:
    """Every approval of a record (newest first) with its tasks. The caller checked that the user
    may see the record."""
    return list(
        ApprovalRequest.objects.filter(org_id=obj.org_id, subject=subject, subject_id=str(obj.pk))
        .select_related("submitter", "flow")
        .prefetch_related("tasks__approver")
        .order_by("-created_at", "-pk")
    )


def my_pending_tasks(user: Any) -> QuerySet[ApprovalTask]:
    """The approvals waiting for ``user`` now (oldest first)."""
    return (
        ApprovalTask.objects.visible_to(user)
        .filter(status=TaskStatus.PENDING, request__status=ApprovalStatus.PENDING)
        .select_related("request", "request__submitter")
        .order_by("created_at", "pk")
    )


def pending_count(user: Any) -> int:
    return my_pending_tasks(user).count()


__all__ = [
    "OUTCOMES",
    "approve",
    "approvers_for",
    "find_flow",
    "my_pending_tasks",
    "pending_count",
    "pending_request",
    "register_outcome",
    "reject",
    "requests_for",
    "submit",
    "withdraw",
]


def my_day_context(request: Any, user: Any) -> dict[str, Any] | None:
    """The "waiting for my approval" block of My day (hidden when nothing waits)."""
    tasks = list(my_pending_tasks(user)[:20])
    if not tasks:
        return None
    for task in tasks:
        task.url = _url(task.request.subject, task.request.subject_id)  # type: ignore[attr-defined]
    return {"tasks": tasks}
