"""Follow-ups (跟进记录), visit plans (拜访计划), reminder rules and the reminders they send."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.core.models import ScopedModel, TenantModel
from crm.core.scoping import ScopedQuerySet, ScopeFields

from .choices import Method, PlanStatus, ReminderKind


class FollowUp(ScopedModel):
    """A contact with a customer (and optionally an opportunity and a contact). Writing one moves
    the customer's and the opportunity's last/next follow-up blocks (crm.activities.services).

    ``stage``/``node`` keep where the opportunity stood when the follow-up happened (R4.2).
    Scope: the rep who wrote it (``owner``) and the collaborator; a customer's or opportunity's
    page lists all of that record's follow-ups to whoever may see the record.
    """

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="followups",
        verbose_name=_("customer"),
    )
    opportunity = models.ForeignKey(
        "pipeline.Opportunity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followups",
        verbose_name=_("opportunity"),
    )
    contact = models.ForeignKey(
        "customers.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("contact"),
    )
    stage = models.ForeignKey(
        "pipeline.Stage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("stage"),
    )
    node = models.ForeignKey(
        "pipeline.Stage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("node"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("followed up by"),
    )
    method = models.CharField(_("method"), max_length=12, choices=Method.choices)
    content = models.TextField(_("content"))
    happened_at = models.DateTimeField(_("when"))
    next_at = models.DateTimeField(_("next follow-up"), null=True, blank=True)
    next_content = models.TextField(_("next follow-up content"), blank=True)
    collaborator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("collaborator"),
    )
    location = models.CharField(_("location"), max_length=300, blank=True)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner", also=lambda u: Q(collaborator=u))
    scope_module: ClassVar[str] = "activities"

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["-happened_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "customer", "-happened_at"], name="followup_customer_idx"),
            models.Index(fields=["org", "opportunity", "-happened_at"], name="followup_opp_idx"),
            models.Index(fields=["org", "owner", "-happened_at"], name="followup_owner_idx"),
            models.Index(fields=["org", "-happened_at"], name="followup_time_idx"),
            models.Index(fields=["org", "next_at"], name="followup_next_idx"),
        ]

    def __str__(self) -> str:
        return self.content[:50]


class VisitPlan(ScopedModel):
    """A planned visit (or call) to a customer; done when a follow-up records it."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner"),
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="visit_plans",
        verbose_name=_("customer"),
    )
    opportunity = models.ForeignKey(
        "pipeline.Opportunity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="visit_plans",
        verbose_name=_("opportunity"),
    )
    contact = models.ForeignKey(
        "customers.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("contact"),
    )
    method = models.CharField(
        _("method"), max_length=12, choices=Method.choices, default=Method.VISIT
    )
    planned_at = models.DateTimeField(_("planned for"))
    purpose = models.CharField(_("purpose"), max_length=300)
    status = models.CharField(
        _("status"), max_length=12, choices=PlanStatus.choices, default=PlanStatus.PLANNED
    )
    followup = models.ForeignKey(
        FollowUp,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("follow-up"),
    )
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner")
    scope_module: ClassVar[str] = "activities"

    class Meta:
        verbose_name = _("visit plan")
        verbose_name_plural = _("visit plans")
        ordering = ["planned_at", "pk"]
        indexes = [
            models.Index(fields=["org", "owner", "planned_at"], name="plan_owner_idx"),
            models.Index(fields=["org", "status", "planned_at"], name="plan_status_idx"),
            models.Index(fields=["org", "customer", "planned_at"], name="plan_customer_idx"),
        ]

    def __str__(self) -> str:
        return self.purpose


class ReminderRule(TenantModel):
    """An organisation's reminder rule.

    - ``new_opportunity``: remind the owner ``offsets`` days (e.g. [1, 3, 7]) after an opportunity
      was created while it still has no follow-up.
    - ``next_followup``: remind the rep ``offsets`` hours before a next follow-up is due ([0]:
      on the due time).
    - ``visit_plan``: remind the owner ``offsets`` hours before a planned visit.
    - ``feedback_overdue``: tell the owner (and the manager when ``notify_manager``) when an
      opportunity's feedback cycle ran out without a follow-up.
    """

    kind = models.CharField(_("kind"), max_length=20, choices=ReminderKind.choices)
    name = models.CharField(_("name"), max_length=100)
    offsets = models.JSONField(_("when"), default=list, blank=True)
    notify_manager = models.BooleanField(_("also notify the manager"), default=False)
    send_email = models.BooleanField(_("also send an e-mail"), default=True)
    is_active = models.BooleanField(_("active"), default=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "activities"

    class Meta:
        verbose_name = _("reminder rule")
        verbose_name_plural = _("reminder rules")
        ordering = ["kind", "pk"]
        indexes = [models.Index(fields=["org", "kind", "is_active"], name="reminderrule_idx")]

    def __str__(self) -> str:
        return self.name


class Reminder(TenantModel):
    """One reminder sent to one person about one record, for one due time of one rule.

    The unique constraint makes each reminder fire exactly once, however many workers or
    schedulers run the job at the same time.
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("recipient"),
    )
    rule = models.ForeignKey(
        ReminderRule,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reminders",
        verbose_name=_("rule"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=ReminderKind.choices)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=64)
    due_at = models.DateTimeField(_("due"))
    message = models.CharField(_("message"), max_length=500)
    url = models.CharField(_("link"), max_length=300, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner="recipient", personal=True)
    scope_module: ClassVar[str] = "activities"

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["-due_at", "-pk"]
        indexes = [models.Index(fields=["org", "recipient", "due_at"], name="reminder_inbox_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "kind", "target_type", "target_id", "recipient", "due_at"],
                name="reminder_once",
            ),
        ]

    def __str__(self) -> str:
        return self.message

    @property
    def is_overdue(self) -> bool:
        from django.utils import timezone

        return self.done_at is None and self.due_at < timezone.now()
