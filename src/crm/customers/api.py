"""/api/v1/customers/: customers, contacts, public pools (公海) and tags.

Thin handlers: parse, look records up through the scoped layer (other tenants' and out-of-scope
ids answer 404), call one service or selector, serialise. A duplicate answers 409 with the
candidates (masked where the caller may not see them).
"""

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from ninja.pagination import paginate

from crm.core import confidential
from crm.core import custom_field_filters as cf_params
from crm.core.api import Paginated, apply_sort, error_body, scoped, scoped_get
from crm.core.audit import history_for
from crm.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from crm.core.schemas import EventRead
from crm.org.models import Department, User
from crm.pipeline.opportunity_schemas import UpdatedWindow, with_updated_sort

from . import pool_services, services
from .api_helpers import (
    contact_read_queryset,
    customer_read_queryset,
    pool_read_queryset,
)
from .filters import (
    CONTACT_DEFAULT_SORT,
    CONTACT_SORTS,
    CUSTOMER_DEFAULT_SORT,
    CUSTOMER_SORTS,
    ContactFilter,
    CustomerFilter,
)
from .models import Contact, Customer, PublicPool, Tag
from .normalize import phone_digits
from .pools import visible_pool_ids
from .schemas import (
    AssignIn,
    BulkReleaseIn,
    BulkTransferIn,
    CallerOut,
    CollaboratorsIn,
    ContactCreate,
    ContactRead,
    ContactUpdate,
    CountOut,
    CustomerCreate,
    CustomerRead,
    CustomerUpdate,
    DuplicateCandidates,
    DuplicateCheck,
    DuplicateError,
    MergeIn,
    PoolCreate,
    PoolRead,
    PoolUpdate,
    ReleaseIn,
    TagCreate,
    TagCustomersIn,
    TagRead,
    TransferIn,
)
from .selectors import active_customers

router = Router()

SORT_HELP = "Comma-separated, `-` for descending: " + ", ".join(CUSTOMER_SORTS)
#: fields a PATCH may set to null (every other null is ignored)
NULLABLE_POOL_FIELDS = {
    "days_without_followup",
    "days_without_deal",
    "owner_cap",
    "daily_claim_limit",
}


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require(request: HttpRequest, action: str) -> None:
    if not _me(request).can("customers", action):
        raise PermissionDenied()


def _scoped_many(request: HttpRequest, qs: QuerySet, ids: list[int]) -> list[Any]:
    """Every id must be one the caller may see (else 404, nothing changes)."""
    rows = list(qs.filter(pk__in=ids))
    if len(rows) != len(set(ids)):
        raise NotFound()
    return rows


def _user(request: HttpRequest, pk: int | None) -> User | None:
    return None if pk is None else scoped_get(request, User, pk)


def _read(request: HttpRequest, pk: int) -> Customer:
    """One customer as CustomerRead shows it (tombstones of merges included)."""
    customer = customer_read_queryset(scoped(request, Customer), _me(request)).filter(pk=pk).first()
    if customer is None:
        raise NotFound()
    return customer


def _after_write(request: HttpRequest, customer: Customer) -> Customer:
    """The customer as CustomerRead shows it after a move, even when the move took it out of
    the caller's sight (a transfer to someone outside their scope)."""
    found = customer_read_queryset(scoped(request, Customer), _me(request)).filter(pk=customer.pk)
    row = found.first()
    if row is None:
        customer.refresh_from_db()
        return customer
    return row


def _or_duplicate(call: Callable[[], Any]) -> Any:
    """Run a service; a DuplicateCustomer becomes ``Status(409, {code, message, errors,
    candidates})`` (the candidates masked where the caller may not see them)."""
    try:
        return call()
    except services.DuplicateCustomer as exc:
        body = error_body(exc.code, exc.message, exc.field_errors)
        return Status(409, {**body, "candidates": exc.candidates})


def _customer_list(
    request: HttpRequest,
    qs: QuerySet[Customer],
    filters: CustomerFilter,
    sort: str | None,
    window: UpdatedWindow | None = None,
) -> QuerySet[Customer]:
    qs = filters.apply(qs, _me(request))
    if window is not None:  # R10.1 incremental sync
        qs = window.apply(qs)
    qs = customer_read_queryset(qs, _me(request))
    return apply_sort(qs, sort, with_updated_sort(CUSTOMER_SORTS), CUSTOMER_DEFAULT_SORT)


# --- Customers: lists, duplicates and bulk actions (literal paths before /{customer_id}) ---------
@router.get(
    "/customers",
    response=list[CustomerRead],
    summary="Customers you may see (filter, search, sort, paginate)",
    description=cf_params.API_HELP,
)
@paginate(Paginated)
def list_customers(
    request: HttpRequest,
    filters: Query[CustomerFilter],
    window: Query[UpdatedWindow],
    sort: str | None = Query(None, description=SORT_HELP),
) -> Any:
    qs = active_customers(_me(request))
    qs = cf_params.filter_for_api(_me(request), "customer", request.GET, qs)  # H-PLAT: cf_<key>
    return _customer_list(request, qs, filters, sort, window)


@router.post(
    "/customers",
    response={201: CustomerRead, 409: DuplicateError},
    summary="Create a customer (with first contacts and tags); 409 if it already exists",
)
def create_customer(request: HttpRequest, payload: CustomerCreate) -> Any:
    me = _me(request)
    data = payload.dict(
        exclude={
            "owner_id",
            "parent_id",
            "tag_ids",
            "contacts",
            "allow_duplicate",
            *confidential.KEYS,
        }
    )
    owner = _user(request, payload.owner_id)
    parent = None if payload.parent_id is None else scoped_get(request, Customer, payload.parent_id)
    tags = _scoped_many(request, scoped(request, Tag), payload.tag_ids)
    marked = payload.is_confidential or bool(payload.confidential_viewer_ids)
    if marked:
        confidential.require_may_create(me, owner or me)

    def create() -> Customer:
        with transaction.atomic():
            customer = services.create_customer(
                actor=me,
                data=data,
                owner=owner,
                parent=parent,
                tags=tags,
                contacts=[c.dict() for c in payload.contacts],
                allow_duplicate=payload.allow_duplicate,
            )
            if marked:
                confidential.set_confidential(
                    actor=me,
                    record=customer,
                    is_confidential=payload.is_confidential,
                    viewers=payload.confidential_viewer_ids,
                )
            return customer

    result = _or_duplicate(create)
    return result if isinstance(result, Status) else Status(201, _after_write(request, result))


@router.post(
    "/customers/check-duplicates",
    response=DuplicateCandidates,
    summary="Existing customers with this name, phone or e-mail (masked if not yours to see)",
)
def check_duplicates(request: HttpRequest, payload: DuplicateCheck) -> Any:
    _require(request, "view")
    return {
        "candidates": services.check_duplicates(
            _me(request),
            name=payload.name,
            phones=payload.phones,
            emails=payload.emails,
            exclude_id=payload.exclude_id,
        )
    }


@router.post(
    "/customers/transfer", response=CountOut, summary="Transfer several customers to a colleague"
)
def transfer_many(request: HttpRequest, payload: BulkTransferIn) -> Any:
    customers = _scoped_many(request, active_customers(_me(request)), payload.ids)
    moved = services.transfer_customers(
        actor=_me(request),
        customers=customers,
        to_user=scoped_get(request, User, payload.to_user_id),
        reason=payload.reason,
    )
    return {"count": moved}


@router.post(
    "/customers/release",
    response=CountOut,
    summary="Release several customers to a public pool, with a reason (all or nothing)",
)
def release_many(request: HttpRequest, payload: BulkReleaseIn) -> Any:
    # R10.1 (api-gaps): the list page's bulk "release", through the same service per customer
    _require(request, "edit")
    customers = _scoped_many(request, active_customers(_me(request)), payload.ids)
    pool = None if payload.pool_id is None else scoped_get(request, PublicPool, payload.pool_id)
    with transaction.atomic():
        for customer in customers:
            pool_services.release(
                actor=_me(request), customer=customer, reason=payload.reason, pool=pool
            )
    return {"count": len(customers)}


@router.post("/customers/tag", response=CountOut, summary="Add or remove tags on customers")
def tag_many(request: HttpRequest, payload: TagCustomersIn) -> Any:
    customers = _scoped_many(request, active_customers(_me(request)), payload.ids)
    tags = _scoped_many(request, scoped(request, Tag), payload.tag_ids)
    count = services.tag_customers(
        actor=_me(request), customers=customers, tags=tags, remove=payload.remove
    )
    return {"count": count}


# --- One customer ---------------------------------------------------------------------------------
@router.get(
    "/customers/{customer_id}",
    response=CustomerRead,
    summary="A customer: owner, pool, tags, parent, contacts, pool countdown",
)
def get_customer(request: HttpRequest, customer_id: int) -> Any:
    return _read(request, customer_id)


@router.patch(
    "/customers/{customer_id}",
    response={200: CustomerRead, 409: DuplicateError},
    summary="Edit fields (send the version you read; stale → 409). Never owner or pool",
)
def update_customer(request: HttpRequest, customer_id: int, payload: CustomerUpdate) -> Any:
    customer = scoped_get(request, Customer, customer_id)
    data = payload.dict(
        exclude_unset=True, exclude={"version", "tag_ids", "parent_id", *confidential.KEYS}
    )
    data = {k: v for k, v in data.items() if v is not None}
    sent = payload.model_fields_set
    marks = payload.is_confidential is not None or payload.confidential_viewer_ids is not None
    if marks:  # 403 before anything is written
        confidential.require_may_change(_me(request), customer)
    tags = (
        _scoped_many(request, scoped(request, Tag), payload.tag_ids)
        if payload.tag_ids is not None
        else None
    )
    parent: Any = ...
    if "parent_id" in sent:
        parent = (
            None if payload.parent_id is None else scoped_get(request, Customer, payload.parent_id)
        )

    def update() -> Customer:
        with transaction.atomic():
            if marks and not data and tags is None and parent is ...:
                if payload.version != customer.version:
                    raise Conflict()
                updated = customer
            else:
                updated = services.update_customer(
                    actor=_me(request),
                    customer=customer,
                    data=data,
                    version=payload.version,
                    tags=tags,
                    parent=parent,
                )
            if marks:
                updated = confidential.set_confidential(
                    actor=_me(request),
                    record=updated,
                    is_confidential=payload.is_confidential,
                    viewers=payload.confidential_viewer_ids,
                )
            return updated

    result = _or_duplicate(update)
    return result if isinstance(result, Status) else _after_write(request, result)


@router.post(
    "/customers/{customer_id}/transfer", response=CustomerRead, summary="Transfer to a colleague"
)
def transfer(request: HttpRequest, customer_id: int, payload: TransferIn) -> Any:
    customer = scoped_get(request, Customer, customer_id)
    services.transfer_customers(
        actor=_me(request),
        customers=[customer],
        to_user=scoped_get(request, User, payload.to_user_id),
        reason=payload.reason,
    )
    return _after_write(request, customer)


@router.post(
    "/customers/{customer_id}/claim", response=CustomerRead, summary="Claim from the public pool"
)
def claim(request: HttpRequest, customer_id: int) -> Any:
    customer = pool_services.claim(
        actor=_me(request), customer=scoped_get(request, Customer, customer_id)
    )
    return _after_write(request, customer)


@router.post(
    "/customers/{customer_id}/release",
    response=CustomerRead,
    summary="Release to a public pool, with a reason",
)
def release(request: HttpRequest, customer_id: int, payload: ReleaseIn) -> Any:
    pool = None if payload.pool_id is None else scoped_get(request, PublicPool, payload.pool_id)
    customer = pool_services.release(
        actor=_me(request),
        customer=scoped_get(request, Customer, customer_id),
        reason=payload.reason,
        pool=pool,
    )
    return _after_write(request, customer)


@router.post(
    "/customers/{customer_id}/assign",
    response=CustomerRead,
    summary="Assign a pool customer to a colleague (managers)",
)
def assign(request: HttpRequest, customer_id: int, payload: AssignIn) -> Any:
    customer = pool_services.assign(
        actor=_me(request),
        customer=scoped_get(request, Customer, customer_id),
        to_user=scoped_get(request, User, payload.to_user_id),
    )
    return _after_write(request, customer)


@router.post(
    "/customers/{customer_id}/merge",
    response=CustomerRead,
    summary="Merge another customer (source_id) into this one",
)
def merge(request: HttpRequest, customer_id: int, payload: MergeIn) -> Any:
    target = scoped_get(request, Customer, customer_id)
    source = scoped_get(request, Customer, payload.source_id)
    services.merge_customers(actor=_me(request), source=source, target=target)
    return _after_write(request, target)


@router.put(
    "/customers/{customer_id}/collaborators",
    response=CustomerRead,
    summary="Set the colleagues who work the customer with the owner",
)
def set_collaborators(request: HttpRequest, customer_id: int, payload: CollaboratorsIn) -> Any:
    customer = scoped_get(request, Customer, customer_id)
    users = _scoped_many(request, scoped(request, User), payload.user_ids)
    services.set_collaborators(actor=_me(request), customer=customer, users=users)
    return _after_write(request, customer)


@router.get(
    "/customers/{customer_id}/history",
    response=list[EventRead],
    summary="The customer's history (audit events), newest first",
)
@paginate(Paginated)
def customer_history(request: HttpRequest, customer_id: int) -> Any:
    customer = scoped_get(request, Customer, customer_id)
    return history_for(customer).order_by("-created_at", "-id")


@router.post(
    "/customers/{customer_id}/contacts",
    response={201: ContactRead, 409: DuplicateError},
    summary="Add a contact (409 if its phone or e-mail belongs to another customer)",
)
def create_contact(request: HttpRequest, customer_id: int, payload: ContactCreate) -> Any:
    customer = scoped_get(request, Customer, customer_id)
    result = _or_duplicate(
        lambda: services.create_contact(actor=_me(request), customer=customer, data=payload.dict())
    )
    return result if isinstance(result, Status) else Status(201, _contact(request, result.pk))


# --- Caller lookup (call-centre screen pop) -------------------------------------------------------
@router.get(
    "/caller",
    response=CallerOut,
    summary="Who is calling: customers and contacts with this phone number that you may see",
)
def caller_lookup(
    request: HttpRequest,
    phone: str = Query(
        "", max_length=40, description="The caller's number, any format (at least 5 digits)"
    ),
) -> Any:
    """Matches the customer's main phone and the contacts' mobiles exactly after normalising
    both (``+86 138-0013-8000`` = ``13800138000``), newest activity first, at most 20 each.
    Contacts of customers waiting in a masking pool come back masked."""
    _require(request, "view")
    digits = phone_digits(phone)
    if len(digits) < 5:
        raise ValidationFailed(
            field_errors={"phone": [_("Enter a phone number of at least 5 digits.")]}
        )
    me = _me(request)
    contacts = list(
        contact_read_queryset(scoped(request, Contact))
        .filter(mobile_digits=digits)
        .order_by("-customer__updated_at", "pk")[:20]
    )
    customer_ids = {c.customer_id for c in contacts}
    customers = list(
        customer_read_queryset(
            active_customers(me).filter(Q(phone_digits=digits) | Q(pk__in=customer_ids)), me
        ).order_by("-updated_at", "pk")[:20]
    )
    return {"phone": digits, "customers": customers, "contacts": contacts}


# --- Contacts -------------------------------------------------------------------------------------
@router.get("/contacts", response=list[ContactRead], summary="Contacts of customers you may see")
@paginate(Paginated)
def list_contacts(
    request: HttpRequest,
    filters: Query[ContactFilter],
    window: Query[UpdatedWindow],
    sort: str | None = Query(None, description="name, created, updated, updated_at"),
) -> Any:
    qs = filters.apply(contact_read_queryset(scoped(request, Contact)), _me(request))
    qs = window.apply(qs)  # R10.1 incremental sync
    return apply_sort(qs, sort, with_updated_sort(CONTACT_SORTS), CONTACT_DEFAULT_SORT)


def _contact(request: HttpRequest, contact_id: int) -> Contact:
    return scoped_get(request, contact_read_queryset(scoped(request, Contact)), contact_id)


@router.get("/contacts/{contact_id}", response=ContactRead)
def get_contact(request: HttpRequest, contact_id: int) -> Any:
    return _contact(request, contact_id)


@router.patch(
    "/contacts/{contact_id}",
    response=ContactRead,
    summary="Edit a contact (send the version you read; stale → 409)",
)
def update_contact(request: HttpRequest, contact_id: int, payload: ContactUpdate) -> Any:
    data = payload.dict(exclude_unset=True, exclude={"version"})
    data = {k: v for k, v in data.items() if v is not None or k == "birthday"}
    services.update_contact(
        actor=_me(request),
        contact=_contact(request, contact_id),
        data=data,
        version=payload.version,
    )
    return _contact(request, contact_id)


@router.delete("/contacts/{contact_id}", response={204: None}, summary="Delete a contact")
def delete_contact(request: HttpRequest, contact_id: int) -> Any:
    services.delete_contact(actor=_me(request), contact=_contact(request, contact_id))
    return Status(204, None)


# --- Public pools ---------------------------------------------------------------------------------
def _pools(request: HttpRequest) -> QuerySet[PublicPool]:
    """Pools the caller may claim from; people who configure pools see every pool."""
    qs = scoped(request, PublicPool)
    if not _me(request).can("customers", "configure"):
        qs = qs.filter(pk__in=visible_pool_ids(_me(request)))
    return pool_read_queryset(qs)


@router.get("/pools", response=list[PoolRead], summary="Public pools and customers waiting")
@paginate(Paginated)
def list_pools(request: HttpRequest) -> Any:
    return _pools(request).order_by("-is_default", "name", "pk")


@router.get("/pools/{pool_id}", response=PoolRead)
def get_pool(request: HttpRequest, pool_id: int) -> Any:
    return scoped_get(request, _pools(request), pool_id)


def _departments(request: HttpRequest, ids: list[int] | None) -> list[Department] | None:
    return None if ids is None else _scoped_many(request, scoped(request, Department), ids)


@router.post("/pools", response={201: PoolRead}, summary="Create a public pool (configure)")
def create_pool(request: HttpRequest, payload: PoolCreate) -> Any:
    pool = pool_services.save_pool(
        actor=_me(request),
        data=payload.dict(exclude={"department_ids"}),
        departments=_departments(request, payload.department_ids),
    )
    return Status(201, scoped_get(request, _pools(request), pool.pk))


@router.patch("/pools/{pool_id}", response=PoolRead, summary="Change a pool's rules (configure)")
def update_pool(request: HttpRequest, pool_id: int, payload: PoolUpdate) -> Any:
    pool = scoped_get(request, _pools(request), pool_id)
    data = payload.dict(exclude_unset=True, exclude={"department_ids"})
    data = {k: v for k, v in data.items() if v is not None or k in NULLABLE_POOL_FIELDS}
    pool_services.save_pool(
        actor=_me(request),
        pool=pool,
        data=data,
        departments=_departments(request, payload.department_ids),
    )
    return scoped_get(request, _pools(request), pool_id)


@router.get(
    "/pools/{pool_id}/customers",
    response=list[CustomerRead],
    summary="Customers waiting in a pool (same filters and sorts as the customer list)",
)
@paginate(Paginated)
def pool_customers(
    request: HttpRequest,
    pool_id: int,
    filters: Query[CustomerFilter],
    sort: str | None = Query(None, description=SORT_HELP),
) -> Any:
    pool = scoped_get(request, _pools(request), pool_id)
    waiting = active_customers(_me(request)).filter(pool=pool, owner__isnull=True)
    return _customer_list(request, waiting, filters, sort)


# --- Tags -----------------------------------------------------------------------------------------
@router.get("/tags", response=list[TagRead], summary="Customer tags")
@paginate(Paginated)
def list_tags(request: HttpRequest) -> Any:
    return scoped(request, Tag).order_by("name", "pk")


@router.post("/tags", response={201: TagRead}, summary="Create a tag (or return the existing one)")
def create_tag(request: HttpRequest, payload: TagCreate) -> Any:
    return Status(
        201, services.create_tag(actor=_me(request), name=payload.name, color=payload.color)
    )
