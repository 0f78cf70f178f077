"""Values the follow-up code branches on."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Method(models.TextChoices):
    """How a follow-up happened."""

    CALL = "call", _("Phone call")
    VISIT = "visit", _("Visit")
    WECHAT = "wechat", _("WeChat")
    EMAIL = "email", pgettext_lazy("follow-up method", "E-mail")
    MEETING = "meeting", _("Meeting")
    OTHER = "other", pgettext_lazy("follow-up method", "Other")


METHOD_ICONS: dict[str, str] = {
    Method.CALL: "ti-phone",
    Method.VISIT: "ti-map-pin",
    Method.WECHAT: "ti-brand-wechat",
    Method.EMAIL: "ti-mail",
    Method.MEETING: "ti-users",
    Method.OTHER: "ti-message",
}


class PlanStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    DONE = "done", pgettext_lazy("visit plan", "Done")
    MISSED = "missed", _("Missed")
    CANCELLED = "cancelled", pgettext_lazy("visit plan", "Cancelled")


PLAN_STATUS_COLORS: dict[str, str] = {
    PlanStatus.PLANNED: "blue",
    PlanStatus.DONE: "green",
    PlanStatus.MISSED: "red",
    PlanStatus.CANCELLED: "secondary",
}


class ReminderKind(models.TextChoices):
    """What a reminder rule watches."""

    NEW_OPPORTUNITY = "new_opportunity", _("Opportunity without a follow-up after creation")
    NEXT_FOLLOWUP = "next_followup", _("Next follow-up due")
    VISIT_PLAN = "visit_plan", _("Planned visit")
    FEEDBACK_OVERDUE = "feedback_overdue", _("Feedback cycle overdue")
    RECEIVABLE_DUE = "receivable_due", _("Receivable due")
