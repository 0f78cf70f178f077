"""In Chromium (R6.1, R11.1): a rep opens a quote from an opportunity, the lines come prefilled,
picks a catalogue product in a new line, sees the totals the server computes while typing,
saves, and prints; the quote pages fit a 390 px phone and raise no script or CSP errors.
Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm.core.testing.world import PASSWORD, build_world
from crm.org.models import User
from crm.sales.models import Quote
from tests.browser.conftest import PHONE, screenshot
from tests.sales.quote_helpers import grant_sales, make_opportunity, make_product, u

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def log_in(page, user: User) -> None:
    page.goto("/login/")
    page.fill("#id_login", user.username)
    page.fill("#id_password", PASSWORD)
    page.locator("form:has(#id_login) button[type=submit]").first.click()
    page.wait_for_url("**/")


def assert_fits_the_phone(page, path: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{path} is {width}px wide on a {PHONE['width']}px phone"


def test_quote_from_an_opportunity_with_live_totals(new_page, live_server) -> None:
    # R6.1: prefilled lines, product picker, server-computed totals, save, print
    world = grant_sales(build_world())
    rep = u(world, "rep_east")
    make_product(world, code="hardware", name="服务器", unit="台", list_price="68000")
    make_product(
        world, code="SV-TRN", name="现场培训", unit="人次", list_price="1200", tax_rate="6"
    )
    opportunity = make_opportunity(
        world, rep, lines=[{"product": "hardware", "quantity": "2", "unit_price": "68000"}]
    )
    page = new_page()
    log_in(page, rep)
    page.goto(f"/sales/quotes/new/?opportunity={opportunity.pk}")
    total = page.locator("[data-total=total]")
    # 2 × 68000 = 136000, tax 13 % → 153680
    page.wait_for_function(
        "() => document.querySelector('[data-total=total]').textContent.includes('153,680.00')"
    )
    page.fill("[data-line] input[name=line-discount_value]", "10")
    page.wait_for_function(
        "() => document.querySelector('[data-total=total]').textContent.includes('138,312.00')"
    )
    page.click("#add-line")
    row = page.locator("[data-line]").nth(1)
    row.locator(".ts-control").click()
    row.locator(".ts-control input").fill("培训")
    page.locator(".ts-dropdown .option", has_text="现场培训").first.click()
    assert row.locator("input[name=line-description]").input_value() == "现场培训"
    assert row.locator("input[name=line-unit_price]").input_value() == "1200.00"
    row.locator("input[name=line-quantity]").fill("3")
    # + 3 × 1200 = 3600, tax 6 % = 216 → 3816
    page.wait_for_function(
        "() => document.querySelector('[data-total=total]').textContent.includes('142,128.00')"
    )
    assert "142,128.00" in total.inner_text()
    screenshot(page, "quote-form-live-totals")
    page.click("#quote-save")
    page.wait_for_url("**/sales/quotes/*/")
    quote = Quote.objects.get(opportunity=opportunity)
    assert quote.total == Decimal("142128.00")
    assert page.locator("#quote-total").inner_text() == "¥142,128.00"
    page.click("#quote-print")
    page.wait_for_url(f"**/sales/quotes/{quote.pk}/print/")
    assert "壹拾肆万贰仟壹佰贰拾捌元整" in page.locator("#doc-amount").inner_text()
    screenshot(page, "quote-print")


def test_quote_pages_fit_a_phone(new_page, live_server) -> None:
    # R11.1: list, form and page on a 390 px phone
    world = grant_sales(build_world())
    rep = u(world, "rep_east")
    opportunity = make_opportunity(
        world, rep, lines=[{"product": "定制开发服务", "quantity": "10", "unit_price": "1500"}]
    )
    page = new_page(PHONE)
    log_in(page, rep)
    page.goto(f"/sales/quotes/new/?opportunity={opportunity.pk}")
    page.wait_for_function(
        "() => document.querySelector('[data-total=total]').textContent.includes('16,950.00')"
    )
    assert_fits_the_phone(page, "quote form")
    screenshot(page, "phone-quote-form")
    page.click("#quote-save")
    page.wait_for_url("**/sales/quotes/*/")
    assert_fits_the_phone(page, "quote page")
    screenshot(page, "phone-quote-page")
    page.goto("/sales/quotes/")
    assert_fits_the_phone(page, "quote list")
    page.goto("/sales/products/")
    assert_fits_the_phone(page, "product list")
