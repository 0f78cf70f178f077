"""Custom-field filters by parameter (issue 7, R10.5): ``cf_<key>=value`` and
``cf_<key>_min``/``_max`` on the customer, lead and opportunity list pages and list APIs, run
in SQL on the ``custom`` JSON column (SQLite and PostgreSQL); unknown keys and bad values are
a 422 in the API and an ignored filter with a message on the pages; scope and tenants hold."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation

from crm.core import custom_field_filters as cfp
from crm.core import custom_fields as cf
from crm.core.models import CustomField
from crm.core.testing.world import World
from crm.customers import services as customer_services
from crm.customers.models import Customer
from crm.leads import services as lead_services
from crm.org.models import User
from crm.pipeline import opportunities
from crm.pipeline.models import Opportunity

pytestmark = pytest.mark.django_db
TIERS = ["金牌", "银牌", "铜牌"]
TAGS = ["国企", "外企", "民企"]


def define(world: World, target: str, **data: Any) -> CustomField:
    return cf.create_field(actor=world.admin, data={"target": target, **data})


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


ROWS: dict[str, dict[str, Any]] = {
    "甲公司": {"note": "重点 VIP 客户", "tier": "金牌", "kinds": ["国企", "外企"],
             "budget": "1200.50", "size": 300, "since": "2026-01-15"},
    "乙公司": {"note": "普通", "tier": "银牌", "kinds": ["民企"], "budget": "80", "size": 12,
             "since": "2026-06-01"},
    "丙公司": {"note": "vip 待跟进", "kinds": ["外企"], "size": 45.5},
    "丁公司": {},
}  # fmt: skip


@pytest.fixture
def customers(world: World) -> dict[str, Customer]:
    define(world, "customer", key="note", label="备注", kind="text")
    define(world, "customer", key="tier", label="等级", kind="choice", choices=TIERS)
    define(world, "customer", key="kinds", label="性质", kind="multi_choice", choices=TAGS)
    define(world, "customer", key="budget", label="预算", kind="money")
    define(world, "customer", key="size", label="人数", kind="number")
    define(world, "customer", key="since", label="合作日", kind="date")
    define(world, "customer", key="keeper", label="维护人", kind="user")
    rep = fresh(world.users["rep_east"])
    made = {}
    for i, (name, custom) in enumerate(ROWS.items()):
        data = {**custom}
        if i == 0:
            data["keeper"] = world.users["rep_east"].pk
        made[name] = customer_services.create_customer(
            actor=rep, data={"name": name, "phone": f"0571-8811{i:04d}", "custom": data}
        )
    return made


def names(user: User, params: dict[str, str], target: str = "customer") -> set[str]:
    parsed = cfp.parse(user, target, params)
    assert parsed.errors == {}, parsed.errors
    qs = Customer.objects.visible_to(user).filter(parsed.q)
    return set(qs.values_list("name", flat=True))


def expected(test: Any) -> set[str]:
    """The rows whose stored values pass ``test`` (computed in Python, not by the filter)."""
    return {name for name, custom in ROWS.items() if test(custom)}


def test_each_kind_filters_in_sql(world: World, customers: dict[str, Customer]) -> None:
    # R10.5 (issue 7): text contains (case-insensitive), choice equals, multi-choice holds,
    # number/money/date equal and ranges, colleague equals; several parameters are ANDed
    rep = fresh(world.users["rep_east"])
    assert names(rep, {"cf_note": "VIP"}) == expected(lambda c: "vip" in c.get("note", "").lower())
    assert names(rep, {"cf_tier": "金牌"}) == expected(lambda c: c.get("tier") == "金牌")
    assert names(rep, {"cf_kinds": "外企"}) == expected(lambda c: "外企" in c.get("kinds", []))
    assert names(rep, {"cf_size_min": "40"}) == expected(lambda c: c.get("size", -1) >= 40)
    assert names(rep, {"cf_size_max": "45.5"}) == expected(lambda c: 0 <= c.get("size", -1) <= 45.5)
    assert names(rep, {"cf_size": "12"}) == {"乙公司"}
    assert names(rep, {"cf_budget_min": "100", "cf_budget_max": "¥2,000"}) == expected(
        lambda c: 100 <= Decimal(c.get("budget", "-1")) <= 2000
    )
    assert names(rep, {"cf_budget": "80"}) == {"乙公司"}
    assert names(rep, {"cf_since_min": "2026-02-01"}) == expected(
        lambda c: c.get("since", "") >= "2026-02-01"
    )
    assert names(rep, {"cf_since_max": "2026/03/01"}) == expected(
        lambda c: "" < c.get("since", "") <= "2026-03-01"
    )
    assert names(rep, {"cf_keeper": str(rep.pk)}) == {"甲公司"}
    assert names(rep, {"cf_keeper": rep.username}) == {"甲公司"}
    both = {"cf_kinds": "外企", "cf_size_min": "100"}
    assert names(rep, both) == {"甲公司"}
    # blank values are ignored (the filter form sends every input)
    assert names(rep, {"cf_tier": "", "cf_size_min": "  "}) == set(ROWS)


def test_bad_parameters_are_problems_by_parameter(
    world: World, customers: dict[str, Customer]
) -> None:
    # R10.5: unknown key, range on a kind without one, bad values, reversed range, too long
    rep = fresh(world.users["rep_east"])
    with translation.override("en"):
        parsed = cfp.parse(
            rep,
            "customer",
            {
                "cf_nope": "1",
                "cf_note_min": "a",
                "cf_tier": "钻石",
                "cf_size_min": "many",
                "cf_since": "yesterday",
                "cf_keeper": "nobody-such",
                "cf_budget_min": "500",
                "cf_budget_max": "100",
                "cf_note": "x" * 201,
            },
        )
    errors = {k: " ".join(v) for k, v in parsed.errors.items()}
    assert set(errors) == {
        "cf_nope",
        "cf_note_min",
        "cf_tier",
        "cf_size_min",
        "cf_since",
        "cf_keeper",
        "cf_budget_min",
        "cf_note",
    }
    assert "There is no custom field “nope”" in errors["cf_nope"]
    assert "range" in errors["cf_note_min"]
    assert "Choose one of: 金牌、银牌、铜牌" in errors["cf_tier"]
    assert "Enter a number" in errors["cf_size_min"]
    assert "YYYY-MM-DD" in errors["cf_since"]
    assert "colleague" in errors["cf_keeper"]
    assert "lower bound is above the upper bound" in errors["cf_budget_min"]
    assert "200" in errors["cf_note"]
    # the single-field filter's own parameters are not field filters
    assert cfp.parse(rep, "customer", {"cf_op": "gte", "cf_value": "1"}).errors == {}


def test_a_key_ending_in_min_is_matched_exactly_first(world: World) -> None:
    # R10.5: a field keyed "price_min" is filtered by cf_price_min (not a range of "price")
    define(world, "customer", key="price", label="价格", kind="number")
    define(world, "customer", key="price_min", label="最低价", kind="text")
    rep = fresh(world.users["rep_east"])
    for i, custom in enumerate(({"price": 5, "price_min": "abc"}, {"price": 50})):
        customer_services.create_customer(
            actor=rep, data={"name": f"价{i}", "phone": f"0571-8822{i:04d}", "custom": custom}
        )
    assert names(rep, {"cf_price_min": "ab"}) == {"价0"}
    assert names(rep, {"cf_price_max": "10"}) == {"价0"}


def test_customer_api_filters_and_refuses_unknown_keys_with_422(
    world: World, customers: dict[str, Customer], api_client: Any
) -> None:
    # R10.5 + API: cf_<key> on GET /customers; unknown key or bad value → 422 naming it
    api = api_client(fresh(world.users["rep_east"]))
    r = api.get("/api/v1/customers/customers", {"cf_kinds": "外企", "cf_size_min": "40"})
    assert r.status_code == 200, r.content
    assert {c["name"] for c in r.json()["items"]} == {"甲公司", "丙公司"}
    r = api.get("/api/v1/customers/customers", {"cf_nope": "1"})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_error"
    assert body["errors"] == [{"field": "cf_nope", "message": "There is no custom field “nope”."}]
    r = api.get("/api/v1/customers/customers", {"cf_size_max": "9" * 40})
    assert r.status_code == 422, r.content


def test_scope_and_tenants_hold_under_custom_filters(
    world: World, other_world: World, customers: dict[str, Customer], api_client: Any
) -> None:
    # R10.5 + SECURITY: an out-of-scope colleague matches nothing of ours; another organisation
    # does not know our keys (422), even for values its own records might hold
    outsider = fresh(world.users["rep_sales2"])
    assert names(outsider, {"cf_tier": "金牌"}) == set()
    r = api_client(outsider).get("/api/v1/customers/customers", {"cf_tier": "金牌"})
    assert r.status_code == 200 and r.json()["items"] == []
    stranger = fresh(other_world.users["director"])
    r = api_client(stranger).get("/api/v1/customers/customers", {"cf_tier": "金牌"})
    assert r.status_code == 422
    parsed = cfp.parse(stranger, "customer", {"cf_tier": "金牌"})
    assert set(parsed.errors) == {"cf_tier"}
    # a retired field is unknown too
    CustomField.objects.filter(org=world.org, key="tier").update(is_active=False)
    cf.forget(world.users["rep_east"])
    r = api_client(fresh(world.users["rep_east"])).get(
        "/api/v1/customers/customers", {"cf_tier": "金牌"}
    )
    assert r.status_code == 422


def test_customer_page_shows_inputs_applies_filters_and_ignores_bad_ones(
    world: World, customers: dict[str, Customer], client_for: Any
) -> None:
    # R10.5: the list filter form shows the filterable fields; a bad parameter is ignored
    # with a message while the good ones still apply; the export applies them too
    client = client_for(fresh(world.users["rep_east"]))
    page = client.get("/customers/", {"cf_kinds": "外企"})
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("cf_note", "cf_tier", "cf_kinds", "cf_budget_min", "cf_budget_max",
                 "cf_since_min", "cf_size_max", "cf_keeper"):  # fmt: skip
        assert f'name="{name}"' in html, name
    assert 'id="custom-field-filters" open' in html
    assert {r["customer"].name for r in page.context["rows"]} == {"甲公司", "丙公司"}
    with translation.override("en"):
        page = client.get(
            "/customers/", {"cf_kinds": "外企", "cf_nope": "1"}, HTTP_ACCEPT_LANGUAGE="en"
        )
    assert {r["customer"].name for r in page.context["rows"]} == {"甲公司", "丙公司"}
    assert any("nope" in str(p) for p in page.context["problems"])


def test_lead_page_export_and_api(world: World, client_for: Any, api_client: Any) -> None:
    # R10.5: cf_<key> on the lead lists, the lead export and GET /leads
    from tests.imports.conftest import grant

    define(world, "lead", key="size", label="规模", kind="number")
    define(world, "lead", key="channel", label="渠道", kind="choice", choices=["展会", "官网"])
    director = grant(world, "director", ["leads:view", "leads:create", "leads:export"], "all")
    rows = {
        "甲线索": (10, "展会"),
        "乙线索": (250, "官网"),
        "丙线索": (900, "展会"),
        "丁线索": None,
    }
    for i, (company, values) in enumerate(rows.items()):
        data: dict[str, Any] = {"company": company, "mobile": f"138001381{i:02d}"}
        if values:
            data["custom"] = {"size": values[0], "channel": values[1]}
        lead_services.create_lead(actor=director, data=data)
    want = {c for c, v in rows.items() if v and v[0] >= 100 and v[1] == "展会"}
    params = {"cf_size_min": "100", "cf_channel": "展会"}
    page = client_for(director).get("/leads/", params)
    assert page.status_code == 200
    assert {lead.company for lead in page.context["page"]} == want
    assert 'name="cf_size_min"' in page.content.decode()
    page = client_for(director).get("/leads/", {**params, "cf_size_max": "x"})
    assert {lead.company for lead in page.context["page"]} == want
    assert page.context["cf_problems"]
    r = api_client(director).get("/api/v1/leads/leads", params)
    assert r.status_code == 200, r.content
    assert {item["company"] for item in r.json()["items"]} == want
    assert (
        api_client(director).get("/api/v1/leads/leads", {"cf_channel": "电话"}).status_code == 422
    )
    export = client_for(director).get("/imports/export/leads/", {**params, "export": "csv"})
    assert export.status_code == 200
    content = getattr(export, "streaming_content", None)
    raw = b"".join(content) if content is not None else export.content
    text = raw.decode("utf-8-sig")
    assert "丙线索" in text and "甲线索" not in text and "乙线索" not in text


def test_opportunity_page_and_api(world: World, client_for: Any, api_client: Any) -> None:
    # R10.5: cf_<key> on the opportunity list page (with the query builder) and GET /opportunities
    define(
        world, "opportunity", key="region", label="大区", kind="choice", choices=["华东", "华南"]
    )
    define(world, "opportunity", key="signed_on", label="签约日", kind="date")
    rep = fresh(world.users["rep_east"])
    buyer = customer_services.create_customer(actor=rep, data={"name": "买家公司"})
    rows = {
        "甲项目": {"region": "华东", "signed_on": "2026-03-01"},
        "乙项目": {"region": "华东", "signed_on": "2026-08-01"},
        "丙项目": {"region": "华南", "signed_on": "2026-04-01"},
        "丁项目": {},
    }
    for name, custom in rows.items():
        opportunities.create_opportunity(
            actor=rep, customer=buyer, data={"name": name, "custom": custom}
        )
    params = {"cf_region": "华东", "cf_signed_on_max": "2026-06-30"}
    want = {
        n for n, c in rows.items() if c.get("region") == "华东" and c["signed_on"] <= "2026-06-30"
    }
    page = client_for(rep).get("/opportunities/", params)
    assert page.status_code == 200
    assert {r["o"].name for r in page.context["rows"]} == want
    assert 'name="cf_signed_on_min"' in page.content.decode()
    page = client_for(rep).get("/opportunities/", {**params, "cf_zzz": "1"})
    assert {r["o"].name for r in page.context["rows"]} == want
    assert any("zzz" in p for p in page.context["sel"].problems)
    r = api_client(rep).get("/api/v1/opportunities/", params)
    assert r.status_code == 200, r.content
    assert {item["name"] for item in r.json()["items"]} == want
    r = api_client(rep).get("/api/v1/opportunities/", {"cf_signed_on_min": "明天"})
    assert r.status_code == 422
    # another colleague out of scope sees none of them through the filter
    outsider = fresh(world.users["rep_sales2"])
    r = api_client(outsider).get("/api/v1/opportunities/", {"cf_region": "华东"})
    assert r.status_code == 200 and r.json()["items"] == []
    assert Opportunity.objects.filter(org=world.org).count() == 4
