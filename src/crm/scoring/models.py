"""Learned opportunity win probability (R2.5).

``WinModel`` is one training run of an organisation: how much closed history it had, the
logistic-regression coefficients (JSON, never pickled), and its accuracy on the held-back most
recent closes (AUC, Brier score, calibration table, the held-back predictions themselves so
anyone can recompute them). A run with too little history is kept too (``is_usable`` false):
the pages say so and fall back to the stages' default probabilities.

``OpportunityScore`` is the latest learned probability of an open opportunity with the factors
that raise or lower it most; it follows the opportunity's scope.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.core.models import TenantModel
from crm.core.scoping import ScopedQuerySet, ScopeFields


class WinModel(TenantModel):
    """One training run of the win-probability model of an organisation."""

    version = models.PositiveIntegerField(_("version"))
    trained_at = models.DateTimeField(_("trained at"))
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("trained by"),
    )
    is_usable = models.BooleanField(_("usable"), default=False)
    message = models.CharField(_("message"), max_length=300, blank=True)
    n_closed = models.PositiveIntegerField(_("closed opportunities"), default=0)
    n_won = models.PositiveIntegerField(_("won"), default=0)
    n_lost = models.PositiveIntegerField(_("lost"), default=0)
    n_train = models.PositiveIntegerField(_("training samples"), default=0)
    n_test = models.PositiveIntegerField(_("held-back samples"), default=0)
    split_at = models.DateTimeField(_("held back from"), null=True, blank=True)
    auc = models.FloatField(_("AUC"), null=True, blank=True)
    brier = models.FloatField(_("Brier score"), null=True, blank=True)
    base_rate = models.FloatField(_("held-back win rate"), null=True, blank=True)
    calibration = models.JSONField(_("calibration"), default=list, blank=True)
    feature_names = models.JSONField(_("features"), default=list, blank=True)
    params = models.JSONField(_("coefficients"), default=dict, blank=True)
    holdout = models.JSONField(_("held-back predictions"), default=list, blank=True)
    seconds = models.FloatField(_("training time (s)"), default=0)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "analytics"

    @property
    def reason(self) -> str:
        """Why the run is not usable, in the active language (see services.run_message)."""
        from .services import run_message

        return run_message(self)

    class Meta:
        verbose_name = _("win-probability model")
        verbose_name_plural = _("win-probability models")
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["org", "version"], name="winmodel_unique_version"),
        ]

    def __str__(self) -> str:
        return f"v{self.version}"


class OpportunityScore(TenantModel):
    """The learned win probability of an open opportunity (percent, two decimals)."""

    opportunity = models.ForeignKey(
        "pipeline.Opportunity",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("opportunity"),
    )
    model = models.ForeignKey(
        WinModel, on_delete=models.CASCADE, related_name="scores", verbose_name=_("model")
    )
    probability = models.DecimalField(_("win probability (%)"), max_digits=5, decimal_places=2)
    factors = models.JSONField(_("factors"), default=dict, blank=True)
    scored_at = models.DateTimeField(_("scored at"))

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, via="opportunity")
    scope_module: ClassVar[str] = "opportunities"

    class Meta:
        verbose_name = _("opportunity score")
        verbose_name_plural = _("opportunity scores")
        constraints = [
            models.UniqueConstraint(fields=["org", "opportunity"], name="oppscore_unique_opp"),
        ]

    def __str__(self) -> str:
        return f"{self.probability}%"
