"""/api/v1/reports/ (R8.8, H-REPORTS): reports CRUD, running saved and ad-hoc definitions over
the caller's scope, schedules CRUD and deliveries; validation answers ErrorOut, another
tenant's records answer 404."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.test import Client

from crm.analytics import report_tasks
from crm.analytics.models import ReportSchedule, SavedReport
from tests.analytics.test_reports import NAMES, SCOPE, Sales, build_sales

BASE = "/api/v1/reports/"
DEF = {
    "subject": "opportunities",
    "dimensions": ["owner"],
    "measures": ["count", "sum_expected_amount"],
}


@pytest.fixture
def sales(db: None) -> Sales:
    return build_sales()


def _post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, body, content_type="application/json")


def _put(client: Client, url: str, body: Any) -> Any:
    return client.put(url, body, content_type="application/json")


def _expected(s: Sales, viewer: str) -> dict[str, tuple[int, str]]:
    out: dict[str, list[Any]] = {}
    for o in s.opps:
        if o["owner"] in SCOPE[viewer]:
            row = out.setdefault(NAMES[o["owner"]], [0, Decimal("0")])
            row[0] += 1
            row[1] += o["amount"]
    return {k: (v[0], f"{v[1]:.2f}") for k, v in out.items()}


def test_reports_crud_and_run_over_the_callers_scope(
    sales: Sales, api_client: Callable[[Any], Client]
) -> None:
    # R8.8: list/create/get/update/delete, run a saved report over the caller's own scope
    director = api_client(sales.user("director"))
    rep = api_client(sales.user("rep_a"))
    created = _post(director, BASE, {"name": "商机汇总", "shared": "org", "definition": DEF})
    assert created.status_code == 201, created.content
    report_id = created.json()["id"]
    assert created.json()["is_mine"] is True
    for viewer, client in (("director", director), ("rep_a", rep)):
        run = client.get(f"{BASE}{report_id}/run")
        assert run.status_code == 200
        rows = {r["owner"]: (r["count"], r["sum_expected_amount"]) for r in run.json()["rows"]}
        assert rows == _expected(sales, viewer)
    listed = rep.get(BASE).json()
    assert [r["id"] for r in listed["items"]] == [report_id]
    assert listed["items"][0]["is_mine"] is False
    # only the owner changes or deletes it
    body = {"name": "改名", "shared": "private", "definition": DEF}
    assert _put(rep, f"{BASE}{report_id}", body).status_code == 403
    assert rep.delete(f"{BASE}{report_id}").status_code == 403
    updated = _put(director, f"{BASE}{report_id}", body)
    assert updated.status_code == 200 and updated.json()["shared"] == "private"
    assert rep.get(f"{BASE}{report_id}").status_code == 404  # private now
    assert director.delete(f"{BASE}{report_id}").status_code == 204
    assert not SavedReport.objects.filter(pk=report_id).exists()


def test_adhoc_run_and_validation_errors(sales: Sales, api_client: Callable[[Any], Client]) -> None:
    # R8.8: an ad-hoc definition; unknown fields are refused with ErrorOut, never a 500
    manager = api_client(sales.user("manager"))
    ok = _post(manager, f"{BASE}run", DEF)
    assert ok.status_code == 200
    rows = {r["owner"]: (r["count"], r["sum_expected_amount"]) for r in ok.json()["rows"]}
    assert rows == _expected(sales, "manager")
    assert ok.json()["totals"]["count"] == sum(v[0] for v in rows.values())
    bad = _post(manager, f"{BASE}run", {**DEF, "dimensions": ["owner__password"]})
    assert bad.status_code == 400
    assert bad.json()["code"] == "validation_error"
    assert bad.json()["errors"][0]["field"] == "dimensions"
    bad_filter = _post(manager, f"{BASE}run", {**DEF, "filters": {"owner": [2**70], "x": 1}})
    assert bad_filter.status_code == 400
    fields = {e["field"] for e in bad_filter.json()["errors"]}
    assert fields == {"filters.owner", "filters.x"}
    extra = _post(manager, f"{BASE}run", {**DEF, "raw_sql": "select 1"})
    assert extra.status_code == 422
    too_many = _post(manager, f"{BASE}run", {**DEF, "measures": ["count"] * 7})
    assert too_many.status_code == 422
    bad_name = _post(manager, BASE, {"name": "", "definition": DEF})
    assert bad_name.status_code == 422


def test_schedules_and_deliveries(sales: Sales, api_client: Callable[[Any], Client]) -> None:
    # R8.8: schedules CRUD and the deliveries list
    manager_user = sales.user("manager")
    manager = api_client(manager_user)
    report_id = _post(manager, BASE, {"name": "周报", "definition": DEF}).json()["id"]
    body = {
        "report_id": report_id,
        "frequency": "weekly",
        "weekday": 2,
        "hour": 9,
        "recipient_ids": [manager_user.pk, sales.people["rep_a"].pk],
    }
    created = _post(manager, f"{BASE}schedules", body)
    assert created.status_code == 201, created.content
    schedule = created.json()
    assert schedule["recipient_ids"] == sorted([manager_user.pk, sales.people["rep_a"].pk])
    assert schedule["next_run_at"] is not None
    bad = _post(manager, f"{BASE}schedules", {**body, "recipient_ids": [2**40]})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "recipients"
    assert _post(manager, f"{BASE}schedules", {**body, "hour": 24}).status_code == 422
    changed = _put(manager, f"{BASE}schedules/{schedule['id']}", {**body, "hour": 10})
    assert changed.status_code == 200 and changed.json()["hour"] == 10
    row = ReportSchedule.objects.get(pk=schedule["id"])
    assert row.next_run_at is not None
    with time_machine.travel(row.next_run_at + timedelta(minutes=1), tick=False):
        assert report_tasks.run_all() == 2
    mine = manager.get(f"{BASE}deliveries").json()
    assert mine["count"] == 2 and {d["status"] for d in mine["items"]} == {"sent"}
    rep = api_client(sales.user("rep_a"))
    theirs = rep.get(f"{BASE}deliveries").json()
    assert theirs["count"] == 1 and theirs["items"][0]["recipient_id"] == sales.people["rep_a"].pk
    assert rep.get(f"{BASE}schedules/{schedule['id']}").status_code == 404
    assert rep.delete(f"{BASE}schedules/{schedule['id']}").status_code == 404
    assert manager.delete(f"{BASE}schedules/{schedule['id']}").status_code == 204
    assert manager.get(f"{BASE}schedules").json()["count"] == 0


def test_another_tenant_can_neither_read_nor_change(
    sales: Sales, api_client: Callable[[Any], Client]
) -> None:
    # R8.8: reports and schedules of another organisation answer 404
    director = api_client(sales.user("director"))
    report_id = _post(director, BASE, {"name": "机密", "shared": "org", "definition": DEF}).json()[
        "id"
    ]
    schedule_id = _post(
        director,
        f"{BASE}schedules",
        {
            "report_id": report_id,
            "frequency": "monthly",
            "day_of_month": 3,
            "recipient_ids": [sales.people["director"].pk],
        },
    ).json()["id"]
    other = build_sales()
    stranger = api_client(other.user("director"))
    assert stranger.get(f"{BASE}{report_id}").status_code == 404
    assert stranger.get(f"{BASE}{report_id}/run").status_code == 404
    body = {"name": "x", "definition": DEF}
    assert _put(stranger, f"{BASE}{report_id}", body).status_code == 404
    assert stranger.delete(f"{BASE}{report_id}").status_code == 404
    assert stranger.get(f"{BASE}schedules/{schedule_id}").status_code == 404
    assert stranger.delete(f"{BASE}schedules/{schedule_id}").status_code == 404
    assert stranger.get(BASE).json()["count"] == 0
    sched = {
        "report_id": report_id,
        "frequency": "weekly",
        "recipient_ids": [other.people["director"].pk],
    }
    assert _post(stranger, f"{BASE}schedules", sched).status_code == 404
    assert SavedReport.objects.filter(pk=report_id, name="机密").exists()
    assert ReportSchedule.objects.filter(pk=schedule_id).exists()


def test_the_whitelist_is_listed(sales: Sales, api_client: Callable[[Any], Client]) -> None:
    # R8.8: the API documents each subject's dimensions, measures and filters
    fields = api_client(sales.user("rep_a")).get(f"{BASE}fields").json()
    by_subject = {f["subject"]: f for f in fields}
    assert set(by_subject) == {"customers", "opportunities", "followups", "contracts", "receipts"}
    assert "stage" in {d["key"] for d in by_subject["opportunities"]["dimensions"]}
