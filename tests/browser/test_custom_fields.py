"""In Chromium (issue 7, R10.5): an administrator defines a single-choice customer field shown
in the list; a rep on a phone (390 px) fills it in the customer form, sees it on the customer
page and in the list, and filters the list by it. Any script error fails the test (H-CF)."""

from __future__ import annotations

import pytest

from crm.core.testing.world import build_world
from crm.customers.models import Customer
from tests.browser.conftest import PHONE, screenshot
from tests.browser.test_board import log_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def no_page_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 392, width


def test_define_fill_show_and_filter_a_custom_field_on_a_phone(new_page, live_server) -> None:
    world = build_world()
    admin, rep = world.admin, world.users["rep_east"]
    page = new_page()
    log_in(page, admin)
    page.goto("/settings/custom-fields/new/?target=customer")
    page.select_option("#id_target", "customer")
    page.fill("#id_label", "客户等级")
    page.fill("#id_key", "tier")
    page.select_option("#id_kind", "choice")
    page.fill("#id_choices", "金牌\n银牌\n铜牌")
    page.check("#id_show_in_list")
    screenshot(page, "custom-field-define")
    page.click("#custom-field-save")
    page.wait_for_selector("text=客户等级")

    phone = new_page(viewport=PHONE)
    log_in(phone, rep)
    phone.goto("/customers/new/")
    phone.fill("#id_name", "字段测试公司")
    phone.select_option("select[name=cf_tier]", "金牌")
    no_page_scroll(phone)
    screenshot(phone, "custom-field-form-phone")
    phone.click("#customer-save")
    phone.wait_for_url("**/customers/*/")
    customer = Customer.objects.get(name="字段测试公司")
    assert customer.custom == {"tier": "金牌"}
    assert "金牌" in phone.inner_text("#custom-values")
    screenshot(phone, "custom-field-detail-phone")

    phone.goto("/customers/")
    assert "客户等级" in phone.inner_text("#customer-table thead")
    assert "金牌" in phone.inner_text(f"tr[data-customer='{customer.pk}']")
    phone.click("[data-bs-target='#more-filters']")
    phone.select_option("#id_cf", "tier")
    phone.fill("#id_cf_value", "银牌")
    phone.click("#customer-filters button[type=submit]")
    phone.wait_for_url("**cf_value=*")
    assert phone.locator(f"tr[data-customer='{customer.pk}']").count() == 0
    phone.click("[data-bs-target='#more-filters']")
    phone.fill("#id_cf_value", "金牌")
    phone.click("#customer-filters button[type=submit]")
    phone.wait_for_selector(f"tr[data-customer='{customer.pk}']")
    no_page_scroll(phone)
    screenshot(phone, "custom-field-list-filter-phone")
