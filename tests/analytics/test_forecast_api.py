"""/api/v1/forecast/: funnel, forecast, commit, adjust, accuracy and backtest, with their
validation and permission errors (R8.4, R8.5; H-FORECAST)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from crm.analytics.forecast import period_start
from crm.analytics.models import ForecastCommit
from tests.analytics.test_funnel import LAST, START, build_sales, fresh, scenario


@pytest.mark.django_db
def test_funnel_and_forecast_reads(api_client) -> None:
    # R8.4, R8.5: the API answers the same figures as the selectors, in the caller's scope
    s = build_sales()
    scenario(s)
    director = api_client(s.user("director"))
    r = director.get(f"/api/v1/forecast/funnel?date_from={START}&date_to={LAST}")
    assert r.status_code == 200, r.content
    stages = r.json()["stages"]
    assert stages[1]["entered"] == 5 and stages[1]["conversion"] == "60.0"
    rep = api_client(s.user("rep_a"))
    mine = rep.get(f"/api/v1/forecast/funnel?date_from={START}&date_to={LAST}").json()["stages"]
    assert mine[1]["entered"] == 3
    # bad filters: 400 with field errors; ids outside the organisation: 404
    bad = director.get("/api/v1/forecast/funnel?date_from=2026-03-01&date_to=2026-01-01")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "date_to"
    other = build_sales("另一家公司")
    assert (
        director.get(f"/api/v1/forecast/funnel?owner_id={other.people['rep_a'].pk}").status_code
        == 404
    )
    assert (
        director.get(
            f"/api/v1/forecast/funnel?department_id={other.w.depts['east'].pk}"
        ).status_code
        == 404
    )
    # a rep cannot filter on a department outside their scope
    assert (
        rep.get(f"/api/v1/forecast/funnel?department_id={s.w.depts['sales2'].pk}").status_code
        == 404
    )
    # the forecast of the current month
    today = timezone.localdate()
    r = director.get("/api/v1/forecast/?period=month")
    assert r.status_code == 200
    body = r.json()
    assert body["start"] == period_start("month", today).isoformat()
    assert body["min_samples"] == 20
    assert director.get("/api/v1/forecast/?period=month&start=2026-03-02").status_code == 400
    assert director.get("/api/v1/forecast/?period=week").status_code in (400, 422)
    # no analytics permission: 403
    nobody = api_client(fresh(s.w.users["nobody"]))
    assert nobody.get("/api/v1/forecast/").status_code == 403


@pytest.mark.django_db
def test_commit_adjust_accuracy_backtest(api_client) -> None:
    # R8.5: commit own number; manager adjusts; errors are ErrorOut
    s = build_sales()
    start = period_start("month", timezone.localdate()).isoformat()
    rep = api_client(s.user("rep_a"))
    r = rep.post(
        "/api/v1/forecast/commits",
        {"period": "month", "period_start": start, "committed": "1234.5", "best_case": "2000"},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    commit_id = r.json()["id"]
    assert r.json()["committed"] == "1234.50"
    bad = rep.post(
        "/api/v1/forecast/commits",
        {"period": "month", "period_start": start, "committed": "abc", "best_case": "1"},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert {e["field"] for e in bad.json()["errors"]} == {"committed"}
    url = f"/api/v1/forecast/commits/{commit_id}/adjust"
    payload = {"adjusted": "1000", "note": "保守"}
    assert rep.post(url, payload, content_type="application/json").status_code == 403
    other_rep = api_client(s.user("rep_c"))
    assert other_rep.post(url, payload, content_type="application/json").status_code == 404
    manager = api_client(s.user("manager"))
    r = manager.post(url, payload, content_type="application/json")
    assert r.status_code == 200 and r.json()["adjusted"] == "1000.00"
    assert ForecastCommit.objects.get(pk=commit_id).adjusted == Decimal("1000.00")
    # accuracy and backtest answer (no past snapshots yet)
    acc = manager.get("/api/v1/forecast/accuracy?period=month")
    assert acc.status_code == 200 and acc.json()["rows"] == []
    bt = manager.get(
        f"/api/v1/forecast/backtest?period=month&start={start}&as_of={timezone.localdate()}"
    )
    assert bt.status_code == 200 and bt.json()["forecast"] == "0.00"
    assert (
        manager.get(
            "/api/v1/forecast/backtest?period=month&start=2026-03-05&as_of=2026-03-01"
        ).status_code
        == 400
    )
