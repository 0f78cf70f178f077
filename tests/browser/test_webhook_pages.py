"""In Chromium on a phone (R10.2, R11.1): an administrator subscribes a URL to event types, sees
the signing secret once, and opens the list and the delivery log; no page scrolls sideways at
390 px. Any script error or CSP violation fails the test (H-HOOKS)."""

from __future__ import annotations

import pytest

from crm.core.models import WebhookEndpoint
from crm.core.testing.world import build_world
from tests.browser.conftest import PHONE, screenshot
from tests.browser.test_board import log_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1


def test_an_administrator_subscribes_a_webhook_on_a_phone(new_page, live_server) -> None:
    # R10.2, R11.1
    world = build_world()
    page = new_page(viewport=PHONE)
    log_in(page, world.admin)
    page.goto("/settings/webhooks/")
    _fits(page)
    page.goto("/settings/webhooks/new/")
    _fits(page)
    page.fill("#id_name", "ERP 对接")
    page.fill("#id_url", "https://erp.example.invalid/crm-hook")
    page.click("details:has(input[value='opportunity.*']) summary")
    page.check("input[value='opportunity.*']")
    page.click("details:has(input[value='customer.created']) summary")
    page.check("input[value='customer.created']")
    screenshot(page, "webhook-form-phone")
    page.locator("#webhook-form button[type=submit]").click()
    page.wait_for_selector("#webhook-secret-value")
    _fits(page)
    endpoint = WebhookEndpoint.objects.get(org=world.org)
    assert page.input_value("#webhook-secret-value") == endpoint.secret
    assert sorted(endpoint.event_types) == ["customer.created", "opportunity.*"]
    screenshot(page, "webhook-secret-phone")
    page.goto("/settings/webhooks/")
    assert "ERP 对接" in page.inner_text("#webhook-table")
    assert endpoint.secret not in page.content()
    _fits(page)
    page.goto(f"/settings/webhooks/{endpoint.pk}/deliveries/")
    page.wait_for_selector("#delivery-table")
    _fits(page)
    page.goto(f"/settings/webhooks/{endpoint.pk}/")
    _fits(page)
    assert endpoint.secret not in page.content()
