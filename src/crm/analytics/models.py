"""Targets (业绩目标), forecast commits and weekly snapshots, saved custom reports and their
schedules (R8).

Figures themselves are never stored except in forecast snapshots (to measure accuracy later):
every dashboard aggregates the scoped querysets of the business modules in SQL, so a viewer's
figures always follow their data scope."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.core.models import ScopedModel, TenantModel
from crm.core.scoping import DataScope, ScopedQuerySet, ScopeFields

from .choices import (
    DeliveryStatus,
    Frequency,
    PeriodKind,
    ReportShare,
    ReportSubject,
    TargetMetric,
)

ZERO = Decimal("0.00")


def money_field(verbose_name: object, **kwargs: Any) -> models.DecimalField:
    return models.DecimalField(verbose_name, max_digits=16, decimal_places=2, **kwargs)  # type: ignore[arg-type]


def _department_targets(user: Any) -> Q:
    """Department targets a user sees: those of the departments inside their analytics scope
    (a rep with "own records" sees their own department's target)."""
    q = Q(pk__in=[])
    for scope, departments in user.role_grants("analytics", "view"):
        if scope == DataScope.ALL:
            return Q(user__isnull=True)
        dept = user.department
        if scope == DataScope.CUSTOM:
            for d in departments:
                q |= Q(user__isnull=True, department__path__startswith=d.path)
        if dept is None:
            continue
        if scope == DataScope.DEPT_TREE:
            q |= Q(user__isnull=True, department__path__startswith=dept.path)
        else:  # SELF, DEPT (and CUSTOM: also the own department)
            q |= Q(user__isnull=True, department_id=dept.pk)
    return q


class Target(ScopedModel):
    """A target for one rep or one department, for one month, quarter or year, on one metric
    (signed amount, collected amount, or number of new customers)."""

    metric = models.CharField(_("metric"), max_length=20, choices=TargetMetric.choices)
    period = models.CharField(_("period"), max_length=10, choices=PeriodKind.choices)
    period_start = models.DateField(_("period starts"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("rep"),
    )
    department = models.ForeignKey(
        "org.Department",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("department"),
    )
    value = money_field(_("target"))

    scope: ClassVar[ScopeFields] = ScopeFields(owner="user", also=_department_targets)
    scope_module: ClassVar[str] = "analytics"

    class Meta:
        verbose_name = _("target")
        verbose_name_plural = _("targets")
        ordering = ["period_start", "metric", "pk"]
        indexes = [
            models.Index(fields=["org", "period", "period_start"], name="target_period_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(department__isnull=True))
                | (Q(user__isnull=True) & Q(department__isnull=False)),
                name="target_user_xor_department",
            ),
            models.CheckConstraint(condition=Q(value__gte=0), name="target_value_not_negative"),
            models.UniqueConstraint(
                fields=["org", "metric", "period", "period_start", "user"],
                condition=Q(user__isnull=False),
                name="target_unique_user",
            ),
            models.UniqueConstraint(
                fields=["org", "metric", "period", "period_start", "department"],
                condition=Q(department__isnull=False),
                name="target_unique_department",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} {self.period_start:%Y-%m}"


class ForecastCommit(ScopedModel):
    """What a rep commits to close in a period, and their manager's adjustment (R8.5)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("rep"),
    )
    period = models.CharField(_("period"), max_length=10, choices=PeriodKind.choices)
    period_start = models.DateField(_("period starts"))
    committed = money_field(_("commit"))
    best_case = money_field(_("best case"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)
    adjusted = money_field(_("manager's adjustment"), null=True, blank=True)
    adjusted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("adjusted by"),
    )
    adjusted_note = models.CharField(_("adjustment note"), max_length=500, blank=True)
    adjusted_at = models.DateTimeField(_("adjusted at"), null=True, blank=True)

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner")
    scope_module: ClassVar[str] = "analytics"

    class Meta:
        verbose_name = _("forecast commit")
        verbose_name_plural = _("forecast commits")
        ordering = ["period_start", "owner", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "owner", "period", "period_start"], name="forecast_commit_unique"
            ),
            models.CheckConstraint(
                condition=Q(committed__gte=0), name="forecast_commit_not_negative"
            ),
        ]


class ForecastSnapshot(TenantModel):
    """The forecast of one rep for one period as it stood on one day (taken weekly), and — once
    the period is over — what was actually won, so the page can show past accuracy."""

    taken_on = models.DateField(_("taken on"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("rep"),
    )
    period = models.CharField(_("period"), max_length=10, choices=PeriodKind.choices)
    period_start = models.DateField(_("period starts"))
    open_amount = money_field(_("open pipeline"), default=ZERO)
    weighted = money_field(_("weighted pipeline"), default=ZERO)
    historical = money_field(_("forecast from history"), default=ZERO)
    won_so_far = money_field(_("won so far"), default=ZERO)
    committed = money_field(_("commit"), null=True, blank=True)
    adjusted = money_field(_("manager's adjustment"), null=True, blank=True)
    actual = money_field(_("actually won"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner")
    scope_module: ClassVar[str] = "analytics"

    class Meta:
        verbose_name = _("forecast snapshot")
        verbose_name_plural = _("forecast snapshots")
        ordering = ["-taken_on", "owner", "pk"]
        indexes = [
            models.Index(fields=["org", "period", "period_start"], name="fsnap_period_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "taken_on", "owner", "period", "period_start"],
                name="fsnap_unique",
            ),
        ]


def _shared_reports(user: Any) -> Q:
    q = Q(shared=ReportShare.ORG)
    if getattr(user, "department_id", None):
        q |= Q(shared=ReportShare.TEAM, owner__department_id=user.department_id)
    return q


class SavedReport(ScopedModel):
    """A custom report (R8.8): a subject, dimensions, measures and filters, private or shared.
    Whoever opens a shared report sees it computed over their own data scope."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("owner"),
    )
    name = models.CharField(_("name"), max_length=100)
    subject = models.CharField(_("subject"), max_length=20, choices=ReportSubject.choices)
    definition = models.JSONField(_("definition"), default=dict, blank=True)
    shared = models.CharField(
        _("shared with"), max_length=10, choices=ReportShare.choices, default=ReportShare.PRIVATE
    )

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner", personal=True, also=_shared_reports)
    scope_module: ClassVar[str] = "analytics"

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["org", "owner"], name="report_owner_idx")]

    def __str__(self) -> str:
        return self.name


class ReportSchedule(ScopedModel):
    """Deliver a saved report weekly or monthly, as an in-app message and an e-mail with the
    Excel file attached. Each recipient receives the report computed over their own scope."""

    report = models.ForeignKey(
        SavedReport, on_delete=models.CASCADE, related_name="schedules", verbose_name=_("report")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("owner"),
    )
    frequency = models.CharField(_("frequency"), max_length=10, choices=Frequency.choices)
    weekday = models.PositiveSmallIntegerField(_("weekday (0 = Monday)"), default=0)
    day_of_month = models.PositiveSmallIntegerField(_("day of month"), default=1)
    hour = models.PositiveSmallIntegerField(_("hour"), default=8)
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="+", blank=True, verbose_name=_("recipients")
    )
    is_active = models.BooleanField(_("active"), default=True)
    next_run_at = models.DateTimeField(_("next delivery"), null=True, blank=True)
    last_run_at = models.DateTimeField(_("last delivery"), null=True, blank=True)

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner", personal=True)
    scope_module: ClassVar[str] = "analytics"

    class Meta:
        verbose_name = _("report schedule")
        verbose_name_plural = _("report schedules")
        ordering = ["pk"]
        indexes = [models.Index(fields=["org", "is_active", "next_run_at"], name="rsched_due_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="rsched_weekday"),
            models.CheckConstraint(
                condition=Q(day_of_month__gte=1) & Q(day_of_month__lte=28), name="rsched_day"
            ),
            models.CheckConstraint(condition=Q(hour__lte=23), name="rsched_hour"),
        ]


class ReportDelivery(TenantModel):
    """One due delivery of a schedule to one recipient. The unique key makes delivery exactly
    once even when two schedulers or a retried worker run the same slot."""

    schedule = models.ForeignKey(
        ReportSchedule,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("schedule"),
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("recipient"),
    )
    due_at = models.DateTimeField(_("due at"))
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    error = models.CharField(_("error"), max_length=500, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner="recipient", personal=True)
    scope_module: ClassVar[str] = "analytics"

    class Meta:
        verbose_name = _("report delivery")
        verbose_name_plural = _("report deliveries")
        ordering = ["-due_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "schedule", "recipient", "due_at"], name="rdelivery_once"
            ),
        ]


class StageStay(TenantModel):
    """One stay of an opportunity in an open stage, summarised from its stage history for the
    funnel (R8.4): a run of history rows of one stage (a node change inside the stage writes a
    new row but is not a new stay). Derived data: :func:`crm.analytics.stays.refresh_for`
    rewrites an opportunity's stays whenever its history changes, inside the writer's
    transaction, and ``crm rebuild-stage-stays`` rebuilds them from the history."""

    opportunity = models.ForeignKey(
        "pipeline.Opportunity",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("opportunity"),
    )
    pipeline = models.ForeignKey(
        "pipeline.Pipeline", on_delete=models.CASCADE, related_name="+", verbose_name=_("pipeline")
    )
    stage = models.ForeignKey(
        "pipeline.Stage", on_delete=models.CASCADE, related_name="+", verbose_name=_("stage")
    )
    entered_at = models.DateTimeField(_("entered"))
    left_at = models.DateTimeField(
        _("left"),
        null=True,
        blank=True,
        help_text=_("When it entered another stage or was closed in this one; empty while open."),
    )
    previous_entered_at = models.DateTimeField(
        _("previous stay entered"),
        null=True,
        blank=True,
        help_text=_("When the opportunity's previous stay in the same stage began."),
    )
    advanced = models.BooleanField(
        _("advanced"),
        default=False,
        help_text=_("After entering, it reached a later open stage or the won stage."),
    )
    closed_as = models.CharField(
        _("closed as"),
        max_length=20,
        blank=True,
        default="",
        help_text=_("The opportunity's status when it is won, lost or abandoned; else empty."),
    )

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, via="opportunity")
    scope_module: ClassVar[str] = "opportunities"

    class Meta:
        verbose_name = _("stage stay")
        verbose_name_plural = _("stage stays")
        ordering = ["entered_at", "pk"]
        indexes = [
            # the funnel's read: the period's stays of a pipeline, from the index alone, in
            # stage order (the grouping needs no sort)
            models.Index(
                fields=[
                    "org",
                    "pipeline",
                    "stage",
                    "entered_at",
                    "previous_entered_at",
                    "advanced",
                    "closed_as",
                    "left_at",
                ],
                name="stagestay_period_idx",
            ),
            models.Index(fields=["org", "opportunity"], name="stagestay_opp_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.opportunity_id} @ {self.stage_id} ({self.entered_at:%Y-%m-%d})"
