"""In Chromium (R4.4, R11.1): an admin reorders a stage with the up button and adds a dictionary
item on a phone-sized screen; the pages fit 390 px without sideways scrolling and raise no script
or CSP errors. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import pytest

from crm.core.testing.world import PASSWORD, build_world
from crm.org.models import User
from crm.pipeline.models import DictionaryItem, Pipeline, Stage
from tests.browser.conftest import PHONE, screenshot

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


def test_stage_tree_and_dictionaries_on_a_phone(new_page, live_server) -> None:
    # R4.4 R11.1: the settings pages work on a 390 px phone
    world = build_world()
    it = Pipeline.objects.get(org=world.org, is_default=True)
    stages = list(Stage.objects.filter(pipeline=it, parent=None).order_by("sort_order"))
    page = new_page(PHONE)
    log_in(page, world.admin)
    page.goto(f"/pipeline/settings/pipelines/{it.pk}/")
    assert page.locator("[data-stage]").count() == 10
    assert page.locator("[data-node]").count() == 9
    assert_fits_the_phone(page, "pipeline page")
    screenshot(page, "phone-pipeline-stages")
    page.click(f"#stage-{stages[1].pk} > div > .btn-list [data-move=up]")
    page.wait_for_url(f"**/pipeline/settings/pipelines/{it.pk}/#stage-{stages[1].pk}")
    order = list(
        Stage.objects.filter(pipeline=it, parent=None)
        .order_by("sort_order")
        .values_list("pk", flat=True)
    )
    assert order[:2] == [stages[1].pk, stages[0].pk]

    page.goto("/pipeline/settings/dictionaries/")
    page.select_option("#dictionary-kind", "loss_reason")  # the phone's list picker
    page.wait_for_url("**/pipeline/settings/dictionaries/?kind=loss_reason")
    assert_fits_the_phone(page, "dictionaries page")
    page.fill("#id_label", "交付太慢")
    page.fill("#id_value", "slow_delivery")
    page.locator("#dictionary-add button[type=submit]").click()
    page.wait_for_url("**/pipeline/settings/dictionaries/?kind=loss_reason")
    item = DictionaryItem.objects.get(org=world.org, kind="loss_reason", value="slow_delivery")
    assert page.locator(f"tr[data-item='{item.pk}']").inner_text().startswith("交付太慢")
    screenshot(page, "phone-dictionaries")
