"""Column mapping (R10.3): suggestions from column titles in Chinese and English (with marks
like * and (必填), full-width characters and spaces), saved mappings per resource and person,
and the downloadable templates whose titles map back to every field."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from crm.core.testing.world import World
from crm.imports import services
from crm.imports.models import ImportTemplate
from crm.imports.registry import RESOURCES, apply_template, normalise_header, suggest
from tests.imports.conftest import fresh, new_job


def test_titles_are_normalised_for_comparison() -> None:
    # R10.3: marks and spacing do not matter
    assert normalise_header(" 客户名称* ") == "客户名称"
    assert normalise_header("手机号（必填）") == "手机号"
    assert normalise_header("E-Mail") == "email"
    assert normalise_header("Ｍｏｂｉｌｅ") == "mobile"
    assert normalise_header("contact_name") == "contactname"


def test_chinese_and_english_titles_suggest_fields() -> None:
    # R10.3: 客户名称/公司名称/name → name; 手机/手机号/mobile → the mobile field
    customers = RESOURCES["customers"]
    assert suggest(customers, ["公司名称", "手机号", "所属行业", "备注", "奇怪的列"]) == [
        "name",
        "contact_mobile",
        "industry",
        "notes",
        "",
    ]
    assert suggest(customers, ["Name", "Mobile", "E-mail", "Region", "Owner"]) == [
        "name",
        "contact_mobile",
        "email",
        "region",
        "owner",
    ]
    leads = RESOURCES["leads"]
    assert suggest(leads, ["单位名称", "联系人", "手机号码", "留言"]) == [
        "company",
        "contact_name",
        "mobile",
        "notes",
    ]
    opportunities = RESOURCES["opportunities"]
    assert suggest(
        opportunities, ["opportunity_id", "sales_agent", "account", "deal_stage", "close_value"]
    ) == ["", "owner", "customer", "stage", "expected_amount"]
    # a field is suggested for one column at most
    assert suggest(customers, ["客户名称", "公司名称"]) == ["name", ""]


def test_every_field_is_found_from_its_own_template_title() -> None:
    # R10.3: the downloadable template maps back to every field, for every resource
    for resource in RESOURCES.values():
        titles, example = services.template_columns(resource)
        assert suggest(resource, titles) == resource.keys, resource.key
        assert len(example) == len(titles)


def test_template_download_is_an_xlsx_with_chinese_titles_and_an_example() -> None:
    # R10.3: 下载模板: titles in Chinese (required ones marked *), one example row
    out = io.BytesIO()
    services.write_template(RESOURCES["customers"], out)
    sheet = load_workbook(io.BytesIO(out.getvalue()), read_only=True).worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][:3] == ["客户名称*", "简称", "客户类型"]
    assert rows[1][0] == "杭州示例科技有限公司"
    assert "手机" in rows[0] and "联系人" in rows[0]


def test_a_saved_mapping_is_offered_again_for_the_next_file(iw: World) -> None:
    # R10.3: save the mapping as a template (per person and resource), apply it by title
    rep = iw.users["rep_east"]
    job = new_job(
        rep,
        "customers",
        [["公司", "奇怪的手机列", "备注"], ["甲公司", "13800138000", "x"]],
        mapping=["name", "contact_mobile", ""],
    )
    template = services.save_template(actor=fresh(rep), job=job, name="  CRM 旧系统  ")
    assert template.name == "CRM 旧系统"
    assert template.columns == {"公司": "name", "奇怪的手机列": "contact_mobile", "备注": ""}
    again = services.save_template(actor=fresh(rep), job=job, name="CRM 旧系统")
    assert again.pk == template.pk and ImportTemplate.objects.count() == 1
    resource = RESOURCES["customers"]
    assert apply_template(
        resource, ["奇怪的手机列*", "公司", "地区", "备注"], template.columns
    ) == ["contact_mobile", "name", "region", ""]
    assert list(ImportTemplate.objects.visible_to(fresh(iw.users["rep_east2"]))) == []
    assert list(ImportTemplate.objects.visible_to(fresh(iw.admin))) == []


def test_saved_mapping_is_deleted_only_by_its_owner(iw: World) -> None:
    # R10.3: a saved mapping is personal
    import pytest

    from crm.core.errors import NotFound

    rep = iw.users["rep_east"]
    job = new_job(rep, "customers", [["客户名称"], ["甲公司"]])
    template = services.save_template(actor=fresh(rep), job=job, name="我的")
    with pytest.raises(NotFound):
        services.delete_template(actor=fresh(iw.users["manager1"]), template=template)
    services.delete_template(actor=fresh(rep), template=template)
    assert ImportTemplate.objects.count() == 0
