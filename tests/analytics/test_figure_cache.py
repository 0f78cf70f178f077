"""The figure cache (issue 6, R8; crm.core.figure_cache): the dashboard, funnel and forecast are
cached per viewer until the organisation's next change, and never shown to anyone else."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.analytics import dashboards
from crm.analytics.forecast import Filters, Source, forecast
from crm.analytics.funnel import FunnelFilters, funnel_figure
from crm.core import figure_cache
from crm.finance import receipt_services
from crm.pipeline.models import Pipeline
from crm.sales.models import Contract
from tests.analytics.test_dashboards import Q2, Sales, expected, fresh, frozen, sales, sel

__all__ = ["frozen", "sales"]  # fixtures


def _queries(call: Any) -> tuple[Any, int]:
    with CaptureQueriesContext(connection) as ctx:
        value = call()
    return value, len(ctx.captured_queries)


def test_a_cached_dashboard_costs_one_query_and_says_the_same(sales: Sales) -> None:
    # R8.1 issue 6 (≤ 30 ms cached): the second look reads the change marker only
    one, two = sel(sales, "director"), sel(sales, "director")
    first, cold = _queries(lambda: dashboards.dashboard(one))
    again, warm = _queries(lambda: dashboards.dashboard(two))
    assert cold > 5 and warm == 1
    assert again.cards == first.cards
    assert [f.rows for f in again.figures] == [f.rows for f in first.figures]
    assert again.sel.viewer.pk == sales.director.pk


def test_a_change_anywhere_in_the_organisation_recomputes(sales: Sales) -> None:
    # R8.1 R7.3: a receipt recorded after the first look shows at once
    before = dashboards.dashboard(sel(sales, "director")).cards["collected"]
    contract = Contract.objects.get(pk=sales.contracts[1]["pk"])  # k2: 20,000 of 50,000 paid
    receipt_services.record_receipt(
        actor=fresh(sales.director),
        contract=contract,
        data={"amount": "1234.56", "received_on": date(2026, 6, 14)},
    )
    after = dashboards.dashboard(sel(sales, "director")).cards["collected"]
    assert after - before == Decimal("1234.56")


def test_nobody_sees_figures_cached_for_someone_else(sales: Sales) -> None:
    # R1.2 issue 6: "never show another scope's cached figures": the director looks first,
    # then a rep and the manager each get exactly their own scope's figures
    dashboards.dashboard(sel(sales, "director"))
    for viewer in ("rep_a", "manager", "rep_c"):
        cards = dashboards.dashboard(sel(sales, viewer)).cards
        want = expected(sales, viewer, *Q2)
        assert (cards["signed"], cards["collected"], cards["new_customers"]) == (
            want["signed"],
            want["collected"],
            want["new_customers"],
        ), viewer


def test_other_parameters_are_other_figures(sales: Sales) -> None:
    # a cached quarter is not answered for another period or department
    q2 = dashboards.dashboard(sel(sales, "director")).cards["signed"]
    may = dashboards.dashboard(sel(sales, "director", date(2026, 5, 1), date(2026, 6, 1)))
    assert (
        may.cards["signed"]
        == expected(sales, "director", date(2026, 5, 1), date(2026, 6, 1))["signed"]
    )
    assert may.cards["signed"] != q2
    east = sales.world.depts["east"]
    narrowed = dashboards.dashboard(sel(sales, "director", dept=east)).cards["signed"]
    assert narrowed == expected(sales, "manager", *Q2)["signed"] - 0  # 华东组 = reps a and b
    assert narrowed != q2


def test_funnel_and_forecast_are_cached_per_viewer(sales: Sales) -> None:
    # R8.4 R8.5 issue 6
    pipeline = Pipeline.objects.filter(org=sales.world.org).order_by("pk").first()
    assert pipeline is not None
    f = FunnelFilters(start=date(2026, 1, 1), last=date(2026, 6, 30), pipeline=pipeline)
    director, manager = sales.user("director"), sales.user("manager")
    first, cold = _queries(lambda: funnel_figure(director, f))
    again, warm = _queries(lambda: funnel_figure(director, f))
    assert warm == 1 and cold > warm and again.rows == first.rows
    quarter = Filters("quarter", date(2026, 4, 1))
    fc, cold = _queries(lambda: forecast(Source(user=manager), quarter))
    again_fc, warm = _queries(lambda: forecast(Source(user=manager), quarter))
    assert warm == 1 and cold > warm and again_fc.reps == fc.reps
    # the rep's own forecast is computed for the rep, not taken from the manager's
    rep_fc = forecast(Source(user=sales.user("rep_c")), Filters("quarter", date(2026, 4, 1)))
    assert {r["owner_id"] for r in rep_fc.reps} <= {sales.rep_c.pk}


def test_the_cache_can_be_turned_off(sales: Sales, settings: Any) -> None:
    settings.CRM_FIGURE_CACHE_SECONDS = 0
    dashboards.dashboard(sel(sales, "director"))
    two = sel(sales, "director")
    _board, again = _queries(lambda: dashboards.dashboard(two))
    assert again > 5


def test_the_marker_moves_with_every_audited_write(sales: Sales) -> None:
    org_id = sales.world.org.pk
    before = figure_cache.change_marker(org_id)
    contract = Contract.objects.get(pk=sales.contracts[1]["pk"])
    receipt_services.record_receipt(
        actor=fresh(sales.director),
        contract=contract,
        data={"amount": "1.00", "received_on": date(2026, 6, 14)},
    )
    assert figure_cache.change_marker(org_id) > before
    assert figure_cache.change_marker(10**9) == 0
