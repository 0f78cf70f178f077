"""Customer service (R3.7): service tickets (服务工单) with SLA deadlines, return visits (回访)
with satisfaction, and the organisation's SLA settings."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.core.models import ScopedModel, TenantModel
from crm.core.scoping import ScopedQuerySet, ScopeFields

from .choices import Priority, TicketStatus, TicketType, VisitSource, VisitStatus


class ServiceSettings(TenantModel):
    """The organisation's SLA: minutes to first response and to resolution per priority
    (``sla = {"urgent": [60, 480], ...}``), and when return visits fall due."""

    sla = models.JSONField(_("service levels"), default=dict, blank=True)
    visit_days_after_contract = models.PositiveSmallIntegerField(
        _("return visit, days after a contract is signed"), default=30
    )
    visit_days_after_ticket = models.PositiveSmallIntegerField(
        _("return visit, days after a ticket is closed"), default=3
    )

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "service"

    class Meta:
        verbose_name = _("service settings")
        verbose_name_plural = _("service settings")
        constraints = [models.UniqueConstraint(fields=["org"], name="service_settings_one")]

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class Ticket(ScopedModel):
    """A service request from a customer. The assignee (``owner``) decides the scope; the
    collaborators see it too. Deadlines are stored (lists filter them by index) and move later by
    the time spent waiting for the customer. ``*_breached`` flags are set when a deadline is
    missed; ``*_notified_at`` records that the assignee and manager were told (once)."""

    number = models.CharField(_("number"), max_length=40)
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="tickets",
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
    contract = models.ForeignKey(
        "sales.Contract",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
        verbose_name=_("contract"),
    )
    product = models.ForeignKey(
        "sales.Product",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("product"),
    )
    type = models.CharField(_("type"), max_length=20, choices=TicketType.choices)
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("assignee"),
    )
    collaborators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("collaborators")
    )
    status = models.CharField(
        _("status"), max_length=20, choices=TicketStatus.choices, default=TicketStatus.OPEN
    )
    opened_at = models.DateTimeField(_("opened at"))
    response_due_at = models.DateTimeField(_("respond by"))
    resolution_due_at = models.DateTimeField(_("resolve by"))
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    paused_at = models.DateTimeField(_("waiting since"), null=True, blank=True)
    paused_seconds = models.PositiveIntegerField(_("time waiting for the customer"), default=0)
    response_seconds = models.PositiveIntegerField(_("response time"), null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(_("resolution time"), null=True, blank=True)
    response_breached = models.BooleanField(_("response overdue"), default=False)
    resolution_breached = models.BooleanField(_("resolution overdue"), default=False)
    response_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolution_notified_at = models.DateTimeField(null=True, blank=True, editable=False)

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner", shared="collaborators")
    scope_module: ClassVar[str] = "service"

    class Meta:
        verbose_name = _("service ticket")
        verbose_name_plural = _("service tickets")
        ordering = ["-opened_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "-opened_at"], name="ticket_recent_idx"),
            models.Index(fields=["org", "owner", "status"], name="ticket_owner_idx"),
            models.Index(fields=["org", "customer", "-opened_at"], name="ticket_customer_idx"),
            models.Index(
                fields=["org", "status", "response_due_at"], name="ticket_response_due_idx"
            ),
            models.Index(
                fields=["org", "status", "resolution_due_at"], name="ticket_resolution_due_idx"
            ),
            models.Index(fields=["org", "resolution_breached"], name="ticket_breached_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["org", "number"], name="ticket_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"


class ReturnVisit(ScopedModel):
    """A return visit (回访) to a customer after a signed contract or a closed ticket, or planned
    by hand (``source=manual``, with a ``note`` of what to ask), done with a satisfaction score
    1–5. At most one automatic visit per contract and one per ticket."""

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="return_visits",
        verbose_name=_("customer"),
    )
    contract = models.ForeignKey(
        "sales.Contract",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("contract"),
    )
    ticket = models.ForeignKey(
        Ticket,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="return_visits",
        verbose_name=_("ticket"),
    )
    source = models.CharField(_("reason"), max_length=10, choices=VisitSource.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner"),
    )
    due_on = models.DateField(_("due on"))
    status = models.CharField(
        _("status"), max_length=10, choices=VisitStatus.choices, default=VisitStatus.PLANNED
    )
    note = models.TextField(_("note"), blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    satisfaction = models.PositiveSmallIntegerField(_("satisfaction"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner")
    scope_module: ClassVar[str] = "service"

    class Meta:
        verbose_name = _("return visit")
        verbose_name_plural = _("return visits")
        ordering = ["due_on", "pk"]
        indexes = [
            models.Index(fields=["org", "owner", "status", "due_on"], name="visit_owner_idx"),
            models.Index(fields=["org", "status", "due_on"], name="visit_status_idx"),
            models.Index(fields=["org", "customer", "due_on"], name="visit_customer_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "contract"],
                condition=Q(source="contract"),
                name="visit_once_per_contract",
            ),
            models.UniqueConstraint(
                fields=["org", "ticket"],
                condition=Q(source="ticket"),
                name="visit_once_per_ticket",
            ),
            models.CheckConstraint(
                condition=Q(satisfaction__isnull=True)
                | Q(satisfaction__gte=1, satisfaction__lte=5),
                name="visit_satisfaction_1_5",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.due_on}"
