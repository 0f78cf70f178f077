"""The "targets" import resource (R8.6): one row per target — a rep (login name, name or e-mail)
or a department (name), the metric, the period kind, the period's first day and the value.
Each row goes through :func:`crm.analytics.targets.save_one` (the grid's service), so the
permission (analytics:configure), the scope of whose targets one may set, the validation and
the audit event are those of the targets page. A row for a target that already exists is a
duplicate: skipped, or updated in "update" mode."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.core.errors import NotFound, ValidationFailed
from crm.imports.registry import ImportField, Resource, RowContext, register_resource
from crm.imports.resources import as_date, colleague

from .choices import PeriodKind, TargetMetric
from .models import Target
from .targets import departments_in_scope, parse_value, save_one

METRIC_WORDS: dict[str, tuple[str, ...]] = {
    TargetMetric.SIGNED: ("signed", "签约", "签约金额", "合同金额", "签约额"),
    TargetMetric.COLLECTED: ("collected", "回款", "回款金额", "回款额"),
    TargetMetric.NEW_CUSTOMERS: (
        "new_customers",
        "new customers",
        "新客户",
        "新增客户",
        "新客户数",
    ),
}
PERIOD_WORDS: dict[str, tuple[str, ...]] = {
    PeriodKind.MONTH: ("month", "月", "月度", "monthly"),
    PeriodKind.QUARTER: ("quarter", "季", "季度", "quarterly"),
    PeriodKind.YEAR: ("year", "年", "年度", "yearly", "annual"),
}


def _error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, field_errors={field: [message]})


def _choice(text: str, words: dict[str, tuple[str, ...]], field: str) -> str:
    folded = (text or "").strip().casefold()
    for value, names in words.items():
        if folded in {n.casefold() for n in names}:
            return value
        labels = dict([*TargetMetric.choices, *PeriodKind.choices])
        if folded == str(labels.get(value, "")).casefold():
            return value
    raise _error(field, _("“%(value)s” is not one of the choices.") % {"value": text})


@dataclass
class Row:
    metric: str
    period: str
    start: date
    user: Any = None
    department: Any = None


def _row(ctx: RowContext, values: dict[str, str]) -> Row:
    rep, dept_name = values.get("rep", "").strip(), values.get("department", "").strip()
    if bool(rep) == bool(dept_name):
        raise _error("rep", _("Name either a rep or a department."))
    metric = _choice(values.get("metric", ""), METRIC_WORDS, "metric")
    period = _choice(values.get("period", ""), PERIOD_WORDS, "period")
    start = date.fromisoformat(as_date(values.get("period_start", ""), "period_start"))
    row = Row(metric=metric, period=period, start=start)
    if rep:
        row.user = colleague(ctx, rep, "rep")
    else:
        found = list(departments_in_scope(ctx.actor, "configure").filter(name=dept_name)[:2])
        if len(found) != 1:
            raise _error(
                "department",
                _("No department called “%(name)s” whose targets you may set.")
                % {"name": dept_name},
            )
        row.department = found[0]
    return row


def find(ctx: RowContext, values: dict[str, str]) -> Any:
    row = _row(ctx, values)
    lookup = {"user": row.user} if row.user is not None else {"department": row.department}
    return (
        Target.objects.visible_to(ctx.actor)
        .filter(metric=row.metric, period=row.period, period_start=row.start, **lookup)
        .first()
    )


def create(ctx: RowContext, values: dict[str, str]) -> Any:
    row = _row(ctx, values)
    try:
        value = parse_value(values.get("value", ""), row.metric)
    except ValueError as exc:
        raise _error("value", str(exc)) from None
    if value is None:
        raise _error("value", _("Enter the target."))
    try:
        save_one(
            actor=ctx.actor,
            metric=row.metric,
            period=row.period,
            start=row.start,
            value=value,
            user=row.user,
            department=row.department,
        )
    except NotFound:
        raise _error("rep", _("You may not set this target.")) from None
    except ValidationFailed as exc:
        raise _error(
            "value", " ".join(str(m) for ms in exc.field_errors.values() for m in ms) or str(exc)
        ) from None
    return find(ctx, values)


def update(ctx: RowContext, target: Any, values: dict[str, str]) -> Any:
    return create(ctx, values)


class TargetResource(Resource):
    """Updating a target needs analytics:configure (there is no analytics:edit)."""

    def may_update(self, user: Any) -> bool:
        return bool(user.can("analytics", "configure"))


def describe(target: Any) -> str:
    who = target.user.display_name if target.user_id else target.department.name
    return f"{who} {target.get_metric_display()} {target.period_start:%Y-%m-%d}"


TARGETS = TargetResource(
    key="targets",
    label=gettext_lazy("Targets"),
    module="analytics",
    action="configure",
    model_label="analytics.Target",
    fields=(
        ImportField(
            "rep",
            gettext_lazy("Rep"),
            ("销售", "销售代表", "人员", "用户名", "rep", "user", "username"),
            example="zhangsan",
            help=gettext_lazy("Login name, name or e-mail; leave empty for a department."),
        ),
        ImportField(
            "department",
            gettext_lazy("Department"),
            ("部门", "部门名称", "department", "team"),
            example="销售一部",
            help=gettext_lazy("Leave empty for a rep."),
        ),
        ImportField(
            "metric",
            gettext_lazy("Metric"),
            ("指标", "目标类型", "metric"),
            required=True,
            example="签约金额",
        ),
        ImportField(
            "period",
            gettext_lazy("Period"),
            ("周期", "期间类型", "period"),
            required=True,
            example="月",
        ),
        ImportField(
            "period_start",
            gettext_lazy("Period starts"),
            ("开始日期", "期间开始", "起始日期", "period start", "start"),
            required=True,
            example="2026-01-01",
        ),
        ImportField(
            "value",
            gettext_lazy("Target"),
            ("目标", "目标值", "金额", "target", "value"),
            required=True,
            example="500000",
        ),
    ),
    find=find,
    create=create,
    update=update,
    describe=describe,
)


def register() -> None:
    register_resource(TARGETS)
