"""Leads carry their campaign (R9.3): the campaign form link (the pool's web form with its
honeypot, stamp and rate limit), utm matching for the web form, the API and imports, the lead
API's campaign_id, the import column, the lead list filter and the lead page."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from crm.imports.registry import RowContext
from crm.imports.resources import LEADS
from crm.leads import services as lead_services
from crm.leads import webform
from crm.leads.models import Lead, LeadPool
from crm.marketing import services

from ..conftest import login_client
from .conftest import Mk, campaign, fresh

pytestmark = pytest.mark.django_db


def visit(token: str, **query: str) -> tuple[Any, str, dict[str, list[str]]]:
    """Open the campaign link; follow it to the pool form: (form response, url, query)."""
    client = Client()
    r = client.get(reverse("marketing:webform", args=[token]), query)
    assert r.status_code == 302, r.status_code
    url = r.headers["Location"]
    return client.get(url), url, parse_qs(urlsplit(url).query)


def post(url: str, pool: LeadPool, hidden: dict[str, list[str]], **fields: str) -> Any:
    data = {k: v[0] for k, v in hidden.items()}
    data.update({"stamp": webform.form_stamp(pool), **fields})
    return Client().post(urlsplit(url).path, data)


def test_the_campaign_form_creates_a_lead_with_its_campaign(mk: Mk) -> None:
    # R9.3: each campaign has its own public web form; the lead lands in the campaign's pool
    pool = lead_services.save_pool(
        actor=fresh(mk.marketer), data={"name": "活动线索池", "form_enabled": True}
    )
    c = campaign(mk, "研讨会", utm_source="wechat", utm_campaign="sf-01", form_enabled=True)
    services.update_campaign(actor=fresh(mk.marketer), campaign=c, data={}, form_pool=pool)
    page, url, query = visit(c.form_token, utm_content="banner")
    assert page.status_code == 200 and "lead-webform" in page.content.decode()
    assert query[services.FORM_MARKER] == [c.form_token] and query["utm_content"] == ["banner"]
    r = post(url, pool, query, company="活动报名公司", name="李雷", mobile="13912340001")
    assert r.status_code == 200
    lead = Lead.objects.get(company="活动报名公司")
    assert lead.campaign_id == c.pk and lead.pool_id == pool.pk
    assert lead.source == "web_form" and lead.extra["utm_campaign"] == "sf-01"
    # the honeypot still drops bots
    post(url, pool, query, company="机器人公司", mobile="13912340002", website="http://spam")
    assert not Lead.objects.filter(company="机器人公司").exists()


@override_settings(CRM_WEBFORM_RATE_LIMIT=1)
def test_the_campaign_form_keeps_the_rate_limit(mk: Mk) -> None:
    # R9.3: anti-spam of the pool form applies to campaign-form posts
    c = campaign(mk, "限流活动", form_enabled=True)
    _page, url, query = visit(c.form_token)
    pool = LeadPool.objects.get(org=mk.world.org, kind="total")
    assert post(url, pool, query, company="甲公司", mobile="13912340003").status_code == 200
    assert post(url, pool, query, company="乙公司", mobile="13912340004").status_code == 429
    assert Lead.objects.filter(campaign=c).count() == 1


def test_a_disabled_or_unknown_campaign_form_is_not_found(mk: Mk) -> None:
    # R9.3: switching the campaign form off closes the link; the marker no longer attributes
    c = campaign(mk, "关闭的活动", form_enabled=True)
    _page, url, query = visit(c.form_token)
    services.update_campaign(actor=fresh(mk.marketer), campaign=c, data={"form_enabled": False})
    assert Client().get(reverse("marketing:webform", args=[c.form_token])).status_code == 404
    assert Client().get(reverse("marketing:webform", args=["forged"])).status_code == 404
    pool = LeadPool.objects.get(org=mk.world.org, kind="total")
    post(url, pool, query, company="迟到公司", mobile="13912340005")
    assert Lead.objects.get(company="迟到公司").campaign_id is None
    old = c.form_token
    services.update_campaign(actor=fresh(mk.marketer), campaign=c, data={"form_enabled": True})
    services.regenerate_form_token(actor=fresh(mk.marketer), campaign=c)
    assert Client().get(reverse("marketing:webform", args=[old])).status_code == 404


def test_a_campaign_form_needs_its_pools_form_on(mk: Mk) -> None:
    # R9.3: the campaign form is the pool's web form, so that must be on
    pool = lead_services.save_pool(
        actor=fresh(mk.marketer), data={"name": "关表单池", "form_enabled": False}
    )
    with pytest.raises(services.ValidationFailed) as exc:
        services.create_campaign(
            actor=fresh(mk.marketer), data={"name": "甲", "form_enabled": True}, form_pool=pool
        )
    assert "form_enabled" in exc.value.field_errors


def test_utm_parameters_attach_leads_from_every_channel(mk: Mk, api_client: Any) -> None:
    # R9.3: utm_source/utm_campaign of a lead (pool web form, API, import) pick its campaign
    exact = campaign(mk, "百度推广", utm_source="baidu", utm_campaign="mes-q4")
    loose = campaign(mk, "通用推广", utm_campaign="mes-q4")
    cancelled = campaign(mk, "取消的推广", utm_campaign="old")
    services.set_status(actor=fresh(mk.marketer), campaign=cancelled, status="cancelled")
    # the pool's own web form with tracking parameters in its embed URL
    pool = LeadPool.objects.get(org=mk.world.org, kind="total")
    url = reverse("leads:webform", args=[pool.form_token])
    hidden = {"utm_source": ["BAIDU"], "utm_campaign": [" mes-q4 "]}
    post(url, pool, hidden, company="网页公司", mobile="13912340011")
    assert Lead.objects.get(company="网页公司").campaign_id == exact.pk
    # the API: utm in extra, or an explicit campaign_id
    client = api_client(mk.marketer)

    def create(body: dict[str, Any]) -> Any:
        return client.post("/api/v1/leads/leads", json.dumps(body), content_type="application/json")

    r = create(
        {"company": "接口公司", "mobile": "13912340012", "extra": {"utm_campaign": "mes-q4"}}
    )
    assert r.status_code == 201 and r.json()["campaign"]["id"] == loose.pk
    r = create({"company": "取消公司", "mobile": "13912340013", "extra": {"utm_campaign": "old"}})
    assert r.json()["campaign"] is None
    r = create({"company": "指定公司", "mobile": "13912340014", "campaign_id": cancelled.pk})
    assert r.status_code == 201 and r.json()["campaign"]["id"] == cancelled.pk
    lead_id = r.json()["id"]
    r = client.patch(
        f"/api/v1/leads/leads/{lead_id}",
        json.dumps({"campaign_id": exact.pk}),
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["campaign"]["id"] == exact.pk
    # the import wizard's row handler: by name or code, or by utm columns kept in extra
    ctx = RowContext(actor=fresh(mk.marketer), resource=LEADS)
    lead = LEADS.create(
        ctx, {"company": "导入公司", "mobile": "13912340015", "campaign": "通用推广"}
    )
    assert lead.campaign_id == loose.pk
    with pytest.raises(services.ValidationFailed) as exc:
        LEADS.create(ctx, {"company": "导入公司乙", "mobile": "13912340016", "campaign": "没有"})
    assert "campaign" in exc.value.field_errors
    assert not Lead.objects.filter(company="导入公司乙").exists()


def test_campaign_ids_of_another_tenant_or_unseen_are_refused(
    mk: Mk, mk_other: Mk, api_client: Any
) -> None:
    # R9.3 scope: a lead cannot be attached to another organisation's campaign (404, nothing
    # written); a rep without marketing:view cannot name one either
    foreign = campaign(mk_other, "别家活动")
    client = api_client(mk.marketer)
    before = Lead.objects.count()
    r = client.post(
        "/api/v1/leads/leads",
        json.dumps({"company": "越权公司", "mobile": "13912340021", "campaign_id": foreign.pk}),
        content_type="application/json",
    )
    assert r.status_code == 404 and Lead.objects.count() == before
    with pytest.raises(services.ValidationFailed):
        lead_services.create_lead(
            actor=fresh(mk.marketer),
            data={"company": "越权公司", "mobile": "13912340022"},
            campaign=foreign,
        )
    assert Lead.objects.count() == before
    mine = campaign(mk, "本家活动")
    r = api_client(mk.world.users["rep_south"]).get(f"/api/v1/marketing/campaigns/{mine.pk}")
    assert r.status_code == 403


def test_lead_list_filters_by_campaign_and_the_lead_page_shows_it(mk: Mk) -> None:
    # R9.3: click-through from a campaign's figures to its leads
    c = campaign(mk, "筛选活动")
    lead_services.create_lead(
        actor=fresh(mk.marketer),
        data={"company": "活动内公司", "mobile": "13912340031"},
        campaign=c,
    )
    lead_services.create_lead(
        actor=fresh(mk.marketer), data={"company": "活动外公司", "mobile": "13912340032"}
    )
    client = login_client(mk.marketer)
    body = client.get(reverse("leads:lead_list"), {"campaign_id": c.pk}).content.decode()
    assert "活动内公司" in body and "活动外公司" not in body
    api = client.get("/api/v1/leads/leads", {"campaign_id": c.pk}).json()
    assert [i["company"] for i in api["items"]] == ["活动内公司"]
    lead = Lead.objects.get(company="活动内公司")
    page = client.get(reverse("leads:lead_detail", args=[lead.pk])).content.decode()
    assert "筛选活动" in page
