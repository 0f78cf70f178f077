"""/api/v1/service/: service tickets (CRUD and status transitions) and return visits (list, plan
by hand, reschedule, complete) (R3.7).

Thin handlers: check the function permission, look records up through the scoped layer (another
tenant's and out-of-scope ids answer 404, ids in the body too), call one service, serialise.
"""

from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from ninja.pagination import paginate

from crm.core.api import Paginated, scoped, scoped_get
from crm.core.errors import PermissionDenied, ValidationFailed
from crm.customers.models import Contact, Customer
from crm.org.models import User
from crm.sales.models import Contract, Product

from . import services
from .models import ReturnVisit, Ticket
from .schemas import (
    StatusIn,
    TicketCreate,
    TicketFilter,
    TicketRead,
    TicketTransferIn,
    TicketUpdate,
    VisitCompleteIn,
    VisitCreate,
    VisitFilter,
    VisitRead,
    VisitRescheduleIn,
)

router = Router()


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require(request: HttpRequest, action: str) -> None:
    if not _me(request).can("service", action):
        raise PermissionDenied()


def _read(qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
    return qs.select_related(
        "customer", "contact", "contract", "product", "owner"
    ).prefetch_related("collaborators")


def _ticket(request: HttpRequest, pk: int, action: str = "view") -> Ticket:
    ticket: Ticket = scoped_get(request, _read(scoped(request, Ticket, action)), pk, action)
    return ticket


def _colleagues(request: HttpRequest, ids: list[int]) -> list[User]:
    me = _me(request)
    found = list(User.objects.visible_to(me).filter(pk__in=ids, is_active=True))
    if len(found) != len(set(ids)):
        raise ValidationFailed(
            field_errors={"collaborator_ids": [_("Choose an active colleague.")]}
        )
    return found


def _contact(request: HttpRequest, pk: int | None) -> Any:
    return None if pk is None else scoped_get(request, Contact, pk)


def _contract(request: HttpRequest, pk: int | None) -> Any:
    return None if pk is None else scoped_get(request, Contract, pk)


def _product(request: HttpRequest, pk: int | None) -> Any:
    if pk is None:
        return None
    product = Product.objects.visible_to(_me(request)).filter(pk=pk).first()
    if product is None:
        from crm.core.errors import NotFound

        raise NotFound()
    return product


@router.get("/tickets", response=list[TicketRead], summary="Service tickets you may see")
@paginate(Paginated)
def list_tickets(request: HttpRequest, filters: Query[TicketFilter]) -> Any:
    qs = scoped(request, Ticket)
    if filters.customer_id is not None:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.owner_id is not None:
        qs = qs.filter(owner_id=filters.owner_id)
    for key in ("status", "type", "priority"):
        value = getattr(filters, key)
        if value:
            qs = qs.filter(**{key: value})
    if filters.overdue:
        qs = qs.filter(services.overdue_q())
    if filters.mine:
        qs = qs.filter(owner=_me(request))
    if filters.q:
        qs = qs.filter(
            Q(number__icontains=filters.q)
            | Q(subject__icontains=filters.q)
            | Q(customer__name__icontains=filters.q)
        )
    return _read(qs).order_by("-opened_at", "-pk")


@router.post("/tickets", response={201: TicketRead}, summary="Open a service ticket")
def create_ticket(request: HttpRequest, payload: TicketCreate) -> Any:
    _require(request, "create")
    customer = scoped_get(
        request,
        Customer.objects.visible_to(_me(request)).filter(merged_into__isnull=True),
        payload.customer_id,
    )
    owner = None
    if payload.owner_id is not None:
        owner = User.objects.visible_to(_me(request)).filter(pk=payload.owner_id).first()
        if owner is None:
            raise ValidationFailed(field_errors={"owner_id": [_("Choose an active colleague.")]})
    ticket = services.create_ticket(
        actor=_me(request),
        customer=customer,
        data=payload.dict(include={"type", "priority", "subject", "description"}),
        contact=_contact(request, payload.contact_id),
        contract=_contract(request, payload.contract_id),
        product=_product(request, payload.product_id),
        owner=owner,
        collaborators=_colleagues(request, payload.collaborator_ids),
    )
    return Status(201, _ticket(request, ticket.pk))


@router.get("/tickets/{ticket_id}", response=TicketRead, summary="A service ticket")
def get_ticket(request: HttpRequest, ticket_id: int) -> Any:
    _require(request, "view")
    return _ticket(request, ticket_id)


@router.patch("/tickets/{ticket_id}", response=TicketRead, summary="Change a ticket")
def update_ticket(request: HttpRequest, ticket_id: int, payload: TicketUpdate) -> Any:
    _require(request, "edit")
    ticket = _ticket(request, ticket_id, "edit")
    sent = payload.dict(exclude_unset=True)
    kwargs: dict[str, Any] = {}
    if "contact_id" in sent:
        kwargs["contact"] = _contact(request, payload.contact_id)
    if "contract_id" in sent:
        kwargs["contract"] = _contract(request, payload.contract_id)
    if "product_id" in sent:
        kwargs["product"] = _product(request, payload.product_id)
    if payload.collaborator_ids is not None:
        kwargs["collaborators"] = _colleagues(request, payload.collaborator_ids)
    services.update_ticket(
        actor=_me(request),
        ticket=ticket,
        data={k: v for k, v in sent.items() if k in services.TICKET_FIELDS and v is not None},
        version=payload.version,
        **kwargs,
    )
    return _ticket(request, ticket_id)


@router.delete("/tickets/{ticket_id}", response={204: None}, summary="Delete a ticket")
def delete_ticket(request: HttpRequest, ticket_id: int) -> Any:
    _require(request, "delete")
    services.delete_ticket(actor=_me(request), ticket=_ticket(request, ticket_id, "delete"))
    return Status(204, None)


@router.post(
    "/tickets/{ticket_id}/status",
    response=TicketRead,
    summary="Move a ticket along its life cycle (open → in progress → waiting → resolved → closed)",
)
def change_ticket_status(request: HttpRequest, ticket_id: int, payload: StatusIn) -> Any:
    _require(request, "edit")
    services.change_status(
        actor=_me(request),
        ticket=_ticket(request, ticket_id, "edit"),
        status=payload.status,
        version=payload.version,
        note=payload.note,
    )
    return _ticket(request, ticket_id)


@router.post("/tickets/{ticket_id}/transfer", response=TicketRead, summary="Reassign a ticket")
def transfer_ticket(request: HttpRequest, ticket_id: int, payload: TicketTransferIn) -> Any:
    _require(request, "transfer")
    ticket = _ticket(request, ticket_id, "transfer")
    to_user = User.objects.visible_to(_me(request)).filter(pk=payload.owner_id).first()
    if to_user is None:
        raise ValidationFailed(field_errors={"owner_id": [_("Choose an active colleague.")]})
    services.transfer_ticket(
        actor=_me(request), ticket=ticket, to_user=to_user, version=payload.version
    )
    return _ticket(request, ticket_id)


def _visit_read(qs: QuerySet[ReturnVisit]) -> QuerySet[ReturnVisit]:
    return qs.select_related("customer", "ticket", "contract", "owner")


@router.get("/visits", response=list[VisitRead], summary="Return visits you may see")
@paginate(Paginated)
def list_visits(request: HttpRequest, filters: Query[VisitFilter]) -> Any:
    qs = scoped(request, ReturnVisit)
    if filters.customer_id is not None:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.owner_id is not None:
        qs = qs.filter(owner_id=filters.owner_id)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.due_before:
        qs = qs.filter(due_on__lte=filters.due_before)
    return _visit_read(qs).order_by("due_on", "pk")


@router.post(
    "/visits/{visit_id}/complete",
    response=VisitRead,
    summary="Record a return visit as done with a satisfaction score 1–5",
)
def complete_visit(request: HttpRequest, visit_id: int, payload: VisitCompleteIn) -> Any:
    _require(request, "edit")
    visit = scoped_get(request, ReturnVisit, visit_id, "edit")
    services.complete_visit(
        actor=_me(request),
        visit=visit,
        satisfaction=payload.satisfaction,
        comment=payload.comment,
        version=payload.version,
    )
    return _visit_read(scoped(request, ReturnVisit)).get(pk=visit_id)


def _visit_owner(request: HttpRequest, owner_id: int | None) -> User | None:
    if owner_id is None:
        return None
    owner = User.objects.visible_to(_me(request)).filter(pk=owner_id, is_active=True).first()
    if owner is None:
        raise ValidationFailed(field_errors={"owner_id": [_("Choose an active colleague.")]})
    return owner


@router.post(
    "/visits",
    response={201: VisitRead},
    summary="Plan a return visit by hand (customer in your scope, due today or later)",
)
def create_visit(request: HttpRequest, payload: VisitCreate) -> Any:
    _require(request, "create")
    customer = scoped_get(
        request,
        Customer.objects.visible_to(_me(request)).filter(merged_into__isnull=True),
        payload.customer_id,
    )
    ticket = None
    if payload.ticket_id is not None:
        ticket = scoped_get(request, Ticket, payload.ticket_id)
    visit = services.plan_visit(
        actor=_me(request),
        customer=customer,
        due_on=payload.due_on,
        ticket=ticket,
        owner=_visit_owner(request, payload.owner_id),
        note=payload.note,
    )
    return Status(201, visit)


@router.post(
    "/visits/{visit_id}/reschedule",
    response=VisitRead,
    summary="Move a planned return visit to another day (and owner, with service:transfer)",
)
def reschedule_visit(request: HttpRequest, visit_id: int, payload: VisitRescheduleIn) -> Any:
    _require(request, "edit")
    visit = scoped_get(request, ReturnVisit, visit_id, "edit")
    return services.reschedule_visit(
        actor=_me(request),
        visit=visit,
        due_on=payload.due_on,
        owner=_visit_owner(request, payload.owner_id),
        note=payload.note,
        version=payload.version,
    )
