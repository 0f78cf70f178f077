"""Products and price lists, quotes, contracts (with amendments), approval flows and requests,
orders and returns (R6, R9.1). Money is ``Decimal`` with two places, rounded half-up to the fen
by ``crm.core.money`` only; every amount is stored with its currency (CNY by default)."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Round
from django.utils.translation import gettext_lazy as _

from crm.core.models import ScopedModel, TenantModel
from crm.core.scoping import ScopedQuerySet, ScopeFields

from .choices import (
    ApprovalMode,
    ApprovalStatus,
    ApprovalSubject,
    ApproverKind,
    ContractStatus,
    DiscountKind,
    QuoteStatus,
    ReturnStatus,
    ShipmentStatus,
    TaskStatus,
)

ZERO = Decimal("0.00")


def money_field(verbose_name: str | object, **kwargs: object) -> models.DecimalField:
    return models.DecimalField(verbose_name, max_digits=16, decimal_places=2, **kwargs)  # type: ignore[arg-type]


# --- products -----------------------------------------------------------------------------------


class Product(TenantModel):
    """A product or service of the organisation's catalogue (R6.1)."""

    code = models.CharField(_("code"), max_length=60)
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=100, blank=True)
    unit = models.CharField(_("unit"), max_length=20, blank=True)
    list_price = money_field(_("list price"), default=ZERO)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    tax_rate = models.DecimalField(_("tax rate (%)"), max_digits=5, decimal_places=2, default=13)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["code", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["org", "code"], name="product_unique_code"),
            models.CheckConstraint(condition=Q(list_price__gte=0), name="product_price_positive"),
            models.CheckConstraint(
                condition=Q(tax_rate__gte=0) & Q(tax_rate__lte=100), name="product_tax_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class PriceList(TenantModel):
    """Prices that replace list prices for some customers or periods (optional)."""

    name = models.CharField(_("name"), max_length=100)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("price list")
        verbose_name_plural = _("price lists")
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="pricelist_unique")]

    def __str__(self) -> str:
        return self.name


class PriceListItem(TenantModel):
    price_list = models.ForeignKey(
        PriceList, on_delete=models.CASCADE, related_name="items", verbose_name=_("price list")
    )
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="+", verbose_name=_("product")
    )
    price = money_field(_("price"))

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, via="price_list")
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("price list item")
        verbose_name_plural = _("price list items")
        constraints = [
            models.UniqueConstraint(fields=["org", "price_list", "product"], name="pricelist_item"),
            models.CheckConstraint(condition=Q(price__gte=0), name="pricelist_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.price}"


# --- quotes -------------------------------------------------------------------------------------


class Quote(ScopedModel):
    """A quote (报价单) for an opportunity. Revising a sent quote creates a new version with the
    same ``number``; the old one becomes ``superseded`` and stays readable."""

    number = models.CharField(_("number"), max_length=40)
    revision = models.PositiveIntegerField(_("revision"), default=1)
    previous = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("previous revision"),
    )
    title = models.CharField(_("title"), max_length=200)
    opportunity = models.ForeignKey(
        "pipeline.Opportunity",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="quotes",
        verbose_name=_("opportunity"),
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="quotes",
        verbose_name=_("customer"),
    )
    contact = models.ForeignKey(
        "customers.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("contact"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner"),
    )
    price_list = models.ForeignKey(
        PriceList,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("price list"),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=QuoteStatus.choices, default=QuoteStatus.DRAFT
    )
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    subtotal = money_field(_("subtotal"), default=ZERO)
    discount_total = money_field(_("discount"), default=ZERO)
    tax_total = money_field(_("tax"), default=ZERO)
    total = money_field(_("total"), default=ZERO)
    max_discount_percent = models.DecimalField(
        _("largest discount (%)"), max_digits=5, decimal_places=2, default=ZERO
    )
    terms = models.TextField(_("terms"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner")
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("quote")
        verbose_name_plural = _("quotes")
        ordering = ["-updated_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "-updated_at", "-id"], name="quote_recent_idx"),
            models.Index(fields=["org", "opportunity"], name="quote_opp_idx"),
            models.Index(fields=["org", "customer"], name="quote_customer_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "number", "revision"], name="quote_unique_number"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} v{self.revision}"


class QuoteLine(TenantModel):
    """A line of a quote. The amounts are computed by ``crm.sales.pricing`` (one service)."""

    quote = models.ForeignKey(
        Quote, on_delete=models.CASCADE, related_name="lines", verbose_name=_("quote")
    )
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    product = models.ForeignKey(
        Product,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("product"),
    )
    description = models.CharField(_("description"), max_length=300)
    unit = models.CharField(_("unit"), max_length=20, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=2)
    unit_price = money_field(_("unit price"))
    discount_kind = models.CharField(
        _("discount kind"),
        max_length=10,
        choices=DiscountKind.choices,
        default=DiscountKind.PERCENT,
    )
    discount_value = models.DecimalField(
        _("discount"), max_digits=16, decimal_places=2, default=ZERO
    )
    tax_rate = models.DecimalField(_("tax rate (%)"), max_digits=5, decimal_places=2, default=ZERO)
    subtotal = money_field(_("subtotal"), default=ZERO)
    discount = money_field(_("discount amount"), default=ZERO)
    tax = money_field(_("tax"), default=ZERO)
    total = money_field(_("total"), default=ZERO)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, via="quote")
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("quote line")
        verbose_name_plural = _("quote lines")
        ordering = ["sort_order", "pk"]
        indexes = [models.Index(fields=["org", "quote"], name="quoteline_quote_idx")]

    def __str__(self) -> str:
        return self.description


# --- contracts ----------------------------------------------------------------------------------


class Contract(ScopedModel):
    """A contract (合同) with a customer. Submitting it starts an approval; once approved it is
    locked except through an approved amendment. ``received_amount`` and ``invoiced_amount`` are
    kept by the finance services with conditional updates, so receipts never over-collect."""

    number = models.CharField(_("number"), max_length=40)
    name = models.CharField(_("name"), max_length=200)
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="contracts",
        verbose_name=_("customer"),
    )
    opportunity = models.ForeignKey(
        "pipeline.Opportunity",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="contracts",
        verbose_name=_("opportunity"),
    )
    quote = models.ForeignKey(
        Quote,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contracts",
        verbose_name=_("quote"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner"),
    )
    collaborators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("collaborators")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=ContractStatus.choices, default=ContractStatus.DRAFT
    )
    amount = money_field(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    signed_on = models.DateField(_("signed on"), null=True, blank=True)
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    renewal_on = models.DateField(_("renewal date"), null=True, blank=True)
    customer_signer = models.CharField(_("customer's signer"), max_length=100, blank=True)
    signer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("our signer"),
    )
    payment_terms = models.TextField(_("payment terms"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    received_amount = money_field(_("received"), default=ZERO)
    written_off_amount = money_field(_("written off"), default=ZERO)
    invoiced_amount = money_field(_("invoiced"), default=ZERO)
    refunded_amount = money_field(_("refunded"), default=ZERO)
    terminated_at = models.DateTimeField(_("terminated at"), null=True, blank=True)
    termination_reason = models.CharField(_("termination reason"), max_length=300, blank=True)

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner", shared="collaborators")
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering = ["-updated_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "-updated_at", "-id"], name="contract_recent_idx"),
            models.Index(fields=["org", "customer", "status"], name="contract_customer_idx"),
            models.Index(fields=["org", "status", "signed_on"], name="contract_signed_idx"),
            models.Index(fields=["org", "status", "renewal_on"], name="contract_renewal_idx"),
            models.Index(fields=["org", "owner", "status"], name="contract_owner_idx"),
            models.Index(fields=["org", "opportunity"], name="contract_opp_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["org", "number"], name="contract_unique_number"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="contract_amount_positive"),
            models.CheckConstraint(
                condition=Q(received_amount__gte=0)
                & Q(
                    received_amount__lte=Round(
                        models.F("amount") - models.F("written_off_amount"), 2
                    )
                ),
                name="contract_no_over_collection",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.received_amount - self.written_off_amount


class ContractAmendment(ScopedModel):
    """A controlled change of a locked contract: the changed fields and the reason, applied
    when its approval is granted."""

    contract = models.ForeignKey(
        Contract, on_delete=models.CASCADE, related_name="amendments", verbose_name=_("contract")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    reason = models.CharField(_("reason"), max_length=500)
    changes = models.JSONField(_("changes"), default=dict)
    status = models.CharField(
        _("status"), max_length=12, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING
    )
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)

    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, via="contract")
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("contract amendment")
        verbose_name_plural = _("contract amendments")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["org", "contract"], name="amendment_contract_idx")]

    def __str__(self) -> str:
        return self.reason[:50]


# --- approvals ----------------------------------------------------------------------------------


class ApprovalFlow(TenantModel):
    """An organisation's approval flow for one kind of record. Among the active flows of a
    subject, the first (by ``sort_order``) whose conditions match the record is used; a flow
    without conditions matches everything. No matching flow: no approval needed."""

    name = models.CharField(_("name"), max_length=100)
    subject = models.CharField(_("approves"), max_length=20, choices=ApprovalSubject.choices)
    min_amount = money_field(_("from amount"), null=True, blank=True)
    max_amount = money_field(_("up to amount"), null=True, blank=True)
    min_discount_percent = models.DecimalField(
        _("from discount (%)"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("approval flow")
        verbose_name_plural = _("approval flows")
        ordering = ["subject", "sort_order", "pk"]
        indexes = [models.Index(fields=["org", "subject", "is_active"], name="flow_subject_idx")]

    def __str__(self) -> str:
        return self.name


class ApprovalStep(TenantModel):
    """One step of a flow: to a named user, the submitter's manager, or everyone with a role;
    any one of them or all of them (会签) must approve."""

    flow = models.ForeignKey(
        ApprovalFlow, on_delete=models.CASCADE, related_name="steps", verbose_name=_("flow")
    )
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    name = models.CharField(_("name"), max_length=100)
    approver_kind = models.CharField(
        _("approver"), max_length=10, choices=ApproverKind.choices, default=ApproverKind.MANAGER
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("person"),
    )
    role = models.ForeignKey(
        "org.Role",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("role"),
    )
    mode = models.CharField(
        _("who must approve"), max_length=5, choices=ApprovalMode.choices, default=ApprovalMode.ANY
    )

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, via="flow")
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("approval step")
        verbose_name_plural = _("approval steps")
        ordering = ["sort_order", "pk"]

    def __str__(self) -> str:
        return self.name


def _my_approvals(user: object) -> Q:
    return Q(tasks__approver=user)


class ApprovalRequest(TenantModel):
    """One run of a flow for one record (``subject`` + ``subject_id``). ``step`` is the index of
    the current step; its tasks are pending, later ones waiting."""

    subject = models.CharField(_("approves"), max_length=20, choices=ApprovalSubject.choices)
    subject_id = models.CharField(max_length=64)
    subject_repr = models.CharField(_("record"), max_length=200, blank=True)
    flow = models.ForeignKey(
        ApprovalFlow, on_delete=models.PROTECT, related_name="+", verbose_name=_("flow")
    )
    submitter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("submitted by"),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING
    )
    step = models.PositiveIntegerField(_("current step"), default=0)
    amount = money_field(_("amount"), null=True, blank=True)
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    # The submitter and the approvers see the request; others read it through its record.
    scope: ClassVar[ScopeFields] = ScopeFields(owner="submitter", personal=True, also=_my_approvals)
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "subject", "subject_id"], name="approval_subject_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "subject", "subject_id"],
                condition=Q(status="pending"),
                name="approval_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject}#{self.subject_id}"


class ApprovalTask(TenantModel):
    """One approver's part of one step of a request."""

    request = models.ForeignKey(
        ApprovalRequest, on_delete=models.CASCADE, related_name="tasks", verbose_name=_("request")
    )
    step = models.PositiveIntegerField(_("step"))
    step_name = models.CharField(_("step"), max_length=100)
    mode = models.CharField(_("who must approve"), max_length=5, choices=ApprovalMode.choices)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("approver"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=TaskStatus.choices, default=TaskStatus.WAITING
    )
    comment = models.CharField(_("comment"), max_length=500, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner="approver", personal=True)
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("approval task")
        verbose_name_plural = _("approval tasks")
        ordering = ["step", "pk"]
        indexes = [
            models.Index(fields=["org", "approver", "status"], name="approvaltask_inbox_idx"),
            models.Index(fields=["org", "request", "step"], name="approvaltask_request_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id}/{self.step}: {self.approver_id}"


# --- orders and returns -------------------------------------------------------------------------


class Order(ScopedModel):
    """An order (订单) from a contract; downstream inventory and logistics update its shipment
    status through the API (R6.4)."""

    number = models.CharField(_("number"), max_length=40)
    contract = models.ForeignKey(
        Contract, on_delete=models.PROTECT, related_name="orders", verbose_name=_("contract")
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", verbose_name=_("customer")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner"),
    )
    status = models.CharField(
        _("shipment status"),
        max_length=12,
        choices=ShipmentStatus.choices,
        default=ShipmentStatus.PENDING,
    )
    amount = money_field(_("amount"), default=ZERO)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    ship_to = models.CharField(_("ship to"), max_length=300, blank=True)
    carrier = models.CharField(_("carrier"), max_length=100, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=100, blank=True)
    external_ref = models.CharField(_("external reference"), max_length=100, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner")
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "contract"], name="order_contract_idx"),
            models.Index(fields=["org", "status", "-created_at"], name="order_status_idx"),
            models.Index(fields=["org", "-updated_at", "-id"], name="order_updated_idx"),
        ]
        constraints = [models.UniqueConstraint(fields=["org", "number"], name="order_unique")]

    def __str__(self) -> str:
        return self.number


class OrderLine(TenantModel):
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="lines", verbose_name=_("order")
    )
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    product = models.ForeignKey(
        Product,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("product"),
    )
    description = models.CharField(_("description"), max_length=300)
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=2)
    unit_price = money_field(_("unit price"))
    amount = money_field(_("amount"))
    shipped_quantity = models.DecimalField(
        _("shipped"), max_digits=14, decimal_places=2, default=ZERO
    )

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, via="order")
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["sort_order", "pk"]

    def __str__(self) -> str:
        return self.description


class ReturnRequest(ScopedModel):
    """A return or refund (退货/退款) against an order or a contract, approved before the refund
    (R6.3)."""

    number = models.CharField(_("number"), max_length=40)
    contract = models.ForeignKey(
        Contract, on_delete=models.PROTECT, related_name="returns", verbose_name=_("contract")
    )
    order = models.ForeignKey(
        Order,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="returns",
        verbose_name=_("order"),
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="+", verbose_name=_("customer")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner"),
    )
    reason = models.CharField(_("reason"), max_length=60)
    description = models.TextField(_("description"), blank=True)
    amount = money_field(_("refund amount"))
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    status = models.CharField(
        _("status"), max_length=12, choices=ReturnStatus.choices, default=ReturnStatus.DRAFT
    )
    refunded_on = models.DateField(_("refunded on"), null=True, blank=True)

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner")
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("return")
        verbose_name_plural = _("returns")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["org", "contract"], name="return_contract_idx")]
        constraints = [
            models.UniqueConstraint(fields=["org", "number"], name="return_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="return_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.number


class DocumentTemplate(TenantModel):
    """A Word template (docxtpl) an admin uploaded for quotes or contracts; without one, the
    built-in template is used."""

    kind = models.CharField(_("document"), max_length=20)
    name = models.CharField(_("name"), max_length=100)
    file = models.FileField(_("file"), upload_to="templates/%Y/%m/", max_length=300)
    is_active = models.BooleanField(_("active"), default=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("document template")
        verbose_name_plural = _("document templates")
        ordering = ["kind", "-created_at"]

    def __str__(self) -> str:
        return self.name
