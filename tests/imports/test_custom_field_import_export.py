"""Custom fields in imports and exports (issue 7, R10.5): the import resources of customers,
contacts, leads and opportunities take custom-field columns (suggested from the label and the
key, validated by clean_custom, errors per line); list exports carry the custom columns, and an
exported file imports back."""

from __future__ import annotations

import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from crm.core import custom_fields as cf
from crm.core.testing.world import World
from crm.customers import services as customer_services
from crm.customers.models import Contact, Customer
from crm.imports import registry, services
from crm.leads import services as lead_services
from crm.leads.models import Lead
from crm.pipeline import opportunities
from crm.pipeline.models import Opportunity
from tests.imports.conftest import fresh, new_job


def define(world: World, target: str, **data: Any) -> Any:
    return cf.create_field(actor=world.admin, data={"target": target, **data})


def errors(job: Any) -> list[str]:
    return list(job.row_errors.order_by("line").values_list("message", flat=True))


def test_customer_import_takes_custom_columns_with_errors_per_line(iw: World, run: Any) -> None:
    # R10.5: custom columns suggested from label and key; clean_custom validates each row
    define(iw, "customer", key="tier", label="客户等级", kind="choice", choices=["金牌", "银牌"])
    define(iw, "customer", key="budget", label="预算", kind="money")
    director = iw.users["director"]
    resource = registry.get_resource("customers", iw.org.pk)
    assert resource is not None
    assert {"custom.tier", "custom.budget"} <= set(resource.keys)
    assert registry.get_resource("customers") is not None
    assert "custom.tier" not in registry.get_resource("customers").keys  # type: ignore[union-attr]
    rows = [
        ["客户名称", "客户等级", "budget"],
        ["甲导入公司", "金牌", "¥1,200.5"],
        ["乙导入公司", "铁牌", "10"],
        ["丙导入公司", "", "abc"],
        ["丁导入公司", "", ""],
    ]
    job = new_job(director, "customers", rows)
    assert job.mapping[1:] == ["custom.tier", "custom.budget"]  # suggested from the titles
    job = services.configure_job(
        actor=fresh(director),
        job=job,
        mapping=["name", *job.mapping[1:]],
        duplicate_mode="skip",
        strict=False,
    )
    job = run(job)
    assert (job.created_count, job.failed_count) == (2, 2), errors(job)
    messages = errors(job)
    assert "客户等级" in messages[0] and "金牌" in messages[0]  # line 3: not a choice
    assert "预算" in messages[1]  # line 4: not an amount
    assert list(job.row_errors.order_by("line").values_list("line", flat=True)) == [3, 4]
    stored = dict(Customer.objects.filter(org=iw.org).values_list("name", "custom"))
    assert stored["甲导入公司"] == {"tier": "金牌", "budget": "1200.50"}
    assert stored["丁导入公司"] == {}
    # update mode changes only the custom cells given
    job = run(new_job(director, "customers", [rows[0], ["甲导入公司", "银牌", ""]], mode="update"))
    assert job.updated_count == 1, errors(job)
    assert Customer.objects.get(name="甲导入公司").custom == {"tier": "银牌", "budget": "1200.50"}
    # a required field without a default needs its column
    define(iw, "customer", key="region", label="大区", kind="text", required=True)
    try:
        new_job(director, "customers", [["客户名称"], ["戊公司"]])
        raise AssertionError("the mapping should be refused")
    except Exception as exc:  # ValidationFailed
        assert "大区" in str(getattr(exc, "field_errors", exc))


def test_contact_lead_and_opportunity_imports_take_custom_columns(iw: World, run: Any) -> None:
    # R10.5: the other three resources
    define(iw, "contact", key="hobby", label="爱好", kind="text")
    define(iw, "lead", key="size", label="规模", kind="number")
    define(iw, "opportunity", key="channels", label="渠道", kind="multi_choice",
           choices=["直销", "代理", "线上"])  # fmt: skip
    director = fresh(iw.users["director"])
    customer_services.create_customer(actor=director, data={"name": "联系人公司"})
    job = run(
        new_job(
            director, "contacts", [["客户名称", "姓名", "爱好"], ["联系人公司", "王五", "钓鱼"]]
        )
    )
    assert job.created_count == 1, errors(job)
    assert Contact.objects.get(name="王五").custom == {"hobby": "钓鱼"}
    job = run(
        new_job(director, "leads", [["公司", "手机", "size"], ["线索公司", "13800138000", "1,500"]])
    )
    assert job.created_count == 1, errors(job)
    assert Lead.objects.get(company="线索公司").custom == {"size": 1500}
    job = run(
        new_job(
            director,
            "opportunities",
            [["客户名称", "商机名称", "渠道"], ["联系人公司", "导入商机", "线上；直销"]],
        )
    )
    assert job.created_count == 1, errors(job)
    assert Opportunity.objects.get(name="导入商机").custom == {"channels": ["直销", "线上"]}


def xlsx_rows(data: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_exports_carry_custom_columns_and_import_back(iw: World, client_for: Any, run: Any) -> None:
    # R10.5: customers/opportunities export the chosen custom columns, leads every active one;
    # the list's custom filter applies; the exported file imports back with the same values
    define(iw, "customer", key="tier", label="客户等级", kind="choice", choices=["金牌", "银牌"],
           show_in_list=True)  # fmt: skip
    define(iw, "customer", key="budget", label="预算", kind="money", show_in_list=True)
    define(iw, "lead", key="size", label="规模", kind="number")
    define(iw, "opportunity", key="adviser", label="顾问", kind="user", show_in_list=True)
    director = fresh(iw.users["director"])
    values = {"甲出口公司": ("金牌", "1200.00"), "乙出口公司": ("银牌", "80.00")}
    for name, (tier, budget) in values.items():
        customer_services.create_customer(
            actor=director, data={"name": name, "custom": {"tier": tier, "budget": budget}}
        )
    client = client_for(director)
    query = "view=all&cols=cf_tier,cf_budget&cf=tier&cf_value=金牌"
    rows = xlsx_rows(body(client.get(f"/imports/export/customers/?{query}&export=xlsx")))
    assert rows[0] == ["名称", "客户等级", "预算"]
    assert rows[1:] == [["甲出口公司", "金牌", 1200]]
    # round trip: delete, import the file back
    data = body(client.get("/imports/export/customers/?view=all&cols=cf_tier,cf_budget&export=csv"))
    Customer.objects.filter(org=iw.org).delete()
    job = services.create_job(
        actor=fresh(director), resource="customers", uploaded_file=SimpleUploadedFile("c.csv", data)
    )
    assert job.mapping[1:] == ["custom.tier", "custom.budget"]  # suggested from the titles
    job = services.configure_job(
        actor=fresh(director),
        job=job,
        mapping=["name", *job.mapping[1:]],
        duplicate_mode="skip",
        strict=False,
    )
    job = run(job)
    assert job.created_count == 2, errors(job)
    stored = dict(Customer.objects.filter(org=iw.org).values_list("name", "custom"))
    assert stored == {n: {"tier": t, "budget": b} for n, (t, b) in values.items()}
    # leads: every active field
    lead_services.create_lead(
        actor=director, data={"company": "出口线索", "mobile": "13800138001", "custom": {"size": 7}}
    )
    text = body(client.get("/imports/export/leads/?export=csv")).decode("utf-8-sig")
    assert text.splitlines()[0].endswith(",规模") and text.splitlines()[1].endswith(",7")
    # opportunities: a colleague by name
    buyer = Customer.objects.get(name="甲出口公司")
    rep = iw.users["rep_east"]
    opportunities.create_opportunity(
        actor=director, customer=buyer, data={"name": "出口商机", "custom": {"adviser": rep.pk}}
    )
    rows = xlsx_rows(body(client.get("/imports/export/opportunities/?cols=cf_adviser&export=xlsx")))
    assert rows[0] == ["名称", "顾问"] and rows[1] == ["出口商机", rep.display_name]
