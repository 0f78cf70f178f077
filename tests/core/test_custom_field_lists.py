"""Custom fields in lists (issue 7, R10.5): list columns on the customer, lead and opportunity
lists, the list filter, custom conditions of the opportunity query builder (saved queries and
the API ``conditions`` too), with clear messages for unknown keys and bad values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.core import custom_fields as cf
from crm.core.models import CustomField
from crm.core.testing.world import World
from crm.customers import services as customer_services
from crm.customers.models import Customer
from crm.leads import services as lead_services
from crm.org.models import User
from crm.pipeline import opportunities, queries

pytestmark = pytest.mark.django_db
TIERS = ["金牌", "银牌", "铜牌"]


def define(world: World, target: str, **data: Any) -> CustomField:
    return cf.create_field(actor=world.admin, data={"target": target, **data})


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


@pytest.fixture
def customers(world: World) -> list[Customer]:
    define(world, "customer", key="tier", label="等级", kind="choice", choices=TIERS)
    define(world, "customer", key="budget", label="预算", kind="money", show_in_list=True)
    define(world, "customer", key="note", label="备注", kind="text")
    CustomField.objects.filter(key="tier").update(show_in_list=True)
    rep = fresh(world.users["rep_east"])
    rows = [("甲公司", "金牌", "1200"), ("乙公司", "银牌", "80"), ("丙公司", None, None)]
    made = []
    for i, (name, tier, budget) in enumerate(rows):
        custom = {k: v for k, v in (("tier", tier), ("budget", budget)) if v}
        custom["note"] = f"第{i}号 VIP" if i == 0 else "普通"
        made.append(
            customer_services.create_customer(
                actor=rep, data={"name": name, "phone": f"0571-8800{i:04d}", "custom": custom}
            )
        )
    return made


def test_customer_list_shows_custom_columns_without_a_query_per_row(
    world: World, customers: list[Customer], client_for: Any
) -> None:
    # R10.5: show_in_list fields are columns of the customer list (shown by default, optional
    # in the chooser); the values come from the row's JSON, not one query per row
    client = client_for(world.users["rep_east"])
    page = client.get("/customers/")
    assert page.status_code == 200
    keys = [c["key"] for c in page.context["all_columns"]]
    assert keys[-2:] == ["cf_tier", "cf_budget"]
    cells = {r["customer"].name: dict(r["cells"]) for r in page.context["rows"]}
    expected = {c.name: c.custom for c in customers}  # independent: the stored values
    for name, values in cells.items():
        assert values["cf_tier"] == expected[name].get("tier", "")
        budget = expected[name].get("budget")
        assert values["cf_budget"] == (f"¥{float(budget):,.2f}" if budget else "")
    assert "¥1,200.00" in page.content.decode()
    # the chooser drops a custom column; the choice is kept in the session
    page = client.get("/customers/?cols=owner,cf_budget")
    assert [c["key"] for c in page.context["columns"]] == ["owner", "cf_budget"]
    # query count does not grow with the rows
    with CaptureQueriesContext(connection) as few:
        client.get("/customers/?cols=cf_tier,cf_budget")
    rep = fresh(world.users["rep_east"])
    for i in range(5):
        customer_services.create_customer(
            actor=rep, data={"name": f"新增{i}", "custom": {"tier": "铜牌", "budget": i}}
        )
    with CaptureQueriesContext(connection) as many:
        client.get("/customers/?cols=cf_tier,cf_budget")
    assert len(many) == len(few)


def test_customer_list_filter_by_custom_field(
    world: World, customers: list[Customer], client_for: Any
) -> None:
    # R10.5: the list's "custom field" filter, applied with filter_q; bad input → a message
    client = client_for(world.users["rep_east"])

    def names(query: str) -> set[str]:
        page = client.get(f"/customers/?{query}")
        assert page.status_code == 200
        return {r["customer"].name for r in page.context["rows"]}

    by_tier = {c.name for c in customers if c.custom.get("tier") == "金牌"}
    assert names("cf=tier&cf_value=金牌") == by_tier == {"甲公司"}
    assert names("cf=budget&cf_op=gte&cf_value=100") == {
        c.name for c in customers if float(c.custom.get("budget", -1)) >= 100
    }
    assert names("cf=tier&cf_op=empty") == {c.name for c in customers if "tier" not in c.custom}
    assert names("cf=note&cf_value=vip") == {"甲公司"}  # text: contains, any case
    page = client.get("/customers/?cf=tier&cf_value=金牌")
    assert "cf" in page.context["filter_form"].fields
    assert "金牌" in page.content.decode()  # the value suggestions
    for bad, message in (
        ("cf=nope&cf_value=1", "nope"),
        ("cf=budget&cf_op=gte&cf_value=abc", "预算"),
        ("cf=tier&cf_op=gte&cf_value=1", "等级"),
    ):
        page = client.get(f"/customers/?{bad}")
        assert page.status_code == 200
        assert page.context["rows"] == []
        assert any(message in p for p in page.context["problems"]), page.context["problems"]


def test_lead_list_columns_and_filter(world: World, client_for: Any) -> None:
    # R10.5: lead list columns (show_in_list) and the custom-field filter
    define(world, "lead", key="size", label="规模", kind="number", show_in_list=True)
    define(world, "lead", key="hidden", label="不显示", kind="text")
    director = fresh(world.users["director"])
    from tests.imports.conftest import grant

    director = grant(world, "director", ["leads:view", "leads:create", "leads:edit"], "all")
    sizes = {"甲线索": 10, "乙线索": 250, "丙线索": None}
    for i, (company, size) in enumerate(sizes.items()):
        data: dict[str, Any] = {"company": company, "mobile": f"138001380{i:02d}"}
        if size is not None:
            data["custom"] = {"size": size}
        lead_services.create_lead(actor=director, data=data)
    client = client_for(director)
    page = client.get("/leads/")
    assert page.status_code == 200
    assert [f.key for f in page.context["custom_columns"]] == ["size"]
    shown = {lead.company: lead.custom_cells for lead in page.context["page"]}
    assert shown == {c: [str(s) if s is not None else ""] for c, s in sizes.items()}
    page = client.get("/leads/?cf=size&cf_op=gte&cf_value=100")
    assert {lead.company for lead in page.context["page"]} == {
        c for c, s in sizes.items() if s is not None and s >= 100
    }
    page = client.get("/leads/?cf=unknown&cf_value=1")
    assert list(page.context["page"]) == [] and "unknown" in page.context["custom_problem"]


@pytest.fixture
def deals(world: World) -> dict[str, Any]:
    define(
        world, "opportunity", key="region", label="大区", kind="choice", choices=["华东", "华南"]
    )
    define(world, "opportunity", key="channels", label="渠道", kind="multi_choice",
           choices=["直销", "代理", "线上"], show_in_list=True)  # fmt: skip
    define(world, "opportunity", key="signed_on", label="签约日", kind="date")
    rep = fresh(world.users["rep_east"])
    buyer = customer_services.create_customer(actor=rep, data={"name": "买家公司"})
    rows = {
        "甲项目": {"region": "华东", "channels": ["直销", "线上"], "signed_on": "2026-03-01"},
        "乙项目": {"region": "华南", "channels": ["代理"], "signed_on": "2026-05-01"},
        "丙项目": {},
    }
    made = {
        name: opportunities.create_opportunity(
            actor=rep, customer=buyer, data={"name": name, "custom": custom}
        )
        for name, custom in rows.items()
    }
    return {"rows": rows, "made": made}


def test_query_builder_custom_conditions_and_saved_queries(
    world: World, deals: dict[str, Any], client_for: Any, api_client: Any
) -> None:
    # R10.5 + R4.6: custom fields are condition fields with operators suited to their kind
    rep = fresh(world.users["rep_east"])
    rows = deals["rows"]
    options = {o["key"]: o for o in queries.field_options(rep) if o.get("custom")}
    assert set(options) == {"cf.region", "cf.channels", "cf.signed_on"}
    assert [o["key"] for o in options["cf.region"]["ops"]] == ["eq", "in", "empty", "not_empty"]
    assert options["cf.signed_on"]["type"] == "date"
    assert "between" in [o["key"] for o in options["cf.signed_on"]["ops"]]

    def names(cond: dict[str, Any]) -> set[str]:
        qs = queries.visible(rep).filter(queries.compile_conditions(rep, cond))
        return set(qs.values_list("name", flat=True))

    def rule(field: str, op: str, value: Any = None) -> dict[str, Any]:
        return {"match": "all", "rules": [{"field": field, "op": op, "value": value}]}

    assert names(rule("cf.region", "eq", "华东")) == {
        n for n, c in rows.items() if c.get("region") == "华东"
    }
    assert names(rule("cf.channels", "eq", "线上")) == {
        n for n, c in rows.items() if "线上" in c.get("channels", [])
    }
    assert names(rule("cf.channels", "in", ["代理", "线上"])) == {"甲项目", "乙项目"}
    assert names(rule("cf.signed_on", "between", ["2026-04-01", "2026-12-31"])) == {"乙项目"}
    assert names(rule("cf.region", "empty")) == {"丙项目"}
    for bad in (
        rule("cf.nope", "eq", "x"),
        rule("cf.region", "gte", "华东"),
        rule("cf.region", "eq", "华北"),
        rule("cf.signed_on", "eq", "昨天"),
        rule("cf.signed_on", "between", ["2026-05-01", "2026-01-01"]),
    ):
        with pytest.raises(Exception) as exc:
            queries.compile_conditions(rep, bad)
        assert exc.value.__class__.__name__ == "ValidationFailed"
        assert exc.value.field_errors["conditions"]  # type: ignore[attr-defined]
    # a saved query keeps the custom condition and the custom column
    saved = queries.save_query(
        rep,
        {
            "name": "华东项目",
            "conditions": rule("cf.region", "eq", "华东"),
            "columns": ["customer", "cf_channels"],
        },
    )
    assert saved.columns == ["customer", "cf_channels"]
    client = client_for(rep)
    page = client.get(f"/opportunities/?query={saved.pk}")
    assert page.status_code == 200
    assert [r["o"].name for r in page.context["rows"]] == ["甲项目"]
    assert [c["key"] for c in page.context["columns"]] == ["customer", "cf_channels"]
    assert dict(page.context["rows"][0]["cells"])["cf_channels"] == "直销、线上"
    # the list URL's conditions and the API's conditions parameter accept them too
    cond = json.dumps(rule("cf.channels", "eq", "代理"))
    page = client.get("/opportunities/", {"cond": cond})
    assert [r["o"].name for r in page.context["rows"]] == ["乙项目"]
    api = api_client(rep)
    r = api.get("/api/v1/opportunities/", {"conditions": cond})
    assert r.status_code == 200, r.content
    assert {item["name"] for item in r.json()["items"]} == {"乙项目"}
    r = api.get("/api/v1/opportunities/", {"conditions": json.dumps(rule("cf.nope", "eq", 1))})
    assert r.status_code == 400
    page = client.get("/opportunities/", {"cond": json.dumps(rule("cf.region", "eq", "火星"))})
    assert page.status_code == 200 and page.context["sel"].problems


def test_another_organisation_cannot_filter_on_my_fields(
    world: World, other_world: World, deals: dict[str, Any]
) -> None:
    # R10.5: another organisation's field is unknown there
    stranger = fresh(other_world.users["director"])
    with pytest.raises(Exception) as exc:
        queries.compile_conditions(
            stranger, {"rules": [{"field": "cf.region", "op": "eq", "value": "华东"}]}
        )
    assert exc.value.__class__.__name__ == "ValidationFailed"
    q, problem = cf.list_filter(stranger, "customer", {"cf": "tier", "cf_value": "金牌"})
    assert q is None and problem
