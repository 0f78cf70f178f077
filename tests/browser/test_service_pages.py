"""In Chromium at phone width (390 px) (R3.7): a rep opens a service ticket for their customer
from the form, moves it to in progress on its page, and the ticket list and the analysis page
fit the phone without horizontal page scroll (H-SVC)."""

from __future__ import annotations

import pytest

from crm.core.testing.world import build_world
from crm.service.models import Ticket
from tests.browser.conftest import PHONE, screenshot
from tests.browser.test_board import log_in
from tests.service.conftest import customer_of, fresh, grant_service

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

NO_SIDE_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth + 1"


def test_open_a_ticket_on_a_phone(new_page, live_server) -> None:
    svc = grant_service(build_world())
    rep = fresh(svc.users["rep_east"])
    customer = customer_of(rep, "手机端客户")
    page = new_page(viewport=PHONE)
    log_in(page, rep)
    page.goto(f"/service/tickets/new/?customer={customer.pk}")
    page.select_option("select[name=type]", "repair")
    page.select_option("select[name=priority]", "urgent")
    page.fill("input[name=subject]", "手机上开的工单")
    page.fill("textarea[name=description]", "设备无法开机")
    assert page.evaluate(NO_SIDE_SCROLL)
    screenshot(page, "service-ticket-form-phone")
    page.click("#ticket-save")
    page.wait_for_selector("#ticket-facts")
    ticket = Ticket.objects.get(subject="手机上开的工单")
    assert ticket.number in page.inner_text("h2.page-title")
    assert page.evaluate(NO_SIDE_SCROLL)
    page.click("[data-status=in_progress]")
    page.wait_for_selector("#ticket-status")
    assert Ticket.objects.get(pk=ticket.pk).status == "in_progress"
    screenshot(page, "service-ticket-detail-phone")
    page.goto("/service/tickets/?tab=mine")
    page.wait_for_selector(f"[data-ticket='{ticket.pk}']")
    assert page.evaluate(NO_SIDE_SCROLL)
    page.goto("/service/analysis/")
    page.wait_for_selector("#service-head")
    assert page.evaluate(NO_SIDE_SCROLL)
    screenshot(page, "service-analysis-phone")
