"""/api/v1/leads/: leads (CRUD and every action), lead pools and assignment rules.

Handlers parse, fetch through the scoped layer (``scoped`` / ``scoped_get``: out of scope and
other tenants answer 404), call one service and serialise.
"""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from crm.core import custom_field_filters as cf_params
from crm.core.api import Paginated, apply_sort, error_body, scoped, scoped_get
from crm.core.errors import NotFound
from crm.customers.models import Customer
from crm.customers.services import DuplicateCustomer
from crm.org.models import User
from crm.pipeline.opportunity_schemas import UpdatedWindow, with_updated_sort

from . import selectors, services
from .filters import LEAD_SORTS, LeadFilter
from .models import AssignmentRule, Lead, LeadPool
from .schemas import (
    BulkAssign,
    BulkDistribute,
    BulkIds,
    BulkInvalid,
    BulkResult,
    LeadAssign,
    LeadConvert,
    LeadCreate,
    LeadDuplicateCandidate,
    LeadDuplicateError,
    LeadInvalid,
    LeadPoolRead,
    LeadRead,
    LeadRelease,
    LeadUpdate,
    PoolMembers,
    PoolWrite,
    RuleRead,
    RuleWrite,
)

router = Router()


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _lead(request: HttpRequest, lead_id: int) -> Lead:
    return scoped_get(request, Lead, lead_id)


def _leads(request: HttpRequest, ids: list[int]) -> list[Lead]:
    leads = list(scoped(request, Lead).select_related("pool").filter(pk__in=ids))
    if len(leads) != len(set(ids)):
        raise NotFound()
    order = {pk: i for i, pk in enumerate(ids)}
    return sorted(leads, key=lambda lead: order[lead.pk])


def _user(request: HttpRequest, pk: int | None) -> User | None:
    return None if pk is None else scoped_get(request, User, pk)


def _users(request: HttpRequest, ids: list[int] | None) -> list[User] | None:
    if ids is None:
        return None
    users = list(scoped(request, User).filter(pk__in=ids))
    if len(users) != len(set(ids)):
        raise NotFound()
    return users


def _pool_in_sight(request: HttpRequest, pk: int) -> LeadPool:
    """A pool the caller works with (manages, belongs to, or runs as marketing); others answer
    404 as the pages do, not 403, so a pool's existence is not given away."""
    return scoped_get(request, selectors.pools_for(request.user), pk)


def _pool(request: HttpRequest, pk: int | None) -> LeadPool | None:
    return None if pk is None else _pool_in_sight(request, pk)


def _campaign(request: HttpRequest, pk: int | None) -> Any:
    """H-CAMP: a campaign the caller sees (marketing:view); else 404 like any hidden id."""
    from crm.marketing.models import Campaign

    return None if pk is None else scoped_get(request, Campaign, pk)


# --- Leads ---------------------------------------------------------------------------------------
@router.get(
    "/leads",
    response=list[LeadRead],
    summary="Leads (filter, sort, paginate)",
    description=cf_params.API_HELP,
)
@paginate(Paginated)
def list_leads(
    request: HttpRequest,
    filters: Query[LeadFilter],
    window: Query[UpdatedWindow],
    sort: str | None = None,
) -> Any:
    qs = scoped(request, Lead).select_related("pool", "owner", "campaign")
    qs = filters.apply(qs, request.user)
    qs = window.apply(qs)  # R10.1 incremental sync
    qs = cf_params.filter_for_api(request.user, "lead", request.GET, qs)  # H-PLAT: cf_<key>
    return apply_sort(qs, sort, with_updated_sort(LEAD_SORTS), ["-created_at", "-pk"])


@router.post("/leads", response={201: LeadRead}, summary="Create a lead; the rules assign it")
def create_lead(request: HttpRequest, payload: LeadCreate) -> Any:
    data = payload.dict(exclude={"pool_id", "owner_id", "source", "campaign_id"})
    lead = services.create_lead(
        campaign=_campaign(request, payload.campaign_id),
        actor=_me(request),
        data=data,
        pool=_pool(request, payload.pool_id),
        source=payload.source or "api",
        owner=_user(request, payload.owner_id),
    )
    return Status(201, lead)


# literal paths before /leads/{lead_id}
@router.post("/leads/bulk/distribute", response=BulkResult, summary="Move leads to a pool")
def bulk_distribute(request: HttpRequest, payload: BulkDistribute) -> Any:
    count = services.distribute_to_subpool(
        actor=_me(request),
        leads=_leads(request, payload.lead_ids),
        pool=scoped_get(request, LeadPool, payload.pool_id),
    )
    return {"count": count}


@router.post("/leads/bulk/assign", response=BulkResult, summary="Assign leads to a rep")
def bulk_assign(request: HttpRequest, payload: BulkAssign) -> Any:
    count = services.assign_leads(
        actor=_me(request),
        leads=_leads(request, payload.lead_ids),
        to_user=scoped_get(request, User, payload.user_id),
    )
    return {"count": count}


@router.post("/leads/bulk/invalid", response=BulkResult, summary="Mark leads invalid")
def bulk_invalid(request: HttpRequest, payload: BulkInvalid) -> Any:
    count = services.bulk_mark_invalid(
        actor=_me(request),
        leads=_leads(request, payload.lead_ids),
        reason=payload.reason,
        note=payload.note,
    )
    return {"count": count}


@router.post(
    "/leads/bulk/apply-rules", response=BulkResult, summary="Run the rules on unassigned leads"
)
def bulk_apply_rules(request: HttpRequest, payload: BulkIds) -> Any:
    count = services.reapply_rules(actor=_me(request), leads=_leads(request, payload.lead_ids))
    return {"count": count}


@router.get("/leads/{lead_id}", response=LeadRead)
def get_lead(request: HttpRequest, lead_id: int) -> Any:
    return _lead(request, lead_id)


@router.patch("/leads/{lead_id}", response=LeadRead, summary="Edit a lead's fields")
def update_lead(request: HttpRequest, lead_id: int, payload: LeadUpdate) -> Any:
    data = payload.dict(exclude_unset=True)
    version = data.pop("version", None)
    lead = _lead(request, lead_id)
    extra: dict[str, Any] = {}
    if "campaign_id" in data:  # H-CAMP
        extra["campaign"] = _campaign(request, data.pop("campaign_id"))
    return services.update_lead(actor=_me(request), lead=lead, data=data, version=version, **extra)


@router.delete("/leads/{lead_id}", response={204: None}, summary="Delete a lead not converted")
def delete_lead(request: HttpRequest, lead_id: int) -> Any:
    services.delete_lead(actor=_me(request), lead=_lead(request, lead_id))
    return Status(204, None)


@router.post("/leads/{lead_id}/claim", response=LeadRead, summary="Claim from my sub-pool")
def claim_lead(request: HttpRequest, lead_id: int) -> Any:
    return services.claim_lead(actor=_me(request), lead=_lead(request, lead_id))


@router.post("/leads/{lead_id}/release", response=LeadRead, summary="Back to its pool")
def release_lead(request: HttpRequest, lead_id: int, payload: LeadRelease) -> Any:
    return services.release_lead(
        actor=_me(request), lead=_lead(request, lead_id), reason=payload.reason
    )


@router.post("/leads/{lead_id}/assign", response=LeadRead, summary="Assign to a rep")
def assign_lead(request: HttpRequest, lead_id: int, payload: LeadAssign) -> Any:
    lead = _lead(request, lead_id)
    to_user = scoped_get(request, User, payload.user_id)
    services.assign_leads(actor=_me(request), leads=[lead], to_user=to_user)
    lead.refresh_from_db()
    return lead


@router.post("/leads/{lead_id}/contacted", response=LeadRead, summary="new → contacted")
def mark_contacted(request: HttpRequest, lead_id: int) -> Any:
    return services.mark_contacted(actor=_me(request), lead=_lead(request, lead_id))


@router.post("/leads/{lead_id}/qualified", response=LeadRead, summary="→ qualified")
def mark_qualified(request: HttpRequest, lead_id: int) -> Any:
    return services.mark_qualified(actor=_me(request), lead=_lead(request, lead_id))


@router.post("/leads/{lead_id}/invalid", response=LeadRead, summary="→ invalid, with a reason")
def mark_invalid(request: HttpRequest, lead_id: int, payload: LeadInvalid) -> Any:
    return services.mark_invalid(
        actor=_me(request), lead=_lead(request, lead_id), reason=payload.reason, note=payload.note
    )


@router.post("/leads/{lead_id}/reopen", response=LeadRead, summary="invalid → new")
def reopen_lead(request: HttpRequest, lead_id: int) -> Any:
    return services.reopen_lead(actor=_me(request), lead=_lead(request, lead_id))


@router.get(
    "/leads/{lead_id}/duplicates",
    response=list[LeadDuplicateCandidate],
    summary="Customers that look like this lead (check before converting)",
)
def lead_duplicates(request: HttpRequest, lead_id: int) -> Any:
    return selectors.conversion_candidates(request.user, _lead(request, lead_id))


@router.post(
    "/leads/{lead_id}/convert",
    response={200: LeadRead, 409: LeadDuplicateError},
    summary="Convert a qualified lead into a customer and contact (or link an existing one)",
)
def convert_lead(request: HttpRequest, lead_id: int, payload: LeadConvert) -> Any:
    lead = _lead(request, lead_id)
    customer = (
        None
        if payload.customer_id is None
        else scoped_get(request, Customer, payload.customer_id, "edit")
    )
    try:
        return services.convert_lead(
            actor=_me(request),
            lead=lead,
            customer=customer,
            create_opportunity=payload.create_opportunity,
            allow_duplicate=payload.allow_duplicate,
        )
    except DuplicateCustomer as exc:
        body = error_body(exc.code, exc.message, exc.field_errors)
        return Status(409, {**body, "candidates": exc.candidates})


# --- Pools ---------------------------------------------------------------------------------------
@router.get("/pools", response=list[LeadPoolRead], summary="The pools I work with")
def list_pools(request: HttpRequest) -> Any:
    return selectors.pools_for(request.user).prefetch_related("managers", "members")


@router.post("/pools", response={201: LeadPoolRead}, summary="Create a sub-pool")
def create_pool(request: HttpRequest, payload: PoolWrite) -> Any:
    # null means "not sent": none of these columns is nullable
    data = payload.dict(exclude_none=True, exclude={"manager_ids", "member_ids"})
    pool = services.save_pool(
        actor=_me(request),
        data=data,
        managers=_users(request, payload.manager_ids),
        members=_users(request, payload.member_ids),
    )
    return Status(201, pool)


@router.get("/pools/{pool_id}", response=LeadPoolRead)
def get_pool(request: HttpRequest, pool_id: int) -> Any:
    return _pool_in_sight(request, pool_id)


@router.patch("/pools/{pool_id}", response=LeadPoolRead, summary="Edit a pool")
def update_pool(request: HttpRequest, pool_id: int, payload: PoolWrite) -> Any:
    # null means "not sent": none of these columns is nullable
    data = payload.dict(exclude_none=True, exclude={"manager_ids", "member_ids"})
    return services.save_pool(
        actor=_me(request),
        pool=_pool_in_sight(request, pool_id),
        data=data,
        managers=_users(request, payload.manager_ids),
        members=_users(request, payload.member_ids),
    )


@router.put("/pools/{pool_id}/members", response=LeadPoolRead, summary="Set who works the pool")
def set_pool_members(request: HttpRequest, pool_id: int, payload: PoolMembers) -> Any:
    return services.set_pool_members(
        actor=_me(request),
        pool=_pool_in_sight(request, pool_id),
        members=_users(request, payload.member_ids) or [],
    )


@router.post("/pools/{pool_id}/form-token", response=LeadPoolRead, summary="New web form address")
def regenerate_form_token(request: HttpRequest, pool_id: int) -> Any:
    return services.regenerate_form_token(actor=_me(request), pool=_pool_in_sight(request, pool_id))


# --- Assignment rules ----------------------------------------------------------------------------
def _rule_kwargs(request: HttpRequest, payload: RuleWrite) -> dict[str, Any]:
    return {
        "data": {
            "name": payload.name,
            "order": payload.order,
            "is_active": payload.is_active,
            "conditions": payload.conditions.dict(),
            "strategy": payload.strategy,
            "cap": payload.cap,
        },
        "eligible_users": _users(request, payload.eligible_user_ids),
        "fixed_user": _user(request, payload.fixed_user_id),
        "target_pool": _pool(request, payload.target_pool_id),
    }


@router.get("/rules", response=list[RuleRead], summary="Assignment rules, in order")
def list_rules(request: HttpRequest) -> Any:
    return (
        scoped(request, AssignmentRule, "configure")
        .prefetch_related("eligible_users")
        .order_by("order", "pk")
    )


@router.post("/rules", response={201: RuleRead}, summary="Add an assignment rule")
def create_rule(request: HttpRequest, payload: RuleWrite) -> Any:
    return Status(201, services.save_rule(actor=_me(request), **_rule_kwargs(request, payload)))


@router.get("/rules/{rule_id}", response=RuleRead)
def get_rule(request: HttpRequest, rule_id: int) -> Any:
    return scoped_get(request, AssignmentRule, rule_id, "configure")


@router.put("/rules/{rule_id}", response=RuleRead, summary="Replace an assignment rule")
def update_rule(request: HttpRequest, rule_id: int, payload: RuleWrite) -> Any:
    rule = scoped_get(request, AssignmentRule, rule_id, "configure")
    return services.save_rule(actor=_me(request), rule=rule, **_rule_kwargs(request, payload))


@router.delete("/rules/{rule_id}", response={204: None})
def delete_rule(request: HttpRequest, rule_id: int) -> Any:
    services.delete_rule(
        actor=_me(request), rule=scoped_get(request, AssignmentRule, rule_id, "configure")
    )
    return Status(204, None)


# H-LSCORE: /api/v1/leads/scoring/… (crm.leads.scoring_api)
from .scoring_api import router as scoring_router  # noqa: E402

router.add_router("/scoring", scoring_router)
