"""In Chromium (R4.8): the director opens the win/loss analysis, sees the charts drawn, switches
a figure to its table, and the page fits a 390 px phone. Any script error or CSP violation
fails the test (H-MAVEN)."""

from __future__ import annotations

import pytest

from tests.analytics.test_winloss import LAST, START, Sales, scenario
from tests.browser.conftest import PHONE, screenshot
from tests.browser.test_board import log_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_winloss_charts_table_and_phone(new_page, live_server) -> None:
    s = Sales()
    scenario(s)
    director = s.user("director")
    page = new_page()
    log_in(page, director)
    page.goto(f"/analytics/winloss/?date_from={START}&date_to={LAST}")
    page.wait_for_selector("#chart-wl_rep canvas")
    page.wait_for_selector("#chart-wl_open_stage canvas")
    assert "¥3,500.00" in page.inner_text("#winloss-summary")
    assert "60.0%" in page.inner_text("#wl-win-rate")
    page.click("#figure-wl_rep [data-figure-view=table]")
    page.wait_for_selector("#table-wl_rep", state="visible")
    assert s.people["rep_c"].name in page.inner_text("#table-wl_rep")
    screenshot(page, "winloss-desktop")

    phone = new_page(PHONE)
    log_in(phone, director)
    phone.goto(f"/analytics/winloss/?date_from={START}&date_to={LAST}")
    phone.wait_for_selector("#chart-wl_rep canvas")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"win/loss page is {width}px wide"
    screenshot(phone, "winloss-phone")
