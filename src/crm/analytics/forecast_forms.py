"""Filter forms of the funnel and forecast pages, and the commit and adjustment forms."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.org.models import Department, User
from crm.pipeline.models import OpportunityLine, Pipeline
from crm.pipeline.queries import colleagues

from .choices import PeriodKind
from .forecast import FORECAST_PERIODS, period_label, period_start, shift
from .funnel import scope_department_list

#: Longest funnel period people may ask for (one query spans it; keeps the page fast).
MAX_FUNNEL_DAYS = 3 * 366
PERIOD_CHOICES = [(k.value, k.label) for k in PeriodKind if k.value in FORECAST_PERIODS]


def _department_choices(departments: list[Department]) -> list[tuple[str, Any]]:
    return [("", _("All departments"))] + [
        (str(d.pk), ("· " * max(0, d.path.count("/") - 2)) + d.name) for d in departments
    ]


def _owner_choices(people: list[User]) -> list[tuple[str, Any]]:
    return [("", _("All reps"))] + [(str(u.pk), u.display_name) for u in people]


class _ScopeFilters(forms.Form):
    department = forms.TypedChoiceField(
        label=_("Department"), required=False, coerce=int, empty_value=None
    )
    owner = forms.TypedChoiceField(label=_("Rep"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.people = colleagues(user)
        self.departments = scope_department_list(user)
        cast(forms.ChoiceField, self.fields["department"]).choices = _department_choices(
            self.departments
        )
        cast(forms.ChoiceField, self.fields["owner"]).choices = _owner_choices(self.people)

    def chosen_department(self) -> Department | None:
        """The chosen department (one of the choices, so one of ``self.departments``)."""
        pk = self.cleaned_data.get("department")
        return next((d for d in self.departments if d.pk == pk), None) if pk else None

    def chosen_owner(self) -> User | None:
        pk = self.cleaned_data.get("owner")
        return next((u for u in self.people if u.pk == pk), None) if pk else None


class FunnelFilterForm(_ScopeFilters):
    date_from = forms.DateField(
        label=_("Entered from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    pipeline = forms.TypedChoiceField(
        label=_("Pipeline"), required=False, coerce=int, empty_value=None
    )

    field_order = ["date_from", "date_to", "pipeline", "department", "owner"]

    def __init__(self, *args: Any, user: Any, today: date, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        self.today = today
        self.pipelines = list(
            Pipeline.objects.visible_to(user).filter(is_active=True).order_by("sort_order", "pk")
        )
        cast(forms.ChoiceField, self.fields["pipeline"]).choices = [
            (str(p.pk), p.name) for p in self.pipelines
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start = data.get("date_from") or date(self.today.year, 1, 1)
        last = data.get("date_to") or self.today
        if last < start:
            self.add_error("date_to", _("The end date cannot be before the start date."))
        elif (last - start).days > MAX_FUNNEL_DAYS:
            self.add_error("date_to", _("Choose a period of at most three years."))
        data["start"], data["last"] = start, last
        return data

    def chosen_pipeline(self) -> Pipeline | None:
        pk = self.cleaned_data.get("pipeline") if self.is_bound and self.is_valid() else None
        default = next((p for p in self.pipelines if p.is_default), None)
        chosen = next((p for p in self.pipelines if p.pk == pk), None)
        return chosen or default or (self.pipelines[0] if self.pipelines else None)


def period_choices(kind: str, today: date) -> list[tuple[str, Any]]:
    """The periods offered: six past ones, the current one and two ahead."""
    current = period_start(kind, today)
    return [
        (shift(kind, current, n).isoformat(), period_label(kind, shift(kind, current, n)))
        for n in range(2, -7, -1)
    ]


def product_choices(user: Any) -> list[tuple[str, Any]]:
    names = (
        OpportunityLine.objects.visible_to(user)
        .values_list("product", flat=True)
        .distinct()
        .order_by("product")[:300]
    )
    return [("", _("All products"))] + [(n, n) for n in names]


class ForecastFilterForm(_ScopeFilters):
    period = forms.ChoiceField(label=_("Period"), choices=PERIOD_CHOICES, required=False)
    start = forms.DateField(label=_("Starting"), required=False)
    product = forms.CharField(label=_("Product"), required=False, max_length=200)

    field_order = ["period", "start", "department", "owner", "product"]

    def __init__(self, *args: Any, user: Any, today: date, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        self.today = today
        self.products = product_choices(user)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("period") or PeriodKind.MONTH
        start = data.get("start")
        # a start inside the period (e.g. a month after switching to quarters) means its period
        data["period"], data["start"] = kind, period_start(kind, start or self.today)
        return data

    def start_choices(self) -> list[tuple[str, Any]]:
        kind = (self.cleaned_data.get("period") if self.is_bound and self.is_valid() else None) or (
            PeriodKind.MONTH
        )
        return period_choices(kind, self.today)


class CommitForm(forms.Form):
    period = forms.ChoiceField(label=_("Period"), choices=PERIOD_CHOICES)
    period_start = forms.DateField(label=_("Starting"))
    committed = forms.CharField(label=_("Commit"), max_length=30)
    best_case = forms.CharField(label=_("Best case"), max_length=30, required=False)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class AdjustForm(forms.Form):
    adjusted = forms.CharField(label=_("Manager's adjustment"), max_length=30)
    adjusted_note = forms.CharField(
        label=_("Adjustment note"), max_length=500, widget=forms.TextInput()
    )
