"""Pipelines with their stage trees (stage → nodes), the dictionaries admins edit (customer types,
categories, industries, sources, probability levels, action principles, feedback cycles, loss
reasons…), and, with the opportunities module, opportunities."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.core.models import TenantModel
from crm.core.scoping import ScopedQuerySet, ScopeFields

from .choices import CLOSED_KINDS, StageKind


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
