"""/api/v1/analytics/ (H-DASH): dashboard figures, key customers, stages by rep, behaviour, the
targets list and the grid save — the same numbers as the selectors, scoped to the caller, bad
input answered with ErrorOut, another organisation never visible."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from crm.analytics import targets
from crm.analytics.models import Target
from tests.analytics.test_dashboards import Q2, Sales, build_sales, expected, pct

BASE = "/api/v1/analytics"
D = Decimal
Q2_QUERY = "period=custom&date_from=2026-04-01&date_to=2026-06-30"


@pytest.fixture
def sales(db: None, frozen: Any) -> Sales:
    return build_sales()


@pytest.fixture
def frozen() -> Any:
    import time_machine

    from tests.analytics.test_dashboards import NOW

    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def put(client: Any, body: Any) -> Any:
    return client.put(f"{BASE}/targets", data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("viewer", ["rep_a", "manager", "director"])
def test_dashboard_figures_follow_the_scope(sales: Sales, api_client: Any, viewer: str) -> None:
    # R8.1 via the API: the cards equal the independent computation for each scope
    r = api_client(sales.user(viewer)).get(f"{BASE}/dashboard?{Q2_QUERY}")
    assert r.status_code == 200, r.content
    body = r.json()
    want = expected(sales, viewer, *Q2)
    cards = body["cards"]
    assert D(cards["signed"]) == want["signed"]
    assert D(cards["collected"]) == want["collected"]
    assert D(cards["renewal"]) == want["renewal"]
    assert cards["new_customers"] == want["new_customers"]
    rate = pct(want["collected"], want["due"])
    assert (
        D(str(cards["collection_rate"])) if cards["collection_rate"] is not None else None
    ) == rate
    assert body["period"] == {"start": "2026-04-01", "end": "2026-06-30", "department_id": None}
    keys = [f["key"] for f in body["figures"]]
    assert keys[0] == "ranking" and keys[-1] == "trend"
    assert ("departments" in keys) == (viewer != "rep_a")
    ranking = body["figures"][0]["rows"]
    assert all(row["url"].startswith("/sales/contracts/") for row in ranking)


def test_other_endpoints(sales: Sales, api_client: Any) -> None:
    # R8.2, R8.3, R8.7 via the API
    client = api_client(sales.user("director"))
    r = client.get(f"{BASE}/key-customers")
    assert r.status_code == 200
    figures = {f["key"]: f for f in r.json()["figures"]}
    assert set(figures) == {"awaiting", "key_customers"}
    assert [D(row["signed_2y"]) for row in figures["key_customers"]["rows"]] == [
        D("80000.00"),
        D("70000.00"),
        D("30000.00"),
    ]
    r = client.get(f"{BASE}/stages-by-rep")
    assert r.status_code == 200 and r.json()["pipeline_id"]
    assert client.get(f"{BASE}/stages-by-rep?pipeline_id=999999").status_code == 400
    r = client.get(f"{BASE}/behaviour?period=this_quarter")
    assert r.status_code == 200
    assert [f["key"] for f in r.json()["figures"]] == ["behaviour", "methods"]


def test_bad_selection_is_refused(sales: Sales, api_client: Any) -> None:
    # R8.1: a department outside the caller's scope, a reversed or incomplete range
    manager = api_client(sales.user("manager"))
    sales2 = sales.world.depts["sales2"].pk
    r = manager.get(f"{BASE}/dashboard?department_id={sales2}")
    assert r.status_code == 400
    assert "department_id" in json.dumps(r.json())
    assert manager.get(f"{BASE}/dashboard?period=custom&date_from=2026-05-01").status_code == 400
    r = manager.get(f"{BASE}/dashboard?period=custom&date_from=2026-05-01&date_to=2026-04-01")
    assert r.status_code == 400
    assert manager.get(f"{BASE}/dashboard?period=fortnight").status_code == 422
    east = sales.world.depts["east"].pk
    r = manager.get(f"{BASE}/dashboard?department_id={east}&{Q2_QUERY}")
    assert r.status_code == 200
    assert D(r.json()["cards"]["signed"]) == D("160000.00")


def test_targets_put_and_list(sales: Sales, api_client: Any) -> None:
    # R8.6 via the API: PUT a grid (configure), list targets inside the scope
    director = api_client(sales.user("director"))
    body = {
        "metric": "signed",
        "period": "month",
        "year": 2026,
        "level": "rep",
        "cells": [
            {"id": sales.rep_a.pk, "period_start": "2026-04-01", "value": "30000"},
            {"id": sales.rep_c.pk, "period_start": "2026-04-01", "value": 50000},
        ],
    }
    r = put(director, body)
    assert r.status_code == 200, r.content
    assert r.json() == {"created": 2, "updated": 0, "deleted": 0, "unchanged": 0}
    r = api_client(sales.user("rep_a")).get(f"{BASE}/targets?year=2026")
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(i["user_id"], i["value"]) for i in items] == [(sales.rep_a.pk, "30000.00")]
    r = api_client(sales.user("manager")).get(f"{BASE}/targets?metric=signed&level=rep")
    assert {i["user_id"] for i in r.json()["items"]} == {sales.rep_a.pk}
    assert len(director.get(f"{BASE}/targets").json()["items"]) == 2


def test_targets_put_refusals(sales: Sales, api_client: Any) -> None:
    # R8.6: a rep or manager may not set targets (403); bad cells 400 with nothing saved;
    # someone outside the configure scope or another organisation 404
    body = {
        "metric": "collected",
        "period": "quarter",
        "year": 2026,
        "level": "rep",
        "cells": [{"id": sales.rep_a.pk, "period_start": "2026-04-01", "value": "1"}],
    }
    for who in ("rep_a", "manager"):
        r = put(api_client(sales.user(who)), body)
        assert r.status_code == 403
        assert r.json()["code"] == "permission_denied"
    director = api_client(sales.user("director"))
    bad = {
        **body,
        "cells": [
            {"id": sales.rep_a.pk, "period_start": "2026-04-01", "value": "1000"},
            {"id": sales.rep_b.pk, "period_start": "2026-04-01", "value": "-3"},
            {"id": sales.rep_c.pk, "period_start": "2026-07-01", "value": "十万"},
        ],
    }
    r = put(director, bad)
    assert r.status_code == 400
    errors = json.dumps(r.json())
    assert targets.cell_name(sales.rep_b.pk, date(2026, 4, 1)) in errors
    assert targets.cell_name(sales.rep_c.pk, date(2026, 7, 1)) in errors
    assert Target.objects.count() == 0
    other = build_sales("另一家接口公司")
    r = put(
        director,
        {**body, "cells": [{"id": other.rep_a.pk, "period_start": "2026-04-01", "value": "1"}]},
    )
    assert r.status_code == 404
    assert Target.objects.count() == 0
    # the other organisation's director sees none of our targets and none of our figures
    put(director, body)
    theirs = api_client(other.user("director"))
    assert theirs.get(f"{BASE}/targets").json()["items"] == []
    assert D(theirs.get(f"{BASE}/dashboard?{Q2_QUERY}").json()["cards"]["signed"]) == D("230000.00")
    assert Target.objects.filter(org=other.world.org).count() == 0


def test_nobody_without_analytics_view(sales: Sales, api_client: Any) -> None:
    # R8: every figure needs analytics:view
    nobody = api_client(sales.world.users["nobody"])
    for path in ("dashboard", "key-customers", "stages-by-rep", "behaviour", "targets"):
        assert nobody.get(f"{BASE}/{path}").status_code == 403
