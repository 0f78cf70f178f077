"""Scheduled report delivery (R8.8, H-REPORTS): slots in the organisation's time zone, exactly
once per (schedule, recipient, slot) when the job runs twice — interleaved, or re-run after a
crash between claiming and sending — each recipient's figures over their own scope, the XLSX
attached to the e-mail, and the schedule page."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from crm.analytics import report_services, report_tasks
from crm.analytics.models import ReportDelivery, ReportSchedule
from crm.core.errors import NotFound, ValidationFailed
from crm.core.models import Event, Notification
from tests.analytics.test_reports import NAMES, SCOPE, Sales, build_sales, fresh
from tests.conftest import login_client

TZ = ZoneInfo("Asia/Shanghai")
DEF = {
    "subject": "opportunities",
    "dimensions": ["owner"],
    "measures": ["count", "sum_expected_amount"],
}
# Monday 2026-03-16 08:00 Shanghai is the first weekly slot after this moment
BEFORE = datetime(2026, 3, 12, 12, 0, tzinfo=TZ)
SLOT = datetime(2026, 3, 16, 8, 0, tzinfo=TZ)


@pytest.fixture
def sales(db: None) -> Sales:
    return build_sales()


def _schedule(s: Sales, recipients: list[str], owner: str = "director") -> ReportSchedule:
    actor = s.user(owner)
    report = report_services.save_report(actor=actor, name="周报商机", definition=DEF, shared="org")
    with time_machine.travel(BEFORE, tick=False):
        return report_services.save_schedule(
            actor=actor,
            report=report,
            data={"frequency": "weekly", "weekday": 0, "hour": 8},
            recipients=[s.people[k].pk for k in recipients],
        )


def _xlsx_rows(content: bytes) -> list[tuple[Any, ...]]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(content))
    return list(book.active.iter_rows(values_only=True))  # type: ignore[union-attr]


def _expected_rows(s: Sales, viewer: str) -> dict[str, tuple[int, Any]]:
    out: dict[str, list[Any]] = {}
    for o in s.opps:
        if o["owner"] in SCOPE[viewer]:
            row = out.setdefault(NAMES[o["owner"]], [0, 0])
            row[0] += 1
            row[1] += o["amount"]
    return {k: (v[0], v[1]) for k, v in out.items()}


def test_next_run_in_the_organisations_time_zone() -> None:
    # R8.8: weekly (weekday, hour) and monthly (day 1–28, hour) in the organisation's zone
    after = datetime(2026, 3, 16, 0, 30, tzinfo=ZoneInfo("UTC"))  # Monday 08:30 in Shanghai
    weekly = report_services.next_run(
        frequency="weekly", weekday=0, day_of_month=1, hour=8, zone=TZ, after=after
    )
    assert weekly == datetime(2026, 3, 23, 8, 0, tzinfo=TZ)
    early = datetime(2026, 3, 15, 23, 0, tzinfo=ZoneInfo("UTC"))  # Monday 07:00 in Shanghai
    assert report_services.next_run(
        frequency="weekly", weekday=0, day_of_month=1, hour=8, zone=TZ, after=early
    ) == datetime(2026, 3, 16, 8, 0, tzinfo=TZ)
    monthly = report_services.next_run(
        frequency="monthly", weekday=0, day_of_month=28, hour=23, zone=TZ, after=after
    )
    assert monthly == datetime(2026, 3, 28, 23, 0, tzinfo=TZ)
    feb = report_services.next_run(
        frequency="monthly",
        weekday=0,
        day_of_month=1,
        hour=0,
        zone=TZ,
        after=datetime(2026, 1, 31, 17, 0, tzinfo=ZoneInfo("UTC")),  # 1 Feb 01:00 Shanghai
    )
    assert feb == datetime(2026, 3, 1, 0, 0, tzinfo=TZ)


def test_each_recipient_gets_their_own_scope_once_with_the_xlsx(sales: Sales) -> None:
    # R8.8: exactly once per recipient and slot; figures over the recipient's own scope; the
    # e-mail carries the XLSX (for recipients who may export)
    schedule = _schedule(sales, ["manager", "director", "rep_a"])
    assert schedule.next_run_at == SLOT
    assert Event.objects.filter(verb="report.scheduled").exists()
    with time_machine.travel(SLOT - timedelta(minutes=1), tick=False):
        assert report_tasks.run_all() == 0  # not due yet
    assert not ReportDelivery.objects.exists()
    with time_machine.travel(SLOT + timedelta(minutes=3), tick=False):
        assert report_tasks.run_all() == 3
        assert report_tasks.run_all() == 0  # a second run sends nothing
    deliveries = ReportDelivery.objects.filter(schedule=schedule)
    assert deliveries.count() == 3
    assert set(deliveries.values_list("status", flat=True)) == {"sent"}
    assert set(deliveries.values_list("due_at", flat=True)) == {SLOT}
    schedule.refresh_from_db()
    assert schedule.next_run_at == SLOT + timedelta(days=7)
    assert len(mail.outbox) == 3
    by_address = {m.to[0]: m for m in mail.outbox}
    for viewer in ("manager", "director"):
        message = by_address[sales.people[viewer].email]
        assert "周报商机" in message.subject
        (name, content, mimetype) = message.attachments[0]
        assert name.endswith(".xlsx") and "spreadsheetml" in mimetype
        rows = _xlsx_rows(content)
        *body, total = rows[1:]  # the last row holds the totals
        got = {r[0]: (r[1], Decimal(str(r[2])).quantize(Decimal("0.01"))) for r in body}
        expected = _expected_rows(sales, viewer)
        assert got == expected
        assert total[1] == sum(v[0] for v in expected.values())
    # the rep may not export: no attachment, but the link and the notification
    rep_mail = by_address[sales.people["rep_a"].email]
    assert rep_mail.attachments == []
    note = Notification.objects.get(recipient=sales.people["rep_a"], verb="report.delivered")
    delivery = deliveries.get(recipient=sales.people["rep_a"])
    assert note.url == reverse("analytics:delivery_detail", args=[delivery.pk])
    assert delivery.rows == 1
    page = login_client(sales.user("rep_a")).get(note.url)
    assert page.status_code == 200
    text = page.content.decode()
    assert NAMES["rep_a"] in text and NAMES["rep_b"] not in text


def test_two_interleaved_runs_deliver_once(sales: Sales) -> None:
    # R8.8: two schedulers read the same due slot; the unique key and the conditional claim
    # make every delivery happen once
    schedule = _schedule(sales, ["manager", "director"])
    now = SLOT + timedelta(minutes=1)
    with time_machine.travel(now, tick=False):
        first = report_tasks.due_schedules(schedule.org_id, now)
        second = report_tasks.due_schedules(schedule.org_id, now)
        assert report_tasks.plan(first, now) == 1
        assert report_tasks.plan(second, now) == 0  # already advanced by the first
        stale = list(ReportDelivery.objects.filter(schedule=schedule))
        assert len(stale) == 2
        assert report_tasks.send_pending(schedule.org_id, now) == 2
        # the second worker still holds the rows it read as pending
        assert sum(report_tasks.deliver(d, now) for d in stale) == 0
    assert len(mail.outbox) == 2
    assert Notification.objects.filter(verb="report.delivered").count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_jobs_deliver_each_report_once() -> None:
    # R8.8: four workers run the job at the same moment (threads with their own connections,
    # on SQLite and PostgreSQL): every recipient gets one delivery, one notification, one mail
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    s = build_sales()
    schedule = _schedule(s, ["manager", "director", "rep_a"])
    barrier = threading.Barrier(4)
    now = SLOT + timedelta(minutes=2)

    def attempt(_i: int) -> int:
        try:
            barrier.wait()
            return report_tasks.run_all(now)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        sent = list(pool.map(attempt, range(4)))
    assert sum(sent) == 3, sent
    assert ReportDelivery.objects.filter(schedule=schedule, status="sent").count() == 3
    assert Notification.objects.filter(verb="report.delivered").count() == 3
    assert len(mail.outbox) == 3
    assert report_tasks.run_all(now) == 0


def test_a_crash_between_claim_and_send_is_retried_once(
    sales: Sales, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R8.8: a worker dying after the delivery row exists (and after claiming it) leaves it
    # pending; the next run sends it, once
    schedule = _schedule(sales, ["director"])
    calls = {"n": 0}
    real_send = report_tasks.EmailMessage.send

    def dying_send(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt  # the process is killed mid-send
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(report_tasks.EmailMessage, "send", dying_send)
    now = SLOT + timedelta(minutes=1)
    with time_machine.travel(now, tick=False), pytest.raises(KeyboardInterrupt):
        report_tasks.run_all()
    delivery = ReportDelivery.objects.get(schedule=schedule)
    assert delivery.status == "pending"  # the claim rolled back with the crash
    assert not Notification.objects.filter(verb="report.delivered").exists()
    assert mail.outbox == []
    with time_machine.travel(now + timedelta(minutes=15), tick=False):
        assert report_tasks.run_all() == 1
        assert report_tasks.run_all() == 0
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert len(mail.outbox) == 1
    assert Notification.objects.filter(verb="report.delivered").count() == 1


def test_a_failing_mail_server_keeps_the_delivery_pending_then_gives_up(
    sales: Sales, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R8.8: an error is recorded and retried for a day, then the delivery is marked failed
    schedule = _schedule(sales, ["director"])

    def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise OSError("connection refused")

    monkeypatch.setattr(report_tasks.EmailMessage, "send", broken)
    with time_machine.travel(SLOT + timedelta(minutes=1), tick=False):
        assert report_tasks.run_all() == 0
    delivery = ReportDelivery.objects.get(schedule=schedule)
    assert delivery.status == "pending" and "connection refused" in delivery.error
    with time_machine.travel(SLOT + timedelta(days=2), tick=False):
        report_tasks.send_pending(schedule.org_id, SLOT + timedelta(days=2))
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert not Notification.objects.filter(verb="report.delivered").exists()


def test_a_recipient_who_left_is_not_sent_anything(sales: Sales) -> None:
    # R8.8: a recipient deactivated after scheduling receives nothing
    schedule = _schedule(sales, ["manager", "rep_b"])
    from crm.org import services as org_services

    org_services.deactivate_user(
        actor=sales.w.admin, user=fresh(sales.people["rep_b"]), transfer_to=sales.user("manager")
    )
    with time_machine.travel(SLOT + timedelta(minutes=1), tick=False):
        assert report_tasks.run_all() == 1
    assert [m.to[0] for m in mail.outbox] == [sales.people["manager"].email]
    assert not ReportDelivery.objects.filter(schedule=schedule, recipient=sales.people["rep_b"])


def test_schedule_validation(sales: Sales) -> None:
    # R8.8: recipients are active colleagues of the organisation who may view reports
    director = sales.user("director")
    report = report_services.save_report(actor=director, name="校验", definition=DEF)
    other = build_sales()
    nobody = sales.w.users["nobody"]
    bad_cases: list[tuple[dict[str, Any], list[Any], str]] = [
        ({"frequency": "daily"}, [director.pk], "frequency"),
        ({"frequency": "weekly", "weekday": 7}, [director.pk], "weekday"),
        ({"frequency": "monthly", "day_of_month": 31}, [director.pk], "day_of_month"),
        ({"frequency": "weekly", "hour": 24}, [director.pk], "hour"),
        ({"frequency": "weekly"}, [], "recipients"),
        ({"frequency": "weekly"}, [other.people["director"].pk], "recipients"),
        ({"frequency": "weekly"}, [nobody.pk], "recipients"),
        ({"frequency": "weekly"}, [2**80], "recipients"),
    ]
    for data, people, field_name in bad_cases:
        with pytest.raises(ValidationFailed) as exc:
            report_services.save_schedule(
                actor=director, report=report, data=data, recipients=people
            )
        assert field_name in exc.value.field_errors, (data, exc.value.field_errors)
    # a colleague cannot schedule a private report they do not see
    with pytest.raises(NotFound):
        report_services.save_schedule(
            actor=sales.user("rep_a"),
            report=report,
            data={"frequency": "weekly"},
            recipients=[sales.people["rep_a"].pk],
        )
    assert not ReportSchedule.objects.exists()


def test_schedule_page_saves_and_lists_deliveries(sales: Sales) -> None:
    # R8.8: the schedule page: weekly or monthly, recipients, deliveries with their status
    manager = sales.user("manager")
    report = report_services.save_report(actor=manager, name="月报", definition=DEF)
    client = login_client(manager)
    url = reverse("analytics:report_schedule", args=[report.pk])
    assert client.get(url).status_code == 200
    bad = client.post(url, {"frequency": "monthly", "day_of_month": "1", "hour": "9"})
    assert bad.status_code == 200 and 'data-error="recipients"' in bad.content.decode()
    response = client.post(
        url,
        {
            "frequency": "monthly",
            "day_of_month": "1",
            "hour": "9",
            "recipients": [str(manager.pk), str(sales.people["rep_a"].pk)],
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    schedule = ReportSchedule.objects.get(report=report)
    assert schedule.frequency == "monthly" and schedule.day_of_month == 1 and schedule.hour == 9
    assert schedule.next_run_at is not None
    assert schedule.next_run_at.astimezone(TZ).hour == 9
    assert schedule.next_run_at.astimezone(TZ).day == 1
    with time_machine.travel(schedule.next_run_at + timedelta(minutes=1), tick=False):
        assert report_tasks.run_all() == 2
    page = client.get(url).content.decode()
    assert page.count("data-delivery=") == 2
    # the rep sees the delivery addressed to them, not the manager's schedule
    rep_client = login_client(sales.user("rep_a"))
    assert rep_client.get(reverse("analytics:schedule_edit", args=[schedule.pk])).status_code == 404
    manager_delivery = ReportDelivery.objects.get(schedule=schedule, recipient=manager)
    assert (
        rep_client.get(reverse("analytics:delivery_detail", args=[manager_delivery.pk])).status_code
        == 404
    )
    # deleting the schedule
    assert client.post(reverse("analytics:schedule_delete", args=[schedule.pk])).status_code == 302
    assert not ReportSchedule.objects.filter(pk=schedule.pk).exists()
    assert Event.objects.filter(verb="report.unscheduled").exists()
