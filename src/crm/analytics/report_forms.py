"""Forms of the report builder and the schedule page (R8.8).

The builder's inputs are plain query parameters (``subject``, ``dim1``, ``dim2``,
``measures``, ``date_field``, ``period``, ``date_from``, ``date_to``, ``f_<filter>``, ``sort``,
``desc``, ``chart``, ``limit``); :func:`definition_from_params` turns them into a definition
that :func:`crm.analytics.reports.validate` checks (so the page, the API and saved reports share
one set of rules), and :func:`params_from_definition` goes back for editing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from crm.org.models import User
from crm.pipeline.queries import colleagues

from . import reports
from .choices import Frequency, ReportShare, ReportSubject
from .funnel import scope_departments

#: filters shown as multiple choices when the subject has them
CHOICE_FILTERS = ("status", "method", "grade")
TEXT_FILTERS = ("source", "industry", "region", "product")


def _list(params: QueryDict, key: str) -> list[str]:
    values: list[str] = []
    for raw in params.getlist(key):
        values += [v.strip() for v in raw.split(",") if v.strip()]
    return values


def definition_from_params(params: QueryDict) -> dict[str, Any]:
    """The raw definition the builder's fields describe (validated later)."""
    subject_key = params.get("subject") or ReportSubject.OPPORTUNITIES
    subj = reports.subjects().get(subject_key)
    dims = [d for d in (params.get("dim1", ""), params.get("dim2", "")) if d]
    filters: dict[str, Any] = {}
    date_field = params.get("date_field") or ""
    if date_field:
        period = params.get("period") or ""
        if period and period != "custom":
            filters[date_field] = {"period": period}
        else:
            span = {
                k: v
                for k, v in (("from", params.get("date_from")), ("to", params.get("date_to")))
                if v
            }
            if span:
                filters[date_field] = span
    if subj is not None:
        for key, f in subj.filters.items():
            name = f"f_{key}"
            if name not in params or f.kind == "date":
                continue
            if f.kind == "department":
                if params.get(name):
                    filters[key] = params.get(name)
            else:
                values = _list(params, name)
                if values:
                    filters[key] = values
    sort = params.get("sort") or ""
    if sort and params.get("desc"):
        sort = f"-{sort}"
    limit: Any = params.get("limit") or reports.DEFAULT_LIMIT
    return {
        "subject": subject_key,
        "dimensions": dims,
        "measures": params.getlist("measures"),
        "filters": filters,
        "sort": sort,
        "chart": params.get("chart") or "bar",
        "limit": limit,
    }


def params_from_definition(d: dict[str, Any]) -> QueryDict:
    """The builder's query parameters of a saved definition."""
    q = QueryDict(mutable=True)
    q["subject"] = d.get("subject", "")
    dims = list(d.get("dimensions") or [])
    q["dim1"] = dims[0] if dims else ""
    q["dim2"] = dims[1] if len(dims) > 1 else ""
    q.setlist("measures", list(d.get("measures") or []))
    subj = reports.subjects().get(d.get("subject", ""))
    for key, value in (d.get("filters") or {}).items():
        f = subj.filters.get(key) if subj else None
        if f is None:
            continue
        if f.kind == "date":
            q["date_field"] = key
            if "period" in value:
                q["period"] = value["period"]
            else:
                q["period"] = "custom"
                q["date_from"] = value.get("from", "")
                q["date_to"] = value.get("to", "")
        elif isinstance(value, list):
            q.setlist(f"f_{key}", [str(v) for v in value])
        else:
            q[f"f_{key}"] = str(value)
    sort = str(d.get("sort") or "")
    q["sort"] = sort.lstrip("-")
    if sort.startswith("-"):
        q["desc"] = "1"
    q["chart"] = d.get("chart") or "bar"
    q["limit"] = str(d.get("limit") or reports.DEFAULT_LIMIT)
    return q


@dataclass
class Builder:
    """Everything the builder template offers for one subject, with what is chosen."""

    subject: str
    params: QueryDict
    subjects: list[tuple[str, Any]]
    dimensions: list[tuple[str, Any]]
    measures: list[tuple[str, Any]]
    date_fields: list[tuple[str, Any]]
    periods: list[tuple[str, Any]]
    choice_filters: list[dict[str, Any]] = field(default_factory=list)
    text_filters: list[dict[str, Any]] = field(default_factory=list)
    departments: list[tuple[str, Any]] = field(default_factory=list)
    owners: list[tuple[str, Any]] = field(default_factory=list)
    stages: list[tuple[str, Any]] = field(default_factory=list)
    charts: list[tuple[str, Any]] = field(default_factory=list)
    shares: list[tuple[str, Any]] = field(default_factory=list)

    def value(self, key: str) -> str:
        return self.params.get(key, "") or ""

    def values(self, key: str) -> list[str]:
        return _list(self.params, key)

    def _opts(self, choices: list[tuple[Any, Any]], chosen: list[str]) -> list[dict[str, Any]]:
        return [
            {"value": str(v), "label": label, "selected": str(v) in chosen} for v, label in choices
        ]

    def options(self, name: str) -> list[dict[str, Any]]:
        """Options of a single-choice field with the chosen one marked."""
        choices = {
            "subject": self.subjects,
            "dim1": self.dimensions,
            "dim2": self.dimensions,
            "date_field": self.date_fields,
            "period": self.periods,
            "chart": self.charts,
            "sort": [*self.dimensions, *self.measures],
            "f_department": self.departments,
        }[name]
        return self._opts(choices, [self.value(name)])

    @property
    def subject_options(self) -> list[dict[str, Any]]:
        return self.options("subject")

    @property
    def dim1_options(self) -> list[dict[str, Any]]:
        return self.options("dim1")

    @property
    def dim2_options(self) -> list[dict[str, Any]]:
        return self.options("dim2")

    @property
    def date_field_options(self) -> list[dict[str, Any]]:
        return self.options("date_field")

    @property
    def period_options(self) -> list[dict[str, Any]]:
        return self.options("period")

    @property
    def chart_options(self) -> list[dict[str, Any]]:
        return self.options("chart")

    @property
    def sort_options(self) -> list[dict[str, Any]]:
        return self.options("sort")

    @property
    def department_options(self) -> list[dict[str, Any]]:
        return self.options("f_department")

    @property
    def measure_options(self) -> list[dict[str, Any]]:
        return self._opts(self.measures, self.params.getlist("measures"))

    @property
    def owner_options(self) -> list[dict[str, Any]]:
        return self._opts(self.owners, self.values("f_owner"))

    @property
    def stage_options(self) -> list[dict[str, Any]]:
        return self._opts(self.stages, self.values("f_stage"))

    @property
    def choice_filter_options(self) -> list[dict[str, Any]]:
        return [
            {**f, "options": self._opts(f["choices"], self.values(f"f_{f['key']}"))}
            for f in self.choice_filters
        ]

    @property
    def text_filter_values(self) -> list[dict[str, Any]]:
        return [{**f, "value": ", ".join(self.values(f"f_{f['key']}"))} for f in self.text_filters]


CHART_LABELS = {
    "bar": _("Bar chart"),
    "hbar": _("Horizontal bars"),
    "line": _("Line chart"),
    "pie": _("Pie chart"),
    "table": _("Table only"),
}


def builder(user: Any, params: QueryDict) -> Builder:
    subject_key = params.get("subject") or ReportSubject.OPPORTUNITIES
    if subject_key not in reports.subjects():
        subject_key = ReportSubject.OPPORTUNITIES
    subj = reports.subject(subject_key)
    hidden = reports.hidden_keys(user, subject_key)  # field-level permissions (H-FIELD)
    b = Builder(
        subject=subject_key,
        params=params,
        subjects=[(s.key, s.label) for s in reports.subjects().values()],
        dimensions=[(k, d.label) for k, d in subj.dimensions.items() if k not in hidden],
        measures=[(k, m.label) for k, m in subj.measures.items() if k not in hidden],
        date_fields=[(k, f.label) for k, f in subj.filters.items() if f.kind == "date"],
        periods=[("custom", _("Chosen dates")), *reports.PERIODS.items()],
        charts=list(CHART_LABELS.items()),
        shares=list(ReportShare.choices),
    )
    for key in CHOICE_FILTERS:
        f = subj.filters.get(key)
        if f is not None and f.kind == "choice":
            b.choice_filters.append({"key": key, "label": f.label, "choices": list(f.choices)})
    for key in TEXT_FILTERS:
        f = subj.filters.get(key)
        if f is not None:
            b.text_filters.append({"key": key, "label": f.label})
    if "department" in subj.filters:
        b.departments = [
            (str(d.pk), ("· " * max(0, d.path.count("/") - 2)) + d.name)
            for d in scope_departments(user)
        ]
    if "owner" in subj.filters:
        b.owners = [(str(u.pk), u.display_name) for u in colleagues(user)]
    if "stage" in subj.filters:
        from crm.pipeline.models import Stage

        b.stages = [
            (str(s.pk), f"{s.pipeline.name} · {s.name}")
            for s in Stage.objects.filter(org_id=user.org_id, parent__isnull=True)
            .select_related("pipeline")
            .order_by("pipeline__name", "sort_order", "pk")
        ]
    return b


class SaveForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    shared = forms.ChoiceField(label=_("Shared with"), choices=ReportShare.choices)


WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


def _display_name(user: Any) -> str:
    return str(user.display_name)


class ScheduleForm(forms.Form):
    frequency = forms.ChoiceField(label=_("Frequency"), choices=Frequency.choices)
    weekday = forms.TypedChoiceField(
        label=_("Weekday"), choices=WEEKDAYS, coerce=int, required=False, empty_value="0"
    )
    day_of_month = forms.TypedChoiceField(
        label=_("Day of month"),
        choices=[(d, str(d)) for d in range(1, 29)],
        coerce=int,
        required=False,
        empty_value="1",
    )
    hour = forms.TypedChoiceField(
        label=_("Hour"), choices=[(h, f"{h:02d}:00") for h in range(24)], coerce=int, initial=8
    )
    recipients = forms.ModelMultipleChoiceField(
        label=_("Recipients"), queryset=User.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from .report_services import recipient_choices

        field_ = cast(forms.ModelMultipleChoiceField, self.fields["recipients"])
        field_.queryset = recipient_choices(user)
        field_.label_from_instance = _display_name  # type: ignore[method-assign,assignment]


def when_text(schedule: Any) -> str:
    """ "Weekly, Monday 08:00" / "Monthly, day 1 08:00" (in the organisation's time zone)."""
    from django.utils.translation import gettext

    if schedule.frequency == Frequency.WEEKLY:
        return gettext("Weekly, %(day)s %(hour)02d:00") % {
            "day": dict(WEEKDAYS).get(schedule.weekday, ""),
            "hour": schedule.hour,
        }
    return gettext("Monthly, day %(day)s %(hour)02d:00") % {
        "day": schedule.day_of_month,
        "hour": schedule.hour,
    }
