"""/api/v1/opportunities/: opportunities (R4.1 – R4.3, R4.6 – R4.8, R10.1), their stage moves and
closings, stage history, product lines, the built-in and saved queries with their counts.

Thin handlers: check the function permission, look records up through the scoped layer (another
tenant's and out-of-scope ids answer 404, ids in the body too), call one service of
``crm.pipeline.opportunities`` (or ``crm.pipeline.queries``), serialise. A stale ``version``
answers 409 ``edit_conflict`` whose ``errors`` say who changed which field.
"""

from typing import Any, Literal

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Status
from ninja.pagination import paginate

from crm.core import confidential
from crm.core import custom_field_filters as cf_params
from crm.core.api import Paginated, apply_sort, scoped, scoped_get
from crm.core.errors import Conflict, NotFound, PermissionDenied
from crm.customers.models import Contact, Customer
from crm.org.models import User

from . import opportunities as services
from . import queries
from .models import Opportunity, OpportunityLine, Pipeline, SavedQuery, Stage, StageHistory
from .opportunity_schemas import (
    OPPORTUNITY_DEFAULT_SORT,
    OPPORTUNITY_SORTS,
    AbandonIn,
    LineRead,
    LoseIn,
    MoveIn,
    OpportunityBulkTransferIn,
    OpportunityCollaboratorsIn,
    OpportunityCountOut,
    OpportunityCounts,
    OpportunityCreate,
    OpportunityFilter,
    OpportunityRead,
    OpportunityTransferIn,
    OpportunityUpdate,
    ReopenIn,
    SavedQueryCreate,
    SavedQueryRead,
    SavedQueryUpdate,
    StageHistoryRead,
    StatusNoteIn,
    WinIn,
)

router = Router()

SORT_HELP = "Comma-separated, `-` for descending: " + ", ".join(OPPORTUNITY_SORTS)
#: fields of OpportunityUpdate that a PATCH may set to null (every other null is ignored)
NULLABLE_FIELDS = {"expected_amount", "expected_close_date"}
#: fields of OpportunityCreate / OpportunityUpdate handed to the services as ``data``
DATA_FIELDS = {
    "name",
    "business_type",
    "source",
    "probability",
    "probability_level",
    "feedback_cycle",
    "action_principle",
    "is_key",
    "expected_amount",
    "expected_close_date",
    "notes",
    "custom",  # H-CF: custom field values
}


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require(request: HttpRequest, action: str) -> None:
    if not _me(request).can("opportunities", action):
        raise PermissionDenied()


def _scoped_many(qs: QuerySet, ids: list[int]) -> list[Any]:
    """Every id must be one the caller may see (else 404, nothing changes)."""
    rows = list(qs.filter(pk__in=ids))
    if len(rows) != len(set(ids)):
        raise NotFound()
    return rows


def _optional(request: HttpRequest, model: Any, pk: int | None) -> Any:
    return None if pk is None else scoped_get(request, model, pk)


def read_queryset(qs: QuerySet[Opportunity]) -> QuerySet[Opportunity]:
    """``qs`` (already scoped) with everything OpportunityRead shows, in a fixed number of
    queries whatever the page size."""
    return qs.select_related(
        "customer",
        "contact",
        "pipeline",
        "stage",
        "node",
        "owner",
        "created_by",
        "last_followup_contact",
        "last_followup_by",
        "next_followup_collaborator",
    ).prefetch_related("collaborators", "contacts", "lines", "confidential_viewers")


def _opportunity(request: HttpRequest, pk: int) -> Opportunity:
    opportunity: Opportunity = scoped_get(
        request, scoped(request, Opportunity).select_related("pipeline", "stage"), pk
    )
    return opportunity


def _after_write(request: HttpRequest, opportunity: Opportunity) -> Opportunity:
    """The opportunity as OpportunityRead shows it after a write, even when the write took it
    out of the caller's sight (a transfer to someone outside their scope)."""
    row = read_queryset(scoped(request, Opportunity)).filter(pk=opportunity.pk).first()
    if row is None:
        opportunity.refresh_from_db()
        return opportunity
    return row


# --- The list (literal paths before /{opportunity_id}) --------------------------------------------
@router.get(
    "",
    response=list[OpportunityRead],
    summary="Opportunities you may see (filters, built-in and saved queries, sort, paginate)",
    description=cf_params.API_HELP,
)
@paginate(Paginated)
def list_opportunities(
    request: HttpRequest,
    filters: Query[OpportunityFilter],
    builtin: Literal["mine", "overdue", "plan7", "done7"] | None = Query(
        None, description="A built-in query: mine, overdue, plan7 (7-day plan), done7"
    ),
    conditions: str | None = Query(
        None,
        description='Conditions as JSON: {"match": "all", "rules": [{"field": "stage", '
        '"op": "eq", "value": 12}]} (fields and operators as the list page offers them)',
    ),
    sort: str | None = Query(None, description=SORT_HELP),
) -> Any:
    me = _me(request)
    qs = filters.apply(scoped(request, Opportunity), me)
    now = timezone.now()
    if builtin:
        qs = qs.filter(queries.BUILTIN_BY_KEY[builtin].condition(me, now))
    if filters.saved_query_id is not None:
        saved = scoped_get(request, _saved(request), filters.saved_query_id)
        qs = qs.filter(queries.compile_conditions(me, saved.conditions, now=now))
    if conditions is not None:
        parsed = queries.parse_conditions(conditions)
        qs = qs.filter(queries.compile_conditions(me, parsed, now=now))
    qs = cf_params.filter_for_api(me, "opportunity", request.GET, qs)  # H-PLAT: cf_<key>
    return apply_sort(read_queryset(qs), sort, OPPORTUNITY_SORTS, OPPORTUNITY_DEFAULT_SORT)


@router.get(
    "/counts",
    response=OpportunityCounts,
    summary="Live counts of the built-in and saved queries, and overdue opportunities per rep",
)
def opportunity_counts(request: HttpRequest) -> Any:
    _require(request, "view")
    me = _me(request)
    now = timezone.now()
    builtin = queries.builtin_counts(me, now=now)
    saved = list(_saved(request))
    counts = queries.saved_counts(me, saved, now=now)
    return {
        "builtin": [
            {"key": b.key, "name": str(b.label), "count": builtin[b.key]} for b in queries.BUILTIN
        ],
        "saved": [{"key": str(q.pk), "name": q.name, "count": counts.get(q.pk)} for q in saved],
        "overdue_by_rep": [
            {"user": user, "count": n} for user, n in queries.overdue_by_rep(me, now=now)
        ],
    }


@router.post(
    "/bulk/transfer",
    response=OpportunityCountOut,
    summary="Transfer several opportunities to a colleague (all or nothing)",
)
def bulk_transfer(request: HttpRequest, payload: OpportunityBulkTransferIn) -> Any:
    # R10.1 (api-gaps): the list page's bulk transfer, through the same service; an id the
    # caller may not transfer is a 404 and nothing moves
    _require(request, "transfer")
    me = _me(request)
    chosen = _scoped_many(scoped(request, Opportunity, "transfer"), payload.ids)
    to_user = scoped_get(request, User, payload.to_user_id)
    with transaction.atomic():
        count = services.transfer_opportunities(
            actor=me, opportunities=chosen, to_user=to_user, reason=payload.reason
        )
    return {"count": count}


# --- Saved queries --------------------------------------------------------------------------------
def _saved(request: HttpRequest) -> QuerySet[SavedQuery]:
    """The caller's own opportunity queries and those shared with them."""
    _require(request, "view")
    return queries.saved_queries(_me(request))


@router.get(
    "/saved-queries",
    response=list[SavedQueryRead],
    summary="Your saved queries and those shared with you",
)
@paginate(Paginated)
def list_saved_queries(request: HttpRequest) -> Any:
    return _saved(request)


@router.post("/saved-queries", response={201: SavedQueryRead}, summary="Save a query")
def create_saved_query(request: HttpRequest, payload: SavedQueryCreate) -> Any:
    _require(request, "view")
    query = queries.save_query(_me(request), payload.dict())
    return Status(201, scoped_get(request, _saved(request), query.pk))


@router.get("/saved-queries/{query_id}", response=SavedQueryRead, summary="A saved query")
def get_saved_query(request: HttpRequest, query_id: int) -> Any:
    return scoped_get(request, _saved(request), query_id)


@router.patch(
    "/saved-queries/{query_id}",
    response=SavedQueryRead,
    summary="Change a saved query (its owner only); only the fields sent change",
)
def update_saved_query(request: HttpRequest, query_id: int, payload: SavedQueryUpdate) -> Any:
    query = scoped_get(request, _saved(request), query_id)
    data = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    queries.save_query(_me(request), data, query=query)
    return scoped_get(request, _saved(request), query_id)


@router.delete(
    "/saved-queries/{query_id}", response={204: None}, summary="Delete a saved query (its owner)"
)
def delete_saved_query(request: HttpRequest, query_id: int) -> Any:
    queries.delete_query(_me(request), scoped_get(request, _saved(request), query_id))
    return Status(204, None)


@router.post(
    "",
    response={201: OpportunityRead},
    summary="Create an opportunity of a customer (with product lines, contacts, collaborators)",
)
def create_opportunity(request: HttpRequest, payload: OpportunityCreate) -> Any:
    _require(request, "create")
    customer = scoped_get(request, Customer, payload.customer_id)
    data = payload.dict(include=DATA_FIELDS)
    if data.get("probability") is None:
        data.pop("probability", None)
    data["contact"] = _optional(request, Contact, payload.contact_id)
    owner = _optional(request, User, payload.owner_id)
    marked = payload.is_confidential or bool(payload.confidential_viewer_ids)
    if marked:  # 403 before anything is written
        confidential.require_may_create(_me(request), owner or _me(request))
    with transaction.atomic():
        opportunity = services.create_opportunity(
            actor=_me(request),
            customer=customer,
            data=data,
            owner=owner,
            pipeline=_optional(request, Pipeline, payload.pipeline_id),
            stage=_optional(request, Stage, payload.stage_id),
            node=_optional(request, Stage, payload.node_id),
            lines=[line.dict() for line in payload.lines],
            collaborators=_scoped_many(scoped(request, User), payload.collaborator_ids),
            contacts=_scoped_many(scoped(request, Contact), payload.contact_ids),
        )
        if marked:
            confidential.set_confidential(
                actor=_me(request),
                record=opportunity,
                is_confidential=payload.is_confidential,
                viewers=payload.confidential_viewer_ids,
            )
    return Status(201, _after_write(request, opportunity))


# --- One opportunity ------------------------------------------------------------------------------
@router.get("/{opportunity_id}", response=OpportunityRead, summary="An opportunity")
def get_opportunity(request: HttpRequest, opportunity_id: int) -> Any:
    return scoped_get(request, read_queryset(scoped(request, Opportunity)), opportunity_id)


@router.patch(
    "/{opportunity_id}",
    response=OpportunityRead,
    summary="Edit fields, lines, contacts, collaborators (send the version you read; stale → 409)",
)
def update_opportunity(
    request: HttpRequest, opportunity_id: int, payload: OpportunityUpdate
) -> Any:
    _require(request, "edit")
    opportunity = _opportunity(request, opportunity_id)
    sent = payload.model_fields_set
    data = payload.dict(exclude_unset=True, include=DATA_FIELDS)
    data = {k: v for k, v in data.items() if v is not None or k in NULLABLE_FIELDS}
    if "contact_id" in sent:
        data["contact"] = _optional(request, Contact, payload.contact_id)
    marks = payload.is_confidential is not None or payload.confidential_viewer_ids is not None
    if marks:  # 403 before anything is written
        confidential.require_may_change(_me(request), opportunity)
    with transaction.atomic():
        if marks and not (sent - {"version", *confidential.KEYS}):
            if payload.version != opportunity.version:
                raise Conflict()
        else:
            services.update_opportunity(
                actor=_me(request),
                opportunity=opportunity,
                data=data,
                version=payload.version,
                lines=None if payload.lines is None else [line.dict() for line in payload.lines],
                collaborators=None
                if payload.collaborator_ids is None
                else _scoped_many(scoped(request, User), payload.collaborator_ids),
                contacts=None
                if payload.contact_ids is None
                else _scoped_many(scoped(request, Contact), payload.contact_ids),
            )
        if marks:
            confidential.set_confidential(
                actor=_me(request),
                record=opportunity,
                is_confidential=payload.is_confidential,
                viewers=payload.confidential_viewer_ids,
            )
    return _after_write(request, opportunity)


@router.delete(
    "/{opportunity_id}",
    response={204: None},
    summary="Delete an opportunity (its lines and stage history go with it)",
)
def delete_opportunity(request: HttpRequest, opportunity_id: int) -> Any:
    _require(request, "delete")
    services.delete_opportunity(
        actor=_me(request), opportunity=_opportunity(request, opportunity_id)
    )
    return Status(204, None)


# --- Stage moves and closings ---------------------------------------------------------------------
@router.post(
    "/{opportunity_id}/move",
    response=OpportunityRead,
    summary="Move to another open stage or node (stage history is written)",
)
def move_opportunity(request: HttpRequest, opportunity_id: int, payload: MoveIn) -> Any:
    _require(request, "edit")
    opportunity = _opportunity(request, opportunity_id)
    services.move_stage(
        actor=_me(request),
        opportunity=opportunity,
        stage=scoped_get(request, Stage, payload.stage_id),
        node=_optional(request, Stage, payload.node_id),
        contact=_optional(request, Contact, payload.contact_id),
        note=payload.note,
        version=payload.version,
    )
    return _after_write(request, opportunity)


@router.post(
    "/{opportunity_id}/win",
    response=OpportunityRead,
    summary="Close as won (actual amount and close date required)",
)
def win_opportunity(request: HttpRequest, opportunity_id: int, payload: WinIn) -> Any:
    _require(request, "edit")
    opportunity = _opportunity(request, opportunity_id)
    services.win_opportunity(
        actor=_me(request),
        opportunity=opportunity,
        actual_amount=payload.actual_amount,
        actual_close_date=payload.actual_close_date,
        note=payload.note,
        version=payload.version,
    )
    return _after_write(request, opportunity)


@router.post(
    "/{opportunity_id}/lose",
    response=OpportunityRead,
    summary="Close as lost, with a reason from the list and the lessons learnt",
)
def lose_opportunity(request: HttpRequest, opportunity_id: int, payload: LoseIn) -> Any:
    _require(request, "edit")
    opportunity = _opportunity(request, opportunity_id)
    services.lose_opportunity(
        actor=_me(request),
        opportunity=opportunity,
        reason=payload.loss_reason,
        note=payload.note,
        stage=_optional(request, Stage, payload.stage_id),
        actual_close_date=payload.actual_close_date,
        version=payload.version,
    )
    return _after_write(request, opportunity)


@router.post(
    "/{opportunity_id}/abandon",
    response=OpportunityRead,
    summary="Close as abandoned (we stop pursuing it), with a reason",
)
def abandon_opportunity(request: HttpRequest, opportunity_id: int, payload: AbandonIn) -> Any:
    _require(request, "edit")
    opportunity = _opportunity(request, opportunity_id)
    services.abandon_opportunity(
        actor=_me(request),
        opportunity=opportunity,
        reason=payload.loss_reason,
        note=payload.note,
        version=payload.version,
    )
    return _after_write(request, opportunity)


@router.post(
    "/{opportunity_id}/pause",
    response=OpportunityRead,
    summary="Pause (a paused opportunity is neither overdue nor stalled)",
)
def pause_opportunity(request: HttpRequest, opportunity_id: int, payload: StatusNoteIn) -> Any:
    _require(request, "edit")
    opportunity = _opportunity(request, opportunity_id)
    services.pause_opportunity(
        actor=_me(request), opportunity=opportunity, note=payload.note, version=payload.version
    )
    return _after_write(request, opportunity)


@router.post("/{opportunity_id}/resume", response=OpportunityRead, summary="Resume a paused one")
def resume_opportunity(request: HttpRequest, opportunity_id: int, payload: StatusNoteIn) -> Any:
    _require(request, "edit")
    opportunity = _opportunity(request, opportunity_id)
    services.resume_opportunity(
        actor=_me(request), opportunity=opportunity, note=payload.note, version=payload.version
    )
    return _after_write(request, opportunity)


@router.post(
    "/{opportunity_id}/reopen",
    response=OpportunityRead,
    summary="Reopen a won, lost or abandoned opportunity at an open stage (managers)",
)
def reopen_opportunity(request: HttpRequest, opportunity_id: int, payload: ReopenIn) -> Any:
    _require(request, "approve")
    opportunity = _opportunity(request, opportunity_id)
    services.reopen_opportunity(
        actor=_me(request),
        opportunity=opportunity,
        stage=_optional(request, Stage, payload.stage_id),
        note=payload.note,
        version=payload.version,
    )
    return _after_write(request, opportunity)


# --- People ---------------------------------------------------------------------------------------
@router.post(
    "/{opportunity_id}/transfer", response=OpportunityRead, summary="Transfer to a colleague"
)
def transfer_opportunity(
    request: HttpRequest, opportunity_id: int, payload: OpportunityTransferIn
) -> Any:
    _require(request, "transfer")
    opportunity = _opportunity(request, opportunity_id)
    services.transfer_opportunities(
        actor=_me(request),
        opportunities=[opportunity],
        to_user=scoped_get(request, User, payload.to_user_id),
        reason=payload.reason,
    )
    return _after_write(request, opportunity)


@router.put(
    "/{opportunity_id}/collaborators",
    response=OpportunityRead,
    summary="Set the colleagues who work the opportunity with the owner",
)
def set_opportunity_collaborators(
    request: HttpRequest, opportunity_id: int, payload: OpportunityCollaboratorsIn
) -> Any:
    _require(request, "edit")
    opportunity = _opportunity(request, opportunity_id)
    services.set_collaborators(
        actor=_me(request),
        opportunity=opportunity,
        users=_scoped_many(scoped(request, User), payload.user_ids),
    )
    return _after_write(request, opportunity)


# --- History and lines ----------------------------------------------------------------------------
@router.get(
    "/{opportunity_id}/history",
    response=list[StageHistoryRead],
    summary="Stage history: every stage and node passed, oldest first",
)
@paginate(Paginated)
def opportunity_history(request: HttpRequest, opportunity_id: int) -> Any:
    opportunity = _opportunity(request, opportunity_id)
    return (
        scoped(request, StageHistory)
        .filter(opportunity=opportunity)
        .select_related("pipeline", "stage", "node", "contact", "person")
        .order_by("entered_at", "pk")
    )


@router.get(
    "/{opportunity_id}/lines", response=list[LineRead], summary="Product lines, in their order"
)
@paginate(Paginated)
def opportunity_lines(request: HttpRequest, opportunity_id: int) -> Any:
    opportunity = _opportunity(request, opportunity_id)
    return (
        scoped(request, OpportunityLine)
        .filter(opportunity=opportunity)
        .order_by("sort_order", "pk")
    )
