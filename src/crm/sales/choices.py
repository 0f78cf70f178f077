"""Values the sales code branches on."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class DiscountKind(models.TextChoices):
    PERCENT = "percent", _("Percent")
    AMOUNT = "amount", pgettext_lazy("discount kind", "Amount")


class QuoteStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("quote", "Draft")
    SENT = "sent", pgettext_lazy("quote", "Sent")
    ACCEPTED = "accepted", pgettext_lazy("quote", "Accepted")
    REJECTED = "rejected", pgettext_lazy("quote", "Rejected")
    EXPIRED = "expired", pgettext_lazy("quote", "Expired")
    SUPERSEDED = "superseded", pgettext_lazy("quote", "Superseded")


class ContractStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("contract", "Draft")
    PENDING = "pending", _("Pending approval")
    APPROVED = "approved", pgettext_lazy("contract", "Approved")
    SIGNED = "signed", _("Signed")
    EXECUTING = "executing", _("Executing")
    COMPLETED = "completed", pgettext_lazy("contract", "Completed")
    TERMINATED = "terminated", _("Terminated")


#: Contract statuses in which the contract is binding (locked against edits; receipts allowed).
SIGNED_STATUSES = (ContractStatus.SIGNED, ContractStatus.EXECUTING, ContractStatus.COMPLETED)
#: Statuses in which only a controlled amendment changes the contract.
LOCKED_STATUSES = (ContractStatus.PENDING, ContractStatus.APPROVED, *SIGNED_STATUSES)


class ShipmentStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("shipment", "Pending")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    CANCELLED = "cancelled", pgettext_lazy("shipment", "Cancelled")


class ReturnStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("return", "Draft")
    PENDING = "pending", _("Pending approval")
    APPROVED = "approved", pgettext_lazy("return", "Approved")
    REFUNDED = "refunded", _("Refunded")
    REJECTED = "rejected", pgettext_lazy("return", "Rejected")
    WITHDRAWN = "withdrawn", pgettext_lazy("return", "Withdrawn")


class ApprovalSubject(models.TextChoices):
    """What an approval flow approves."""

    CONTRACT = "contract", _("Contract")
    AMENDMENT = "amendment", _("Contract amendment")
    QUOTE = "quote", _("Quote")
    RETURN = "return", _("Return or refund")
    RECEIPT = "receipt", _("Receipt")
    WRITE_OFF = "write_off", _("Bad-debt write-off")


class ApproverKind(models.TextChoices):
    USER = "user", _("A named person")
    MANAGER = "manager", _("The submitter's manager")
    ROLE = "role", _("Everyone with a role")


class ApprovalMode(models.TextChoices):
    ANY = "any", _("Any one of them")
    ALL = "all", _("All of them (会签)")


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("approval", "Pending")
    APPROVED = "approved", pgettext_lazy("approval", "Approved")
    REJECTED = "rejected", pgettext_lazy("approval", "Rejected")
    WITHDRAWN = "withdrawn", pgettext_lazy("approval", "Withdrawn")


class TaskStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting for an earlier step")
    PENDING = "pending", pgettext_lazy("approval", "Pending")
    APPROVED = "approved", pgettext_lazy("approval", "Approved")
    REJECTED = "rejected", pgettext_lazy("approval", "Rejected")
    SKIPPED = "skipped", _("Not needed")
