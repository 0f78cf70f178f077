"""Filter form of the win/loss page: the close-date period, pipeline, department and rep."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.org.models import Department, User
from crm.pipeline.models import Pipeline
from crm.pipeline.queries import colleagues

from .funnel import scope_department_list
from .winloss import WinLossFilters

#: Longest period people may ask for, in days (besides "all time": both dates empty).
MAX_DAYS = 20 * 366


def check_period(start: Any, last: Any) -> dict[str, str]:
    """Field errors of a period (shared by the page and the API)."""
    if start is not None and last is not None:
        if last < start:
            return {"date_to": str(_("The end date cannot be before the start date."))}
        if (last - start).days > MAX_DAYS:
            return {"date_to": str(_("Choose a period of at most twenty years."))}
    return {}


class WinLossFilterForm(forms.Form):
    date_from = forms.DateField(
        label=_("Closed from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    pipeline = forms.TypedChoiceField(
        label=_("Pipeline"), required=False, coerce=int, empty_value=None
    )
    department = forms.TypedChoiceField(
        label=_("Department"), required=False, coerce=int, empty_value=None
    )
    owner = forms.TypedChoiceField(label=_("Rep"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.people = colleagues(user)
        self.departments = scope_department_list(user)
        self.pipelines = list(Pipeline.objects.visible_to(user).order_by("sort_order", "pk"))
        cast(forms.ChoiceField, self.fields["pipeline"]).choices = [("", _("All pipelines"))] + [
            (str(p.pk), p.name) for p in self.pipelines
        ]
        cast(forms.ChoiceField, self.fields["department"]).choices = [
            ("", _("All departments"))
        ] + [(str(d.pk), ("· " * max(0, d.path.count("/") - 2)) + d.name) for d in self.departments]
        cast(forms.ChoiceField, self.fields["owner"]).choices = [("", _("All reps"))] + [
            (str(u.pk), u.display_name) for u in self.people
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name, message in check_period(data.get("date_from"), data.get("date_to")).items():
            self.add_error(name, message)
        return data

    def filters(self) -> WinLossFilters:
        data = self.cleaned_data
        pipeline = next((p for p in self.pipelines if p.pk == data.get("pipeline")), None)
        department: Department | None = next(
            (d for d in self.departments if d.pk == data.get("department")), None
        )
        owner: User | None = next((u for u in self.people if u.pk == data.get("owner")), None)
        return WinLossFilters(
            start=data.get("date_from"),
            last=data.get("date_to"),
            pipeline=pipeline,
            department=department,
            owner=owner,
        )
