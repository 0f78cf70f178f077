"""API schemas of receivable plans, receipts, write-offs, invoices and the collection summary.

Money goes in as a string or a number (``"1,234.5"``, ``1234.5``; the services parse it with
``crm.core.money`` and answer 400 with the field when it is not an amount) and comes out as a
string with two decimals (``"1234.50"``); dates are ``YYYY-MM-DD``. Write schemas list the
fields a client may set: owner, status, numbers and the amounts kept by the services are never
taken from a request.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from django.utils import timezone
from ninja import Field, FilterSchema, Schema

from crm.core.api import FilterDate, RecordId
from crm.customers.schemas import CustomerBrief, UserBrief
from crm.pipeline.opportunity_schemas import FilterId

from .choices import PlanStatus

MoneyIn = str | int | float
PLAN_STATUSES = Literal["pending", "partial", "done", "overdue"]
RECEIPT_STATUSES = Literal["pending", "confirmed", "rejected", "voided"]
METHODS = Literal["transfer", "acceptance", "cheque", "cash", "online", "other"]
WRITE_OFF_STATUSES = Literal["pending", "approved", "rejected", "withdrawn"]
INVOICE_STATUSES = Literal["requested", "issued", "mailed", "cancelled"]
INVOICE_KINDS = Literal["normal", "special"]


def money_out(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


class FinanceContractBrief(Schema):
    id: int
    number: str
    name: str


# --- receivable plans ----------------------------------------------------------------------------
class ReceivablePlanRead(Schema):
    """One installment of a contract: planned, received, written off and outstanding; its
    derived status (not yet due, partly received, received, overdue) and days overdue."""

    id: int
    contract: FinanceContractBrief
    customer: CustomerBrief
    owner: UserBrief = Field(..., description="The contract's owner")
    sequence: int
    due_on: date
    amount: str
    percentage: str = Field(..., description="Share of the contract amount (%)")
    remind_days: int
    note: str
    received_amount: str
    written_off_amount: str
    outstanding: str
    status: str
    status_label: str
    overdue_days: int
    ageing_bucket: str | None = Field(..., description="1-30, 31-60, 61-90 or 90+ when overdue")

    @staticmethod
    def resolve_customer(obj: Any) -> Any:
        return obj.contract.customer

    @staticmethod
    def resolve_owner(obj: Any) -> Any:
        return obj.contract.owner

    @staticmethod
    def resolve_amount(obj: Any) -> str | None:
        return money_out(obj.amount)

    @staticmethod
    def resolve_percentage(obj: Any) -> str | None:
        return money_out(obj.percentage)

    @staticmethod
    def resolve_received_amount(obj: Any) -> str | None:
        return money_out(obj.received_amount)

    @staticmethod
    def resolve_written_off_amount(obj: Any) -> str | None:
        return money_out(obj.written_off_amount)

    @staticmethod
    def resolve_outstanding(obj: Any) -> str | None:
        return money_out(obj.outstanding)

    @staticmethod
    def resolve_status(obj: Any) -> str:
        return str(obj.status_on(timezone.localdate()))

    @staticmethod
    def resolve_status_label(obj: Any) -> str:
        return str(PlanStatus(obj.status_on(timezone.localdate())).label)

    @staticmethod
    def resolve_overdue_days(obj: Any) -> int:
        return int(obj.overdue_days(timezone.localdate()))

    @staticmethod
    def resolve_ageing_bucket(obj: Any) -> str | None:
        from .selectors import bucket_of

        return bucket_of(obj.overdue_days(timezone.localdate()))


class ReceivablePlanIn(Schema):
    """One installment of the new set. Send ``amount`` or ``percentage`` (the amount wins when
    both come); ``id`` keeps an existing installment (and what was received on it)."""

    id: RecordId | None = Field(None, description="An installment of this contract to keep")
    due_on: date
    amount: MoneyIn | None = Field(None, description="String or number, two decimals")
    percentage: MoneyIn | None = Field(None, description="Share of the contract amount, e.g. 30")
    remind_days: int = Field(7, ge=0, le=365, description="Remind the owner N days before")
    note: str = Field("", max_length=300)


class PlansReplaceIn(Schema):
    plans: list[ReceivablePlanIn] = Field(
        ..., max_length=60, description="The installments in order; they add up to the amount"
    )


class ReceivablePlanFilter(FilterSchema):
    contract_id: FilterId | None = None
    customer_id: FilterId | None = None
    owner_id: FilterId | None = Field(None, description="The contract's owner")
    status: PLAN_STATUSES | None = None
    overdue: bool | None = Field(None, description="Only overdue (true) or only not overdue")
    due_from: FilterDate | None = Field(None, description="Due on or after")
    due_to: FilterDate | None = Field(None, description="Due on or before")


PLAN_SORTS = {"due": "due_on", "amount": "amount", "created": "created_at", "sequence": "sequence"}
PLAN_DEFAULT_SORT = ["due_on", "contract_id", "sequence", "pk"]


# --- receipts ------------------------------------------------------------------------------------
class ReceiptAllocationRead(Schema):
    plan_id: int
    sequence: int
    amount: str

    @staticmethod
    def resolve_sequence(obj: Any) -> int:
        return int(obj.plan.sequence)

    @staticmethod
    def resolve_amount(obj: Any) -> str | None:
        return money_out(obj.amount)


class ReceiptRead(Schema):
    """A receipt (回款) and the installments it settles. ``pending`` receipts wait for
    approval and do not count yet; voided ones gave their amounts back."""

    id: int
    number: str
    contract: FinanceContractBrief
    customer: CustomerBrief
    owner: UserBrief = Field(..., description="The contract's owner")
    received_on: date
    amount: str
    currency: str
    method: str
    method_label: str
    payer: str
    reference: str
    status: str
    status_label: str
    note: str
    allocations: list[ReceiptAllocationRead]
    voided_at: datetime | None
    void_reason: str
    version: int
    created_at: datetime

    @staticmethod
    def resolve_amount(obj: Any) -> str | None:
        return money_out(obj.amount)

    @staticmethod
    def resolve_method_label(obj: Any) -> str:
        return str(obj.get_method_display())

    @staticmethod
    def resolve_status_label(obj: Any) -> str:
        return str(obj.get_status_display())

    @staticmethod
    def resolve_allocations(obj: Any) -> list[Any]:
        return list(obj.allocations.all())


class ReceiptAllocationIn(Schema):
    plan_id: RecordId
    amount: MoneyIn = Field(..., description="String or number, two decimals")


class ReceiptCreate(Schema):
    contract_id: RecordId
    received_on: date | None = Field(None, description="Defaults to today; never in the future")
    amount: MoneyIn = Field(..., description="String or number, two decimals")
    method: METHODS = "transfer"
    payer: str = Field("", max_length=200)
    reference: str = Field("", max_length=100, description="The bank's reference")
    note: str = Field("", max_length=500)
    allocations: list[ReceiptAllocationIn] = Field(
        [], max_length=60, description="Installments it settles; none: the oldest open first"
    )
    comment: str = Field("", max_length=500, description="For the approver, if one is needed")


class FinanceReasonIn(Schema):
    reason: str = Field(..., min_length=1, max_length=300)


class ReceiptFilter(FilterSchema):
    contract_id: FilterId | None = None
    customer_id: FilterId | None = None
    owner_id: FilterId | None = None
    department_id: FilterId | None = Field(
        None, description="The contract owner's department and the departments below it"
    )
    status: RECEIPT_STATUSES | None = None
    method: METHODS | None = None
    date_from: FilterDate | None = Field(None, alias="from", description="Received on or after")
    date_to: FilterDate | None = Field(None, alias="to", description="Received on or before")


RECEIPT_SORTS = {"received": "received_on", "amount": "amount", "created": "created_at"}
RECEIPT_DEFAULT_SORT = ["-received_on", "-pk"]


# --- write-offs ----------------------------------------------------------------------------------
class WriteOffRead(Schema):
    id: int
    contract: FinanceContractBrief
    plan_id: int
    plan_sequence: int
    owner: UserBrief
    amount: str
    reason: str
    status: str
    status_label: str
    applied_at: datetime | None
    created_at: datetime

    @staticmethod
    def resolve_plan_sequence(obj: Any) -> int:
        return int(obj.plan.sequence)

    @staticmethod
    def resolve_amount(obj: Any) -> str | None:
        return money_out(obj.amount)

    @staticmethod
    def resolve_status_label(obj: Any) -> str:
        return str(obj.get_status_display())


class WriteOffCreate(Schema):
    plan_id: RecordId
    amount: MoneyIn = Field(..., description="At most the installment's outstanding amount")
    reason: str = Field(..., min_length=1, max_length=500)
    comment: str = Field("", max_length=500, description="For the approver, if one is needed")


class WriteOffFilter(FilterSchema):
    contract_id: FilterId | None = None
    status: WRITE_OFF_STATUSES | None = None


# --- invoices ------------------------------------------------------------------------------------
class InvoiceLineRead(Schema):
    description: str
    amount: str
    tax_rate: str

    @staticmethod
    def resolve_amount(obj: Any) -> str | None:
        return money_out(obj.amount)

    @staticmethod
    def resolve_tax_rate(obj: Any) -> str | None:
        return money_out(obj.tax_rate)


class InvoiceRead(Schema):
    """An invoice request (开票申请) and, once issued, the invoice and its mailing."""

    id: int
    number: str
    contract: FinanceContractBrief
    customer: CustomerBrief
    owner: UserBrief
    kind: str
    kind_label: str
    amount: str
    currency: str
    status: str
    status_label: str
    title: str
    tax_number: str
    address_phone: str
    bank_name: str
    bank_account: str
    invoice_number: str
    issued_on: date | None
    recipient: str
    recipient_phone: str
    mail_address: str
    courier: str
    tracking_number: str
    mailed_on: date | None
    note: str
    lines: list[InvoiceLineRead]
    version: int
    created_at: datetime

    @staticmethod
    def resolve_kind_label(obj: Any) -> str:
        return str(obj.get_kind_display())

    @staticmethod
    def resolve_amount(obj: Any) -> str | None:
        return money_out(obj.amount)

    @staticmethod
    def resolve_status_label(obj: Any) -> str:
        return str(obj.get_status_display())

    @staticmethod
    def resolve_lines(obj: Any) -> list[Any]:
        return list(obj.lines.all())


class InvoiceLineIn(Schema):
    description: str = Field(..., min_length=1, max_length=200)
    amount: MoneyIn = Field(..., description="String or number, two decimals")
    tax_rate: MoneyIn | None = Field(None, description="Percent; defaults to 13")


class InvoiceCreate(Schema):
    """The buyer's details default to the customer's invoicing details when not sent."""

    contract_id: RecordId
    kind: INVOICE_KINDS = "normal"
    amount: MoneyIn = Field(..., description="At most what is left to invoice")
    title: str | None = Field(None, max_length=200)
    tax_number: str | None = Field(None, max_length=40)
    address_phone: str | None = Field(None, max_length=300)
    bank_name: str | None = Field(None, max_length=200)
    bank_account: str | None = Field(None, max_length=60)
    note: str = Field("", max_length=500)
    lines: list[InvoiceLineIn] = Field([], max_length=50, description="They add up to the amount")


class InvoiceIssueIn(Schema):
    invoice_number: str = Field(..., min_length=1, max_length=60)
    issued_on: date | None = Field(None, description="Defaults to today")


class InvoiceMailIn(Schema):
    recipient: str = Field(..., min_length=1, max_length=100)
    recipient_phone: str = Field("", max_length=40)
    mail_address: str = Field(..., min_length=1, max_length=300)
    courier: str = Field(..., min_length=1, max_length=60)
    tracking_number: str = Field(..., min_length=1, max_length=100)
    mailed_on: date | None = Field(None, description="Defaults to today")


class InvoiceFilter(FilterSchema):
    contract_id: FilterId | None = None
    customer_id: FilterId | None = None
    status: INVOICE_STATUSES | None = None
    kind: INVOICE_KINDS | None = None


INVOICE_SORTS = {"created": "created_at", "amount": "amount", "issued": "issued_on"}
INVOICE_DEFAULT_SORT = ["-created_at", "-pk"]


# --- the collection summary ----------------------------------------------------------------------
class AgeingBucketRead(Schema):
    key: str
    label: str
    amount: str
    count: int

    @staticmethod
    def resolve_label(obj: Any) -> str:
        return str(obj.label)

    @staticmethod
    def resolve_amount(obj: Any) -> str | None:
        return money_out(obj.amount)


class CollectionSummary(Schema):
    """The headline figures of the collection board, in your scope."""

    today: date
    planned: str
    received: str
    written_off: str
    outstanding: str
    overdue: str
    received_this_month: str
    receipts_this_month: int
    due_this_week: str
    due_this_week_count: int
    ageing: list[AgeingBucketRead]
    awaiting_contracts: int = Field(..., description="Signed contracts with money to collect")
    invoices_to_issue: int = Field(..., description="Invoice requests not issued yet")
