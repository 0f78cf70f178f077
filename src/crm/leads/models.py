"""Lead pools (the total pool and sub-pools), leads (线索) and assignment rules."""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.core.models import ScopedModel, TenantModel
from crm.core.scoping import ScopedQuerySet, ScopeFields

from .choices import OPEN_STATUSES, LeadStatus, PoolKind, RuleObject, Strategy


def new_form_token() -> str:
    """A random, unguessable token naming a pool's public web form (``/leads/form/<token>/``)."""
    return secrets.token_urlsafe(18)


def _pool_rows_visible(user: Any) -> Q:
    """Leads a user sees through the pools, beside those whose owner is in their data scope:
    every lead of a sub-pool they manage, the unassigned leads of a sub-pool they are a member
    of, and (with ``leads:configure``, i.e. marketing) every lead of the total pool."""
    from .selectors import pool_access

    access = pool_access(user)
    q = Q(pool_id__in=access.managed) | Q(owner__isnull=True, pool_id__in=access.member)
    if access.total is not None:
        q |= Q(pool_id=access.total)
    return q


class LeadPool(TenantModel):
    """A lead pool: the organisation's one total pool (``kind=total``, where every lead arrives,
    run by marketing) or a sub-pool split by region or product line, run by its ``managers``
    (who assign its leads) and worked by its ``members`` (who claim its unassigned leads).

    ``form_token`` names the pool's public web form; regenerating it retires old embeds.
    """

    kind = models.CharField(_("kind"), max_length=10, choices=PoolKind.choices)
    name = models.CharField(_("name"), max_length=100)
    region = models.CharField(_("region"), max_length=100, blank=True)
    product_line = models.CharField(_("product line"), max_length=100, blank=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    managers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("managers")
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("members")
    )
    is_active = models.BooleanField(_("active"), default=True)
    form_token = models.CharField(
        _("web form token"), max_length=40, unique=True, default=new_form_token, editable=False
    )
    form_enabled = models.BooleanField(_("web form enabled"), default=True)
    form_title = models.CharField(_("web form title"), max_length=100, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "leads"

    class Meta:
        verbose_name = _("lead pool")
        verbose_name_plural = _("lead pools")
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], name="leadpool_unique_name"),
            models.UniqueConstraint(
                fields=["org"], condition=Q(kind="total"), name="leadpool_one_total"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_total(self) -> bool:
        return self.kind == PoolKind.TOTAL


class AssignmentRule(TenantModel):
    """Assigns new leads automatically. The first active rule (by ``order``) whose conditions
    all match a lead picks a rep by its ``strategy`` among ``eligible_users`` (empty: the
    members of ``target_pool``), skipping inactive reps and reps holding ``cap`` open leads.

    ``conditions`` maps ``region`` / ``industry`` / ``source`` / ``product_line`` to a list of
    allowed values; a missing or empty list accepts any value. ``cursor`` is the round-robin
    position (advanced with a conditional update, so concurrent creates spread evenly).
    """

    name = models.CharField(_("name"), max_length=100)
    order = models.PositiveIntegerField(_("order"), default=10)
    is_active = models.BooleanField(_("active"), default=True)
    object_type = models.CharField(
        _("applies to"), max_length=20, choices=RuleObject.choices, default=RuleObject.LEAD
    )
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)
    strategy = models.CharField(
        _("strategy"), max_length=20, choices=Strategy.choices, default=Strategy.ROUND_ROBIN
    )
    eligible_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("eligible reps")
    )
    fixed_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("fixed person"),
    )
    cap = models.PositiveIntegerField(_("most open leads per rep"), null=True, blank=True)
    target_pool = models.ForeignKey(
        LeadPool,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("target sub-pool"),
    )
    cursor = models.PositiveIntegerField(_("round-robin position"), default=0, editable=False)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "leads"

    class Meta:
        verbose_name = _("assignment rule")
        verbose_name_plural = _("assignment rules")
        ordering = ["order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], name="leadrule_unique_name"),
        ]
        indexes = [
            models.Index(fields=["org", "object_type", "is_active", "order"], name="leadrule_idx")
        ]

    def __str__(self) -> str:
        return self.name


class LeadQuerySet(ScopedQuerySet):
    """Leads in the domain's words."""

    def open(self) -> LeadQuerySet:
        return self.filter(status__in=OPEN_STATUSES)

    def unassigned(self) -> LeadQuerySet:
        return self.filter(owner__isnull=True)


class Lead(ScopedModel):
    """A lead (线索): a person or company that may become a customer. ``owner`` is null while
    the lead waits in its ``pool``. ``extra`` keeps every attribute a channel sent that has no
    field of its own (utm_source, campaign, page, any custom form field)."""

    pool = models.ForeignKey(
        LeadPool, on_delete=models.PROTECT, related_name="leads", verbose_name=_("pool")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner"),
    )
    source = models.CharField(_("source"), max_length=60, blank=True)
    campaign = models.ForeignKey(
        "marketing.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
        verbose_name=_("campaign"),
    )
    company = models.CharField(_("company"), max_length=200, blank=True)
    contact_name = models.CharField(_("contact name"), max_length=100, blank=True)
    title = models.CharField(_("title"), max_length=100, blank=True)
    mobile = models.CharField(_("mobile"), max_length=40, blank=True)
    mobile_digits = models.CharField(max_length=40, editable=False, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    region = models.CharField(_("region"), max_length=100, blank=True)
    industry = models.CharField(_("industry"), max_length=60, blank=True)
    product_line = models.CharField(_("product line"), max_length=100, blank=True)
    notes = models.TextField(_("message / notes"), blank=True)
    extra = models.JSONField(_("other attributes"), default=dict, blank=True)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    score = models.IntegerField(_("score"), default=0)
    #: which scoring rules gave how many points (crm.leads.scoring):
    #: ``[{"rule": id, "name": …, "points": n}]``
    score_breakdown = models.JSONField(_("score breakdown"), default=list, blank=True)
    #: behaviour counters the scoring rules read (``{"form_submission": 1, "followup:call": 2}``)
    score_events = models.JSONField(_("scoring events"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=LeadStatus.choices, default=LeadStatus.NEW
    )
    invalid_reason = models.CharField(_("invalid reason"), max_length=60, blank=True)
    invalid_note = models.CharField(_("invalid reason details"), max_length=300, blank=True)
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    assigned_by_rule = models.ForeignKey(
        AssignmentRule,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assigned by rule"),
    )
    assignment_note = models.CharField(_("assignment"), max_length=300, blank=True)
    converted_customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("converted to customer"),
    )
    converted_contact = models.ForeignKey(
        "customers.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("converted to contact"),
    )
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)
    converted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("converted by"),
    )

    objects = LeadQuerySet.as_manager()  # type: ignore[misc]
    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner", also=_pool_rows_visible)
    scope_module: ClassVar[str] = "leads"

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "owner", "status", "-created_at"], name="lead_owner_idx"),
            models.Index(fields=["org", "pool", "owner", "-created_at"], name="lead_pool_idx"),
            models.Index(fields=["org", "status", "-created_at"], name="lead_status_idx"),
            models.Index(fields=["org", "mobile_digits"], name="lead_mobile_idx"),
            models.Index(fields=["org", "email"], name="lead_email_idx"),
            models.Index(fields=["org", "campaign", "status"], name="lead_campaign_idx"),
            models.Index(fields=["org", "-score", "-id"], name="lead_score_idx"),
            models.Index(fields=["org", "-updated_at", "-id"], name="lead_updated_idx"),
        ]

    def __str__(self) -> str:
        return self.company or self.contact_name or f"#{self.pk}"

    @property
    def display_name(self) -> str:
        if self.company and self.contact_name:
            return f"{self.company} · {self.contact_name}"
        return str(self)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def score_grade(self) -> str:
        """A, B, C or D (crm.leads.scoring.GRADES)."""
        from .scoring import grade

        return grade(self.score)


class ScoringKind(models.TextChoices):
    """A scoring rule looks at what the lead is (attribute) or what it did (behaviour)."""

    ATTRIBUTE = "attribute", _("Attribute")
    BEHAVIOUR = "behaviour", _("Behaviour")


class LeadScoringRule(TenantModel):
    """A lead scoring rule (R2.5) an administrator defines (``leads:configure``).

    - **attribute** rules give ``points`` once when the lead's ``field`` passes ``operator``
      against ``values`` (crm.leads.scoring lists the fields and operators);
    - **behaviour** rules give ``points`` per occurrence of ``event`` (optionally only
      follow-ups by ``method``), counted at most ``cap`` times (empty: no cap).

    A lead's score is the sum over the active rules; changing the rules rescores every lead of
    the organisation in the background.
    """

    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)
    kind = models.CharField(_("kind"), max_length=10, choices=ScoringKind.choices)
    field = models.CharField(_("field"), max_length=80, blank=True)
    operator = models.CharField(_("operator"), max_length=10, blank=True)
    values = models.JSONField(_("values"), default=list, blank=True)
    event = models.CharField(_("event"), max_length=30, blank=True)
    method = models.CharField(_("follow-up method"), max_length=12, blank=True)
    points = models.IntegerField(_("points"))
    cap = models.PositiveIntegerField(_("most occurrences counted"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "leads"

    class Meta:
        verbose_name = _("lead scoring rule")
        verbose_name_plural = _("lead scoring rules")
        ordering = ["kind", "name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], name="leadscoring_unique_name"),
        ]
        indexes = [models.Index(fields=["org", "is_active"], name="leadscoring_active_idx")]

    def __str__(self) -> str:
        return self.name
