"""API schemas of contracts, amendments, orders, returns and approvals, and the contract list's
filter vocabulary (shared by the API and the contract list page).

Money goes in as a string or a number (``"1,234.5"``) and comes out as a string with two
decimals (``"1234.50"``); dates are ``YYYY-MM-DD``. Write schemas list what a client may set:
status, owner, numbers and the amounts finance keeps move only through their own actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from django.db.models import Q, QuerySet
from django.utils import timezone
from ninja import Field, FilterSchema, Schema
from pydantic import ValidationError

from crm.core.api import FilterDate, RecordId
from crm.core.errors import ValidationFailed
from crm.customers.schemas import CustomerBrief, UserBrief
from crm.pipeline.opportunity_schemas import Money, money_out

from .choices import ContractStatus

#: a record id in a query string: at most 2^53 − 1 (safe in JavaScript, never written with an
#: exponent); beyond, 422 like any bad parameter
QueryId = Annotated[int, Field(ge=1, le=2**53 - 1)]

CONTRACT_STATUSES = Literal[
    "draft", "pending", "approved", "signed", "executing", "completed", "terminated"
]
SHIPMENT_STATUSES = Literal["pending", "shipped", "delivered", "cancelled"]
RETURN_STATUSES = Literal["draft", "pending", "approved", "refunded", "rejected", "withdrawn"]

#: public sort key -> model field
CONTRACT_SORTS = {
    "number": "number",
    "name": "name",
    "amount": "amount",
    "signed_on": "signed_on",
    "ends_on": "ends_on",
    "renewal_on": "renewal_on",
    "created": "created_at",
    "updated": "updated_at",
}
CONTRACT_DEFAULT_SORT = ["-updated_at", "-pk"]
ORDER_SORTS = {"number": "number", "created": "created_at", "amount": "amount"}
RETURN_SORTS = {"number": "number", "created": "created_at", "amount": "amount"}


# --- The contract list's filters -----------------------------------------------------------------
def owner_department_q(user: Any, department_id: int, owner: str = "owner") -> Q:
    """Records whose owner is in the department ``department_id`` or below it, when ``user``
    may see that department (``Department.objects.visible_to``); otherwise nothing, as for a
    department that does not exist (another organisation's id finds no record)."""
    from crm.org.models import Department

    path = (
        Department.objects.visible_to(user)
        .filter(pk=department_id)
        .values_list("path", flat=True)
        .first()
    )
    if path is None:
        return Q(pk__in=[])
    return Q(**{f"{owner}__department__path__startswith": path})


class ContractFilter(FilterSchema):
    """Filters of the contract list (page and API)."""

    q: str | None = Field(None, max_length=100, description="Number, name or customer name")
    status: CONTRACT_STATUSES | None = None
    owner_id: QueryId | None = None
    department_id: QueryId | None = Field(
        None, description="Owner's department and the departments below it"
    )
    mine: bool | None = Field(None, description="true: only contracts you own")
    customer_id: QueryId | None = None
    opportunity_id: QueryId | None = None
    signed_from: FilterDate | None = Field(None, description="Signed on or after (YYYY-MM-DD)")
    signed_to: FilterDate | None = Field(None, description="Signed on or before (YYYY-MM-DD)")
    renewal_within_days: int | None = Field(
        None,
        ge=0,
        le=3650,
        description="Renewal date from today to this many days ahead (binding contracts)",
    )

    @classmethod
    def from_query(cls, data: Mapping[str, Any]) -> Self:
        """From a query string: empty values are ignored; a bad value raises ValidationFailed."""
        values = {key: data.get(key) for key in cls.model_fields if data.get(key) not in (None, "")}
        try:
            return cls(**values)
        except ValidationError as exc:
            errors: dict[str, list[str]] = {}
            for err in exc.errors():
                field = ".".join(str(p) for p in err.get("loc", ())) or "__all__"
                errors.setdefault(field, []).append(str(err.get("msg", "")))
            raise ValidationFailed(field_errors=errors) from None

    def apply(self, qs: QuerySet[Any], user: Any) -> QuerySet[Any]:
        """Narrow an already scoped queryset of contracts."""
        if self.q and self.q.strip():
            text = self.q.strip()
            qs = qs.filter(
                Q(number__icontains=text)
                | Q(name__icontains=text)
                | Q(customer__name__icontains=text)
            )
        if self.status:
            qs = qs.filter(status=self.status)
        if self.owner_id is not None:
            qs = qs.filter(owner_id=self.owner_id)
        if self.mine:
            qs = qs.filter(owner_id=user.pk)
        if self.department_id is not None:
            qs = qs.filter(owner_department_q(user, self.department_id))
        if self.customer_id is not None:
            qs = qs.filter(customer_id=self.customer_id)
        if self.opportunity_id is not None:
            qs = qs.filter(opportunity_id=self.opportunity_id)
        if self.signed_from:
            qs = qs.filter(signed_on__gte=self.signed_from)
        if self.signed_to:
            qs = qs.filter(signed_on__lte=self.signed_to)
        if self.renewal_within_days is not None:
            today = timezone.localdate()
            qs = qs.filter(
                renewal_on__gte=today,
                renewal_on__lte=today + timedelta(days=self.renewal_within_days),
                status__in=[ContractStatus.SIGNED, ContractStatus.EXECUTING],
            )
        return qs


# --- Briefs ---------------------------------------------------------------------------------------
class ContractLinkBrief(Schema):
    id: int
    name: str


class ContractBrief(Schema):
    id: int
    number: str
    name: str


class ContractQuoteBrief(Schema):
    id: int
    number: str
    revision: int
    title: str


# --- Contracts ------------------------------------------------------------------------------------
class ContractRead(Schema):
    """A contract; ``received_amount``, ``invoiced_amount``, ``written_off_amount`` and
    ``refunded_amount`` are kept by finance and refunds, ``outstanding`` = amount − received −
    written off."""

    id: int
    number: str
    name: str
    status: CONTRACT_STATUSES
    status_label: str
    customer: CustomerBrief
    opportunity: ContractLinkBrief | None
    quote: ContractQuoteBrief | None
    owner: UserBrief
    collaborators: list[UserBrief]
    amount: str = Field(..., description='Two decimals, e.g. "120000.00"')
    currency: str
    received_amount: str
    invoiced_amount: str
    written_off_amount: str
    refunded_amount: str
    outstanding: str
    signed_on: date | None
    starts_on: date | None
    ends_on: date | None
    renewal_on: date | None
    customer_signer: str
    signer: UserBrief | None
    payment_terms: str
    notes: str
    terminated_at: datetime | None
    termination_reason: str
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_status_label(obj: Any) -> str:
        return str(obj.get_status_display())

    @staticmethod
    def resolve_collaborators(obj: Any) -> list[Any]:
        return list(obj.collaborators.all())

    @staticmethod
    def resolve_amount(obj: Any) -> str | None:
        return money_out(obj.amount)

    @staticmethod
    def resolve_received_amount(obj: Any) -> str | None:
        return money_out(obj.received_amount)

    @staticmethod
    def resolve_invoiced_amount(obj: Any) -> str | None:
        return money_out(obj.invoiced_amount)

    @staticmethod
    def resolve_written_off_amount(obj: Any) -> str | None:
        return money_out(obj.written_off_amount)

    @staticmethod
    def resolve_refunded_amount(obj: Any) -> str | None:
        return money_out(obj.refunded_amount)

    @staticmethod
    def resolve_outstanding(obj: Any) -> str | None:
        return money_out(obj.outstanding)


class _ContractFields(Schema):
    starts_on: date | None = None
    ends_on: date | None = None
    renewal_on: date | None = None
    customer_signer: str = Field("", max_length=100, description="Who signs for the customer")
    signer_id: RecordId | None = Field(None, description="Who signs for us (a colleague)")
    payment_terms: str = Field("", max_length=5000)
    notes: str = Field("", max_length=5000)


class ContractCreate(_ContractFields):
    """Name one of ``quote_id`` (an accepted quote: amount = its total), ``opportunity_id``
    (name and amount default to the opportunity's) or ``customer_id``."""

    customer_id: RecordId | None = None
    opportunity_id: RecordId | None = None
    quote_id: RecordId | None = None
    name: str | None = Field(None, max_length=200, description="Defaults to the source's name")
    amount: Money = Field(None, description="Defaults to the quote total or expected amount")
    owner_id: RecordId | None = Field(None, description="Defaults to you")
    collaborator_ids: list[RecordId] = Field([], max_length=100)


class ContractUpdate(Schema):
    """Only a draft is edited; only the fields sent change."""

    version: int = Field(..., ge=1, description="The version you read; a stale one answers 409")
    name: str | None = Field(None, min_length=1, max_length=200)
    amount: Money = None
    starts_on: date | None = None
    ends_on: date | None = None
    renewal_on: date | None = None
    customer_signer: str | None = Field(None, max_length=100)
    signer_id: RecordId | None = None
    payment_terms: str | None = Field(None, max_length=5000)
    notes: str | None = Field(None, max_length=5000)
    collaborator_ids: list[RecordId] | None = Field(None, max_length=100)


class ContractVersionIn(Schema):
    version: int | None = Field(None, ge=1, description="The version you read (optional)")


class ApprovalSubmitIn(ContractVersionIn):
    comment: str = Field("", max_length=500)


class ContractSignIn(ContractVersionIn):
    signed_on: date = Field(..., description="The signing date (not in the future)")
    customer_signer: str | None = Field(None, max_length=100)
    signer_id: RecordId | None = None


class ContractTerminateIn(ContractVersionIn):
    reason: str = Field(..., min_length=1, max_length=300)


class ContractAmendIn(Schema):
    """The fields to change (only those sent) and why."""

    reason: str = Field(..., min_length=1, max_length=500)
    comment: str = Field("", max_length=500, description="A note for the approvers")
    name: str | None = Field(None, min_length=1, max_length=200)
    amount: Money = None
    starts_on: date | None = None
    ends_on: date | None = None
    renewal_on: date | None = None
    customer_signer: str | None = Field(None, max_length=100)
    payment_terms: str | None = Field(None, max_length=5000)
    notes: str | None = Field(None, max_length=5000)


class AmendmentRead(Schema):
    id: int
    contract: ContractBrief
    owner: UserBrief
    reason: str
    changes: dict[str, list[Any]] = Field(..., description="field → [old, new]")
    status: Literal["pending", "approved", "rejected", "withdrawn"]
    applied_at: datetime | None
    created_at: datetime


# --- Approvals ------------------------------------------------------------------------------------
class ApprovalTaskDetail(Schema):
    id: int
    step: int
    step_name: str
    mode: Literal["any", "all"]
    approver: UserBrief
    status: Literal["waiting", "pending", "approved", "rejected", "skipped"]
    comment: str
    decided_at: datetime | None


class ApprovalRequestRead(Schema):
    id: int
    subject: str
    subject_id: str
    subject_repr: str
    flow: ContractLinkBrief
    submitter: UserBrief
    status: Literal["pending", "approved", "rejected", "withdrawn"]
    step: int
    amount: str | None
    comment: str
    created_at: datetime
    decided_at: datetime | None
    tasks: list[ApprovalTaskDetail]

    @staticmethod
    def resolve_amount(obj: Any) -> str | None:
        return money_out(obj.amount)

    @staticmethod
    def resolve_tasks(obj: Any) -> list[Any]:
        return sorted(obj.tasks.all(), key=lambda t: (t.step, t.pk))


class ApprovalRequestBrief(Schema):
    id: int
    subject: str
    subject_id: str
    subject_repr: str
    submitter: UserBrief
    amount: str | None
    created_at: datetime

    @staticmethod
    def resolve_amount(obj: Any) -> str | None:
        return money_out(obj.amount)


class ApprovalTaskRead(Schema):
    """One approval waiting for you."""

    id: int
    step: int
    step_name: str
    mode: Literal["any", "all"]
    status: str
    created_at: datetime
    request: ApprovalRequestBrief


class ApprovalDecisionIn(Schema):
    comment: str = Field("", max_length=500, description="Required to reject")


# --- Orders ---------------------------------------------------------------------------------------
class OrderLineRead(Schema):
    id: int
    product_id: int | None
    description: str
    quantity: str
    unit_price: str
    amount: str
    shipped_quantity: str

    @staticmethod
    def resolve_quantity(obj: Any) -> str:
        return f"{obj.quantity:.2f}"

    @staticmethod
    def resolve_unit_price(obj: Any) -> str:
        return f"{obj.unit_price:.2f}"

    @staticmethod
    def resolve_amount(obj: Any) -> str:
        return f"{obj.amount:.2f}"

    @staticmethod
    def resolve_shipped_quantity(obj: Any) -> str:
        return f"{obj.shipped_quantity:.2f}"


class OrderRead(Schema):
    id: int
    number: str
    contract: ContractBrief
    customer: CustomerBrief
    owner: UserBrief
    status: SHIPMENT_STATUSES
    status_label: str
    amount: str
    currency: str
    ship_to: str
    carrier: str
    tracking_number: str
    external_ref: str
    shipped_at: datetime | None
    delivered_at: datetime | None
    notes: str
    lines: list[OrderLineRead]
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_status_label(obj: Any) -> str:
        return str(obj.get_status_display())

    @staticmethod
    def resolve_amount(obj: Any) -> str | None:
        return money_out(obj.amount)

    @staticmethod
    def resolve_lines(obj: Any) -> list[Any]:
        return list(obj.lines.all())


class OrderLineIn(Schema):
    description: str = Field(..., min_length=1, max_length=300)
    quantity: Decimal = Field(..., gt=0, max_digits=14, decimal_places=2)
    unit_price: Decimal = Field(..., ge=0, max_digits=16, decimal_places=2)


class OrderCreate(Schema):
    """Lines default to the quote's lines (or one line for the whole contract)."""

    contract_id: RecordId
    ship_to: str = Field("", max_length=300)
    external_ref: str = Field("", max_length=100, description="The order's id downstream")
    notes: str = Field("", max_length=5000)
    lines: list[OrderLineIn] = Field([], max_length=200)


class OrderUpdate(Schema):
    """Shipment status and details from downstream systems. Repeating the current status (with
    the same details) is a no-op; other changes need the current ``version``."""

    version: int = Field(..., ge=1)
    status: SHIPMENT_STATUSES | None = None
    carrier: str | None = Field(None, max_length=100)
    tracking_number: str | None = Field(None, max_length=100)
    external_ref: str | None = Field(None, max_length=100)
    ship_to: str | None = Field(None, max_length=300)
    notes: str | None = Field(None, max_length=5000)


# --- Returns --------------------------------------------------------------------------------------
class ReturnRead(Schema):
    id: int
    number: str
    contract: ContractBrief
    order: ContractLinkBrief | None
    customer: CustomerBrief
    owner: UserBrief
    reason: str
    reason_label: str
    description: str
    amount: str
    currency: str
    status: RETURN_STATUSES
    status_label: str
    refunded_on: date | None
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_order(obj: Any) -> dict[str, Any] | None:
        return {"id": obj.order.pk, "name": obj.order.number} if obj.order_id else None

    @staticmethod
    def resolve_reason_label(obj: Any) -> str:
        from .return_services import reason_label

        return reason_label(obj.reason)

    @staticmethod
    def resolve_status_label(obj: Any) -> str:
        return str(obj.get_status_display())

    @staticmethod
    def resolve_amount(obj: Any) -> str | None:
        return money_out(obj.amount)


REASONS = Literal["quality", "wrong_item", "damaged", "late", "not_needed", "price", "other"]


class ReturnCreate(Schema):
    contract_id: RecordId
    order_id: RecordId | None = None
    reason: REASONS
    description: str = Field("", max_length=5000)
    amount: Money = Field(..., description="Above 0, at most what may still be refunded")


class ReturnUpdate(Schema):
    """Only a draft is edited."""

    version: int = Field(..., ge=1)
    reason: REASONS | None = None
    description: str | None = Field(None, max_length=5000)
    amount: Money = None
    order_id: RecordId | None = None


class ReturnRefundIn(ContractVersionIn):
    refunded_on: date = Field(..., description="The day the money went back")


# --- approval flows (R10.1, api-gaps: the settings pages' flows and steps) ---------------------
class ApprovalStepRead(Schema):
    id: int
    sort_order: int
    name: str
    approver_kind: str = Field(..., description="user, manager (the submitter's) or role")
    mode: str = Field(..., description="any (one of them decides) or all (会签)")
    user_id: int | None
    role_id: int | None


class ApprovalFlowRead(Schema):
    """A flow: what it approves, when it applies (amount range, least discount) and its steps;
    the first active matching flow of a subject, in ``sort_order``, is used."""

    id: int
    name: str
    subject: str
    min_amount: str | None
    max_amount: str | None
    min_discount_percent: str | None
    is_active: bool
    sort_order: int
    steps: list[ApprovalStepRead]

    @staticmethod
    def resolve_min_amount(obj: Any) -> str | None:
        return money_out(obj.min_amount)

    @staticmethod
    def resolve_max_amount(obj: Any) -> str | None:
        return money_out(obj.max_amount)

    @staticmethod
    def resolve_min_discount_percent(obj: Any) -> str | None:
        value = obj.min_discount_percent
        return None if value is None else f"{value.normalize():f}"

    @staticmethod
    def resolve_steps(obj: Any) -> list[Any]:
        return sorted(obj.steps.all(), key=lambda s: (s.sort_order, s.pk))


APPROVAL_SUBJECTS = Literal["contract", "amendment", "quote", "return", "receipt", "write_off"]


class ApprovalFlowIn(Schema):
    """Every field of a flow (PUT replaces them all)."""

    name: str = Field(..., min_length=1, max_length=100)
    subject: APPROVAL_SUBJECTS
    min_amount: Money = Field(None, description="Applies from this amount (empty: any)")
    max_amount: Money = Field(None, description="Up to this amount (empty: any)")
    min_discount_percent: Money = Field(None, description="Quotes: from this discount, percent")
    is_active: bool = True


class ApprovalStepIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    approver_kind: Literal["user", "manager", "role"]
    mode: Literal["any", "all"] = Field("any", description="all: everyone with the role (会签)")
    user_id: int | None = Field(None, ge=1, le=2**63 - 1, description="approver_kind=user")
    role_id: int | None = Field(None, ge=1, le=2**63 - 1, description="approver_kind=role")


class ApprovalMoveIn(Schema):
    direction: Literal["up", "down"]
