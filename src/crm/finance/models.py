"""Receivable plans (回款计划), receipts (回款) and their allocation to plans, bad-debt
write-offs, and invoices (发票) with their mailing details (R7).

Over-collection is impossible by construction: a receipt raises the plan's and the contract's
``received_amount`` with conditional UPDATEs (``… WHERE received + x <= amount``) inside one
transaction, and check constraints in the database say the same."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Round
from django.utils.translation import gettext_lazy as _

from crm.core.models import ScopedModel, TenantModel
from crm.core.scoping import ScopedQuerySet, ScopeFields

from .choices import (
    InvoiceKind,
    InvoiceStatus,
    PaymentMethod,
    PlanStatus,
    ReceiptStatus,
    WriteOffStatus,
)

ZERO = Decimal("0.00")


def money_field(verbose_name: object, **kwargs: object) -> models.DecimalField:
    return models.DecimalField(verbose_name, max_digits=16, decimal_places=2, **kwargs)  # type: ignore[arg-type]


class ReceivablePlan(TenantModel):
    """One installment of a contract: due date, amount (and its share of the contract), how many
    days before the due date to remind, and what was received and written off against it."""

    contract = models.ForeignKey(
        "sales.Contract",
        on_delete=models.CASCADE,
        related_name="receivable_plans",
        verbose_name=_("contract"),
    )
    sequence = models.PositiveIntegerField(_("installment"))
    due_on = models.DateField(_("due on"))
    amount = money_field(_("amount"))
    percentage = models.DecimalField(_("share (%)"), max_digits=6, decimal_places=2, default=ZERO)
    remind_days = models.PositiveIntegerField(_("remind days before"), default=7)
    note = models.CharField(_("note"), max_length=300, blank=True)
    received_amount = money_field(_("received"), default=ZERO)
    written_off_amount = money_field(_("written off"), default=ZERO)
    is_void = models.BooleanField(_("void"), default=False)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, via="contract")
    scope_module: ClassVar[str] = "sales"

    class Meta:
        verbose_name = _("receivable plan")
        verbose_name_plural = _("receivable plans")
        ordering = ["contract", "sequence", "pk"]
        indexes = [
            models.Index(fields=["org", "due_on"], name="plan_due_idx"),
            models.Index(fields=["org", "contract", "sequence"], name="plan_contract_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["org", "contract", "sequence"], name="plan_unique_seq"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="plan_amount_positive"),
            models.CheckConstraint(
                condition=Q(received_amount__gte=0)
                & Q(received_amount__lte=Round(F("amount") - F("written_off_amount"), 2)),
                name="plan_no_over_collection",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract_id}#{self.sequence}"

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.received_amount - self.written_off_amount

    def status_on(self, today: date) -> str:
        if self.is_void:
            return PlanStatus.VOID
        if self.outstanding <= 0:
            return PlanStatus.DONE
        if self.due_on < today:
            return PlanStatus.OVERDUE
        return PlanStatus.PARTIAL if self.received_amount > 0 else PlanStatus.PENDING

    def overdue_days(self, today: date) -> int:
        if self.outstanding <= 0 or self.is_void:
            return 0
        return max(0, (today - self.due_on).days)


class Receipt(ScopedModel):
    """Money received (回款) for a contract, allocated to one or more of its plans. Never
    deleted: voiding (with a reason) gives the amounts back to the plans. ``owner`` is the
    contract's owner, so a rep and their manager see their contracts' receipts."""

    number = models.CharField(_("number"), max_length=40)
    contract = models.ForeignKey(
        "sales.Contract",
        on_delete=models.PROTECT,
        related_name="receipts",
        verbose_name=_("contract"),
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
    received_on = models.DateField(_("received on"))
    amount = money_field(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    method = models.CharField(
        _("method"), max_length=12, choices=PaymentMethod.choices, default=PaymentMethod.TRANSFER
    )
    payer = models.CharField(_("payer"), max_length=200, blank=True)
    reference = models.CharField(_("bank reference"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=ReceiptStatus.choices, default=ReceiptStatus.CONFIRMED
    )
    note = models.CharField(_("note"), max_length=500, blank=True)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("voided by"),
    )
    void_reason = models.CharField(_("void reason"), max_length=300, blank=True)

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner")
    scope_module: ClassVar[str] = "finance"

    class Meta:
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")
        ordering = ["-received_on", "-pk"]
        indexes = [
            models.Index(fields=["org", "status", "received_on"], name="receipt_date_idx"),
            models.Index(fields=["org", "contract"], name="receipt_contract_idx"),
            models.Index(fields=["org", "owner", "received_on"], name="receipt_owner_idx"),
            models.Index(fields=["org", "-updated_at", "-id"], name="receipt_updated_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["org", "number"], name="receipt_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="receipt_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.number


class ReceiptAllocation(TenantModel):
    """How much of a receipt settles one plan."""

    receipt = models.ForeignKey(
        Receipt, on_delete=models.CASCADE, related_name="allocations", verbose_name=_("receipt")
    )
    plan = models.ForeignKey(
        ReceivablePlan,
        on_delete=models.PROTECT,
        related_name="allocations",
        verbose_name=_("receivable plan"),
    )
    amount = money_field(_("amount"))

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, via="receipt")
    scope_module: ClassVar[str] = "finance"

    class Meta:
        verbose_name = _("receipt allocation")
        verbose_name_plural = _("receipt allocations")
        indexes = [models.Index(fields=["org", "plan"], name="allocation_plan_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.receipt_id}→{self.plan_id}: {self.amount}"


class WriteOff(ScopedModel):
    """A bad-debt write-off of (part of) a plan's outstanding amount, applied once approved."""

    contract = models.ForeignKey(
        "sales.Contract",
        on_delete=models.PROTECT,
        related_name="write_offs",
        verbose_name=_("contract"),
    )
    plan = models.ForeignKey(
        ReceivablePlan,
        on_delete=models.PROTECT,
        related_name="write_offs",
        verbose_name=_("receivable plan"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner"),
    )
    amount = money_field(_("amount"))
    reason = models.CharField(_("reason"), max_length=500)
    status = models.CharField(
        _("status"), max_length=12, choices=WriteOffStatus.choices, default=WriteOffStatus.PENDING
    )
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner")
    scope_module: ClassVar[str] = "finance"

    class Meta:
        verbose_name = _("bad-debt write-off")
        verbose_name_plural = _("bad-debt write-offs")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["org", "contract"], name="writeoff_contract_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="writeoff_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id}: {self.amount}"


class Invoice(ScopedModel):
    """An invoice request against a contract (普票/专票), its issue and its mailing. The buyer's
    invoicing details are copied from the customer when it is requested."""

    number = models.CharField(_("request number"), max_length=40)
    contract = models.ForeignKey(
        "sales.Contract",
        on_delete=models.PROTECT,
        related_name="invoices",
        verbose_name=_("contract"),
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
    kind = models.CharField(
        _("invoice type"), max_length=10, choices=InvoiceKind.choices, default=InvoiceKind.NORMAL
    )
    amount = money_field(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    status = models.CharField(
        _("status"), max_length=12, choices=InvoiceStatus.choices, default=InvoiceStatus.REQUESTED
    )
    title = models.CharField(_("invoice title"), max_length=200)
    tax_number = models.CharField(_("tax number"), max_length=40, blank=True)
    address_phone = models.CharField(_("address and phone"), max_length=300, blank=True)
    bank_name = models.CharField(_("bank"), max_length=200, blank=True)
    bank_account = models.CharField(_("bank account"), max_length=60, blank=True)
    invoice_number = models.CharField(_("invoice number"), max_length=60, blank=True)
    issued_on = models.DateField(_("issued on"), null=True, blank=True)
    recipient = models.CharField(_("recipient"), max_length=100, blank=True)
    recipient_phone = models.CharField(_("recipient's phone"), max_length=40, blank=True)
    mail_address = models.CharField(_("mailing address"), max_length=300, blank=True)
    courier = models.CharField(_("courier"), max_length=60, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=100, blank=True)
    mailed_on = models.DateField(_("mailed on"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner")
    scope_module: ClassVar[str] = "finance"

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "contract"], name="invoice_contract_idx"),
            models.Index(fields=["org", "status", "-created_at"], name="invoice_status_idx"),
            models.Index(fields=["org", "-updated_at", "-id"], name="invoice_updated_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["org", "number"], name="invoice_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoice_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.number


class InvoiceLine(TenantModel):
    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, related_name="lines", verbose_name=_("invoice")
    )
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    description = models.CharField(_("item"), max_length=200)
    amount = money_field(_("amount"))
    tax_rate = models.DecimalField(_("tax rate (%)"), max_digits=5, decimal_places=2, default=13)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, via="invoice")
    scope_module: ClassVar[str] = "finance"

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["sort_order", "pk"]

    def __str__(self) -> str:
        return self.description


__all__ = [
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "Receipt",
    "ReceiptAllocation",
    "ReceiptStatus",
    "ReceivablePlan",
    "WriteOff",
]
