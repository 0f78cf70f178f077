"""Marketing campaigns (R9.3): the source that leads carry, with budget and cost for the
attribution report (campaign → lead → customer → opportunity → won)."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.core.models import ScopedModel
from crm.core.scoping import ScopeFields

from .choices import CampaignStatus, CampaignType


def new_campaign_token() -> str:
    """A random token naming a campaign's public web form (``/m/<token>/``)."""
    return secrets.token_urlsafe(18)


class Campaign(ScopedModel):
    """A marketing campaign. Everyone with ``marketing:view`` sees every campaign of the
    organisation (campaigns are organisation-wide plans); ``owner`` is who runs it.

    ``utm_source`` / ``utm_campaign`` are the tracking parameters that, when a lead arrives with
    them (web form, API, import), attach the lead to this campaign. ``segment`` describes the
    target audience as filters (industry, region, customer type, tags…) for e-mail campaigns.
    """

    name = models.CharField(_("name"), max_length=120)
    code = models.CharField(_("code"), max_length=60, blank=True)
    campaign_type = models.CharField(
        _("type"), max_length=20, choices=CampaignType.choices, default=CampaignType.OTHER
    )
    channel = models.CharField(_("channel"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.PLANNED
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner"),
    )
    start_date = models.DateField(_("start date"), null=True, blank=True)
    end_date = models.DateField(_("end date"), null=True, blank=True)
    budget = models.DecimalField(_("budget"), max_digits=16, decimal_places=2, default=Decimal("0"))
    actual_cost = models.DecimalField(
        _("actual cost"), max_digits=16, decimal_places=2, default=Decimal("0")
    )
    target_segment = models.CharField(_("target segment"), max_length=300, blank=True)
    segment = models.JSONField(_("segment filters"), default=dict, blank=True)
    description = models.TextField(_("description"), blank=True)
    utm_source = models.CharField(_("utm_source"), max_length=100, blank=True)
    utm_campaign = models.CharField(_("utm_campaign"), max_length=100, blank=True)
    form_token = models.CharField(
        _("web form token"),
        max_length=40,
        unique=True,
        default=new_campaign_token,
        editable=False,
    )
    form_enabled = models.BooleanField(_("web form enabled"), default=False)
    form_pool = models.ForeignKey(
        "leads.LeadPool",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("pool for web form leads"),
    )

    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "marketing"

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-start_date", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], name="campaign_unique_name"),
        ]
        indexes = [
            models.Index(fields=["org", "status", "-start_date"], name="campaign_status_idx"),
            models.Index(fields=["org", "utm_campaign"], name="campaign_utm_idx"),
        ]

    def __str__(self) -> str:
        return self.name
