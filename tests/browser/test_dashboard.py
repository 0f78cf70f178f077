"""In Chromium (R8.1–R8.3, R8.6, R8.7): the director opens the executive dashboard (cards,
ranking and trend charts, the table view), sets a target in the grid, and opens key customers,
customers by stage and behaviour; the dashboard and the targets grid fit a 390 px phone. Any
script error or CSP violation fails the test (H-DASH)."""

from __future__ import annotations

from datetime import date

import pytest

from crm.analytics.models import Target
from tests.analytics.test_dashboards import build_sales
from tests.browser.conftest import PHONE, screenshot
from tests.browser.test_board import log_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

Q2 = "?period=custom&date_from=2026-04-01&date_to=2026-06-30"


def test_dashboard_targets_and_reports_on_desktop(new_page, live_server) -> None:
    sales = build_sales()
    director = sales.user("director")
    page = new_page()
    log_in(page, director)
    page.goto("/analytics/" + Q2)
    page.wait_for_selector("#chart-ranking canvas")
    page.wait_for_selector("#chart-trend canvas")
    assert page.inner_text("#card-signed") == "¥230,000.00"
    assert page.inner_text("#card-collected") == "¥130,000.00"
    assert "81.3%" in page.inner_text("#card-collection-rate")
    page.wait_for_timeout(1500)  # let the charts finish their animation
    screenshot(page, "analytics-dashboard")
    page.click("#figure-trend [data-figure-view=table]")
    page.wait_for_selector("#table-trend", state="visible")
    assert "2026-05" in page.inner_text("#table-trend")
    page.click("#figure-ranking [data-figure-view=table]")
    page.click(f"#table-ranking a:has-text('{sales.rep_b.display_name}')")
    page.wait_for_url("**/sales/contracts/**")
    assert f"owner_id={sales.rep_b.pk}" in page.url
    # the targets grid: the reps of 华东组, months of 2026
    east = sales.world.depts["east"].pk
    page.goto(
        f"/analytics/targets/?year=2026&period=month&metric=signed&level=rep&department={east}"
    )
    cell = f"input[name='c-{sales.rep_a.pk}-2026-05-01']"
    page.fill(cell, "45000")
    page.fill(f"input[name='c-{sales.rep_b.pk}-2026-05-01']", "-1")
    page.click("#target-save")
    page.wait_for_selector(".invalid-feedback[data-cell-error]")
    assert not Target.objects.exists()
    page.fill(f"input[name='c-{sales.rep_b.pk}-2026-05-01']", "")
    page.click("#target-save")
    page.wait_for_selector("#flash-messages .alert-success")
    assert Target.objects.get(user=sales.rep_a).period_start == date(2026, 5, 1)
    screenshot(page, "analytics-targets")
    for path, selector, shot in [
        ("/analytics/key-customers/", "#figure-awaiting", "analytics-key-customers"),
        ("/analytics/stages/", "#stage-matrix", "analytics-stages"),
        ("/analytics/behaviour/" + Q2, "#figure-methods", "analytics-behaviour"),
    ]:
        page.goto(path)
        page.wait_for_selector(selector)
        page.wait_for_timeout(1000)
        screenshot(page, shot)


def test_dashboard_and_targets_on_a_phone(new_page, live_server) -> None:
    sales = build_sales()
    page = new_page(viewport=PHONE)
    log_in(page, sales.user("director"))
    for path, wait in [
        ("/analytics/" + Q2, "#chart-ranking canvas"),
        ("/analytics/targets/?year=2026&period=month&level=rep", "#target-grid"),
        ("/analytics/stages/", "#stage-matrix"),
    ]:
        page.goto(path)
        page.wait_for_selector(wait)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, (path, width)
    page.goto("/analytics/" + Q2)
    page.wait_for_selector("#chart-ranking canvas")
    page.wait_for_timeout(1500)
    screenshot(page, "analytics-dashboard-phone")
