"""In Chromium (R7.1–R7.3): the finance clerk opens the collection board (ageing chart) and the
collection analysis (trend chart, table view), edits a contract's plan (adding a row and seeing
live whether the installments add up), and the board works on a phone. Any script error or CSP
violation fails the test (H-FINANCE)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.finance import plan_services, receipt_services
from tests.browser.conftest import PHONE, screenshot
from tests.browser.test_board import log_in
from tests.finance.conftest import build_fin

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _busy():
    fin = build_fin()
    today = timezone.localdate()
    plan_services.replace_plans(
        actor=fin.finance,
        contract=fin.contract,
        rows=[
            {"due_on": today - timedelta(days=45), "amount": "30000"},
            {"due_on": today + timedelta(days=20), "amount": "70000"},
        ],
    )
    receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "10000"}
    )
    return fin.refresh()


def test_board_analysis_and_plan_editor(new_page, live_server) -> None:
    fin = _busy()
    page = new_page()
    log_in(page, fin.finance)
    page.goto("/finance/")
    page.wait_for_selector("#ageing-chart canvas")
    assert "¥20,000.00" in page.inner_text("#figure-overdue")
    assert fin.contract.number in page.inner_text("#board-awaiting")
    screenshot(page, "finance-board")
    page.click("[data-tab=analysis]")
    page.wait_for_selector("#trend-chart canvas")
    page.click("a[href='#trend-table-pane']")
    page.wait_for_selector("#trend-table", state="visible")
    page.click("a[href='#owners-chart-pane']")
    page.wait_for_selector("#owners-chart canvas")
    screenshot(page, "finance-analysis")
    page.goto(f"/finance/contracts/{fin.contract.pk}/plans/")
    page.wait_for_selector("#plan-sum.text-green")
    page.click("#plan-add-row")
    assert page.locator("[data-plan-row]").count() == 3
    page.fill("input[name='plans-2-due_on']", "2030-01-01")
    page.fill("input[name='plans-2-amount']", "1")
    page.wait_for_selector("#plan-sum.text-red")
    page.fill("input[name='plans-1-amount']", "69999.00")
    page.wait_for_selector("#plan-sum.text-green")
    page.click("#plan-save")
    page.wait_for_load_state()
    amounts = [str(p.amount) for p in fin.contract.receivable_plans.order_by("sequence")]
    assert amounts == ["30000.00", "69999.00", "1.00"]


def test_board_on_a_phone(new_page, live_server) -> None:
    fin = _busy()
    page = new_page(viewport=PHONE)
    log_in(page, fin.finance)
    page.goto("/finance/")
    page.wait_for_selector("#ageing-chart canvas")
    assert page.locator("#board-awaiting").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1
    screenshot(page, "finance-board-phone")
