"""In Chromium (R8.8, H-REPORTS): a manager builds a custom report — the live preview (htmx)
redraws the chart and the table as dimensions change, the subject switch reloads its fields —
saves it shared with the department, opens it with its chart, table and Excel link, and the
builder and the report fit a phone without horizontal scrolling. Any script error or CSP
violation fails the test."""

from __future__ import annotations

import pytest

from crm.analytics.models import SavedReport
from tests.analytics.test_reports import NAMES, build_sales
from tests.browser.conftest import PHONE, screenshot
from tests.browser.test_board import log_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_build_preview_save_and_open(new_page, live_server) -> None:
    # R8.8: builder with live preview, save with sharing, open with chart/table/Excel
    sales = build_sales()
    manager = sales.user("manager")
    page = new_page()
    log_in(page, manager)
    page.goto("/analytics/reports/new/?subject=opportunities")
    page.wait_for_selector("#chart-report canvas")
    screenshot(page, "report-builder")
    # a second dimension: the preview comes back with one row per (rep, stage)
    with page.expect_response(lambda r: "/analytics/reports/preview/" in r.url):
        page.select_option("#id_dim2", "stage")
    page.wait_for_selector("#chart-report canvas")
    page.click("#figure-report [data-figure-view=table]")
    page.wait_for_selector("#table-report", state="visible")
    text = page.inner_text("#table-report")
    assert NAMES["rep_a"] in text and NAMES["rep_2"] not in text  # rep_2 is outside the tree
    assert sales.stages[1].name in text
    # a bad choice shows a message, not an error page
    with page.expect_response(lambda r: "/analytics/reports/preview/" in r.url):
        page.uncheck("input[name=measures][value=count]")
    page.wait_for_selector("#rep-errors")
    with page.expect_response(lambda r: "/analytics/reports/preview/" in r.url):
        page.check("input[name=measures][value=sum_expected_amount]")
    page.wait_for_selector("#chart-report canvas")
    # switching the subject reloads that subject's fields
    page.select_option("#id_subject", "followups")
    page.wait_for_url("**subject=followups**")
    assert page.locator("#id_dim1 option[value=method]").count() == 1
    page.select_option("#id_dim1", "method")
    page.wait_for_selector("#chart-report canvas")
    page.fill("#id_name", "跟进方式统计")
    page.select_option("#id_shared", "team")
    page.click("#save-report")
    page.wait_for_selector("#report-about")
    report = SavedReport.objects.get(name="跟进方式统计")
    assert report.shared == "team" and report.definition["dimensions"] == ["method"]
    page.wait_for_selector("#chart-report canvas")
    assert page.locator("[data-figure-export]").count() == 1
    screenshot(page, "report-detail")


def test_builder_and_report_on_a_phone(new_page, live_server) -> None:
    # R8.8: the builder and a report fit a 390 px phone
    sales = build_sales()
    manager = sales.user("manager")
    from crm.analytics import report_services

    report = report_services.save_report(
        actor=manager,
        name="手机上的报表",
        definition={
            "subject": "opportunities",
            "dimensions": ["owner", "stage"],
            "measures": ["count", "sum_expected_amount"],
            "chart": "hbar",
        },
    )
    page = new_page(viewport=PHONE)
    log_in(page, manager)
    page.goto("/analytics/reports/new/")
    page.wait_for_selector("#chart-report canvas")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    screenshot(page, "report-builder-phone")
    page.goto(f"/analytics/reports/{report.pk}/")
    page.wait_for_selector("#chart-report canvas")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    screenshot(page, "report-detail-phone")
    page.goto(f"/analytics/reports/{report.pk}/schedule/")
    page.wait_for_selector("#schedule-form")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    screenshot(page, "report-schedule-phone")
    page.goto("/analytics/reports/")
    page.wait_for_selector("#reports-mine")
    assert "手机上的报表" in page.inner_text("#reports-mine")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
