"""The forecast (R8.5): weighted pipeline exact to the fen, the forecast from history with its
fallback, commits and adjustments with their permissions and audit events, weekly snapshots
exactly once, actuals and accuracy, the backtest on a world with a known answer, scopes and
other tenants, and the page with its exports (H-FORECAST)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.analytics import forecast_services as fsvc
from crm.analytics.forecast import (
    Filters,
    Source,
    accuracy_rows,
    backtest,
    forecast,
    historical_rates,
    mape,
)
from crm.analytics.forecast_tasks import snapshot_all
from crm.analytics.models import ForecastCommit, ForecastSnapshot
from crm.core.errors import NotFound, PermissionDenied, ValidationFailed
from crm.core.models import Event
from crm.pipeline.models import Opportunity
from tests.analytics.test_funnel import TZ, Sales, at, build_sales, fresh
from tests.conftest import login_client

MARCH = date(2026, 3, 1)
TODAY = date(2026, 3, 10)  # a Tuesday


def fen(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


def pipeline_in_march(s: Sales) -> list[tuple[str, Decimal, int, int]]:
    """Open opportunities closing in March: (owner, amount, probability, stage index)."""
    plan = [
        ("rep_a", Decimal("12345.67"), 35, 1),
        ("rep_a", Decimal("999.99"), 15, 0),
        ("rep_b", Decimal("50000.05"), 55, 2),
        ("rep_c", Decimal("7777.77"), 33, 1),
    ]
    for owner, amount, prob, stage in plan:
        s.opportunity(
            owner,
            at(30),
            stage=stage,
            expected_amount=str(amount),
            probability=prob,
            expected_close_date="2026-03-20",
        )
    # closing in April: not in March's forecast
    s.opportunity("rep_a", at(30), expected_amount="5000", expected_close_date="2026-04-02")
    return plan


@pytest.mark.django_db
def test_weighted_pipeline_is_exact_to_the_fen_per_scope() -> None:
    # R8.5: weighted = Σ amount × probability ÷ 100, half-up once; per rep, team; per scope
    s = build_sales()
    plan = pipeline_in_march(s)
    won = s.opportunity("rep_a", at(30), expected_amount="100", expected_close_date="2026-03-05")
    s.win(won, datetime(2026, 3, 5, 10, tzinfo=TZ), amount="8888.88")
    for viewer, owners in (
        ("rep_a", {"rep_a"}),
        ("manager", {"rep_a", "rep_b"}),
        ("director", {"rep_a", "rep_b", "rep_c"}),
    ):
        fc = forecast(Source(user=s.user(viewer)), Filters(kind="month", start=MARCH))
        rows = [p for p in plan if p[0] in owners]
        assert fc.total.weighted == fen(sum((a * p for _, a, p, _ in rows), Decimal(0)) / 100)
        assert fc.total.open_amount == sum((a for _, a, _, _ in rows), Decimal(0))
        assert fc.total.won == (Decimal("8888.88") if "rep_a" in owners else 0)
        for rep_row in fc.reps:
            key = next(k for k, u in s.people.items() if u.pk == rep_row["owner_id"])
            mine = [p for p in rows if p[0] == key]
            assert rep_row["weighted"] == fen(sum((a * p for _, a, p, _ in mine), Decimal(0)) / 100)
    # a department filter (the tree below 销售一部) and the quarter
    fc = forecast(
        Source(user=s.user("director")),
        Filters(kind="quarter", start=date(2026, 1, 1), department=s.w.depts["sales1"]),
    )
    rows = [p for p in plan if p[0] in ("rep_a", "rep_b")]
    assert fc.total.weighted == fen(sum((a * p for _, a, p, _ in rows), Decimal(0)) / 100)
    assert {t["team"] for t in fc.teams} == {"华东组", "华南组"}


@pytest.mark.django_db
def test_forecast_from_history_uses_own_win_rates_or_the_default() -> None:
    # R8.5: P(won | was in S) from closed opportunities; fewer than N samples: default probability
    s = build_sales()
    # history: 4 closed opportunities passed stage 1; 3 of them won
    for n in range(4):
        o = s.opportunity("rep_a", at(-50 + n), expected_amount="1")
        s.move(o, 1, at(-40 + n))
        if n < 3:
            s.win(o, at(-30 + n))
        else:
            s.lose(o, at(-30 + n))
    plan = pipeline_in_march(s)
    src = Source(user=s.user("director"))
    rates = historical_rates(src, min_samples=4)
    r1 = rates[s.stages[1].pk]
    assert (r1.samples, r1.won, r1.from_history) == (4, 3, True)
    assert rates[s.stages[0].pk].samples == 4  # they all started in stage 0
    # with N = 4: stages 0 and 1 use 3/4, stage 2 its default probability
    fc = forecast(src, Filters(kind="month", start=MARCH), min_samples=4)
    expected = Decimal(0)
    for _, amount, _, stage in plan:
        p = (
            Decimal(3) / 4
            if stage in (0, 1)
            else Decimal(s.stages[stage].default_probability) / 100
        )
        expected += amount * p
    assert fc.total.historical == fen(expected)
    # with the default N = 20 every stage falls back to its default probability
    fc = forecast(src, Filters(kind="month", start=MARCH))
    expected = sum(
        (a * Decimal(s.stages[st].default_probability) / 100 for _, a, _, st in plan), Decimal(0)
    )
    assert fc.total.historical == fen(expected)
    assert all(not r.from_history for r in fc.rates)


@pytest.mark.django_db
def test_product_filter_counts_the_product_lines() -> None:
    # R8.5: per product: the product's line amounts of the same opportunities
    s = build_sales()
    with time_machine.travel(at(30), tick=False):
        from crm.pipeline import opportunities as svc

        svc.create_opportunity(
            actor=s.user("rep_a"),
            customer=s.customer("rep_a"),
            data={"name": "两条产品线", "probability": 40, "expected_close_date": "2026-03-15"},
            lines=[
                {"product": "云平台", "quantity": "3", "unit_price": "1000.10"},
                {"product": "运维服务", "quantity": "1", "unit_price": "500"},
            ],
        )
    src = Source(user=s.user("director"))
    fc = forecast(src, Filters(kind="month", start=MARCH, product="云平台"))
    assert fc.total.open_amount == Decimal("3000.30")
    assert fc.total.weighted == fen(Decimal("3000.30") * 40 / 100)
    products = {p["product"]: p for p in forecast(src, Filters("month", MARCH)).products}
    assert products["运维服务"]["weighted"] == Decimal("200.00")


@pytest.mark.django_db
def test_another_tenant_is_never_counted_and_queries_do_not_grow() -> None:
    # R8.5: other organisations stay out; the forecast is a fixed number of queries
    s = build_sales()
    s.opportunity("rep_a", at(30), expected_amount="1", expected_close_date="2026-03-02")
    fsvc.commit(actor=s.user("rep_b"), period="month", start=MARCH, committed="1", today=TODAY)
    src = Source(user=s.user("director"))
    forecast(src, Filters("month", MARCH))  # the viewer's roles are read once per request
    with CaptureQueriesContext(connection) as few:
        forecast(src, Filters("month", MARCH))
    other = build_sales("另一家公司")
    pipeline_in_march(other)
    fsvc.commit(actor=other.user("rep_a"), period="month", start=MARCH, committed="1", today=TODAY)
    pipeline_in_march(s)
    fsvc.commit(actor=s.user("rep_c"), period="month", start=MARCH, committed="2", today=TODAY)
    src = Source(user=s.user("director"))
    fc = forecast(src, Filters("month", MARCH))
    assert {r["owner_id"] for r in fc.reps} <= {u.pk for u in s.people.values()}
    assert fc.committed == Decimal("3.00")
    with CaptureQueriesContext(connection) as many:
        forecast(src, Filters("month", MARCH))
    assert len(many) == len(few)


@pytest.mark.django_db
def test_commit_and_adjust_permissions_and_audit() -> None:
    # R8.5: a rep commits their own number; only their manager adjusts, with a note
    s = build_sales()
    rep_a, rep_c = s.user("rep_a"), s.user("rep_c")
    c = fsvc.commit(
        actor=rep_a,
        period="month",
        start=MARCH,
        committed="10000",
        best_case="15000",
        note="有把握",
        today=TODAY,
    )
    again = fsvc.commit(actor=rep_a, period="month", start=MARCH, committed="12000", today=TODAY)
    assert again.pk == c.pk and again.committed == Decimal("12000.00")
    assert Event.objects.filter(verb="forecast.committed", object_id=str(c.pk)).count() == 2
    # never for another rep, never for a finished period, never below zero
    with pytest.raises(PermissionDenied):
        fsvc.commit(actor=rep_a, owner=rep_c, period="month", start=MARCH, committed="1")
    with pytest.raises(ValidationFailed) as bad:
        fsvc.commit(actor=rep_a, period="month", start=date(2026, 1, 1), committed="1", today=TODAY)
    assert "period_start" in bad.value.field_errors
    with pytest.raises(ValidationFailed) as bad:
        fsvc.commit(
            actor=rep_a, period="month", start=date(2026, 3, 2), committed="-5", today=TODAY
        )
    assert {"period_start", "committed"} <= set(bad.value.field_errors)
    with pytest.raises(ValidationFailed):
        fsvc.commit(actor=rep_a, period="week", start=MARCH, committed="1", today=TODAY)
    # a rep cannot adjust (not even their own); the manager of 销售一部 can, with a note
    with pytest.raises(PermissionDenied):
        fsvc.adjust(actor=rep_a, commit_id=c.pk, adjusted="9000", note="x")
    with pytest.raises(NotFound):
        fsvc.adjust(actor=s.user("rep_b"), commit_id=c.pk, adjusted="9000", note="x")
    manager = s.user("manager")
    with pytest.raises(ValidationFailed):
        fsvc.adjust(actor=manager, commit_id=c.pk, adjusted="9000", note="")
    adjusted = fsvc.adjust(actor=manager, commit_id=c.pk, adjusted="9000", note="客户预算推迟")
    assert (adjusted.adjusted, adjusted.adjusted_by_id) == (Decimal("9000.00"), manager.pk)
    assert Event.objects.filter(verb="forecast.adjusted", object_id=str(c.pk)).count() == 1
    # outside the manager's tree: not found; own commit: refused; director: anyone
    c_c = fsvc.commit(actor=rep_c, period="month", start=MARCH, committed="1", today=TODAY)
    with pytest.raises(NotFound):
        fsvc.adjust(actor=manager, commit_id=c_c.pk, adjusted="2", note="x")
    own = fsvc.commit(actor=manager, period="month", start=MARCH, committed="1", today=TODAY)
    with pytest.raises(PermissionDenied):
        fsvc.adjust(actor=manager, commit_id=own.pk, adjusted="2", note="x")
    fsvc.adjust(actor=s.user("director"), commit_id=c_c.pk, adjusted="2", note="总监调整")
    # another organisation's director: not found
    other = build_sales("另一家公司")
    with pytest.raises(NotFound):
        fsvc.adjust(actor=other.user("director"), commit_id=c.pk, adjusted="1", note="x")
    # the forecast shows commit and the manager's call (adjusted, else the commit)
    fc = forecast(Source(user=s.user("director")), Filters("month", MARCH))
    assert fc.committed == Decimal("12002.00")
    assert fc.adjusted == Decimal("9003.00")


@pytest.mark.django_db
def test_weekly_snapshots_once_per_key_then_actuals_and_accuracy() -> None:
    # R8.5: the job run twice (and on another day of the same week) writes one row per
    # (week, rep, period); after the period, actual = won amount; accuracy per method
    s = build_sales()
    plan = pipeline_in_march(s)
    fsvc.commit(actor=s.user("rep_a"), period="month", start=MARCH, committed="5000", today=TODAY)
    with time_machine.travel(datetime(2026, 3, 2, 7, tzinfo=TZ), tick=False):  # a Monday
        snapshot_all()
        snapshot_all()
    with time_machine.travel(datetime(2026, 3, 4, 7, tzinfo=TZ), tick=False):
        assert fsvc.take_snapshots(s.w.org.pk, date(2026, 3, 4)) == 0
    rows = ForecastSnapshot.objects.filter(org=s.w.org)
    keys = list(rows.values_list("taken_on", "owner_id", "period", "period_start"))
    assert len(keys) == len(set(keys)) == 6  # 3 reps × (month, quarter)
    month_a = rows.get(owner=s.people["rep_a"], period="month")
    mine = [p for p in plan if p[0] == "rep_a"]
    assert month_a.weighted == fen(sum((a * p for _, a, p, _ in mine), Decimal(0)) / 100)
    assert month_a.committed == Decimal("5000.00") and month_a.taken_on == date(2026, 3, 2)
    # a second week adds rows; rep_a wins 6000 in March
    o = Opportunity.objects.filter(owner=s.people["rep_a"], expected_amount="12345.67").get()
    s.win(o, datetime(2026, 3, 12, 10, tzinfo=TZ), amount="6000")
    fsvc.take_snapshots(s.w.org.pk, date(2026, 3, 16))
    assert rows.filter(period="month").count() == 6
    # the month is over: actuals filled (set-based), quarter still open
    # (March and the first quarter both ended on 31 March: 6 + 6 rows)
    assert fsvc.fill_actuals(s.w.org.pk, date(2026, 4, 1)) == 12
    assert fsvc.fill_actuals(s.w.org.pk, date(2026, 4, 1)) == 0
    assert set(
        rows.filter(owner=s.people["rep_a"], period="month").values_list("actual", flat=True)
    ) == {Decimal("6000.00")}
    assert set(
        rows.filter(owner=s.people["rep_b"], period="month").values_list("actual", flat=True)
    ) == {Decimal("0.00")}
    assert not rows.filter(actual__isnull=True).exists()
    # accuracy (first snapshot of March) for the director and for rep_a
    acc = accuracy_rows(Source(user=s.user("director")), "month", date(2026, 4, 2))
    assert len(acc) == 1 and acc[0]["taken_on"] == date(2026, 3, 2)
    first = ForecastSnapshot.objects.filter(org=s.w.org, period="month", taken_on=date(2026, 3, 2))
    weighted = sum((r.weighted for r in first), Decimal(0))
    assert acc[0]["weighted"] == weighted and acc[0]["actual"] == Decimal("6000.00")
    assert acc[0]["weighted_error"] == (abs(weighted - 6000) * 100 / 6000).quantize(
        Decimal("0.1"), ROUND_HALF_UP
    )
    # commit compared with the wins of the reps who committed (rep_a: 5000 vs 6000)
    assert acc[0]["committed_error"] == Decimal("16.7")
    assert mape(acc)["committed"] == Decimal("16.7")
    own = accuracy_rows(Source(user=s.user("rep_a")), "month", date(2026, 4, 2))
    assert own[0]["weighted"] == month_a.weighted


@pytest.mark.django_db
def test_backtest_rebuilds_the_forecast_known_at_a_past_day() -> None:
    # R8.5: backtest at D uses only history known at D; compared with actual wins
    s = build_sales()
    # before D (Feb 1): 2 opportunities passed stage 1 and closed: 1 won, 1 lost
    o1 = s.opportunity("rep_a", at(-40), expected_amount="1")
    s.move(o1, 1, at(-35))
    s.win(o1, at(-30), amount="1")
    o2 = s.opportunity("rep_a", at(-40), expected_amount="1")
    s.move(o2, 1, at(-35))
    s.lose(o2, at(-30))
    # open at D in stage 1, closing in March: 10000 and 3000 (the latter won after D)
    a = s.opportunity(
        "rep_a", at(10), stage=1, expected_amount="10000", expected_close_date="2026-03-10"
    )
    b = s.opportunity(
        "rep_b", at(12), stage=1, expected_amount="3000", expected_close_date="2026-03-15"
    )
    # after D: b is won in March for 3500; a third one is created after D (unknown at D)
    s.win(b, datetime(2026, 3, 15, 10, tzinfo=TZ), amount="3500")
    s.opportunity(
        "rep_a", at(50), stage=1, expected_amount="99999", expected_close_date="2026-03-20"
    )
    # another closed sample after D must not change the rate known at D
    o3 = s.opportunity("rep_a", at(40), expected_amount="1")
    s.move(o3, 1, at(41))
    s.lose(o3, at(42))
    d = datetime(2026, 2, 1, tzinfo=TZ)
    result = backtest(Source(user=s.user("director")), "month", MARCH, d, min_samples=2)
    # known at D: rate of stage 1 = 1/2; open 13000 → forecast 6500; actual 3500
    assert result.open_amount == Decimal("13000.00")
    assert result.forecast == Decimal("6500.00")
    assert result.actual == Decimal("3500.00")
    assert result.error == Decimal("85.7")
    del a


@pytest.mark.django_db
def test_forecast_page_commit_adjust_and_exports() -> None:
    # R8.5: the page, its commit and adjust forms, and the Excel export of every figure
    s = build_sales()
    pipeline_in_march(s)
    with time_machine.travel(datetime(2026, 3, 10, 10, tzinfo=TZ), tick=True):
        rep = login_client(s.user("rep_a"))
        page = rep.get("/analytics/forecast/?period=month&start=2026-03-01")
        assert page.status_code == 200
        html = page.content.decode()
        assert 'id="fc-commit-form"' in html and 'id="fc-adjust"' not in html
        saved = rep.post(
            "/analytics/forecast/commit/",
            {"period": "month", "period_start": "2026-03-01", "committed": "8,000.5"},
        )
        assert saved.status_code == 302
        commit = ForecastCommit.objects.get(owner=s.people["rep_a"])
        assert commit.committed == Decimal("8000.50")
        assert (
            rep.post(
                f"/analytics/forecast/commits/{commit.pk}/adjust/",
                {"adjusted": "1", "adjusted_note": "x"},
            ).status_code
            == 403
        )
        manager = login_client(s.user("manager"))
        html = manager.get("/analytics/forecast/?period=month&start=2026-03-01").content.decode()
        assert f'data-commit="{commit.pk}"' in html
        done = manager.post(
            f"/analytics/forecast/commits/{commit.pk}/adjust/",
            {"adjusted": "7000", "adjusted_note": "保守一些"},
        )
        assert done.status_code == 302
        assert ForecastCommit.objects.get(pk=commit.pk).adjusted == Decimal("7000.00")
        # rep_c is outside the manager's tree: 404
        c_c = fsvc.commit(actor=s.user("rep_c"), period="month", start=MARCH, committed="1")
        assert (
            manager.post(
                f"/analytics/forecast/commits/{c_c.pk}/adjust/",
                {"adjusted": "1", "adjusted_note": "x"},
            ).status_code
            == 404
        )
        for key in (
            "forecast_reps",
            "forecast_teams",
            "forecast_products",
            "forecast_rates",
            "forecast_accuracy",
        ):
            export = manager.get(f"/analytics/forecast/?period=month&export={key}")
            assert export.status_code == 200, key
        assert rep.get("/analytics/forecast/?export=forecast_reps").status_code == 403
        assert (
            login_client(fresh(s.w.users["nobody"])).get("/analytics/forecast/").status_code == 403
        )


def _rep_table(html: str) -> str:
    start = html.index('id="table-forecast_reps"')
    return html[start : html.index("</table>", start)]


@pytest.mark.django_db
def test_forecast_page_shows_the_top_reps_with_a_link_to_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # R8.5 / issue 6: hundreds of reps are not one table row each; the totals cover them all
    from crm.analytics import forecast_views

    monkeypatch.setattr(forecast_views, "REP_LIMIT", 2)
    s = build_sales()
    pipeline_in_march(s)
    with time_machine.travel(datetime(2026, 3, 10, 10, tzinfo=TZ), tick=True):
        director = login_client(s.user("director"))
        url = "/analytics/forecast/?period=month&start=2026-03-01"
        top = director.get(url).content.decode()
        everyone = director.get(url + "&reps=all").content.decode()
        export = director.get(url + "&export=forecast_reps&format=csv")
    names = {k: s.people[k].display_name for k in ("rep_a", "rep_b", "rep_c")}
    # weighted: rep_b 27,500.03, rep_a 4,470.98, rep_c 2,566.66
    table = _rep_table(top)
    assert names["rep_b"] in table and names["rep_a"] in table and names["rep_c"] not in table
    assert table.index(names["rep_b"]) < table.index(names["rep_a"])
    assert "reps=all" in top and "data-figure-more" in top
    full = _rep_table(everyone)
    assert all(name in full for name in names.values()) and "data-figure-more" not in everyone
    # the same totals either way, and the export has every rep
    assert table[table.index("<tfoot>") :] == full[full.index("<tfoot>") :]
    body = b"".join(export.streaming_content).decode("utf-8-sig")
    assert all(name in body for name in names.values())
