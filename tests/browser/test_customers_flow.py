"""End to end in Chromium (R3.3, R3.1, R11.1): a rep claims a customer from the public pool, and
the customer 360 page and lists fit a phone-sized screen. Screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from crm.core.testing.world import PASSWORD, build_world
from crm.customers import pool_services, services
from crm.customers.models import Customer, PublicPool
from crm.customers.normalize import mask_phone
from crm.org.models import User
from tests.browser.conftest import DESKTOP, PHONE, screenshot


def log_in(page, user: User) -> None:
    page.goto("/login/")
    page.fill("#id_login", user.username)
    page.fill("#id_password", PASSWORD)
    page.locator("form:has(#id_login) button[type=submit]").first.click()
    page.wait_for_url("**/")


def assert_no_page_scroll(page, path: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{path} is {width}px wide on a {PHONE['width']}px phone"


def test_rep_claims_a_customer_from_the_public_pool(new_page, live_server) -> None:
    # R3.3: the row leaves the pool list and the customer opens as the rep's own
    world = build_world()
    rep = world.users["rep_east"]
    admin = world.admin
    customer = services.create_customer(
        actor=admin,
        data={"name": "杭州海康威视数字技术股份有限公司", "phone": "0571-88075998"},
        contacts=[{"name": "陈经理", "mobile": "13805710000"}],
    )
    pool_services.release(actor=admin, customer=customer, reason="无人跟进")
    other = services.create_customer(actor=admin, data={"name": "宁波舟山港股份有限公司"})
    pool_services.release(actor=admin, customer=other, reason="无人跟进")
    pool = PublicPool.objects.get(org=world.org, is_default=True)

    page = new_page(DESKTOP)
    log_in(page, rep)
    page.click("[data-nav=customers]")
    page.click("[data-nav=public_pools]")
    page.wait_for_url("**/customers/pools/")
    assert page.locator(f"[data-pool='{pool.pk}'] .pool-waiting").inner_text() == "2"
    page.click(f"[data-pool='{pool.pk}'] a.btn-primary")
    page.wait_for_url(f"**/customers/pools/{pool.pk}/")
    row = page.locator(f"tr[data-customer='{customer.pk}']")
    assert mask_phone("0571-88075998") in row.inner_text()  # masked until claimed
    assert "88075998" not in row.inner_text()
    screenshot(page, "desktop-pool-before-claim")
    row.locator(".claim-button").click()
    page.wait_for_url(f"**/customers/{customer.pk}/")
    assert rep.display_name in page.locator("#customer-owner").inner_text()
    assert "13805710000" in page.locator("#section-contacts").inner_text()  # unmasked now
    assert page.locator("#customer-claim").count() == 0
    screenshot(page, "desktop-customer-claimed")
    customer.refresh_from_db()
    assert customer.owner_id == rep.pk

    page.goto(f"/customers/pools/{pool.pk}/")
    assert page.locator(f"tr[data-customer='{customer.pk}']").count() == 0
    assert page.locator(f"tr[data-customer='{other.pk}']").count() == 1
    page.goto("/customers/")
    assert page.locator(f"tr[data-customer='{customer.pk}']").count() == 1

    # R3.1: bulk actions appear once a row is checked; tag the claimed customer
    assert not page.locator("#bulk-actions").is_visible()
    page.check(f"tr[data-customer='{customer.pk}'] input[name=ids]")
    page.wait_for_selector("#bulk-actions", state="visible")
    page.select_option("#bulk-action", "tag")
    page.fill("#bulk-new-tag", "安防")
    page.click("#bulk-submit")
    page.wait_for_selector("#flash-messages")
    assert list(customer.tags.values_list("name", flat=True)) == ["安防"]
    assert "安防" in page.locator(f"tr[data-customer='{customer.pk}']").inner_text()

    # R3.5: the form checks for duplicates while typing; the parent picker searches by pinyin
    page.goto("/customers/new/")
    page.fill("#id_name", "宁波舟山港股份有限公司")
    page.wait_for_selector("#duplicate-candidates")
    assert "宁波舟山港股份有限公司" in page.locator("#duplicate-candidates").inner_text()
    page.fill("input[name=parent_q]", "hkws")
    page.wait_for_selector(f"#picker-parent-options input[value='{customer.pk}']")
    screenshot(page, "desktop-customer-form-duplicates")


def test_customer_360_on_a_phone(new_page, live_server) -> None:
    # R11.1 R3.1: no horizontal page scroll on a 390 px phone; sections collapse
    world = build_world()
    rep = world.users["rep_east"]
    group = services.create_customer(actor=rep, data={"name": "云帆控股集团有限公司"})
    customer = services.create_customer(
        actor=rep,
        data={
            "name": "云帆（杭州）网络科技有限公司华东区域营销服务中心",
            "industry": "it",
            "region": "浙江省杭州市西湖区",
            "address": "浙江省杭州市西湖区文三路 478 号华星时代广场 A 座 1201 室",
            "phone": "0571-88886666",
            "email": "service-center@yunfan-network.example",
            "tax_number": "91330100MA27XXXX1X",
            "bank_account": "6225 8800 0000 0000 0001",
        },
        parent=group,
        contacts=[
            {"name": "赵六", "title": "采购经理", "mobile": "13700137000"},
            {"name": "钱七", "title": "技术总监", "email": "qian.qi@yunfan-network.example"},
        ],
        tags=[services.create_tag(actor=rep, name=n) for n in ("重点", "渠道", "华东")],
    )
    Customer.objects.filter(pk=customer.pk).update(
        grade="A", last_followup_at=timezone.now() - timedelta(days=4)
    )

    page = new_page(PHONE)
    log_in(page, rep)
    path = f"/customers/{customer.pk}/"
    page.goto(path)
    assert "26" in page.locator("#pool-countdown").inner_text()  # 30 days - 4 days
    assert page.locator("[data-section=contacts]").is_visible()
    assert "赵六" in page.locator("#section-contacts").inner_text()
    assert_no_page_scroll(page, path)
    screenshot(page, "phone-customer-360")
    # a section folds away on tap
    page.click("#section-family > summary")
    assert page.locator("#section-family").get_attribute("open") is None
    assert_no_page_scroll(page, path)
    for other in (
        "/customers/",
        "/customers/new/",
        f"/customers/{customer.pk}/edit/",
        "/customers/contacts/",
        "/customers/pools/",
        "/customers/merge/",
    ):
        page.goto(other)
        assert_no_page_scroll(page, other)
    page.goto("/customers/")
    screenshot(page, "phone-customer-list")
