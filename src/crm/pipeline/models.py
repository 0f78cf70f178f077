"""Pipelines with their stage trees (stage → nodes), the dictionaries admins edit (customer types,
categories, industries, sources, probability levels, action principles, feedback cycles, loss
reasons…), and, with the opportunities module, opportunities."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.core.models import ScopedModel, TenantModel
from crm.core.money import money
from crm.core.scoping import ScopedQuerySet, ScopeFields

from .choices import CLOSED_KINDS, OPEN_STATUSES, OpportunityStatus, StageKind


class DictionaryKind(models.TextChoices):
    """The lists an organisation edits. Code branches on the kind, never on an item's value."""

    CUSTOMER_TYPE = "customer_type", _("Customer type")
    CUSTOMER_CATEGORY = "customer_category", _("Customer category")
    BUSINESS_CATEGORY = "business_category", _("Business category")
    INDUSTRY = "industry", _("Industry")
    SOURCE = "source", _("Source")
    RELEASE_REASON = "release_reason", _("Reason for releasing to the pool")
    INVALID_REASON = "invalid_reason", _("Reason a lead is invalid")
    PROBABILITY_LEVEL = "probability_level", _("Win probability level")
    ACTION_PRINCIPLE = "action_principle", _("Action principle")
    FEEDBACK_CYCLE = "feedback_cycle", _("Feedback cycle")
    LOSS_REASON = "loss_reason", _("Loss reason")
    PRODUCT = "product", _("Product")


class DictionaryItem(TenantModel):
    """One entry of an organisation's list (``kind``): a stable ``value`` and an editable label."""

    kind = models.CharField(_("list"), max_length=40, choices=DictionaryKind.choices)
    value = models.CharField(_("value"), max_length=60)
    label = models.CharField(_("label"), max_length=100)
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "directory"

    class Meta:
        verbose_name = _("dictionary item")
        verbose_name_plural = _("dictionary items")
        ordering = ["kind", "sort_order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["org", "kind", "value"], name="dict_unique_value"),
        ]

    def __str__(self) -> str:
        return self.label


class Pipeline(TenantModel):
    """A sales process of one business type or customer purchase type: an ordered tree of
    stages, each with ordered nodes (sub-steps). Visible organisation-wide to everyone who may
    view opportunities; changed by those who may configure opportunities or settings.

    Every pipeline has exactly one active won stage and at least one active lost stage, ordered
    after its open stages (kept by ``crm.pipeline.services``).
    """

    name = models.CharField(_("name"), max_length=100)
    business_type = models.CharField(
        _("business type"),
        max_length=60,
        blank=True,
        help_text=_("A value of the business category list."),
    )
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    is_default = models.BooleanField(_("default pipeline"), default=False)
    sort_order = models.PositiveIntegerField(_("order"), default=0)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "opportunities"

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["sort_order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], name="pipeline_unique_name"),
            models.UniqueConstraint(
                fields=["org"], condition=Q(is_default=True), name="pipeline_one_default"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StageQuerySet(ScopedQuerySet):
    """Stages and nodes in the words of the domain."""

    def stages(self) -> StageQuerySet:
        """Top-level stages (not nodes)."""
        return self.filter(parent__isnull=True)

    def nodes(self) -> StageQuerySet:
        return self.filter(parent__isnull=False)

    def active(self) -> StageQuerySet:
        return self.filter(is_active=True)

    def open(self) -> StageQuerySet:
        return self.filter(kind=StageKind.OPEN)

    def closed(self) -> StageQuerySet:
        return self.filter(kind__in=CLOSED_KINDS)


class Stage(TenantModel):
    """A stage of a pipeline (``parent`` null) or a node of a stage (``parent`` = the stage).

    ``kind`` says what reaching it means (open, won, lost); nodes are always open and only live
    under open stages. ``default_probability`` (0–100 %) is the win probability an opportunity
    takes when it enters the stage; ``max_days`` is how long it may stay before it counts as
    stalled (null: never); ``guidance`` tells the rep what to do and what must be true to leave.
    A stage that opportunities use is retired (``is_active`` false), never deleted.
    """

    pipeline = models.ForeignKey(
        Pipeline, on_delete=models.CASCADE, related_name="stages", verbose_name=_("pipeline")
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="nodes",
        verbose_name=_("stage"),
    )
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    name = models.CharField(_("name"), max_length=100)
    default_probability = models.PositiveSmallIntegerField(_("default win probability"), default=0)
    kind = models.CharField(
        _("kind"), max_length=10, choices=StageKind.choices, default=StageKind.OPEN
    )
    max_days = models.PositiveIntegerField(_("days before stalled"), null=True, blank=True)
    guidance = models.TextField(_("guidance"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    objects = StageQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, via="pipeline")
    scope_module: ClassVar[str] = "opportunities"

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["sort_order", "pk"]
        indexes = [
            models.Index(fields=["org", "pipeline", "parent", "sort_order"], name="stage_tree_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(default_probability__gte=0) & Q(default_probability__lte=100),
                name="stage_probability_range",
            ),
            models.CheckConstraint(
                condition=Q(max_days__isnull=True) | Q(max_days__gte=1),
                name="stage_max_days_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_node(self) -> bool:
        return self.parent_id is not None

    @property
    def is_closed(self) -> bool:
        return self.kind in CLOSED_KINDS


# --- opportunities --------------------------------------------------------------------------------


class OpportunityQuerySet(ScopedQuerySet):
    def open(self) -> OpportunityQuerySet:
        """Still being worked (continue or paused)."""
        return self.filter(status__in=OPEN_STATUSES)

    def active(self) -> OpportunityQuerySet:
        """Being worked now (status continue)."""
        return self.filter(status=OpportunityStatus.CONTINUE)


class Opportunity(ScopedModel):
    """A sales opportunity (商机) of a customer, moving through the stages of its pipeline.

    The last/next follow-up blocks, ``feedback_due_at`` (when the feedback cycle runs out) and
    ``stall_due_at`` (when the current stage's day limit runs out) are derived columns kept
    current by ``crm.pipeline.opportunities`` and the follow-up service, so the saved-query
    counts are single indexed range scans at a million rows.
    """

    name = models.CharField(_("name"), max_length=200)
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="opportunities",
        verbose_name=_("customer"),
    )
    contact = models.ForeignKey(
        "customers.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("main contact"),
    )
    contacts = models.ManyToManyField(
        "customers.Contact", blank=True, related_name="+", verbose_name=_("other contacts")
    )
    lead = models.ForeignKey(
        "leads.Lead",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("from lead"),
    )
    pipeline = models.ForeignKey(
        Pipeline, on_delete=models.PROTECT, related_name="+", verbose_name=_("pipeline")
    )
    stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, related_name="+", verbose_name=_("stage")
    )
    node = models.ForeignKey(
        Stage,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("node"),
    )
    stage_entered_at = models.DateTimeField(_("in this stage since"))
    business_type = models.CharField(_("business type"), max_length=60, blank=True)
    source = models.CharField(_("source"), max_length=60, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner"),
    )
    collaborators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("collaborators")
    )
    is_confidential = models.BooleanField(_("confidential"), default=False)
    confidential_viewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        verbose_name=_("named viewers of a confidential record"),
    )
    probability = models.PositiveSmallIntegerField(_("win probability (%)"), default=0)
    probability_level = models.CharField(_("probability level"), max_length=60, blank=True)
    feedback_cycle = models.CharField(_("feedback cycle"), max_length=60, blank=True)
    action_principle = models.CharField(_("action principle"), max_length=60, blank=True)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=OpportunityStatus.choices,
        default=OpportunityStatus.CONTINUE,
    )
    is_key = models.BooleanField(_("key opportunity"), default=False)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    expected_amount = models.DecimalField(
        _("expected amount"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    expected_close_date = models.DateField(_("expected close date"), null=True, blank=True)
    actual_amount = models.DecimalField(
        _("actual amount"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    actual_close_date = models.DateField(_("actual close date"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    loss_reason = models.CharField(_("loss reason"), max_length=60, blank=True)
    loss_note = models.TextField(_("lessons learnt"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    # Last follow-up block (上次跟进): date, contact, person, content.
    last_followup_at = models.DateTimeField(_("last follow-up"), null=True, blank=True)
    last_followup_contact = models.ForeignKey(
        "customers.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("last follow-up contact"),
    )
    last_followup_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("last followed up by"),
    )
    last_followup_content = models.TextField(_("last follow-up content"), blank=True)
    # Next follow-up block (下次跟进): date, collaborator, content.
    next_followup_at = models.DateTimeField(_("next follow-up"), null=True, blank=True)
    next_followup_collaborator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("next follow-up collaborator"),
    )
    next_followup_content = models.TextField(_("next follow-up content"), blank=True)
    # Derived deadlines (null: none applies).
    feedback_due_at = models.DateTimeField(_("feedback due"), null=True, blank=True)
    stall_due_at = models.DateTimeField(_("stalled after"), null=True, blank=True)
    stall_notified_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = OpportunityQuerySet.as_manager()  # type: ignore[misc]
    scope: ClassVar[ScopeFields] = ScopeFields(
        owner="owner", shared="collaborators", confidential=True
    )
    scope_module: ClassVar[str] = "opportunities"

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        ordering = ["-updated_at", "-pk"]
        indexes = [
            # the confidential-record rule reads these ids once per request (H-CONF)
            models.Index(
                fields=["org"], condition=Q(is_confidential=True), name="opp_confidential_idx"
            ),
            models.Index(fields=["org", "-updated_at", "-id"], name="opp_recent_idx"),
            models.Index(fields=["org", "owner", "status", "-updated_at"], name="opp_owner_idx"),
            # covering (PostgreSQL): the overdue count per owner reads the index alone
            models.Index(
                fields=["org", "status", "feedback_due_at"],
                include=["owner", "id"],
                name="opp_feedback_idx",
            ),
            models.Index(fields=["org", "status", "next_followup_at"], name="opp_next_idx"),
            models.Index(fields=["org", "status", "last_followup_at"], name="opp_last_idx"),
            models.Index(fields=["org", "status", "stall_due_at"], name="opp_stall_idx"),
            models.Index(fields=["org", "pipeline", "stage", "status"], name="opp_board_idx"),
            models.Index(fields=["org", "customer", "status"], name="opp_customer_idx"),
            models.Index(fields=["org", "status", "expected_close_date"], name="opp_close_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(probability__gte=0) & Q(probability__lte=100),
                name="opp_probability_range",
            ),
            models.CheckConstraint(
                condition=Q(expected_amount__isnull=True) | Q(expected_amount__gte=0),
                name="opp_expected_amount_positive",
            ),
            models.CheckConstraint(
                condition=Q(actual_amount__isnull=True) | Q(actual_amount__gte=0),
                name="opp_actual_amount_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def weighted_amount(self) -> Decimal | None:
        if self.expected_amount is None:
            return None
        return money(self.expected_amount * Decimal(self.probability) / Decimal(100))


class OpportunityLine(TenantModel):
    """A product line of an opportunity: product (a value of the product list, or free text
    until the catalogue lands), quantity and unit price; ``amount`` = quantity × price, half-up."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="lines", verbose_name=_("opportunity")
    )
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    product = models.CharField(_("product"), max_length=200)
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=2)
    unit_price = models.DecimalField(_("unit price"), max_digits=16, decimal_places=2)
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2)
    notes = models.CharField(_("notes"), max_length=300, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, via="opportunity")
    scope_module: ClassVar[str] = "opportunities"

    class Meta:
        verbose_name = _("product line")
        verbose_name_plural = _("product lines")
        ordering = ["sort_order", "pk"]
        indexes = [models.Index(fields=["org", "opportunity"], name="oppline_opp_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="oppline_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="oppline_price_positive"),
        ]

    def __str__(self) -> str:
        return self.product


class StageHistory(TenantModel):
    """One stay of an opportunity in a stage (and node): who moved it there, with which
    contact, from ``entered_at`` until ``left_at`` (null while it is still there)."""

    opportunity = models.ForeignKey(
        Opportunity,
        on_delete=models.CASCADE,
        related_name="stage_history",
        verbose_name=_("opportunity"),
    )
    pipeline = models.ForeignKey(
        Pipeline, on_delete=models.PROTECT, related_name="+", verbose_name=_("pipeline")
    )
    stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, related_name="+", verbose_name=_("stage")
    )
    node = models.ForeignKey(
        Stage,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("node"),
    )
    contact = models.ForeignKey(
        "customers.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("contact"),
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("moved by"),
    )
    entered_at = models.DateTimeField(_("entered"))
    left_at = models.DateTimeField(_("left"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, via="opportunity")
    scope_module: ClassVar[str] = "opportunities"

    class Meta:
        verbose_name = _("stage history")
        verbose_name_plural = _("stage history")
        ordering = ["entered_at", "pk"]
        indexes = [
            models.Index(fields=["org", "opportunity", "entered_at"], name="stagehist_opp_idx"),
            models.Index(fields=["org", "stage", "entered_at"], name="stagehist_stage_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.opportunity_id}: {self.stage_id}"

    @property
    def days(self) -> int:
        from django.utils import timezone

        end = self.left_at or timezone.now()
        return max(0, (end - self.entered_at).days)


class SavedQueryShare(models.TextChoices):
    PRIVATE = "private", _("Only me")
    TEAM = "team", _("My department")
    ORG = "org", _("Everyone")


def _shared_queries(user: Any) -> Q:
    q = Q(shared=SavedQueryShare.ORG)
    if getattr(user, "department_id", None):
        q |= Q(shared=SavedQueryShare.TEAM, owner__department_id=user.department_id)
    return q


class SavedQuery(TenantModel):
    """A search a user saved on a list (conditions, columns, sort), private or shared with their
    department or everyone. The four built-in queries of seed 001 are defined in code
    (``crm.pipeline.queries.BUILTIN``)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("owner"),
    )
    subject = models.CharField(_("subject"), max_length=40, default="opportunity")
    name = models.CharField(_("name"), max_length=100)
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)
    columns = models.JSONField(_("columns"), default=list, blank=True)
    sort = models.CharField(_("sort"), max_length=60, blank=True)
    shared = models.CharField(
        _("shared with"),
        max_length=10,
        choices=SavedQueryShare.choices,
        default=SavedQueryShare.PRIVATE,
    )
    sort_order = models.PositiveIntegerField(_("order"), default=0)

    objects = ScopedQuerySet.as_manager()
    # Own queries, plus those shared with the user's department or everyone (read-only to them).
    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner", personal=True, also=_shared_queries)
    scope_module: ClassVar[str] = "opportunities"

    class Meta:
        verbose_name = _("saved query")
        verbose_name_plural = _("saved queries")
        ordering = ["sort_order", "pk"]
        indexes = [models.Index(fields=["org", "subject", "owner"], name="savedquery_owner_idx")]

    def __str__(self) -> str:
        return self.name
