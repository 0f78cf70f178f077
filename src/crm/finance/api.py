"""/api/v1/finance/: receivable plans, receipts, write-offs, invoices and the collection summary
(R7.1–R7.3).

Thin handlers: check the function permission, look records up through the scoped layer (another
tenant's and out-of-scope ids answer 404, ids in the body too), call one finance service,
serialise. Plans are read with their contract (module ``sales``); receipts, write-offs and
invoices with the finance module's scope (their owner is the contract's owner).
"""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Status
from ninja.pagination import paginate

from crm.core.api import Paginated, apply_sort, scoped, scoped_get
from crm.core.errors import PermissionDenied
from crm.org.models import User
from crm.pipeline.opportunity_schemas import UpdatedWindow, with_updated_sort
from crm.sales.contract_schemas import owner_department_q
from crm.sales.models import Contract

from . import invoice_services, plan_services, receipt_services, selectors
from .choices import PlanStatus
from .models import Invoice, Receipt, ReceivablePlan, WriteOff
from .schemas import (
    INVOICE_DEFAULT_SORT,
    INVOICE_SORTS,
    PLAN_DEFAULT_SORT,
    PLAN_SORTS,
    RECEIPT_DEFAULT_SORT,
    RECEIPT_SORTS,
    CollectionSummary,
    FinanceReasonIn,
    InvoiceCreate,
    InvoiceFilter,
    InvoiceIssueIn,
    InvoiceMailIn,
    InvoiceRead,
    PlansReplaceIn,
    ReceiptCreate,
    ReceiptFilter,
    ReceiptRead,
    ReceivablePlanFilter,
    ReceivablePlanRead,
    WriteOffCreate,
    WriteOffFilter,
    WriteOffRead,
    money_out,
)

router = Router()


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require(request: HttpRequest, module: str, action: str) -> None:
    if not _me(request).can(module, action):
        raise PermissionDenied()


def _sort_help(sorts: dict[str, str]) -> str:
    return "Comma-separated, `-` for descending: " + ", ".join(sorts)


# --- Receivable plans ----------------------------------------------------------------------------
def _plan_read(qs: QuerySet[ReceivablePlan]) -> QuerySet[ReceivablePlan]:
    return qs.select_related("contract", "contract__customer", "contract__owner")


@router.get(
    "/plans",
    response=list[ReceivablePlanRead],
    summary="Installments of signed contracts you may see (by contract, status, due date)",
)
@paginate(Paginated)
def list_plans(
    request: HttpRequest,
    filters: Query[ReceivablePlanFilter],
    sort: str | None = Query(None, description=_sort_help(PLAN_SORTS)),
) -> Any:
    today = timezone.localdate()
    qs = selectors.receivable_plans(_me(request))
    if filters.contract_id is not None:
        # a contract's page lists its installments whatever the contract's status
        contract = scoped_get(request, Contract, filters.contract_id)
        qs = (
            scoped(request, ReceivablePlan)
            .filter(contract=contract, is_void=False)
            .annotate(outstanding_amount=selectors.outstanding_expr())
        )
    if filters.customer_id is not None:
        qs = qs.filter(contract__customer_id=filters.customer_id)
    if filters.owner_id is not None:
        qs = qs.filter(contract__owner_id=filters.owner_id)
    if filters.status:
        qs = qs.filter(selectors.plan_status_q(filters.status, today))
    if filters.overdue is not None:
        overdue = selectors.plan_status_q(PlanStatus.OVERDUE, today)
        qs = qs.filter(overdue if filters.overdue else ~overdue)
    if filters.due_from:
        qs = qs.filter(due_on__gte=filters.due_from)
    if filters.due_to:
        qs = qs.filter(due_on__lte=filters.due_to)
    return apply_sort(_plan_read(qs), sort, PLAN_SORTS, PLAN_DEFAULT_SORT)


@router.get("/plans/{plan_id}", response=ReceivablePlanRead, summary="An installment")
def get_plan(request: HttpRequest, plan_id: int) -> Any:
    return scoped_get(request, _plan_read(scoped(request, ReceivablePlan)), plan_id)


@router.put(
    "/contracts/{contract_id}/plans",
    response=list[ReceivablePlanRead],
    summary="Replace a contract's installments (they must add up to the contract amount)",
)
def replace_plans(request: HttpRequest, contract_id: int, payload: PlansReplaceIn) -> Any:
    contract = scoped_get(request, Contract, contract_id)
    rows = [row.dict() for row in payload.plans]
    plans = plan_services.replace_plans(actor=_me(request), contract=contract, rows=rows)
    return list(_plan_read(scoped(request, ReceivablePlan)).filter(pk__in=[p.pk for p in plans]))


# --- Receipts ------------------------------------------------------------------------------------
def _receipt_read(qs: QuerySet[Receipt]) -> QuerySet[Receipt]:
    return qs.select_related("contract", "customer", "owner").prefetch_related("allocations__plan")


def _receipt(request: HttpRequest, pk: int) -> Receipt:
    receipt: Receipt = scoped_get(request, _receipt_read(scoped(request, Receipt)), pk)
    return receipt


@router.get(
    "/receipts",
    response=list[ReceiptRead],
    summary="Receipts you may see (your contracts' for a rep), newest first",
)
@paginate(Paginated)
def list_receipts(
    request: HttpRequest,
    filters: Query[ReceiptFilter],
    window: Query[UpdatedWindow],
    sort: str | None = Query(None, description=_sort_help(with_updated_sort(RECEIPT_SORTS))),
) -> Any:
    _require(request, "finance", "view")
    qs = window.apply(scoped(request, Receipt))  # R10.1 incremental sync
    for key, lookup in (
        ("contract_id", "contract_id"),
        ("customer_id", "customer_id"),
        ("owner_id", "owner_id"),
        ("status", "status"),
        ("method", "method"),
        ("date_from", "received_on__gte"),
        ("date_to", "received_on__lte"),
    ):
        value = getattr(filters, key)
        if value not in (None, ""):
            qs = qs.filter(**{lookup: value})
    if filters.department_id is not None:
        qs = qs.filter(owner_department_q(_me(request), filters.department_id))
    return apply_sort(
        _receipt_read(qs), sort, with_updated_sort(RECEIPT_SORTS), RECEIPT_DEFAULT_SORT
    )


@router.post(
    "/receipts",
    response={201: ReceiptRead},
    summary="Record a receipt for a signed contract (over-collection is refused)",
)
def create_receipt(request: HttpRequest, payload: ReceiptCreate) -> Any:
    _require(request, "finance", "create")
    contract = scoped_get(request, Contract, payload.contract_id)
    allocations: list[tuple[Any, Any]] = [
        (scoped_get(request, ReceivablePlan, a.plan_id), a.amount) for a in payload.allocations
    ]
    receipt = receipt_services.record_receipt(
        actor=_me(request),
        contract=contract,
        data=payload.dict(
            include={"received_on", "amount", "method", "payer", "reference", "note"}
        ),
        allocations=allocations or None,
        comment=payload.comment,
    )
    return Status(201, _receipt(request, receipt.pk))


@router.get("/receipts/{receipt_id}", response=ReceiptRead, summary="A receipt")
def get_receipt(request: HttpRequest, receipt_id: int) -> Any:
    _require(request, "finance", "view")
    return _receipt(request, receipt_id)


@router.post(
    "/receipts/{receipt_id}/void",
    response=ReceiptRead,
    summary="Void a confirmed receipt with a reason (the amounts go back; never deleted)",
)
def void_receipt(request: HttpRequest, receipt_id: int, payload: FinanceReasonIn) -> Any:
    _require(request, "finance", "edit")
    receipt = _receipt(request, receipt_id)
    receipt_services.void_receipt(actor=_me(request), receipt=receipt, reason=payload.reason)
    return _receipt(request, receipt_id)


# --- Write-offs ----------------------------------------------------------------------------------
def _write_off_read(qs: QuerySet[WriteOff]) -> QuerySet[WriteOff]:
    return qs.select_related("contract", "plan", "owner")


@router.get("/write-offs", response=list[WriteOffRead], summary="Bad-debt write-offs")
@paginate(Paginated)
def list_write_offs(request: HttpRequest, filters: Query[WriteOffFilter]) -> Any:
    _require(request, "finance", "view")
    qs = scoped(request, WriteOff)
    if filters.contract_id is not None:
        qs = qs.filter(contract_id=filters.contract_id)
    if filters.status:
        qs = qs.filter(status=filters.status)
    return _write_off_read(qs).order_by("-created_at", "-pk")


@router.post(
    "/write-offs",
    response={201: WriteOffRead},
    summary="Write off (part of) an installment's outstanding (approval when a flow applies)",
)
def create_write_off(request: HttpRequest, payload: WriteOffCreate) -> Any:
    _require(request, "finance", "create")
    plan = scoped_get(request, ReceivablePlan, payload.plan_id)
    write_off = receipt_services.create_write_off(
        actor=_me(request),
        plan=plan,
        amount=payload.amount,
        reason=payload.reason,
        comment=payload.comment,
    )
    return Status(
        201, scoped_get(request, _write_off_read(scoped(request, WriteOff)), write_off.pk)
    )


# --- Invoices ------------------------------------------------------------------------------------
def _invoice_read(qs: QuerySet[Invoice]) -> QuerySet[Invoice]:
    return qs.select_related("contract", "customer", "owner").prefetch_related("lines")


def _invoice(request: HttpRequest, pk: int) -> Invoice:
    invoice: Invoice = scoped_get(request, _invoice_read(scoped(request, Invoice)), pk)
    return invoice


@router.get("/invoices", response=list[InvoiceRead], summary="Invoice requests and invoices")
@paginate(Paginated)
def list_invoices(
    request: HttpRequest,
    filters: Query[InvoiceFilter],
    window: Query[UpdatedWindow],
    sort: str | None = Query(None, description=_sort_help(with_updated_sort(INVOICE_SORTS))),
) -> Any:
    _require(request, "finance", "view")
    qs = window.apply(scoped(request, Invoice))  # R10.1 incremental sync
    for key in ("contract_id", "customer_id", "status", "kind"):
        value = getattr(filters, key)
        if value not in (None, ""):
            qs = qs.filter(**{key: value})
    return apply_sort(
        _invoice_read(qs), sort, with_updated_sort(INVOICE_SORTS), INVOICE_DEFAULT_SORT
    )


@router.post(
    "/invoices",
    response={201: InvoiceRead},
    summary="Request an invoice against a contract (finance, or sales edit on the contract)",
)
def create_invoice(request: HttpRequest, payload: InvoiceCreate) -> Any:
    _require(request, "finance", "view")
    contract = scoped_get(request, Contract, payload.contract_id)
    data = payload.dict(
        include={
            "kind",
            "amount",
            "title",
            "tax_number",
            "address_phone",
            "bank_name",
            "bank_account",
            "note",
        }
    )
    invoice = invoice_services.request_invoice(
        actor=_me(request),
        contract=contract,
        data=data,
        lines=[line.dict() for line in payload.lines],
    )
    # (a rep requesting through sales:edit may not see a colleague's invoices afterwards:
    # the answer is the request just made, as the service returned it)
    return Status(201, invoice)


@router.get("/invoices/{invoice_id}", response=InvoiceRead, summary="An invoice")
def get_invoice(request: HttpRequest, invoice_id: int) -> Any:
    _require(request, "finance", "view")
    return _invoice(request, invoice_id)


@router.post(
    "/invoices/{invoice_id}/issue",
    response=InvoiceRead,
    summary="Issue a requested invoice: its number and date (finance)",
)
def issue_invoice(request: HttpRequest, invoice_id: int, payload: InvoiceIssueIn) -> Any:
    _require(request, "finance", "edit")
    invoice_services.issue_invoice(
        actor=_me(request),
        invoice=_invoice(request, invoice_id),
        invoice_number=payload.invoice_number,
        issued_on=payload.issued_on,
    )
    return _invoice(request, invoice_id)


@router.post(
    "/invoices/{invoice_id}/mail",
    response=InvoiceRead,
    summary="Record the mailing of an issued invoice (finance)",
)
def mail_invoice(request: HttpRequest, invoice_id: int, payload: InvoiceMailIn) -> Any:
    _require(request, "finance", "edit")
    invoice_services.mail_invoice(
        actor=_me(request), invoice=_invoice(request, invoice_id), data=payload.dict()
    )
    return _invoice(request, invoice_id)


@router.post(
    "/invoices/{invoice_id}/cancel",
    response=InvoiceRead,
    summary="Cancel an invoice with a reason (its amount may be invoiced again)",
)
def cancel_invoice(request: HttpRequest, invoice_id: int, payload: FinanceReasonIn) -> Any:
    _require(request, "finance", "view")
    invoice_services.cancel_invoice(
        actor=_me(request), invoice=_invoice(request, invoice_id), reason=payload.reason
    )
    return _invoice(request, invoice_id)


# --- Summary -------------------------------------------------------------------------------------
@router.get(
    "/summary",
    response=CollectionSummary,
    summary="Receivables, overdue ageing and this month's receipts in your scope",
)
def collection_summary(request: HttpRequest) -> Any:
    _require(request, "finance", "view")
    data = selectors.summary(_me(request), timezone.localdate())
    figures = data.pop("figures")
    return {
        **data,
        "planned": money_out(figures.planned),
        "received": money_out(figures.received),
        "written_off": money_out(figures.written_off),
        "outstanding": money_out(figures.outstanding),
        "overdue": money_out(figures.overdue),
        "received_this_month": money_out(data["received_this_month"]),
        "due_this_week": money_out(data["due_this_week"]),
        "ageing": data.pop("buckets"),
    }
