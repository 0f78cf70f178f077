"""/api/v1/activities/: follow-ups, visit plans, your reminders and the reminder rules (R5.1,
R5.2, R4.2, R10.1).

Thin handlers: check the function permission, look records up through the scoped layer (another
tenant's and out-of-scope ids answer 404, ids in the body too), call one service of
``crm.activities.services`` or ``crm.activities.reminders``, serialise. A follow-up list filtered
by a customer or an opportunity the caller may see shows all of that record's follow-ups, as the
record's page does.
"""

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Status
from ninja.pagination import paginate

from crm.core.api import Paginated, apply_sort, scoped, scoped_get
from crm.core.errors import PermissionDenied
from crm.customers.models import Contact, Customer
from crm.org.models import User
from crm.pipeline.models import Opportunity

from . import reminders, services
from .models import FollowUp, Reminder, ReminderRule, VisitPlan
from .schemas import (
    FOLLOWUP_DEFAULT_SORT,
    FOLLOWUP_SORTS,
    PLAN_DEFAULT_SORT,
    PLAN_SORTS,
    FollowUpCreate,
    FollowUpFilter,
    FollowUpRead,
    FollowUpUpdate,
    PlanStatusIn,
    ReminderFilter,
    ReminderRead,
    ReminderRuleCreate,
    ReminderRuleRead,
    ReminderRuleUpdate,
    VisitPlanCreate,
    VisitPlanFilter,
    VisitPlanRead,
    VisitPlanUpdate,
)
from .selectors import day_start, record_followups

router = Router()

FOLLOWUP_SORT_HELP = "Comma-separated, `-` for descending: " + ", ".join(FOLLOWUP_SORTS)
PLAN_SORT_HELP = "Comma-separated, `-` for descending: " + ", ".join(PLAN_SORTS)
#: fields of FollowUpUpdate that a PATCH may set to null (every other null is ignored)
NULLABLE_FOLLOWUP_FIELDS = {"next_at", "latitude", "longitude"}


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require(request: HttpRequest, action: str) -> None:
    if not _me(request).can("activities", action):
        raise PermissionDenied()


def _require_configure(request: HttpRequest) -> None:
    me = _me(request)
    if not (me.can("activities", "configure") or me.can("settings", "configure")):
        raise PermissionDenied()


def _optional(request: HttpRequest, model: Any, pk: int | None) -> Any:
    return None if pk is None else scoped_get(request, model, pk)


# --- Follow-ups -----------------------------------------------------------------------------------
def _followup_read(qs: QuerySet[FollowUp]) -> QuerySet[FollowUp]:
    return qs.select_related(
        "customer", "opportunity", "contact", "stage", "node", "owner", "collaborator"
    )


def _followup(request: HttpRequest, pk: int) -> FollowUp:
    followup: FollowUp = scoped_get(request, _followup_read(scoped(request, FollowUp)), pk)
    return followup


@router.get(
    "/followups",
    response=list[FollowUpRead],
    summary="Follow-ups you may see (or all of a customer's or opportunity's), newest first",
)
@paginate(Paginated)
def list_followups(
    request: HttpRequest,
    filters: Query[FollowUpFilter],
    sort: str | None = Query(None, description=FOLLOWUP_SORT_HELP),
) -> Any:
    qs: QuerySet[FollowUp]
    if not _me(request).can("activities", "view"):
        qs = scoped(request, FollowUp)  # nothing
    elif filters.opportunity_id is not None:
        qs = record_followups(scoped_get(request, Opportunity, filters.opportunity_id))
    elif filters.customer_id is not None:
        qs = record_followups(scoped_get(request, Customer, filters.customer_id))
    else:
        qs = scoped(request, FollowUp)
    if filters.customer_id is not None:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.owner_id is not None:
        qs = qs.filter(owner_id=filters.owner_id)
    if filters.method:
        qs = qs.filter(method=filters.method)
    if filters.since:
        qs = qs.filter(happened_at__gte=filters.since)
    if filters.until:
        qs = qs.filter(happened_at__lt=filters.until)
    return apply_sort(_followup_read(qs), sort, FOLLOWUP_SORTS, FOLLOWUP_DEFAULT_SORT)


@router.post(
    "/followups",
    response={201: FollowUpRead},
    summary="Record a follow-up (moves the last/next follow-up of the customer and opportunity)",
)
def create_followup(request: HttpRequest, payload: FollowUpCreate) -> Any:
    _require(request, "create")
    customer = scoped_get(request, Customer, payload.customer_id)
    data = payload.dict(
        include={
            "method",
            "content",
            "happened_at",
            "next_at",
            "next_content",
            "location",
            "latitude",
            "longitude",
        }
    )
    followup = services.record_followup(
        actor=_me(request),
        customer=customer,
        data=data,
        opportunity=_optional(request, Opportunity, payload.opportunity_id),
        contact=_optional(request, Contact, payload.contact_id),
        collaborator=_optional(request, User, payload.collaborator_id),
        plan=_optional(request, VisitPlan, payload.plan_id),
    )
    return Status(201, _followup(request, followup.pk))


@router.get("/followups/{followup_id}", response=FollowUpRead, summary="A follow-up")
def get_followup(request: HttpRequest, followup_id: int) -> Any:
    return _followup(request, followup_id)


@router.patch(
    "/followups/{followup_id}",
    response=FollowUpRead,
    summary="Edit a follow-up (send the version you read; stale → 409)",
)
def update_followup(request: HttpRequest, followup_id: int, payload: FollowUpUpdate) -> Any:
    _require(request, "edit")
    followup = _followup(request, followup_id)
    sent = payload.model_fields_set
    data = payload.dict(exclude_unset=True, exclude={"version", "contact_id", "collaborator_id"})
    data = {k: v for k, v in data.items() if v is not None or k in NULLABLE_FOLLOWUP_FIELDS}
    contact: Any = ...
    if "contact_id" in sent:
        contact = _optional(request, Contact, payload.contact_id)
    collaborator: Any = ...
    if "collaborator_id" in sent:
        collaborator = _optional(request, User, payload.collaborator_id)
    services.update_followup(
        actor=_me(request),
        followup=followup,
        data=data,
        version=payload.version,
        contact=contact,
        collaborator=collaborator,
    )
    return _followup(request, followup_id)


@router.delete("/followups/{followup_id}", response={204: None}, summary="Delete a follow-up")
def delete_followup(request: HttpRequest, followup_id: int) -> Any:
    _require(request, "delete")
    services.delete_followup(actor=_me(request), followup=_followup(request, followup_id))
    return Status(204, None)


# --- Visit plans ----------------------------------------------------------------------------------
def _plan_read(qs: QuerySet[VisitPlan]) -> QuerySet[VisitPlan]:
    return qs.select_related("owner", "customer", "opportunity", "contact")


def _plan(request: HttpRequest, pk: int) -> VisitPlan:
    plan: VisitPlan = scoped_get(request, _plan_read(scoped(request, VisitPlan)), pk)
    return plan


@router.get(
    "/plans",
    response=list[VisitPlanRead],
    summary="Visit plans you may see, soonest first (a plan is cancelled, never deleted)",
)
@paginate(Paginated)
def list_plans(
    request: HttpRequest,
    filters: Query[VisitPlanFilter],
    sort: str | None = Query(None, description=PLAN_SORT_HELP),
) -> Any:
    qs = scoped(request, VisitPlan)
    if filters.owner_id is not None:
        qs = qs.filter(owner_id=filters.owner_id)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.date_from:
        qs = qs.filter(planned_at__gte=day_start(filters.date_from))
    if filters.date_to:
        qs = qs.filter(planned_at__lt=day_start(filters.date_to + timedelta(days=1)))
    return apply_sort(_plan_read(qs), sort, PLAN_SORTS, PLAN_DEFAULT_SORT)


@router.post("/plans", response={201: VisitPlanRead}, summary="Plan a visit (or a call)")
def create_plan(request: HttpRequest, payload: VisitPlanCreate) -> Any:
    _require(request, "create")
    customer = scoped_get(request, Customer, payload.customer_id)
    plan = services.plan_visit(
        actor=_me(request),
        customer=customer,
        data=payload.dict(include={"method", "planned_at", "purpose", "note"}),
        opportunity=_optional(request, Opportunity, payload.opportunity_id),
        contact=_optional(request, Contact, payload.contact_id),
        owner=_optional(request, User, payload.owner_id),
    )
    return Status(201, _plan(request, plan.pk))


@router.get("/plans/{plan_id}", response=VisitPlanRead, summary="A visit plan")
def get_plan(request: HttpRequest, plan_id: int) -> Any:
    return _plan(request, plan_id)


@router.patch(
    "/plans/{plan_id}",
    response=VisitPlanRead,
    summary="Change a planned visit (send the version you read; stale → 409)",
)
def update_plan(request: HttpRequest, plan_id: int, payload: VisitPlanUpdate) -> Any:
    _require(request, "edit")
    plan = _plan(request, plan_id)
    data = payload.dict(exclude_unset=True, exclude={"version"})
    data = {k: v for k, v in data.items() if v is not None}
    services.update_plan(actor=_me(request), plan=plan, data=data, version=payload.version)
    return _plan(request, plan_id)


@router.post(
    "/plans/{plan_id}/status",
    response=VisitPlanRead,
    summary="Mark a planned visit missed or cancelled (done comes with its follow-up)",
)
def set_plan_status(request: HttpRequest, plan_id: int, payload: PlanStatusIn) -> Any:
    _require(request, "edit")
    plan = _plan(request, plan_id)
    services.set_plan_status(
        actor=_me(request), plan=plan, status=payload.status, note=payload.note
    )
    return _plan(request, plan_id)


# --- Reminders ------------------------------------------------------------------------------------
@router.get("/reminders", response=list[ReminderRead], summary="Your reminders, newest first")
@paginate(Paginated)
def list_reminders(request: HttpRequest, filters: Query[ReminderFilter]) -> Any:
    _require(request, "view")
    qs = scoped(request, Reminder).filter(recipient=_me(request))
    if filters.open is not None:
        qs = qs.filter(done_at__isnull=filters.open)
    if filters.due is not None:
        now = timezone.now()
        qs = qs.filter(due_at__lte=now) if filters.due else qs.filter(due_at__gt=now)
    return qs.order_by("-due_at", "-pk")


@router.post("/reminders/{reminder_id}/done", response=ReminderRead, summary="Mark it done")
def reminder_done(request: HttpRequest, reminder_id: int) -> Any:
    _require(request, "view")
    reminder = scoped_get(
        request, scoped(request, Reminder).filter(recipient=_me(request)), reminder_id
    )
    return reminders.mark_done(actor=_me(request), reminder=reminder)


# --- Reminder rules -------------------------------------------------------------------------------
def _rule(request: HttpRequest, pk: int) -> ReminderRule:
    _require_configure(request)
    rule: ReminderRule = scoped_get(request, ReminderRule, pk)
    return rule


@router.get(
    "/reminder-rules",
    response=list[ReminderRuleRead],
    summary="The organisation's reminder rules (configure)",
)
@paginate(Paginated)
def list_reminder_rules(request: HttpRequest) -> Any:
    _require_configure(request)
    return scoped(request, ReminderRule).order_by("kind", "pk")


@router.post(
    "/reminder-rules", response={201: ReminderRuleRead}, summary="Add a reminder rule (configure)"
)
def create_reminder_rule(request: HttpRequest, payload: ReminderRuleCreate) -> Any:
    _require_configure(request)
    return Status(201, services.save_rule(actor=_me(request), data=payload.dict()))


@router.patch(
    "/reminder-rules/{rule_id}",
    response=ReminderRuleRead,
    summary="Change a reminder rule; only the fields sent change (configure)",
)
def update_reminder_rule(request: HttpRequest, rule_id: int, payload: ReminderRuleUpdate) -> Any:
    rule = _rule(request, rule_id)
    data = {
        "kind": rule.kind,
        "name": rule.name,
        "offsets": rule.offsets,
        "notify_manager": rule.notify_manager,
        "send_email": rule.send_email,
        "is_active": rule.is_active,
    }
    data.update({k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None})
    return services.save_rule(actor=_me(request), data=data, rule=rule)


@router.delete(
    "/reminder-rules/{rule_id}", response={204: None}, summary="Delete a reminder rule (configure)"
)
def delete_reminder_rule(request: HttpRequest, rule_id: int) -> Any:
    services.delete_rule(actor=_me(request), rule=_rule(request, rule_id))
    return Status(204, None)
