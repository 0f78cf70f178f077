"""Campaigns (R9.3): CRUD over the API with validation (ErrorOut, bounds, nothing half-written),
status moves, deletion only when unused, scope (another tenant: 404; no marketing right: 403),
pages, menu and audit events."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from crm.core.models import Event
from crm.leads import services as lead_services
from crm.marketing.models import Campaign

from ..conftest import login_client
from .conftest import Mk, campaign, fresh

pytestmark = pytest.mark.django_db
API = "/api/v1/marketing/campaigns"


def send(client: Any, url: str, body: dict[str, Any], method: str = "post") -> Any:
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def test_api_crud_status_and_delete(mk: Mk, api_client: Any) -> None:
    # R9.3: a campaign has name, type, channel, budget, actual cost, period, owner, segment
    client = api_client(mk.marketer)
    r = send(
        client,
        API,
        {
            "name": "2026 工博会",
            "code": "CIIF",
            "campaign_type": "exhibition",
            "channel": "展会",
            "start_date": "2026-09-01",
            "end_date": "2026-09-05",
            "budget": "80000",
            "actual_cost": "76500.5",
            "target_segment": "华东制造业",
            "owner_id": mk.rep.pk,
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    pk = body["id"]
    assert body["status"] == "planned" and body["owner"]["id"] == mk.rep.pk
    assert Decimal(body["actual_cost"]) == Decimal("76500.50")
    assert body["form_url"] is None
    r = send(client, f"{API}/{pk}", {"channel": "国家会展中心", "version": 1}, "patch")
    assert r.status_code == 200 and r.json()["version"] == 2
    assert send(client, f"{API}/{pk}", {"channel": "x", "version": 1}, "patch").status_code == 409
    r = send(client, f"{API}/{pk}/status", {"status": "active"})
    assert r.status_code == 200 and r.json()["status"] == "active"
    refused = send(client, f"{API}/{pk}/status", {"status": "planned"})
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    listed = client.get(API, {"status": "active", "campaign_type": "exhibition", "q": "工博"})
    assert listed.status_code == 200 and [c["id"] for c in listed.json()["items"]] == [pk]
    assert client.get(API, {"status": "planned"}).json()["count"] == 0
    assert client.get(API, {"start": "2026-10-01"}).json()["count"] == 0
    assert client.get(API, {"start": "2026-09-04", "end": "2026-12-31"}).json()["count"] == 1
    assert client.get(API, {"sort": "-budget"}).status_code == 200
    assert client.get(API, {"sort": "secret"}).status_code == 400
    # a campaign that leads carry is not deleted
    lead_services.create_lead(
        actor=fresh(mk.marketer),
        data={"company": "展会客户", "mobile": "13900001111"},
        campaign=Campaign.objects.get(pk=pk),
    )
    r = client.delete(f"{API}/{pk}")
    assert r.status_code == 409 and Campaign.objects.filter(pk=pk).exists()
    unused = campaign(mk, "空活动")
    assert client.delete(f"{API}/{unused.pk}").status_code == 204
    assert not Campaign.objects.filter(pk=unused.pk).exists()
    verbs = set(Event.objects.filter(org=mk.world.org).values_list("verb", flat=True))
    assert {"campaign.created", "campaign.updated", "campaign.active", "campaign.deleted"} <= verbs


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
        ({"name": "a", "budget": "-1"}, "budget"),
        ({"name": "a", "actual_cost": "1e20"}, "actual_cost"),
        ({"name": "a", "campaign_type": "tv"}, "campaign_type"),
        ({"name": "a", "start_date": "2026-09-05", "end_date": "2026-09-01"}, "end_date"),
        ({"name": "a", "utm_source": "baidu"}, "utm_campaign"),
        ({"name": "已有活动"}, "name"),
        ({"name": "a", "owner_id": 2**63}, "owner_id"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    mk: Mk, api_client: Any, body: dict[str, Any], field: str
) -> None:
    # R9.3: a clear error per field; no campaign is created
    campaign(mk, "已有活动")
    before = Campaign.objects.count()
    r = send(api_client(mk.marketer), API, body)
    assert r.status_code in (400, 422), r.content
    assert any(field in e["field"] for e in r.json()["errors"]), r.json()
    assert Campaign.objects.count() == before


def test_same_tracking_parameters_twice_are_refused(mk: Mk, api_client: Any) -> None:
    # R9.3: utm values must name one campaign
    campaign(mk, "甲", utm_source="baidu", utm_campaign="q4")
    r = send(
        api_client(mk.marketer), API, {"name": "乙", "utm_source": "Baidu", "utm_campaign": "Q4"}
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "utm_campaign"


def test_another_tenant_and_users_without_the_right_cannot_reach_a_campaign(
    mk: Mk, mk_other: Mk, api_client: Any
) -> None:
    # R9.3 scope: another organisation gets 404 like a missing id; no marketing right: 403
    target = campaign(mk, "机密活动")
    url = f"{API}/{target.pk}"
    other = api_client(mk_other.marketer)
    assert other.get(url).status_code == 404
    assert send(other, url, {"name": "越权"}, "patch").status_code == 404
    assert other.delete(url).status_code == 404
    assert send(other, f"{url}/status", {"status": "active"}).status_code == 404
    assert other.get(f"{url}/attribution").status_code == 404
    assert "机密活动" not in other.get(API).content.decode()
    outsider = api_client(mk.outsider)
    assert outsider.get(API).status_code == 403
    assert outsider.get(url).status_code == 403
    rep = api_client(mk.rep)  # marketing:view only
    assert rep.get(url).status_code == 200
    assert send(rep, url, {"name": "越权"}, "patch").status_code == 403
    assert rep.delete(url).status_code == 403
    target.refresh_from_db()
    assert target.name == "机密活动" and target.version == 1
    page = login_client(mk_other.marketer)
    assert page.get(reverse("marketing:detail", args=[target.pk])).status_code == 404
    assert page.post(reverse("marketing:delete", args=[target.pk])).status_code == 404
    assert login_client(mk.outsider).get(reverse("marketing:list")).status_code == 403
    assert Campaign.objects.filter(pk=target.pk).exists()


def test_pages_list_form_detail_and_menu(mk: Mk) -> None:
    # R9.3 pages: plan a campaign in the form, see it listed and on its page
    client = login_client(mk.marketer)
    r = client.get(reverse("marketing:list"))
    assert r.status_code == 200 and reverse("marketing:list") in r.content.decode()
    r = client.post(
        reverse("marketing:create"),
        {"name": "线上研讨会", "campaign_type": "webinar", "budget": "8000", "actual_cost": ""},
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    created = Campaign.objects.get(name="线上研讨会")
    assert created.owner_id == mk.marketer.pk and created.budget == Decimal("8000.00")
    bad = client.post(
        reverse("marketing:edit", args=[created.pk]),
        {
            "name": "线上研讨会",
            "campaign_type": "webinar",
            "start_date": "2026-05-02",
            "end_date": "2026-05-01",
        },
    )
    assert bad.status_code == 400
    created.refresh_from_db()
    assert created.start_date is None
    detail = client.get(reverse("marketing:detail", args=[created.pk]))
    assert detail.status_code == 200 and "线上研讨会" in detail.content.decode()
    r = client.post(reverse("marketing:status", args=[created.pk]), {"status": "active"})
    assert r.status_code == 302
    created.refresh_from_db()
    assert created.status == "active"
    listed = client.get(reverse("marketing:list"), {"status": "active"}).content.decode()
    assert "线上研讨会" in listed
    # a rep with marketing:view sees the menu entry and the page, not the create button
    rep_page = login_client(mk.rep).get(reverse("marketing:list")).content.decode()
    assert reverse("marketing:compare") in rep_page and reverse("marketing:create") not in rep_page


def test_demo_campaigns_carry_their_leads(mk: Mk) -> None:
    # R9.3 demo data: three campaigns; the search-ads leads found theirs by utm_campaign alone
    from crm.marketing import demo

    demo.build(mk.world.org, {"marketing": fresh(mk.marketer)})
    counts = {
        c.code: (c.status, c.leads.count()) for c in Campaign.objects.filter(org=mk.world.org)
    }
    assert counts == {
        "CIIF-2026": ("completed", 3),
        "SEM-MES-Q4": ("active", 2),
        "WEB-SF-01": ("active", 1),
    }
