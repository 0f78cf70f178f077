"""Values the finance code branches on."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class PlanStatus(models.TextChoices):
    """Derived from due date, received and written-off amounts (never stored by hand)."""

    PENDING = "pending", pgettext_lazy("receivable", "Not yet due")
    PARTIAL = "partial", _("Partly received")
    DONE = "done", _("Received")
    OVERDUE = "overdue", pgettext_lazy("receivable", "Overdue")
    VOID = "void", pgettext_lazy("receivable", "Void")


class PaymentMethod(models.TextChoices):
    TRANSFER = "transfer", _("Bank transfer")
    ACCEPTANCE = "acceptance", _("Bank acceptance bill")
    CHEQUE = "cheque", _("Cheque")
    CASH = "cash", _("Cash")
    ONLINE = "online", _("Online payment")
    OTHER = "other", pgettext_lazy("payment method", "Other")


class ReceiptStatus(models.TextChoices):
    PENDING = "pending", _("Pending approval")
    CONFIRMED = "confirmed", _("Confirmed")
    REJECTED = "rejected", pgettext_lazy("receipt", "Rejected")
    VOIDED = "voided", _("Voided")


class WriteOffStatus(models.TextChoices):
    PENDING = "pending", _("Pending approval")
    APPROVED = "approved", pgettext_lazy("write-off", "Approved")
    REJECTED = "rejected", pgettext_lazy("write-off", "Rejected")
    WITHDRAWN = "withdrawn", pgettext_lazy("write-off", "Withdrawn")


class InvoiceKind(models.TextChoices):
    NORMAL = "normal", _("General VAT invoice (普票)")
    SPECIAL = "special", _("Special VAT invoice (专票)")


class InvoiceStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    ISSUED = "issued", _("Issued")
    MAILED = "mailed", _("Mailed")
    CANCELLED = "cancelled", pgettext_lazy("invoice", "Cancelled")


#: Ageing buckets of overdue receivables, in days past due: (label key, from, to or None).
AGEING_BUCKETS = [("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None)]
