"""Custom fields on customers, contacts, leads and opportunities (issue 7, R10.5): the API
schema and round trip, the forms (create, edit, errors on the field), the record pages, the
definitions API and the settings page."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from crm.core import custom_fields as cf
from crm.core.models import CustomField, Event
from crm.core.testing.pages import with_sections
from crm.core.testing.world import World, make_user, role
from crm.customers import services as customer_services
from crm.customers.models import Contact, Customer
from crm.leads.models import Lead
from crm.pipeline.models import Opportunity
from tests.conftest import login_client


def define(world: World, target: str, **data: Any) -> CustomField:
    return cf.create_field(actor=world.admin, data={"target": target, **data})


@pytest.fixture
def fields(world: World) -> dict[str, CustomField]:
    made = {}
    for target in ("customer", "contact", "lead", "opportunity"):
        made[target] = define(
            world,
            target,
            key="tier",
            label="等级",
            kind="choice",
            choices=["金牌", "银牌"],
            required=True,
        )
        define(world, target, key="budget", label="预算", kind="money", default="10")
    return made


@pytest.mark.django_db
def test_openapi_schema_documents_custom(client: Any) -> None:
    # R10.5: custom is part of the API schema of the four record kinds
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]
    for name in (
        "CustomerRead",
        "CustomerCreate",
        "CustomerUpdate",
        "ContactRead",
        "ContactCreate",
        "ContactUpdate",
        "LeadRead",
        "LeadCreate",
        "LeadUpdate",
        "OpportunityRead",
        "OpportunityCreate",
        "OpportunityUpdate",
    ):
        assert "custom" in schema[name]["properties"], name
        assert "custom-fields" in schema[name]["properties"]["custom"]["description"]


@pytest.mark.django_db
def test_api_round_trip_customer_and_contact(world: World, fields: Any, api_client: Any) -> None:
    # R10.5: create, read and update custom values through the API; errors name the field
    rep = world.users["rep_east"]
    api = api_client(rep)
    r = api.post(
        "/api/v1/customers/customers", {"name": "接口公司"}, content_type="application/json"
    )
    assert r.status_code == 400
    assert "custom.tier" in str(r.json())
    r = api.post(
        "/api/v1/customers/customers",
        {"name": "接口公司", "custom": {"tier": "金牌"}},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["custom"] == {"tier": "金牌", "budget": "10.00"}
    cid = body["id"]
    r = api.patch(
        f"/api/v1/customers/customers/{cid}",
        {"version": body["version"], "custom": {"budget": "1,234.5"}},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["custom"] == {"tier": "金牌", "budget": "1234.50"}
    assert Customer.objects.get(pk=cid).custom == {"tier": "金牌", "budget": "1234.50"}
    event = Event.objects.filter(verb="customer.updated", object_id=str(cid)).latest("pk")
    assert event.changes["custom"][1]["budget"] == "1234.50"
    r = api.post(
        f"/api/v1/customers/customers/{cid}/contacts",
        {"name": "张三", "custom": {"tier": "银牌", "nope": 1}},
        content_type="application/json",
    )
    assert r.status_code == 400 and "custom.nope" in str(r.json())
    r = api.post(
        f"/api/v1/customers/customers/{cid}/contacts",
        {"name": "张三", "custom": {"tier": "银牌"}},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    assert Contact.objects.get(pk=r.json()["id"]).custom == {"tier": "银牌", "budget": "10.00"}


@pytest.mark.django_db
def test_api_round_trip_lead_and_opportunity(world: World, fields: Any, api_client: Any) -> None:
    # R10.5: leads and opportunities take custom values too
    admin_api = api_client(world.admin)
    r = admin_api.post(
        "/api/v1/leads/leads",
        {"company": "线索公司", "mobile": "13800138000", "custom": {"tier": "银牌"}},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    lead = Lead.objects.get(pk=r.json()["id"])
    assert lead.custom == {"tier": "银牌", "budget": "10.00"}
    assert lead.extra == {}
    r = admin_api.patch(
        f"/api/v1/leads/leads/{lead.pk}",
        {"custom": {"budget": None}},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["custom"] == {"tier": "银牌"}

    rep = world.users["rep_east"]
    customer = customer_services.create_customer(
        actor=rep, data={"name": "商机客户", "custom": {"tier": "金牌"}}
    )
    api = api_client(rep)
    r = api.post(
        "/api/v1/opportunities/",
        {"customer_id": customer.pk, "name": "大单", "custom": {"tier": "金牌"}},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    oid = r.json()["id"]
    assert r.json()["custom"] == {"tier": "金牌", "budget": "10.00"}
    r = api.patch(
        f"/api/v1/opportunities/{oid}",
        {"version": r.json()["version"], "custom": {"tier": "钻石"}},
        content_type="application/json",
    )
    assert r.status_code == 400 and "custom.tier" in str(r.json())
    assert Opportunity.objects.get(pk=oid).custom["tier"] == "金牌"


@pytest.mark.django_db
def test_definitions_api(world: World, other_world: World, api_client: Any) -> None:
    # R10.5: any member reads the definitions; only administrators change them
    rep_api = api_client(world.users["rep_east"])
    admin_api = api_client(world.admin)
    r = admin_api.post(
        "/api/v1/custom-fields/",
        {"target": "lead", "key": "campaign", "label": "活动", "kind": "text"},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    fid = r.json()["id"]
    define(other_world, "lead", key="theirs", label="他们的", kind="text")
    listed = rep_api.get("/api/v1/custom-fields/?target=lead").json()
    assert [f["key"] for f in listed] == ["campaign"]
    assert (
        rep_api.post(
            "/api/v1/custom-fields/",
            {"target": "lead", "key": "x", "label": "x", "kind": "text"},
            content_type="application/json",
        ).status_code
        == 403
    )
    assert (
        rep_api.patch(
            f"/api/v1/custom-fields/{fid}", {"label": "y"}, content_type="application/json"
        ).status_code
        == 403
    )
    r = admin_api.patch(
        f"/api/v1/custom-fields/{fid}", {"label": "市场活动"}, content_type="application/json"
    )
    assert r.status_code == 200 and r.json()["label"] == "市场活动"
    assert admin_api.post(f"/api/v1/custom-fields/{fid}/retire").json()["is_active"] is False
    assert rep_api.get("/api/v1/custom-fields/").json() == []
    assert len(rep_api.get("/api/v1/custom-fields/?include_retired=true").json()) == 1
    other_admin = api_client(other_world.admin)
    assert other_admin.get(f"/api/v1/custom-fields/{fid}").status_code == 404
    assert other_admin.post(f"/api/v1/custom-fields/{fid}/restore").status_code == 404


@pytest.mark.django_db
def test_customer_form_page_and_errors(world: World, fields: Any) -> None:
    # R10.5: custom fields appear in the form with default and required, on the page
    rep = world.users["rep_east"]
    client = login_client(rep)
    page = client.get(reverse("customers:create")).content.decode()
    assert 'name="cf_tier"' in page and 'name="cf_budget"' in page and 'value="10.00"' in page
    r = client.post(reverse("customers:create"), {"name": "表单公司", "cf_budget": "5"})
    assert r.status_code == 200
    assert Customer.objects.filter(name="表单公司").count() == 0
    r = client.post(
        reverse("customers:create"), {"name": "表单公司", "cf_tier": "银牌", "cf_budget": "88"}
    )
    assert r.status_code == 302, r.content.decode()[:500]
    customer = Customer.objects.get(name="表单公司")
    assert customer.custom == {"tier": "银牌", "budget": "88.00"}
    detail = with_sections(client, reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "section-custom_fields" in detail and "¥88.00" in detail
    edit = client.get(reverse("customers:edit", args=[customer.pk])).content.decode()
    assert 'value="88.00"' in edit
    r = client.post(
        reverse("customers:edit", args=[customer.pk]),
        {"name": "表单公司", "version": customer.version, "cf_tier": "银牌", "cf_budget": "-1"},
    )
    assert r.status_code == 200
    assert "cf_budget" in r.content.decode() and "is-invalid" in r.content.decode()
    r = client.post(
        reverse("customers:edit", args=[customer.pk]),
        {"name": "表单公司", "version": customer.version, "cf_tier": "金牌", "cf_budget": ""},
    )
    assert r.status_code == 302
    assert Customer.objects.get(pk=customer.pk).custom == {"tier": "金牌"}


@pytest.mark.django_db
def test_contact_lead_and_opportunity_forms(world: World, fields: Any) -> None:
    # R10.5: contacts, leads and opportunities have their fields in forms and pages
    rep = world.users["rep_east"]
    client = login_client(rep)
    customer = customer_services.create_customer(
        actor=rep, data={"name": "联系人公司", "custom": {"tier": "金牌"}}
    )
    r = client.post(
        reverse("customers:contact_create", args=[customer.pk]),
        {"name": "李四", "cf_tier": "银牌", "cf_budget": "3"},
    )
    assert r.status_code == 302, r.content.decode()[:300]
    contact = Contact.objects.get(name="李四")
    assert contact.custom == {"tier": "银牌", "budget": "3.00"}
    page = with_sections(client, reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "custom-values" in page

    admin = login_client(world.admin)
    r = admin.post(
        reverse("leads:lead_create"),
        {"company": "表单线索", "mobile": "13900139000", "cf_tier": "金牌", "cf_budget": ""},
    )
    assert r.status_code == 302, r.content.decode()[:300]
    lead = Lead.objects.get(company="表单线索")
    assert lead.custom == {"tier": "金牌"}
    edit = admin.get(reverse("leads:lead_edit", args=[lead.pk])).content.decode()
    assert 'value="金牌" selected' in edit
    detail = admin.get(reverse("leads:lead_detail", args=[lead.pk])).content.decode()
    assert "section-custom_fields" in detail

    page = client.get(reverse("opportunities:create") + f"?customer={customer.pk}")
    assert 'name="cf_tier"' in page.content.decode()


@pytest.mark.django_db
def test_settings_pages(world: World) -> None:
    # R10.5: Settings → Custom fields: create, edit, retire, restore, reorder (admins only)
    admin = login_client(world.admin)
    assert admin.get(reverse("customfields:list")).status_code == 200
    r = admin.post(
        reverse("customfields:create"),
        {
            "target": "customer",
            "label": "等级",
            "key": "tier",
            "kind": "choice",
            "choices": "金牌\n银牌",
            "default": "银牌",
            "required": "on",
            "show_in_list": "on",
        },
    )
    assert r.status_code == 302, r.content.decode()[:500]
    field = CustomField.objects.get(org=world.org, key="tier")
    assert (field.choices, field.default, field.required) == (["金牌", "银牌"], "银牌", True)
    r = admin.post(
        reverse("customfields:create"),
        {"target": "customer", "label": "坏", "key": "Bad Key", "kind": "text"},
    )
    assert r.status_code == 400
    r = admin.post(
        reverse("customfields:edit", args=[field.pk]),
        {"label": "客户等级", "choices": "金牌\n银牌\n铜牌", "default": "", "sort_order": "5"},
    )
    assert r.status_code == 302
    field.refresh_from_db()
    assert (field.label, field.default, field.required) == ("客户等级", None, False)
    define(world, "customer", key="second", label="第二", kind="text")
    admin.post(reverse("customfields:move", args=[field.pk]), {"direction": "down"})
    assert [f.key for f in cf.definitions(world.org.pk, "customer")] == ["second", "tier"]
    admin.post(reverse("customfields:retire", args=[field.pk]))
    field.refresh_from_db()
    assert not field.is_active
    admin.post(reverse("customfields:restore", args=[field.pk]))
    field.refresh_from_db()
    assert field.is_active
    rep = login_client(world.users["rep_east"])
    assert rep.get(reverse("customfields:list")).status_code == 403
    assert rep.post(reverse("customfields:retire", args=[field.pk])).status_code == 403


@pytest.mark.django_db
def test_lead_conversion_carries_matching_values(world: World) -> None:
    # R10.5: a lead's values go to the customer's field with the same key and kind
    from crm.leads import services as lead_services

    define(world, "lead", key="tier", label="等级", kind="choice", choices=["A", "B"])
    define(world, "customer", key="tier", label="等级", kind="choice", choices=["A"])
    define(world, "lead", key="note", label="备注", kind="text")
    manager = make_user(world.admin, "线索经理", world.depts["east"], [role(world.org, "manager")])
    lead = lead_services.create_lead(
        actor=world.admin,
        data={"company": "转化公司", "mobile": "13700137000", "custom": {"tier": "A", "note": "x"}},
        owner=manager,
    )
    lead = lead_services.mark_qualified(actor=manager, lead=lead)
    result = lead_services.convert_lead(actor=manager, lead=lead)
    assert Customer.objects.get(pk=result.converted_customer_id).custom == {"tier": "A"}
