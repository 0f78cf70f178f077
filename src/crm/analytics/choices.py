from django.db import models
from django.utils.translation import gettext_lazy as _


class TargetMetric(models.TextChoices):
    SIGNED = "signed", _("Signed amount")
    COLLECTED = "collected", _("Collected amount")
    NEW_CUSTOMERS = "new_customers", _("New customers")


class PeriodKind(models.TextChoices):
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")
    YEAR = "year", _("Year")


class ReportSubject(models.TextChoices):
    CUSTOMERS = "customers", _("Customers")
    OPPORTUNITIES = "opportunities", _("Opportunities")
    FOLLOWUPS = "followups", _("Follow-ups")
    CONTRACTS = "contracts", _("Contracts")
    RECEIPTS = "receipts", _("Receipts")


class ReportShare(models.TextChoices):
    PRIVATE = "private", _("Only me")
    TEAM = "team", _("My department")
    ORG = "org", _("Everyone")


class Frequency(models.TextChoices):
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
