"""Exports (R10.3): streamed CSV (UTF-8 with BOM) and XLSX in constant memory, formula
neutralisation that the importer reverses, the export permission, the audit trail, and list
exports that contain exactly what the list shows (tab or query, filters, sort, columns)."""

from __future__ import annotations

import io
import os
from datetime import date
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from crm.core.models import Event
from crm.core.testing.world import World
from crm.customers import services as customer_services
from crm.imports import exporters, readers, services
from crm.leads import services as lead_services
from crm.leads.models import Lead
from crm.pipeline import opportunities
from tests.imports.conftest import fresh

DANGEROUS = ["=1+2", "+86 138", "-5", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")']


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def xlsx_rows(data: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def test_cells_that_start_a_formula_are_neutralised() -> None:
    # R10.3: = + - @ tab and CR get a leading '; numbers and dates stay typed
    assert [exporters.neutralise(v) for v in DANGEROUS] == ["'" + v for v in DANGEROUS]
    assert exporters.neutralise("杭州") == "杭州"
    assert exporters.neutralise(-5) == -5
    assert exporters.neutralise(date(2026, 1, 2)) == date(2026, 1, 2)
    assert exporters.neutralise(None) == ""


def test_csv_has_a_bom_crlf_and_neutralised_cells_that_import_back() -> None:
    # R10.3: Excel opens the UTF-8 CSV (BOM); formulas never run; the importer restores them
    data = b"".join(exporters.stream_csv([[v, "中文"] for v in DANGEROUS], ["值", "说明"]))
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.startswith("值,说明\r\n'=1+2,中文\r\n")
    info = readers.inspect(io.BytesIO(data), "x.csv", len(data))
    table = readers.open_csv(data)
    restored = [cells[0] for _line, cells in table.rows()]
    assert info.total_rows == len(DANGEROUS)
    assert restored == DANGEROUS


def test_xlsx_holds_no_formula_and_imports_back() -> None:
    # R10.3: openpyxl would write "=…" as a formula: the neutralised text is a plain string
    data = b"".join(exporters.stream_xlsx([[v, 1] for v in DANGEROUS], ["值", "数"]))
    book = load_workbook(io.BytesIO(data))
    cells = [row[0] for row in book.worksheets[0].iter_rows(min_row=2)]
    assert all(c.data_type == "s" for c in cells)
    assert [c.value for c in cells] == ["'" + v for v in DANGEROUS]
    table = readers.open_xlsx(io.BytesIO(data), "x.xlsx")
    assert [cells[0] for _l, cells in table.rows()] == DANGEROUS


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _measure(stream: Any, rows: int) -> tuple[int, int]:
    """(bytes produced, growth of the resident memory while producing them)."""
    baseline = _rss()
    peak = baseline
    size = 0
    for i, chunk in enumerate(stream):
        size += len(chunk)
        if i % 20 == 0:
            peak = max(peak, _rss())
    return size, max(peak, _rss()) - baseline


def generated(n: int) -> Any:
    for i in range(n):
        yield [
            i,
            f"杭州示例科技有限公司{i}",
            f"138{i:08d}",
            "=1+2",
            "浙江省杭州市西湖区文三路 1 号",
            date(2026, 1, 1),
        ]


def test_a_hundred_thousand_rows_stream_in_constant_memory() -> None:
    # R10.3: "a million rows use constant memory": measured on 100k rows, CSV and XLSX
    columns = ["编号", "客户名称", "手机", "备注", "地址", "日期"]
    size, growth = _measure(exporters.stream_csv(generated(100_000), columns), 100_000)
    assert size > 8_000_000
    assert growth < 30 * 1024 * 1024, growth
    size, growth = _measure(exporters.stream_xlsx(generated(100_000), columns), 100_000)
    assert size > 500_000  # inline strings deflate to ~8.5 bytes a row here
    assert growth < 40 * 1024 * 1024, growth


def test_an_xlsx_download_starts_before_its_rows_are_read() -> None:
    # R10.3/R11.2: the first chunk leaves with the first rows (it used to wait for the last)
    consumed = 0

    def rows() -> Any:
        nonlocal consumed
        for row in generated(50_000):
            consumed += 1
            yield row

    chunks = exporters.stream_xlsx(rows(), ["编号", "客户名称", "手机", "备注", "地址", "日期"])
    first = next(chunks)
    assert first[:2] == b"PK" and consumed < 10_000, consumed
    data = first + b"".join(chunks)
    assert consumed == 50_000
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    got = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(got) == 50_000
    assert got[7][:4] == (7, "杭州示例科技有限公司7", "13800000007", "'=1+2")
    assert got[7][5].date() == date(2026, 1, 1)


# --- list exports ----------------------------------------------------------------------------
def test_export_needs_the_export_permission(iw: World, client_for: Any) -> None:
    # R10.3: without customers:export the export answers 403 and the menu is not shown
    rep = client_for(iw.users["rep_east"])
    before = Event.objects.filter(verb="export.downloaded").count()
    for url in (
        "/imports/export/customers/?export=csv",
        "/imports/export/opportunities/?export=xlsx",
        "/imports/export/leads/?export=csv",
    ):
        assert rep.get(url).status_code == 403
    assert Event.objects.filter(verb="export.downloaded").count() == before
    page = rep.get("/customers/")
    assert b'id="customers-export"' not in page.content
    manager = client_for(iw.users["manager1"])
    assert b'id="customers-export"' in manager.get("/customers/?view=team").content


def test_customer_export_is_what_the_list_shows_and_is_audited(iw: World, client_for: Any) -> None:
    # R10.3: same tab, filters, sort and chosen columns as the page; one audit event
    manager = iw.users["manager1"]
    for i, (key, name, region) in enumerate(
        (
            ("rep_east", "杭州甲科技有限公司", "浙江杭州"),
            ("rep_south", "广州乙贸易有限公司", "广东广州"),
            ("rep_east2", "杭州丙电子有限公司", "浙江杭州"),
            ("rep_sales2", "二部的客户有限公司", "浙江杭州"),  # outside manager1's tree
        )
    ):
        customer_services.create_customer(
            actor=fresh(iw.users[key]),
            data={"name": name, "region": region, "phone": f"+86 571 8888 666{i}"},
        )
    client = client_for(manager)
    query = "view=team&region=浙江&sort=-name&cols=owner,region,phone"
    page = client.get(f"/customers/?{query}")
    shown = [row["customer"].name for row in page.context["rows"]]
    assert shown == ["杭州甲科技有限公司", "杭州丙电子有限公司"]  # by pinyin, descending
    response = client.get(f"/imports/export/customers/?{query}&export=xlsx")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response["Content-Disposition"]
    rows = xlsx_rows(body(response))
    assert len(rows[0]) == 4
    assert [r[0] for r in rows[1:]] == shown
    assert rows[2][1:] == [iw.users["rep_east2"].display_name, "浙江杭州", "'+86 571 8888 6662"]
    event = Event.objects.get(verb="export.downloaded")
    assert (event.actor_id, event.object_type, event.object_id) == (
        manager.pk,
        "customers.customer",
        "",
    )
    assert event.data["resource"] == "customers" and event.data["rows"] == 2
    assert event.data["format"] == "xlsx"
    assert event.data["filters"]["region"] == "浙江" and event.data["filters"]["view"] == "team"
    csv_response = client.get(f"/imports/export/customers/?{query}&export=csv")
    text = body(csv_response).decode("utf-8-sig")
    assert text.splitlines()[1].startswith("杭州甲科技有限公司,")
    assert Event.objects.filter(verb="export.downloaded").count() == 2


def test_opportunity_export_follows_query_sort_and_chosen_columns(
    iw: World, client_for: Any
) -> None:
    # R10.3: the opportunity list's query, search, sort and chosen columns
    director = iw.users["director"]
    rep = fresh(iw.users["rep_east"])
    buyer = customer_services.create_customer(actor=rep, data={"name": "杭州丁有限公司"})
    for name, amount in (("甲项目", "300"), ("乙项目", "100"), ("丙项目", "200")):
        opportunities.create_opportunity(
            actor=rep, customer=buyer, data={"name": name, "expected_amount": amount}
        )
    client = client_for(director)
    query = "query=all&search=项目&sort=-amount&cols=amount,customer"
    page = client.get(f"/opportunities/?{query}")
    shown = [row["o"].name for row in page.context["rows"]]
    assert shown == ["甲项目", "丙项目", "乙项目"]
    rows = xlsx_rows(body(client.get(f"/imports/export/opportunities/?{query}&export=xlsx")))
    assert [r[0] for r in rows[1:]] == shown
    assert len(rows[0]) == 3
    assert rows[1][1:] == ["¥300.00", "杭州丁有限公司"] or rows[1][1:] == [
        "杭州丁有限公司",
        "¥300.00",
    ]
    event = Event.objects.get(verb="export.downloaded")
    assert event.object_type == "pipeline.opportunity" and event.data["rows"] == 3


def test_lead_export_and_re_import_round_trip(iw: World, client_for: Any, run: Any) -> None:
    # R10.3: the lead list as CSV; the file imports back (titles map, neutralised cells restored)
    director = iw.users["director"]
    lead_services.create_lead(
        actor=fresh(director),
        data={"company": "@杭州戊有限公司", "mobile": "13800138111", "region": "华东"},
    )
    lead_services.create_lead(
        actor=fresh(director),
        data={"company": "广州己有限公司", "mobile": "13800138222", "region": "华南"},
    )
    client = client_for(director)
    response = client.get("/imports/export/leads/?region=华东&export=csv")
    data = body(response)
    text = data.decode("utf-8-sig")
    assert "'@杭州戊有限公司" in text and "广州己" not in text
    # deleted, then the exported file imported back
    Lead.objects.filter(company="@杭州戊有限公司").delete()
    job = services.create_job(
        actor=fresh(director), resource="leads", uploaded_file=SimpleUploadedFile("leads.csv", data)
    )
    assert {"company", "contact_name", "mobile", "region", "source", "owner"} <= set(job.mapping)
    job = run(job)
    assert (job.created_count, job.failed_count) == (1, 0), list(
        job.row_errors.values_list("message", flat=True)
    )
    assert Lead.objects.filter(company="@杭州戊有限公司", region="华东").count() == 1
