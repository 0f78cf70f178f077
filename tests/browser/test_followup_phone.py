"""End to end in Chromium on a phone (R5.3, R11.1): from a customer's page a rep adds a
follow-up — a visit with the browser's location and a next follow-up date — saves it, and sees
it in the customer's follow-up section. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from crm.activities.models import FollowUp
from crm.core.testing.world import PASSWORD, build_world
from crm.customers import services
from crm.customers.models import Customer
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


def test_rep_adds_a_followup_from_the_customer_page_on_a_phone(new_page, live_server) -> None:
    # R5.3 R11.1: add follow-up → fill → save → back on the customer page, in its section
    world = build_world()
    rep = world.users["rep_east"]
    customer = services.create_customer(
        actor=rep,
        data={"name": "苏州工业园区智能制造有限公司", "phone": "0512-66668888"},
        contacts=[{"name": "周经理", "mobile": "13912345678"}],
    )

    page = new_page(PHONE)
    page.context.grant_permissions(["geolocation"], origin=live_server.url)
    page.context.set_geolocation({"latitude": 31.2989, "longitude": 120.5853})
    log_in(page, rep)
    page.goto(f"/customers/{customer.pk}/")
    section = page.locator("#section-followups")
    assert section.locator(".followup-item").count() == 0
    section.locator("#followup-add").click()
    page.wait_for_url("**/activities/followups/new/**")
    assert customer.name in page.locator("#record-customer").inner_text()
    assert_no_page_scroll(page, "the follow-up form")

    # the location block appears for a visit; "use my location" fills the coordinates
    assert not page.locator("#followup-visit").is_visible()
    page.click("label[for=id_method_visit]")
    page.wait_for_selector("#followup-visit", state="visible")
    page.fill("#id_location", "苏州工业园区星湖街 328 号")
    page.click("#followup-geolocate")
    page.wait_for_function("() => document.querySelector('[name=latitude]').value !== ''")
    assert page.input_value("[name=latitude]") == "31.298900"

    page.fill("#id_content", "上门拜访周经理，演示了 MES 方案，客户关注交付周期")
    next_at = timezone.localtime() + timedelta(days=3)
    page.fill("#id_next_at", next_at.strftime("%Y-%m-%dT09:30"))
    page.fill("#id_next_content", "发送报价单")
    screenshot(page, "phone-followup-form")
    page.click("#followup-save")
    page.wait_for_url(f"**/customers/{customer.pk}/**")

    followup = FollowUp.objects.get(customer=customer)
    assert followup.owner_id == rep.pk
    assert followup.method == "visit"
    assert str(followup.latitude) == "31.298900"
    timeline = page.locator("#section-followups")
    assert "演示了 MES 方案" in timeline.inner_text()
    assert next_at.strftime("%Y-%m-%d 09:30") in timeline.inner_text()
    assert page.locator(f"[data-followup='{followup.pk}']").is_visible()
    assert_no_page_scroll(page, "the customer page")
    screenshot(page, "phone-customer-followup-saved")
    stored = Customer.objects.get(pk=customer.pk)
    assert stored.last_followup_at == followup.happened_at
    assert timezone.localtime(stored.next_followup_at).strftime("%H:%M") == "09:30"


def test_followup_pages_fit_a_phone(new_page, live_server) -> None:
    # R5.1 R5.4 R11.1: my day, the follow-up list, the week and month calendars (a list of days
    # on a phone) and the analysis (chart and table) have no horizontal page scroll
    from crm.activities import services as activity_services

    world = build_world()
    rep = world.users["rep_east"]
    customer = services.create_customer(actor=rep, data={"name": "无锡物联网产业研究院有限公司"})
    activity_services.record_followup(
        actor=User.objects.get(pk=rep.pk),
        customer=customer,
        data={
            "method": "call",
            "content": "电话确认了下周的拜访时间，客户希望带上技术负责人",
            "next_at": timezone.now() + timedelta(hours=1),
        },
    )
    plan = activity_services.plan_visit(
        actor=User.objects.get(pk=rep.pk),
        customer=customer,
        data={"planned_at": timezone.now() + timedelta(minutes=30), "purpose": "技术交流会"},
    )
    page = new_page(PHONE)
    log_in(page, rep)
    for path, name in (
        ("/activities/my-day/", "phone-my-day"),
        ("/activities/followups/", "phone-followup-list"),
        ("/activities/plans/", "phone-calendar-week"),
        ("/activities/plans/?view=month", "phone-calendar-month"),
        ("/activities/plans/analysis/", "phone-plan-analysis"),
    ):
        page.goto(path)
        assert_no_page_scroll(page, path)
        screenshot(page, name)
    page.goto("/activities/plans/")
    assert page.locator(f"#calendar-list [data-entry='plan-{plan.pk}']").is_visible()
    assert not page.locator("#calendar-grid").is_visible()
    page.goto("/activities/plans/analysis/")
    page.wait_for_selector("#plan-analysis-chart canvas")
    # on a desktop the calendar is a grid of days
    desktop = new_page(DESKTOP)
    log_in(desktop, rep)
    desktop.goto("/activities/plans/?view=month")
    assert desktop.locator(f"#calendar-grid [data-entry='plan-{plan.pk}']").is_visible()
    screenshot(desktop, "desktop-calendar-month")
