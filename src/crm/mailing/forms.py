"""Forms of the e-mail campaign pages (R9.3)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.customers.models import Grade, Tag
from crm.marketing.models import Campaign
from crm.org.models import Department, User

from .services import MAX_RATE


def _split(value: str) -> list[str]:
    parts = [p.strip() for p in (value or "").replace("，", ",").split(",")]
    return [p for p in parts if p]


class CampaignForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=200)
    from_name = forms.CharField(label=_("From name"), max_length=100, required=False)
    body_html = forms.CharField(
        label=_("Message"),
        widget=forms.Textarea(attrs={"rows": 10}),
        max_length=100_000,
        help_text=_("HTML is allowed; scripts, styles and embedded content are removed."),
    )
    campaign = forms.ModelChoiceField(
        label=_("Marketing campaign"), queryset=Campaign.objects.none(), required=False
    )
    rate_per_minute = forms.IntegerField(
        label=_("Mails per minute"), min_value=1, max_value=MAX_RATE, initial=60
    )
    industries = forms.CharField(
        label=_("Industries"), max_length=1000, required=False, help_text=_("Comma separated")
    )
    regions = forms.CharField(
        label=_("Regions"), max_length=1000, required=False, help_text=_("Comma separated")
    )
    customer_types = forms.CharField(
        label=_("Customer types"), max_length=1000, required=False, help_text=_("Comma separated")
    )
    grades = forms.MultipleChoiceField(
        label=_("Grades"),
        choices=Grade.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    tags = forms.ModelMultipleChoiceField(
        label=_("Tags"), queryset=Tag.objects.none(), required=False
    )
    departments = forms.ModelMultipleChoiceField(
        label=_("Owner departments"), queryset=Department.objects.none(), required=False
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = Campaign.objects.visible_to(user).order_by("-pk")  # type: ignore[attr-defined]
        self.fields["tags"].queryset = Tag.objects.filter(org_id=user.org_id).order_by("name")  # type: ignore[attr-defined]
        self.fields["departments"].queryset = Department.objects.filter(  # type: ignore[attr-defined]
            org_id=user.org_id
        ).order_by("pk")

    def segment(self) -> dict[str, list[Any]]:
        d = self.cleaned_data
        return {
            "industries": _split(d.get("industries") or ""),
            "regions": _split(d.get("regions") or ""),
            "customer_types": _split(d.get("customer_types") or ""),
            "grades": list(d.get("grades") or []),
            "tag_ids": [t.pk for t in d.get("tags") or []],
            "department_ids": [dep.pk for dep in d.get("departments") or []],
        }

    def data_for_service(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "subject": d["subject"],
            "from_name": d.get("from_name") or "",
            "body_html": d["body_html"],
            "rate_per_minute": d["rate_per_minute"],
            "campaign": d.get("campaign"),
            "segment": self.segment(),
        }

    @staticmethod
    def initial_for(campaign: Any) -> dict[str, Any]:
        seg = campaign.segment or {}
        return {
            "subject": campaign.subject,
            "from_name": campaign.from_name,
            "body_html": campaign.body_html,
            "campaign": campaign.campaign_id,
            "rate_per_minute": campaign.rate_per_minute,
            "industries": ", ".join(seg.get("industries", [])),
            "regions": ", ".join(seg.get("regions", [])),
            "customer_types": ", ".join(seg.get("customer_types", [])),
            "grades": seg.get("grades", []),
            "tags": seg.get("tag_ids", []),
            "departments": seg.get("department_ids", []),
            "version": campaign.version,
        }


class SendForm(forms.Form):
    scheduled_at = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Empty: send now"),
    )


class UnsubscribeAddForm(forms.Form):
    email = forms.CharField(label=_("E-mail"), max_length=254)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class UnsubscribeRemoveForm(forms.Form):
    reason = forms.CharField(
        label=_("Why may the address be mailed again?"),
        max_length=200,
        help_text=_('Kept in the audit trail, e.g. "asked by phone to receive offers again".'),
    )
