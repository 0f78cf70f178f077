"""In Chromium (R9.3): a marketer opens the campaign list, creates a campaign with its public web
form on, and sees its attribution figures on the campaign page; a visitor without an account
opens the campaign's form link and sends the form; the lead carries the campaign, and the
figures follow (leads, cost per lead; won amount and ROI for a viewer who sees opportunities).
Any script error or CSP violation fails the test (H-CAMP)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm.leads.models import Lead
from crm.marketing.models import Campaign
from tests.browser.conftest import PHONE, screenshot
from tests.browser.test_board import log_in
from tests.marketing.conftest import build_mk
from tests.marketing.test_attribution import opportunity_for

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _kpi(page, key: str) -> str:
    return " ".join(page.inner_text(f"[data-kpi={key}]").split())


def test_create_a_campaign_and_a_lead_through_its_form_link(new_page, live_server) -> None:
    # R9.3: list → create → detail with attribution; the public form link creates a lead
    mk = build_mk()
    page = new_page()
    log_in(page, mk.marketer)
    page.goto("/marketing/campaigns/")
    page.wait_for_selector("#campaign-table")
    page.click("#campaign-add")
    page.wait_for_selector("#campaign-form")
    page.fill("#id_name", "春季新品发布会")
    page.select_option("#id_campaign_type", index=1)
    page.fill("#id_channel", "微信公众号")
    page.fill("#id_actual_cost", "1000")
    page.fill("#id_utm_source", "wechat")
    page.fill("#id_utm_campaign", "spring-launch")
    page.check("#id_form_enabled")
    screenshot(page, "campaign-form")
    page.click("#campaign-save")
    page.wait_for_selector("#campaign-kpis")
    campaign = Campaign.objects.get(name="春季新品发布会")
    assert page.url.rstrip("/").endswith(f"/marketing/campaigns/{campaign.pk}")
    assert campaign.form_enabled and campaign.actual_cost == Decimal("1000")
    assert _kpi(page, "leads") == "0"
    assert "1,000.00" in _kpi(page, "cost")
    assert _kpi(page, "cost_per_lead") == "—"
    form_url = page.input_value("#campaign-form-url")
    assert f"/marketing/form/{campaign.form_token}/" in form_url

    # a visitor without an account, on a phone, sends the campaign's form
    visitor = new_page(viewport=PHONE)
    visitor.goto(form_url)
    visitor.wait_for_selector("#lead-webform")
    assert "utm_campaign=spring-launch" in visitor.url
    visitor.fill("#id_company", "杭州报名科技有限公司")
    visitor.fill("#id_name", "韩梅梅")
    visitor.fill("#id_mobile", "13912345678")
    screenshot(visitor, "campaign-webform-phone")
    visitor.click("#webform-submit")
    visitor.wait_for_load_state("networkidle")
    lead = Lead.objects.get(company="杭州报名科技有限公司")
    assert lead.campaign_id == campaign.pk and lead.source == "web_form"
    assert lead.extra.get("utm_campaign") == "spring-launch"

    # the campaign page counts it
    page.reload()
    page.wait_for_selector(f"#campaign-leads [data-lead='{lead.pk}']")
    assert _kpi(page, "leads") == "1"
    assert "1,000.00" in _kpi(page, "cost_per_lead")
    page.goto("/marketing/campaigns/")
    row = page.locator(f"#campaign-table tr[data-campaign='{campaign.pk}']")
    assert row.locator("[data-leads]").inner_text().strip() == "1"
    screenshot(page, "campaign-list")

    # won business from the lead: the won amount and the ROI, for a viewer who sees opportunities
    Lead.objects.filter(pk=lead.pk).update(status="converted")
    opportunity_for(mk, mk.director, lead, 1, status="won", actual_amount=Decimal("5000"))
    director = new_page()
    log_in(director, mk.director)
    director.goto(f"/marketing/campaigns/{campaign.pk}/")
    director.wait_for_selector("#campaign-kpis")
    assert "5,000.00" in _kpi(director, "won_amount")
    assert _kpi(director, "roi") not in ("", "—")
    screenshot(director, "campaign-detail-attribution")
