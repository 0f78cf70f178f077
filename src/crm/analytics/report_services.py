"""Writes of custom reports and their schedules (R8.8).

Who may do what:

- **save** a report: any member with ``analytics:view``; the definition is validated against
  the whitelist of :mod:`crm.analytics.reports`. Only the owner edits or deletes it; a colleague
  who sees a shared report gets "permission denied", anyone else "not found".
- **share**: only me, my department (the owner's department at the time of reading), or
  everyone in the organisation. Whoever opens a shared report sees it over their own scope.
- **schedule** a report one sees (own or shared): weekly (weekday, hour) or monthly (day 1–28,
  hour) in the organisation's time zone, to 1–50 recipients who are active colleagues in the
  organisation holding ``analytics:view``. Only the schedule's owner changes or deletes it.

Each write records an audit event (``report.saved``, ``report.deleted``, ``report.scheduled``,
``report.unscheduled``) in its transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.core import audit
from crm.core.errors import NotFound, PermissionDenied, ValidationFailed
from crm.core.scoping import get_scoped_or_404
from crm.org.models import User

from . import reports
from .choices import Frequency, ReportShare
from .models import ReportDelivery, ReportSchedule, SavedReport

NAME_MAX = 100
MAX_RECIPIENTS = 50
REPORT_FIELDS = ["name", "subject", "definition", "shared"]
SCHEDULE_FIELDS = ["frequency", "weekday", "day_of_month", "hour", "is_active", "next_run_at"]


def _require_view(actor: Any) -> None:
    if not actor.can("analytics", "view"):
        raise PermissionDenied()


def org_zone(org: Any) -> tzinfo:
    try:
        return ZoneInfo(org.time_zone)
    except (KeyError, ValueError, TypeError):
        return ZoneInfo("Asia/Shanghai")


# --- reports -------------------------------------------------------------------------------------
def visible_reports(user: Any) -> Any:
    """The user's own reports and those shared with them (their department's, everyone's)."""
    if not user.can("analytics", "view"):
        return SavedReport.objects.none()
    return SavedReport.objects.visible_to(user).select_related("owner")


def get_report(user: Any, pk: Any) -> SavedReport:
    _require_view(user)
    return get_scoped_or_404(SavedReport.objects.select_related("owner"), user, pk)


def get_own_report(user: Any, pk: Any) -> SavedReport:
    """A report the user may change: 404 when they cannot see it, 403 when it is a colleague's."""
    report = get_report(user, pk)
    if report.owner_id != user.pk:
        raise PermissionDenied(_("Only the owner of a report can change or delete it."))
    return report


def _name(value: Any, errors: dict[str, list[Any]]) -> str:
    text = str(value or "").strip() if isinstance(value, str | int) or value is None else ""
    if not text or "\x00" in text:
        errors["name"] = [_("Enter a name.")]
    elif len(text) > NAME_MAX:
        errors["name"] = [_("At most 100 characters.")]
    return text


@transaction.atomic
def save_report(
    *,
    actor: Any,
    name: Any,
    definition: Any,
    shared: Any = ReportShare.PRIVATE,
    report: SavedReport | None = None,
) -> SavedReport:
    """Create a report (``report`` None) or change one's own."""
    _require_view(actor)
    if report is not None and report.owner_id != actor.pk:
        raise PermissionDenied(_("Only the owner of a report can change or delete it."))
    errors: dict[str, list[Any]] = {}
    text = _name(name, errors)
    if shared not in ReportShare.values:
        errors["shared"] = [_("Choose who sees the report.")]
    try:
        d = reports.validate(definition)
    except ValidationFailed as exc:
        errors.update(exc.field_errors)
        d = None
    if errors or d is None:
        raise ValidationFailed(field_errors=errors)
    if report is None:
        report = SavedReport.objects.create(
            org_id=actor.org_id,
            owner=actor,
            name=text,
            subject=d.subject,
            definition=d.as_json(),
            shared=shared,
        )
        audit.record(
            actor=actor,
            obj=report,
            verb="report.saved",
            changes=audit.diff({}, audit.snapshot(report, REPORT_FIELDS)),
        )
        return report
    report = SavedReport.objects.select_for_update().get(pk=report.pk)
    before = audit.snapshot(report, REPORT_FIELDS)
    report.name, report.subject, report.definition, report.shared = (
        text,
        d.subject,
        d.as_json(),
        shared,
    )
    report.save(update_fields=["name", "subject", "definition", "shared"])
    audit.record(
        actor=actor,
        obj=report,
        verb="report.saved",
        changes=audit.diff(before, audit.snapshot(report, REPORT_FIELDS)),
    )
    return report


@transaction.atomic
def delete_report(*, actor: Any, report: SavedReport) -> None:
    """Delete one's own report (its schedules and their deliveries go with it)."""
    _require_view(actor)
    if report.owner_id != actor.pk:
        raise PermissionDenied(_("Only the owner of a report can change or delete it."))
    audit.record(
        actor=actor,
        obj=report,
        verb="report.deleted",
        changes=audit.diff(audit.snapshot(report, REPORT_FIELDS), {}),
    )
    report.delete()


# --- schedules -----------------------------------------------------------------------------------
def next_run(
    *, frequency: str, weekday: int, day_of_month: int, hour: int, zone: tzinfo, after: datetime
) -> datetime:
    """The first delivery slot strictly after ``after``: the weekday (0 = Monday) or the day of
    the month, at ``hour``:00 in ``zone``."""
    local = after.astimezone(zone)
    for i in range(0, 64):
        day = local.date() + timedelta(days=i)
        if frequency == Frequency.WEEKLY and day.weekday() != weekday:
            continue
        if frequency == Frequency.MONTHLY and day.day != day_of_month:
            continue
        slot = datetime.combine(day, time(hour), tzinfo=zone)
        if slot > after:
            return slot
    raise ValueError("no slot")  # unreachable: a weekday or a day 1–28 comes within 64 days


def schedule_next(schedule: ReportSchedule, after: datetime) -> datetime:
    return next_run(
        frequency=schedule.frequency,
        weekday=schedule.weekday,
        day_of_month=schedule.day_of_month,
        hour=schedule.hour,
        zone=org_zone(schedule.org),
        after=after,
    )


def visible_schedules(user: Any) -> Any:
    """The user's own schedules."""
    if not user.can("analytics", "view"):
        return ReportSchedule.objects.none()
    return ReportSchedule.objects.visible_to(user).select_related("report", "owner")


def get_schedule(user: Any, pk: Any) -> ReportSchedule:
    _require_view(user)
    return get_scoped_or_404(ReportSchedule.objects.select_related("report"), user, pk)


def visible_deliveries(user: Any) -> Any:
    """Deliveries to the user and deliveries of the user's own schedules."""
    if not user.can("analytics", "view"):
        return ReportDelivery.objects.none()
    mine = ReportSchedule.objects.visible_to(user).values("pk")
    return (
        ReportDelivery.objects.filter(org_id=user.org_id)
        .filter(Q(recipient_id=user.pk) | Q(schedule_id__in=mine))
        .select_related("schedule__report", "recipient")
    )


def get_delivery(user: Any, pk: Any) -> ReportDelivery:
    try:
        return visible_deliveries(user).get(pk=pk)
    except (ReportDelivery.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def recipient_choices(actor: Any) -> Any:
    """Active colleagues of the actor's organisation."""
    return User.objects.filter(org_id=actor.org_id, is_active=True).order_by("name", "pk")


def _int(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 4:
        value = int(value.strip())
    if isinstance(value, int) and low <= value <= high:
        return value
    return None


def _recipients(actor: Any, values: Iterable[Any], errors: dict[str, list[Any]]) -> list[User]:
    ids: list[int] = []
    for v in values:
        pk = v.pk if isinstance(v, User) else reports.record_id(v)
        if pk is None:
            errors["recipients"] = [_("Choose colleagues from the list.")]
            return []
        ids.append(pk)
    ids = list(dict.fromkeys(ids))
    if not ids:
        errors["recipients"] = [_("Choose at least one recipient.")]
        return []
    if len(ids) > MAX_RECIPIENTS:
        errors["recipients"] = [_("Choose at most 50 recipients.")]
        return []
    people = list(recipient_choices(actor).filter(pk__in=ids))
    if len(people) != len(ids):
        errors["recipients"] = [_("Choose active colleagues of your organisation.")]
        return []
    unable = [p.display_name for p in people if not p.can("analytics", "view")]
    if unable:
        errors["recipients"] = [_("%(names)s cannot view reports.") % {"names": ", ".join(unable)}]
        return []
    return people


@transaction.atomic
def save_schedule(
    *,
    actor: Any,
    report: SavedReport,
    data: dict[str, Any],
    recipients: Iterable[Any],
    schedule: ReportSchedule | None = None,
    now: datetime | None = None,
) -> ReportSchedule:
    """Create or change a schedule of a report the actor sees; the next delivery is the first
    slot after now."""
    _require_view(actor)
    if not SavedReport.objects.visible_to(actor).filter(pk=report.pk).exists():
        raise NotFound()
    if schedule is not None and schedule.owner_id != actor.pk:
        raise NotFound()
    errors: dict[str, list[Any]] = {}
    frequency = data.get("frequency")
    if frequency not in Frequency.values:
        errors["frequency"] = [_("Choose weekly or monthly.")]
    weekday = _int(data.get("weekday", 0), 0, 6)
    if weekday is None:
        errors["weekday"] = [_("Choose a weekday.")]
    day = _int(data.get("day_of_month", 1), 1, 28)
    if day is None:
        errors["day_of_month"] = [_("Choose a day between 1 and 28.")]
    hour = _int(data.get("hour", 8), 0, 23)
    if hour is None:
        errors["hour"] = [_("Choose an hour between 0 and 23.")]
    active = data.get("is_active", True)
    if not isinstance(active, bool):
        errors["is_active"] = [_("Choose yes or no.")]
    people = _recipients(actor, recipients, errors)
    if errors:
        raise ValidationFailed(field_errors=errors)
    now = now or timezone.now()
    assert weekday is not None and day is not None and hour is not None
    upcoming = next_run(
        frequency=str(frequency),
        weekday=weekday,
        day_of_month=day,
        hour=hour,
        zone=org_zone(actor.org),
        after=now,
    )
    values = {
        "frequency": frequency,
        "weekday": weekday,
        "day_of_month": day,
        "hour": hour,
        "is_active": active,
        "next_run_at": upcoming if active else None,
    }
    if schedule is None:
        schedule = ReportSchedule.objects.create(
            org_id=actor.org_id, report=report, owner=actor, **values
        )
        before: dict[str, Any] = {}
        old_people: list[int] = []
    else:
        schedule = ReportSchedule.objects.select_for_update().get(pk=schedule.pk)
        before = audit.snapshot(schedule, SCHEDULE_FIELDS)
        old_people = sorted(schedule.recipients.values_list("pk", flat=True))
        for key, value in values.items():
            setattr(schedule, key, value)
        schedule.save(update_fields=list(values))
    schedule.recipients.set(people)
    changes = audit.diff(before, audit.snapshot(schedule, SCHEDULE_FIELDS))
    new_people = sorted(p.pk for p in people)
    if new_people != old_people:
        changes["recipients"] = [old_people or None, new_people]
    audit.record(
        actor=actor,
        obj=report,
        verb="report.scheduled",
        changes=changes,
        data={"schedule": schedule.pk},
    )
    return schedule


@transaction.atomic
def delete_schedule(*, actor: Any, schedule: ReportSchedule) -> None:
    _require_view(actor)
    if schedule.owner_id != actor.pk:
        raise NotFound()
    audit.record(
        actor=actor,
        obj=schedule.report,
        verb="report.unscheduled",
        changes=audit.diff(audit.snapshot(schedule, SCHEDULE_FIELDS), {}),
        data={"schedule": schedule.pk},
    )
    schedule.delete()
