"""Forms of the campaign pages. Choices come from ``visible_to`` querysets of the viewer; the
services validate again (names, dates, amounts, tracking parameters)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.core.forms import TablerForm
from crm.customers.forms import UserChoiceField, colleagues_for
from crm.org.models import User

from .choices import CampaignStatus, CampaignType
from .services import TEXT_LIMITS

ANY = [("", "---------")]


class CampaignForm(TablerForm):
    """Plan or edit a campaign."""

    name = forms.CharField(label=_("Name"), max_length=TEXT_LIMITS["name"])
    code = forms.CharField(label=_("Code"), max_length=TEXT_LIMITS["code"], required=False)
    campaign_type = forms.ChoiceField(label=_("Type"), choices=CampaignType.choices)
    channel = forms.CharField(label=_("Channel"), max_length=TEXT_LIMITS["channel"], required=False)
    owner = UserChoiceField(label=_("Owner"), queryset=User.objects.none(), required=False)
    start_date = forms.DateField(
        label=_("Start date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end_date = forms.DateField(
        label=_("End date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    budget = forms.DecimalField(
        label=_("Budget (¥)"), min_value=0, max_digits=16, decimal_places=2, required=False
    )
    actual_cost = forms.DecimalField(
        label=_("Actual cost (¥)"), min_value=0, max_digits=16, decimal_places=2, required=False
    )
    target_segment = forms.CharField(
        label=_("Target segment"), max_length=TEXT_LIMITS["target_segment"], required=False
    )
    utm_source = forms.CharField(
        label="utm_source", max_length=TEXT_LIMITS["utm_source"], required=False
    )
    utm_campaign = forms.CharField(
        label="utm_campaign", max_length=TEXT_LIMITS["utm_campaign"], required=False
    )
    form_enabled = forms.BooleanField(label=_("Campaign web form on"), required=False)
    form_pool: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("Pool for web form leads"),
        queryset=None,
        required=False,
        help_text=_("Empty: the total pool."),
    )
    description = forms.CharField(
        label=_("Description"),
        max_length=TEXT_LIMITS["description"],
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from crm.leads.models import LeadPool

        self.fields["owner"].queryset = colleagues_for(user)  # type: ignore[attr-defined]
        self.fields["form_pool"].queryset = LeadPool.objects.visible_to(user).filter(  # type: ignore[attr-defined]
            is_active=True
        )


class CampaignFilterForm(TablerForm):
    """The filter bar of the list and the comparison (rendering; parsing in the views)."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    campaign_type = forms.ChoiceField(
        label=_("Type"), choices=ANY + list(CampaignType.choices), required=False
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=ANY + list(CampaignStatus.choices), required=False
    )
    start = forms.DateField(
        label=_("Running from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
