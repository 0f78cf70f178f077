"""Forms of the dashboards and the targets grid (H-DASH): the period and department picker, the
pipeline picker, and the targets grid's choices. The grid's cells are read by the view and
validated by :func:`crm.analytics.targets.save_grid` (one message per cell)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.core.forms import TablerForm
from crm.org.models import Department, User

from .choices import PeriodKind, TargetMetric
from .dashboards import PERIODS, Selection, pipelines_for, preset_range
from .targets import (
    LEVEL_DEPARTMENT,
    LEVEL_REP,
    MAX_YEAR,
    MIN_YEAR,
    department_list,
    departments_in_scope,
    today_for,
)

MAX_RANGE_DAYS = 3 * 366


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class DepartmentField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        depth = max(0, obj.path.count("/") - 2)
        return "\u3000" * depth + obj.name


class DashboardFilterForm(TablerForm):
    """Period (this/last month, quarter, year or a custom range) and department."""

    period = forms.ChoiceField(label=_("Period"), choices=PERIODS, required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=_date_widget())
    date_to = forms.DateField(label=_("To"), required=False, widget=_date_widget())
    department = DepartmentField(
        label=_("Department"),
        queryset=Department.objects.none(),
        required=False,
        empty_label=_("All I can see"),
    )

    def __init__(self, *args: Any, user: User, default_period: str = "this_month", **kw: Any):
        super().__init__(*args, **kw)
        self.user = user
        self.default_period = default_period
        self.set_queryset("department", departments_in_scope(user))
        field: Any = self.fields["department"]
        # the options from the request's list of those departments (the dashboard reads it too)
        field.choices = [("", field.empty_label)] + [
            (d.pk, field.label_from_instance(d)) for d in department_list(user)
        ]
        self.fields["period"].initial = default_period

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("period") == "custom":
            start, end = data.get("date_from"), data.get("date_to")
            if not start or not end:
                raise forms.ValidationError(_("Choose the first and the last day."))
            if end < start:
                raise forms.ValidationError(_("The last day is before the first."))
            if (end - start).days > MAX_RANGE_DAYS:
                raise forms.ValidationError(_("Choose at most three years."))
        return data

    def selection(self) -> Selection:
        """The chosen selection; the defaults when the form is unbound or invalid."""
        today = today_for(self.user)
        data: dict[str, Any] = self.cleaned_data if self.is_bound and self.is_valid() else {}
        key = data.get("period") or self.default_period
        if key == "custom":
            start: date = data["date_from"]
            end = data["date_to"] + timedelta(days=1)
        else:
            start, end = preset_range(key, today)
        return Selection(
            viewer=self.user,
            start=start,
            end=end,
            today=today,
            department=data.get("department"),
        )

    @property
    def period_key(self) -> str:
        if self.is_bound and self.is_valid():
            return self.cleaned_data.get("period") or self.default_period
        return self.default_period


class PipelineForm(TablerForm):
    pipeline = forms.TypedChoiceField(label=_("Pipeline"), coerce=int, required=False)

    def __init__(self, *args: Any, user: User, **kw: Any):
        super().__init__(*args, **kw)
        self.pipelines = pipelines_for(user)
        self.fields["pipeline"].choices = [(p.pk, p.name) for p in self.pipelines]  # type: ignore[attr-defined]

    def chosen(self) -> Any:
        pk = self.cleaned_data.get("pipeline") if self.is_bound and self.is_valid() else None
        found = next((p for p in self.pipelines if p.pk == pk), None)
        return found or (self.pipelines[0] if self.pipelines else None)


class TargetGridForm(TablerForm):
    """Which grid: the year, the period kind, the metric, and reps of a department or the
    departments."""

    year = forms.IntegerField(label=_("Year"), min_value=MIN_YEAR, max_value=MAX_YEAR)
    period = forms.ChoiceField(label=_("Period"), choices=PeriodKind.choices)
    metric = forms.ChoiceField(label=_("Metric"), choices=TargetMetric.choices)
    level = forms.ChoiceField(
        label=_("Rows"),
        choices=[(LEVEL_REP, _("Reps of a department")), (LEVEL_DEPARTMENT, _("Departments"))],
    )
    department = DepartmentField(
        label=_("Department"),
        queryset=Department.objects.none(),
        required=False,
        empty_label=_("All I can see"),
    )

    def __init__(self, data: Any, *, user: User, **kw: Any):
        today = today_for(user)
        defaults = {
            "year": today.year,
            "period": PeriodKind.MONTH,
            "metric": TargetMetric.SIGNED,
            "level": LEVEL_REP,
        }
        self.defaults = defaults
        merged = dict(defaults)
        if data:
            merged.update({k: v for k, v in data.items() if v not in (None, "")})
        super().__init__(merged, **kw)
        self.set_queryset("department", departments_in_scope(user))

    def choice(self) -> dict[str, Any]:
        """The chosen grid, or the defaults when a choice is not valid."""
        if self.is_valid():
            return dict(self.cleaned_data)
        return {**self.defaults, "department": None}
