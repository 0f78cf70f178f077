"""Choices of the customer service module (R3.7): ticket types, priorities, statuses and the
life cycle a ticket may follow; return-visit sources and statuses."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class TicketType(models.TextChoices):
    COMPLAINT = "complaint", _("Complaint")
    CONSULTATION = "consultation", _("Consultation")
    REPAIR = "repair", _("Repair")
    SUGGESTION = "suggestion", _("Suggestion")


class Priority(models.TextChoices):
    URGENT = "urgent", _("Urgent")
    HIGH = "high", _("High")
    NORMAL = "normal", _("Normal")
    LOW = "low", _("Low")


class TicketStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("ticket", "Open")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING_CUSTOMER = "waiting_customer", _("Waiting for customer")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", pgettext_lazy("ticket", "Closed")


#: statuses in which the clock runs (the SLA deadlines can be missed)
ACTIVE_STATUSES = [TicketStatus.OPEN, TicketStatus.IN_PROGRESS]
#: statuses in which the ticket still needs work (waiting for the customer pauses the clock)
UNFINISHED_STATUSES = [
    TicketStatus.OPEN,
    TicketStatus.IN_PROGRESS,
    TicketStatus.WAITING_CUSTOMER,
]

#: status -> the statuses it may move to
TRANSITIONS: dict[str, list[str]] = {
    TicketStatus.OPEN: [
        TicketStatus.IN_PROGRESS,
        TicketStatus.WAITING_CUSTOMER,
        TicketStatus.RESOLVED,
        TicketStatus.CLOSED,
    ],
    TicketStatus.IN_PROGRESS: [
        TicketStatus.WAITING_CUSTOMER,
        TicketStatus.RESOLVED,
        TicketStatus.CLOSED,
    ],
    TicketStatus.WAITING_CUSTOMER: [
        TicketStatus.IN_PROGRESS,
        TicketStatus.RESOLVED,
        TicketStatus.CLOSED,
    ],
    TicketStatus.RESOLVED: [TicketStatus.CLOSED, TicketStatus.IN_PROGRESS],
    TicketStatus.CLOSED: [],
}

STATUS_COLORS = {
    TicketStatus.OPEN: "blue",
    TicketStatus.IN_PROGRESS: "azure",
    TicketStatus.WAITING_CUSTOMER: "orange",
    TicketStatus.RESOLVED: "green",
    TicketStatus.CLOSED: "secondary",
}
PRIORITY_COLORS = {
    Priority.URGENT: "red",
    Priority.HIGH: "orange",
    Priority.NORMAL: "blue",
    Priority.LOW: "secondary",
}

#: default SLA per priority: (minutes to first response, minutes to resolution)
DEFAULT_SLA: dict[str, tuple[int, int]] = {
    Priority.URGENT: (60, 8 * 60),
    Priority.HIGH: (4 * 60, 24 * 60),
    Priority.NORMAL: (8 * 60, 72 * 60),
    Priority.LOW: (24 * 60, 7 * 24 * 60),
}


class VisitSource(models.TextChoices):
    CONTRACT = "contract", _("Contract signed")
    TICKET = "ticket", _("Ticket closed")
    MANUAL = "manual", _("Planned by hand")


class VisitStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")
