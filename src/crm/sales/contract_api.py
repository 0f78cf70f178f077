"""/api/v1/contracts/: contracts and their life cycle and amendments (R6.2), the approvals
waiting for you and your submissions (R9.1), orders with their shipment status for downstream
inventory and logistics (R6.4), returns and refunds (R6.3).

Thin handlers: check the function permission, look records up through the scoped layer (another
tenant's and out-of-scope ids answer 404, ids in the body too), call one service, serialise. A
stale ``version`` answers 409 ``edit_conflict``; a status change the record's life cycle does not
allow answers 409 ``invalid_transition``.
"""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from crm.core.api import Paginated, apply_sort, scoped, scoped_get
from crm.core.errors import NotFound, PermissionDenied
from crm.customers.models import Customer
from crm.org.models import Role, User
from crm.pipeline.models import Opportunity
from crm.pipeline.opportunity_schemas import UpdatedWindow, with_updated_sort

from . import approvals, flow_services
from . import contract_services as contracts
from . import order_services as orders
from . import return_services as returns
from .choices import ApprovalSubject
from .contract_schemas import (
    APPROVAL_SUBJECTS,
    CONTRACT_DEFAULT_SORT,
    CONTRACT_SORTS,
    ORDER_SORTS,
    RETURN_SORTS,
    RETURN_STATUSES,
    SHIPMENT_STATUSES,
    AmendmentRead,
    ApprovalDecisionIn,
    ApprovalFlowIn,
    ApprovalFlowRead,
    ApprovalMoveIn,
    ApprovalRequestRead,
    ApprovalStepIn,
    ApprovalSubmitIn,
    ApprovalTaskRead,
    ContractAmendIn,
    ContractCreate,
    ContractFilter,
    ContractRead,
    ContractSignIn,
    ContractTerminateIn,
    ContractUpdate,
    ContractVersionIn,
    OrderCreate,
    OrderRead,
    OrderUpdate,
    QueryId,
    ReturnCreate,
    ReturnRead,
    ReturnRefundIn,
    ReturnUpdate,
)
from .models import (
    ApprovalFlow,
    ApprovalRequest,
    ApprovalStep,
    Contract,
    ContractAmendment,
    Order,
    Quote,
    ReturnRequest,
)

router = Router()

#: fields of ContractCreate / ContractUpdate handed to the services as ``data``
DATA_FIELDS = {
    "name",
    "amount",
    "starts_on",
    "ends_on",
    "renewal_on",
    "customer_signer",
    "payment_terms",
    "notes",
}
NULLABLE_FIELDS = {"starts_on", "ends_on", "renewal_on"}


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require(request: HttpRequest, action: str, module: str = "sales") -> None:
    if not _me(request).can(module, action):
        raise PermissionDenied()


def _scoped_many(qs: QuerySet, ids: list[int]) -> list[Any]:
    rows = list(qs.filter(pk__in=ids))
    if len(rows) != len(set(ids)):
        raise NotFound()
    return rows


def _optional(request: HttpRequest, model: Any, pk: int | None) -> Any:
    return None if pk is None else scoped_get(request, model, pk)


def contract_queryset(qs: QuerySet[Contract]) -> QuerySet[Contract]:
    return qs.select_related(
        "customer", "opportunity", "quote", "owner", "signer"
    ).prefetch_related("collaborators")


def _contract(request: HttpRequest, pk: int, action: str = "view") -> Contract:
    contract: Contract = scoped_get(
        request, scoped(request, Contract, action).select_related("quote"), pk
    )
    return contract


def _for_edit(request: HttpRequest, pk: int) -> Contract:
    """A contract the caller may edit: 404 when out of sight, 403 without the permission."""
    _require(request, "view")
    _contract(request, pk)
    _require(request, "edit")
    return _contract(request, pk, "edit")


def _after(request: HttpRequest, contract: Contract) -> Contract:
    row = contract_queryset(scoped(request, Contract)).filter(pk=contract.pk).first()
    if row is None:
        contract.refresh_from_db()
        return contract
    return row


# --- Approvals (literal paths before /{contract_id}) ----------------------------------------------
def _requests(request: HttpRequest) -> QuerySet[ApprovalRequest]:
    """Approval requests the caller submitted or decides."""
    return (
        scoped(request, ApprovalRequest)
        .select_related("flow", "submitter")
        .prefetch_related("tasks__approver")
    )


@router.get(
    "/approval-tasks",
    response=list[ApprovalTaskRead],
    summary="Approvals waiting for you now (oldest first)",
)
@paginate(Paginated)
def list_approval_tasks(request: HttpRequest) -> Any:
    return approvals.my_pending_tasks(_me(request))


@router.get(
    "/approval-requests",
    response=list[ApprovalRequestRead],
    summary="Approval requests you submitted (newest first)",
)
@paginate(Paginated)
def list_approval_requests(request: HttpRequest) -> Any:
    return _requests(request).filter(submitter=_me(request)).order_by("-created_at", "-pk")


@router.get(
    "/approval-requests/{request_id}",
    response=ApprovalRequestRead,
    summary="An approval request you submitted or decide, with every approver's decision",
)
def get_approval_request(request: HttpRequest, request_id: int) -> Any:
    return scoped_get(request, _requests(request), request_id)


@router.post(
    "/approval-requests/{request_id}/approve",
    response=ApprovalRequestRead,
    summary="Approve your step of a request (the next step's approvers are notified)",
)
def approve_request(request: HttpRequest, request_id: int, payload: ApprovalDecisionIn) -> Any:
    row = scoped_get(request, _requests(request), request_id)
    approvals.approve(actor=_me(request), request=row, comment=payload.comment)
    return scoped_get(request, _requests(request), request_id)


@router.post(
    "/approval-requests/{request_id}/reject",
    response=ApprovalRequestRead,
    summary="Reject a request (a comment is required); the record goes back to its submitter",
)
def reject_request(request: HttpRequest, request_id: int, payload: ApprovalDecisionIn) -> Any:
    row = scoped_get(request, _requests(request), request_id)
    approvals.reject(actor=_me(request), request=row, comment=payload.comment)
    return scoped_get(request, _requests(request), request_id)


@router.post(
    "/approval-requests/{request_id}/withdraw",
    response=ApprovalRequestRead,
    summary="Withdraw a pending request you submitted (the record returns to draft)",
)
def withdraw_request(request: HttpRequest, request_id: int) -> Any:
    row = scoped_get(request, _requests(request), request_id)
    approvals.withdraw(actor=_me(request), request=row)
    return scoped_get(request, _requests(request), request_id)


# --- Approval flows and steps (R10.1, api-gaps: the settings pages, through flow_services) ------
def _flow_action(request: HttpRequest) -> str:
    """``configure`` (or ``view`` for an organisation administrator): 403 for anyone else."""
    return flow_services.configure_action(_me(request))


def _flows(request: HttpRequest) -> QuerySet[ApprovalFlow]:
    return scoped(request, ApprovalFlow, _flow_action(request)).prefetch_related("steps")


def _flow(request: HttpRequest, flow_id: int) -> ApprovalFlow:
    flow: ApprovalFlow = scoped_get(request, _flows(request), flow_id)
    return flow


def _step(request: HttpRequest, step_id: int) -> ApprovalStep:
    qs = scoped(request, ApprovalStep, _flow_action(request)).select_related("flow")
    step: ApprovalStep = scoped_get(request, qs, step_id)
    return step


def _step_data(request: HttpRequest, payload: ApprovalStepIn) -> dict[str, Any]:
    data = payload.dict(exclude={"user_id", "role_id"})
    data["user"] = None if payload.user_id is None else scoped_get(request, User, payload.user_id)
    data["role"] = None if payload.role_id is None else scoped_get(request, Role, payload.role_id)
    return data


@router.get(
    "/approval-flows",
    response=list[ApprovalFlowRead],
    summary="Approval flows with their steps, per subject in the order they are tried",
)
@paginate(Paginated)
def list_approval_flows(
    request: HttpRequest,
    subject: APPROVAL_SUBJECTS | None = None,
) -> Any:
    qs = _flows(request)
    if subject:
        qs = qs.filter(subject=subject)
    return qs.order_by("subject", "sort_order", "pk")


@router.post(
    "/approval-flows", response={201: ApprovalFlowRead}, summary="Add an approval flow (no steps)"
)
def create_approval_flow(request: HttpRequest, payload: ApprovalFlowIn) -> Any:
    _flow_action(request)
    flow = flow_services.save_flow(actor=_me(request), data=payload.dict())
    return Status(201, _flow(request, flow.pk))


@router.get("/approval-flows/{flow_id}", response=ApprovalFlowRead, summary="An approval flow")
def get_approval_flow(request: HttpRequest, flow_id: int) -> Any:
    return _flow(request, flow_id)


@router.put(
    "/approval-flows/{flow_id}",
    response=ApprovalFlowRead,
    summary="Replace a flow's name, subject, conditions and active flag (steps stay)",
)
def update_approval_flow(request: HttpRequest, flow_id: int, payload: ApprovalFlowIn) -> Any:
    flow = _flow(request, flow_id)
    flow_services.save_flow(actor=_me(request), data=payload.dict(), flow=flow)
    return _flow(request, flow_id)


@router.post(
    "/approval-flows/{flow_id}/move",
    response=ApprovalFlowRead,
    summary="Move a flow one place up or down among the flows of its subject",
)
def move_approval_flow(request: HttpRequest, flow_id: int, payload: ApprovalMoveIn) -> Any:
    flow = _flow(request, flow_id)
    flow_services.move_flow(actor=_me(request), flow=flow, direction=payload.direction)
    return _flow(request, flow_id)


@router.post(
    "/approval-flows/{flow_id}/steps",
    response={201: ApprovalFlowRead},
    summary="Add a step at the end of a flow",
)
def add_approval_step(request: HttpRequest, flow_id: int, payload: ApprovalStepIn) -> Any:
    flow = _flow(request, flow_id)
    flow_services.save_step(actor=_me(request), flow=flow, data=_step_data(request, payload))
    return Status(201, _flow(request, flow_id))


@router.put(
    "/approval-steps/{step_id}", response=ApprovalFlowRead, summary="Replace a step of a flow"
)
def update_approval_step(request: HttpRequest, step_id: int, payload: ApprovalStepIn) -> Any:
    step = _step(request, step_id)
    flow_services.save_step(
        actor=_me(request), flow=step.flow, data=_step_data(request, payload), step=step
    )
    return _flow(request, step.flow_id)


@router.post(
    "/approval-steps/{step_id}/move",
    response=ApprovalFlowRead,
    summary="Move a step one place up or down within its flow",
)
def move_approval_step(request: HttpRequest, step_id: int, payload: ApprovalMoveIn) -> Any:
    step = _step(request, step_id)
    flow_services.move_step(actor=_me(request), step=step, direction=payload.direction)
    return _flow(request, step.flow_id)


@router.delete(
    "/approval-steps/{step_id}", response=ApprovalFlowRead, summary="Remove a step of a flow"
)
def delete_approval_step(request: HttpRequest, step_id: int) -> Any:
    step = _step(request, step_id)
    flow_services.delete_step(actor=_me(request), step=step)
    return _flow(request, step.flow_id)


# --- Orders ---------------------------------------------------------------------------------------
def _orders(request: HttpRequest, action: str = "view") -> QuerySet[Order]:
    return (
        scoped(request, Order, action)
        .select_related("contract", "customer", "owner")
        .prefetch_related("lines")
    )


@router.get("/orders", response=list[OrderRead], summary="Orders you may see")
@paginate(Paginated)
def list_orders(
    request: HttpRequest,
    window: Query[UpdatedWindow],
    contract_id: QueryId | None = None,
    status: SHIPMENT_STATUSES | None = None,
    external_ref: str | None = Query(None, max_length=100),
    sort: str | None = Query(
        None, description="number, created, amount, updated_at (- for descending)"
    ),
) -> Any:
    qs = window.apply(_orders(request))  # R10.1 incremental sync
    if contract_id is not None:
        qs = qs.filter(contract_id=contract_id)
    if status:
        qs = qs.filter(status=status)
    if external_ref:
        qs = qs.filter(external_ref=external_ref)
    return apply_sort(qs, sort, with_updated_sort(ORDER_SORTS), ["-created_at", "-pk"])


@router.post(
    "/orders",
    response={201: OrderRead},
    summary="Create an order of a signed or executing contract",
)
def create_order(request: HttpRequest, payload: OrderCreate) -> Any:
    _require(request, "create")
    contract = _contract(request, payload.contract_id, "edit")
    order = orders.create_order(
        actor=_me(request),
        contract=contract,
        data=payload.dict(include={"ship_to", "external_ref", "notes"}),
        lines=[line.dict() for line in payload.lines],
    )
    return Status(201, scoped_get(request, _orders(request), order.pk))


@router.get("/orders/{order_id}", response=OrderRead, summary="An order with its lines")
def get_order(request: HttpRequest, order_id: int) -> Any:
    return scoped_get(request, _orders(request), order_id)


@router.patch(
    "/orders/{order_id}",
    response=OrderRead,
    summary="Set the shipment status (pending → shipped → delivered, or cancelled) and details; "
    "repeating the current status is a no-op",
)
def update_order(request: HttpRequest, order_id: int, payload: OrderUpdate) -> Any:
    scoped_get(request, _orders(request), order_id)
    _require(request, "edit")
    order = scoped_get(request, _orders(request, "edit"), order_id)
    data = {
        k: v
        for k, v in payload.dict(
            exclude_unset=True,
            include={"carrier", "tracking_number", "external_ref", "ship_to", "notes"},
        ).items()
        if v is not None
    }
    orders.update_order(
        actor=_me(request),
        order=order,
        data=data,
        status=payload.status,
        version=payload.version,
    )
    return scoped_get(request, _orders(request), order_id)


# --- Returns --------------------------------------------------------------------------------------
def _returns(request: HttpRequest, action: str = "view") -> QuerySet[ReturnRequest]:
    return scoped(request, ReturnRequest, action).select_related(
        "contract", "order", "customer", "owner"
    )


@router.get("/returns", response=list[ReturnRead], summary="Returns and refunds you may see")
@paginate(Paginated)
def list_returns(
    request: HttpRequest,
    contract_id: QueryId | None = None,
    status: RETURN_STATUSES | None = None,
    reason: str | None = Query(None, max_length=60),
    sort: str | None = Query(None, description="number, created, amount (- for descending)"),
) -> Any:
    qs = _returns(request)
    if contract_id is not None:
        qs = qs.filter(contract_id=contract_id)
    if status:
        qs = qs.filter(status=status)
    if reason:
        qs = qs.filter(reason=reason)
    return apply_sort(qs, sort, RETURN_SORTS, ["-created_at", "-pk"])


@router.post(
    "/returns",
    response={201: ReturnRead},
    summary="Record a return or refund request (draft) against a contract and optionally an order",
)
def create_return(request: HttpRequest, payload: ReturnCreate) -> Any:
    _require(request, "create")
    contract = _contract(request, payload.contract_id, "edit")
    order = _optional(request, Order, payload.order_id)
    ret = returns.create_return(
        actor=_me(request),
        contract=contract,
        order=order,
        data=payload.dict(include={"reason", "description", "amount"}),
    )
    return Status(201, scoped_get(request, _returns(request), ret.pk))


@router.get("/returns/{return_id}", response=ReturnRead, summary="A return")
def get_return(request: HttpRequest, return_id: int) -> Any:
    return scoped_get(request, _returns(request), return_id)


def _return_for_edit(request: HttpRequest, return_id: int) -> ReturnRequest:
    scoped_get(request, _returns(request), return_id)
    _require(request, "edit")
    ret: ReturnRequest = scoped_get(request, _returns(request, "edit"), return_id)
    return ret


@router.patch(
    "/returns/{return_id}", response=ReturnRead, summary="Edit a draft return (send the version)"
)
def update_return(request: HttpRequest, return_id: int, payload: ReturnUpdate) -> Any:
    ret = _return_for_edit(request, return_id)
    data = {
        k: v
        for k, v in payload.dict(
            exclude_unset=True, include={"reason", "description", "amount"}
        ).items()
        if v is not None
    }
    order: Any = False
    if "order_id" in payload.model_fields_set:
        order = _optional(request, Order, payload.order_id)
    returns.update_return(
        actor=_me(request), ret=ret, data=data, order=order, version=payload.version
    )
    return scoped_get(request, _returns(request), return_id)


@router.post(
    "/returns/{return_id}/submit",
    response=ReturnRead,
    summary="Submit a draft return for approval (approved at once when no flow applies)",
)
def submit_return(request: HttpRequest, return_id: int, payload: ApprovalSubmitIn) -> Any:
    ret = _return_for_edit(request, return_id)
    returns.submit_return(
        actor=_me(request), ret=ret, comment=payload.comment, version=payload.version
    )
    return scoped_get(request, _returns(request), return_id)


@router.post(
    "/returns/{return_id}/withdraw",
    response=ReturnRead,
    summary="Withdraw a pending return (back to draft)",
)
def withdraw_return(request: HttpRequest, return_id: int) -> Any:
    ret = _return_for_edit(request, return_id)
    returns.withdraw_return(actor=_me(request), ret=ret)
    return scoped_get(request, _returns(request), return_id)


@router.post(
    "/returns/{return_id}/refund",
    response=ReturnRead,
    summary="Record the refund of an approved return (finance); the contract's refunded amount "
    "grows",
)
def refund_return(request: HttpRequest, return_id: int, payload: ReturnRefundIn) -> Any:
    ret: ReturnRequest = scoped_get(request, _returns(request), return_id)
    _require(request, "edit", "finance")
    returns.refund_return(
        actor=_me(request), ret=ret, refunded_on=payload.refunded_on, version=payload.version
    )
    return scoped_get(request, _returns(request), return_id)


# --- Contracts ------------------------------------------------------------------------------------
@router.get(
    "",
    response=list[ContractRead],
    summary="Contracts you may see (filters: status, owner, customer, signed period, renewal due)",
)
@paginate(Paginated)
def list_contracts(
    request: HttpRequest,
    filters: Query[ContractFilter],
    window: Query[UpdatedWindow],
    sort: str | None = Query(
        None,
        description="Comma-separated, - for descending: "
        + ", ".join(with_updated_sort(CONTRACT_SORTS)),
    ),
) -> Any:
    qs = window.apply(filters.apply(scoped(request, Contract), _me(request)))  # R10.1 sync
    return apply_sort(
        contract_queryset(qs), sort, with_updated_sort(CONTRACT_SORTS), CONTRACT_DEFAULT_SORT
    )


@router.post(
    "",
    response={201: ContractRead},
    summary="Create a draft contract from a quote (accepted), an opportunity or a customer",
)
def create_contract(request: HttpRequest, payload: ContractCreate) -> Any:
    _require(request, "create")
    data = payload.dict(include=DATA_FIELDS)
    data = {k: v for k, v in data.items() if v is not None}
    data["signer"] = _optional(request, User, payload.signer_id)
    contract = contracts.create_contract(
        actor=_me(request),
        data=data,
        customer=_optional(request, Customer, payload.customer_id),
        opportunity=_optional(request, Opportunity, payload.opportunity_id),
        quote=_optional(request, Quote, payload.quote_id),
        owner=_optional(request, User, payload.owner_id),
        collaborators=_scoped_many(scoped(request, User), payload.collaborator_ids),
    )
    return Status(201, _after(request, contract))


@router.get("/{contract_id}", response=ContractRead, summary="A contract")
def get_contract(request: HttpRequest, contract_id: int) -> Any:
    return scoped_get(request, contract_queryset(scoped(request, Contract)), contract_id)


@router.patch(
    "/{contract_id}",
    response=ContractRead,
    summary="Edit a draft contract (send the version you read; stale → 409; locked → 409)",
)
def update_contract(request: HttpRequest, contract_id: int, payload: ContractUpdate) -> Any:
    contract = _for_edit(request, contract_id)
    sent = payload.model_fields_set
    data = payload.dict(exclude_unset=True, include=DATA_FIELDS)
    data = {k: v for k, v in data.items() if v is not None or k in NULLABLE_FIELDS}
    if "signer_id" in sent:
        data["signer"] = _optional(request, User, payload.signer_id)
    contracts.update_contract(
        actor=_me(request),
        contract=contract,
        data=data,
        version=payload.version,
        collaborators=None
        if payload.collaborator_ids is None
        else _scoped_many(scoped(request, User), payload.collaborator_ids),
    )
    return _after(request, contract)


@router.post(
    "/{contract_id}/submit",
    response=ContractRead,
    summary="Submit a draft for approval (approved at once when no flow applies)",
)
def submit_contract(request: HttpRequest, contract_id: int, payload: ApprovalSubmitIn) -> Any:
    contract = _for_edit(request, contract_id)
    contracts.submit_contract(
        actor=_me(request), contract=contract, comment=payload.comment, version=payload.version
    )
    return _after(request, contract)


@router.post(
    "/{contract_id}/withdraw",
    response=ContractRead,
    summary="Withdraw a contract waiting for approval (back to draft)",
)
def withdraw_contract(request: HttpRequest, contract_id: int) -> Any:
    contract = _for_edit(request, contract_id)
    contracts.withdraw_contract(actor=_me(request), contract=contract)
    return _after(request, contract)


@router.post(
    "/{contract_id}/sign",
    response=ContractRead,
    summary="Sign an approved contract; its opportunity is marked won (unless it already is)",
)
def sign_contract(request: HttpRequest, contract_id: int, payload: ContractSignIn) -> Any:
    contract = _for_edit(request, contract_id)
    contracts.sign_contract(
        actor=_me(request),
        contract=contract,
        signed_on=payload.signed_on,
        version=payload.version,
        customer_signer=payload.customer_signer,
        signer=_optional(request, User, payload.signer_id),
    )
    return _after(request, contract)


@router.post(
    "/{contract_id}/start", response=ContractRead, summary="Start executing a signed contract"
)
def start_contract(request: HttpRequest, contract_id: int, payload: ContractVersionIn) -> Any:
    contract = _for_edit(request, contract_id)
    contracts.start_contract(actor=_me(request), contract=contract, version=payload.version)
    return _after(request, contract)


@router.post(
    "/{contract_id}/complete", response=ContractRead, summary="Complete an executing contract"
)
def complete_contract(request: HttpRequest, contract_id: int, payload: ContractVersionIn) -> Any:
    contract = _for_edit(request, contract_id)
    contracts.complete_contract(actor=_me(request), contract=contract, version=payload.version)
    return _after(request, contract)


@router.post(
    "/{contract_id}/terminate",
    response=ContractRead,
    summary="Terminate a signed or executing contract, with a reason",
)
def terminate_contract(request: HttpRequest, contract_id: int, payload: ContractTerminateIn) -> Any:
    contract = _for_edit(request, contract_id)
    contracts.terminate_contract(
        actor=_me(request), contract=contract, reason=payload.reason, version=payload.version
    )
    return _after(request, contract)


@router.post(
    "/{contract_id}/amendments",
    response={201: AmendmentRead},
    summary="Propose an amendment of a locked contract (applied when approved, or at once)",
)
def amend_contract(request: HttpRequest, contract_id: int, payload: ContractAmendIn) -> Any:
    contract = _for_edit(request, contract_id)
    changes = {
        k: v
        for k, v in payload.dict(exclude_unset=True, exclude={"reason", "comment"}).items()
        if v is not None or k in NULLABLE_FIELDS
    }
    amendment = contracts.propose_amendment(
        actor=_me(request),
        contract=contract,
        changes=changes,
        reason=payload.reason,
        comment=payload.comment,
    )
    return Status(
        201,
        scoped_get(
            request,
            scoped(request, ContractAmendment).select_related("contract", "owner"),
            amendment.pk,
        ),
    )


@router.get(
    "/{contract_id}/amendments",
    response=list[AmendmentRead],
    summary="The contract's amendments (newest first)",
)
@paginate(Paginated)
def list_contract_amendments(request: HttpRequest, contract_id: int) -> Any:
    contract = _contract(request, contract_id)
    return (
        scoped(request, ContractAmendment)
        .filter(contract=contract)
        .select_related("contract", "owner")
        .order_by("-created_at", "-pk")
    )


@router.get(
    "/{contract_id}/approvals",
    response=list[ApprovalRequestRead],
    summary="The contract's approval history (newest first) with every decision",
)
def contract_approvals(request: HttpRequest, contract_id: int) -> Any:
    contract = _contract(request, contract_id)
    return approvals.requests_for(ApprovalSubject.CONTRACT, contract)
