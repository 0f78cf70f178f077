"""Forms of lead scoring (R2.5): a scoring rule, and a follow-up logged on a lead."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.activities.choices import Method
from crm.core.forms import TablerFormMixin

from . import scoring
from .models import LeadScoringRule, ScoringKind


class ScoringRuleForm(TablerFormMixin, forms.Form):
    """One scoring rule; the service validates the combination (crm.leads.scoring.clean_rule)."""

    name = forms.CharField(label=_("Name"), max_length=100)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    kind = forms.ChoiceField(label=_("Kind"), choices=ScoringKind.choices)
    points = forms.IntegerField(
        label=_("Points"),
        min_value=-scoring.MAX_POINTS,
        max_value=scoring.MAX_POINTS,
        help_text=_("Per match (attribute) or per occurrence (behaviour); may be negative."),
    )
    field = forms.ChoiceField(label=_("Field"), required=False)
    operator = forms.ChoiceField(label=_("Operator"), required=False)
    values = forms.CharField(
        label=_("Values"),
        required=False,
        max_length=5000,
        help_text=_("Separated by commas; not needed for “is filled in”."),
    )
    event = forms.ChoiceField(label=_("Event"), required=False)
    method = forms.ChoiceField(label=_("Follow-up method"), required=False)
    cap = forms.IntegerField(
        label=_("Most occurrences counted"),
        required=False,
        min_value=1,
        max_value=scoring.MAX_CAP,
        help_text=_("Empty = no cap."),
    )

    def __init__(self, *args: Any, org_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        blank = [("", "—")]
        self.fields["field"].choices = blank + scoring.field_choices(org_id)  # type: ignore[attr-defined]
        self.fields["operator"].choices = blank + list(scoring.OPERATORS.items())  # type: ignore[attr-defined]
        self.fields["event"].choices = blank + list(scoring.EVENTS.items())  # type: ignore[attr-defined]
        self.fields["method"].choices = [("", _("Any method")), *Method.choices]  # type: ignore[attr-defined]
        self.style_fields()

    def rule_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "name": d["name"],
            "is_active": d["is_active"],
            "kind": d["kind"],
            "points": d["points"],
            "field": d["field"],
            "operator": d["operator"],
            "values": [v.strip() for v in d["values"].split(",") if v.strip()],
            "event": d["event"],
            "method": d["method"],
            "cap": d["cap"],
        }

    @staticmethod
    def initial_for(rule: LeadScoringRule) -> dict[str, Any]:
        return {
            "name": rule.name,
            "is_active": rule.is_active,
            "kind": rule.kind,
            "points": rule.points,
            "field": rule.field,
            "operator": rule.operator,
            "values": ", ".join(rule.values or []),
            "event": rule.event,
            "method": rule.method,
            "cap": rule.cap,
        }


class FollowUpForm(TablerFormMixin, forms.Form):
    """A follow-up with a lead (counted by the behaviour rules)."""

    method = forms.ChoiceField(label=_("Method"), choices=Method.choices)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style_fields()
