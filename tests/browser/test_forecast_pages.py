"""In Chromium (R8.4, R8.5): the director opens the funnel (funnel chart, table view) and the
forecast (charts, commit form), a rep commits their number, and both pages fit a phone. Any
script error or CSP violation fails the test (H-FORECAST)."""

from __future__ import annotations

import pytest

from crm.analytics.models import ForecastCommit
from tests.analytics.test_funnel import LAST, START, build_sales, scenario
from tests.browser.conftest import PHONE, screenshot
from tests.browser.test_board import log_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_funnel_and_forecast_on_desktop(new_page, live_server) -> None:
    s = build_sales()
    scenario(s)
    page = new_page()
    log_in(page, s.user("director"))
    page.goto(f"/analytics/funnel/?date_from={START}&date_to={LAST}")
    page.wait_for_selector("#chart-funnel canvas")
    page.click("#figure-funnel [data-figure-view=table]")
    page.wait_for_selector("#table-funnel", state="visible")
    assert page.locator("#table-funnel tbody tr").count() >= 4
    screenshot(page, "analytics-funnel")
    page.goto("/analytics/forecast/")
    page.wait_for_selector("#forecast-summary")
    assert page.locator("#fc-commit-form").is_visible()
    screenshot(page, "analytics-forecast")


def test_rep_commits_on_a_phone(new_page, live_server) -> None:
    s = build_sales()
    scenario(s)
    page = new_page(viewport=PHONE)
    log_in(page, s.user("rep_a"))
    page.goto(f"/analytics/funnel/?date_from={START}&date_to={LAST}")
    page.wait_for_selector("#chart-funnel canvas")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    screenshot(page, "analytics-funnel-phone")
    page.goto("/analytics/forecast/")
    page.fill("#fc-committed-input", "88000")
    page.fill("#fc-best-input", "120000")
    page.click("#fc-commit-save")
    page.wait_for_selector("#fc-my-commit")
    assert "88,000.00" in page.inner_text("#fc-my-commit")
    assert ForecastCommit.objects.get(owner=s.people["rep_a"]).committed == 88000
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    screenshot(page, "analytics-forecast-phone")
