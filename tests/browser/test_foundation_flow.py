"""End to end in Chromium (R1.1, R1.2, R11.1, R11.4): a company signs up, logs in, switches
language, creates a department and a colleague who then logs in; screenshots at desktop and
phone widths are saved under test-artifacts/screenshots/."""

from __future__ import annotations

from crm.org.models import Department, Organization, Role, User
from tests.browser.conftest import DESKTOP, PHONE, screenshot

PASSWORD = "Browser-test-2026"


def submit(page, field_selector: str) -> None:
    """Click the submit button of the form that holds ``field_selector``."""
    page.locator(f"form:has({field_selector}) button[type=submit]").first.click()


def sign_up(page, org_name: str, email: str) -> None:
    page.goto("/login/")
    page.click("#signup-link")
    page.fill("#id_name", org_name)
    page.fill("#id_admin_name", "陈总")
    page.fill("#id_email", email)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    submit(page, "#id_password2")
    page.wait_for_url("**/")


def test_sign_up_switch_language_create_department_and_user(new_page, live_server) -> None:
    # R1.1: sign up a company and land in its own empty CRM
    page = new_page(DESKTOP)
    sign_up(page, "浙江云帆科技有限公司", "chen@yunfan.example")
    org = Organization.objects.get(name="浙江云帆科技有限公司")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.locator("#sidebar").is_visible()
    assert "首页" in page.locator("#sidebar").inner_text()
    screenshot(page, "desktop-home-zh")

    # R11.4: switch to English and back
    page.select_option("#language-form select", "en")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert "Home" in page.locator("#sidebar").inner_text()
    screenshot(page, "desktop-home-en")
    page.select_option("#language-form select", "zh-hans")
    page.wait_for_function("() => document.documentElement.lang === 'zh-hans'")
    assert "首页" in page.locator("#sidebar").inner_text()

    # R1.2: create a department under the root
    page.click("[data-nav=settings]")
    page.click("[data-nav=departments]")
    page.wait_for_url("**/settings/departments/")
    page.goto("/settings/departments/new/")
    page.fill("#id_name", "华北大区")
    submit(page, "#id_name")
    page.wait_for_url("**/settings/departments/**")
    north = Department.objects.get(org=org, name="华北大区")
    assert north.parent_id == Department.objects.get(org=org, parent=None).pk
    page.goto("/settings/departments/")
    assert "华北大区" in page.content()
    screenshot(page, "desktop-departments")

    # R1.2: create a colleague in it with the built-in rep role and a password
    page.goto("/settings/users/new/")
    page.fill("#id_email", "li.lei@yunfan.example")
    page.fill("#id_name", "李雷")
    page.select_option("#id_department", str(north.pk))
    rep_role = Role.objects.get(org=org, code="rep")
    page.check(f"input[name=roles][value='{rep_role.pk}']")
    page.fill("#id_password", PASSWORD)
    submit(page, "#id_email")
    page.wait_for_url("**/settings/users/**")
    li = User.objects.get(email="li.lei@yunfan.example")
    assert (li.org_id, li.department_id, list(li.roles.all())) == (org.pk, north.pk, [rep_role])
    page.goto("/settings/users/")
    assert "李雷" in page.content()
    screenshot(page, "desktop-users")

    # R1.1: the colleague logs in with their e-mail; a rep has no settings menu
    page.click("#user-menu")
    page.click("#logout-button")
    page.wait_for_url("**/login/**")
    page.fill("#id_login", "li.lei@yunfan.example")
    page.fill("#id_password", PASSWORD)
    submit(page, "#id_login")
    page.wait_for_url("**/")
    assert "李雷" in page.locator("#user-menu").inner_text()
    assert page.locator("[data-nav=departments]").count() == 0


def test_phone_layout_menu_and_settings(new_page, live_server) -> None:
    # R11.1: on a phone the sidebar becomes a menu; forms and tables fit the screen
    page = new_page(PHONE)
    sign_up(page, "深圳小鹏商贸有限公司", "boss@xp.example")
    assert not page.locator("#sidebar-menu").is_visible()
    screenshot(page, "phone-home")
    page.click("#sidebar .navbar-toggler")
    page.wait_for_selector("#sidebar-menu.collapse.show")  # the opening transition has ended
    assert "首页" in page.locator("#sidebar-menu").inner_text()
    screenshot(page, "phone-menu-open")
    for path in (
        "/",
        "/settings/users/",
        "/settings/departments/",
        "/settings/roles/",
        "/settings/audit/",
        "/account/",
        "/account/tokens/",
        "/notifications/",
    ):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, (
            f"{path} is {width}px wide on a {PHONE['width']}px phone"
        )
    page.goto("/settings/users/")
    screenshot(page, "phone-users")
    page.goto("/settings/roles/")
    screenshot(page, "phone-roles")
