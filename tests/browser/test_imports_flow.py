"""End to end in Chromium (R10.3, R11.1): on a phone a rep uploads a GBK CSV, checks the
suggested mapping, previews, runs the import and sees the counts and the refused row; on a
desktop a director exports the customer list as XLSX. No JavaScript error or CSP violation."""

from __future__ import annotations

import pytest

from crm.core.testing.world import PASSWORD, build_world
from crm.customers import services as customer_services
from crm.customers.models import Customer
from crm.org.models import User
from tests.browser.conftest import DESKTOP, PHONE, screenshot
from tests.imports.conftest import csv_bytes

pytestmark = pytest.mark.browser


def log_in(page, user: User) -> None:
    page.goto("/login/")
    page.fill("#id_login", user.username)
    page.fill("#id_password", PASSWORD)
    page.locator("form:has(#id_login) button[type=submit]").first.click()
    page.wait_for_url("**/")


def no_page_scroll(page, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{what} is {width}px wide on a {PHONE['width']}px phone"


def test_a_rep_imports_customers_on_a_phone(new_page) -> None:
    # R10.3 R11.1: upload → map → preview → run → results, on a 390 px screen
    world = build_world()
    rep = world.users["rep_east"]
    data = csv_bytes(
        [
            ["客户名称", "手机", "联系人"],
            ["苏州甲科技有限公司", "13912340001", "周一"],
            ["", "13912340002", "周二"],
        ],
        encoding="gbk",
    )
    page = new_page(PHONE)
    log_in(page, rep)
    page.goto("/imports/")
    no_page_scroll(page, "the import page")
    page.select_option("#id_resource", "customers")
    page.set_input_files("#id_file", {"name": "客户.csv", "mimeType": "text/csv", "buffer": data})
    page.click("#upload-submit")
    page.wait_for_url("**/map/")
    assert page.locator("#id_col_1").input_value() == "contact_mobile"
    no_page_scroll(page, "the mapping page")
    screenshot(page, "import-map-phone")
    page.click("#preview-submit")
    page.wait_for_url("**/preview/")
    assert page.locator("#preview-table tr[data-action=created]").count() == 1
    assert page.locator("#preview-table tr[data-action=failed]").count() == 1
    page.click("#run-submit")
    page.wait_for_selector("#import-status[data-status=done]")
    assert page.locator("[data-count=created]").inner_text() == "1"
    assert page.locator("#error-table tr[data-line='3']").count() == 1
    assert page.locator("#download-errors").is_visible()
    no_page_scroll(page, "the import results")
    screenshot(page, "import-done-phone")
    assert Customer.objects.filter(name="苏州甲科技有限公司").exists()


def test_a_director_exports_the_customer_list(new_page) -> None:
    # R10.3: the list's Export menu downloads the XLSX of the current view
    world = build_world()
    director = world.users["director"]
    from crm.core.testing.world import make_role
    from crm.org import services as org_services

    export = make_role(world.admin, "导出", "all", ["customers:view", "customers:export"])
    org_services.update_user(
        actor=world.admin, user=director, roles=[*director.roles.all(), export]
    )
    customer_services.create_customer(
        actor=User.objects.get(pk=director.pk), data={"name": "无锡乙有限公司"}
    )
    page = new_page(DESKTOP)
    log_in(page, director)
    page.goto("/customers/?view=all")
    page.click("#customers-export button")
    with page.expect_download() as download:
        page.click("#customers-export [data-export=xlsx]")
    assert download.value.suggested_filename.endswith(".xlsx")
