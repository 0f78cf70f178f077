"""The streamed XLSX writer (R10.3 export): what a spreadsheet reads back is what was written."""

from __future__ import annotations

# naive datetimes are what a spreadsheet holds: the exporter converts to local time first
# ruff: noqa: DTZ001
import datetime as dt
import io
from decimal import Decimal

from openpyxl import load_workbook

from crm.imports.xlsx_stream import sheet_title, stream


def _read(data: bytes) -> list[tuple[object, ...]]:
    return list(load_workbook(io.BytesIO(data)).worksheets[0].iter_rows(values_only=True))


def test_values_come_back_with_their_types_and_formats() -> None:
    row = [
        "上海华信科技有限公司",
        Decimal("1234567.89"),
        42,
        dt.date(2026, 11, 25),
        dt.datetime(2026, 11, 25, 14, 30, 15),
        None,
        "  spaced  ",
        "a\rb\nc\td",
        "<&>\"'",
        "bad\x00\x07chars",
    ]
    data = b"".join(stream([row], [f"c{i}" for i in range(len(row))], title="商机/导出[1]"))
    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    assert sheet.title == "商机 导出 1"
    header, got = _read(data)
    assert header == tuple(f"c{i}" for i in range(len(row)))
    assert got[:3] == ("上海华信科技有限公司", 1234567.89, 42)
    assert got[3] == dt.datetime(2026, 11, 25)
    assert got[4] == dt.datetime(2026, 11, 25, 14, 30, 15)
    assert got[5] is None
    assert got[6:9] == ("  spaced  ", "a\rb\nc\td", "<&>\"'")
    assert got[9] == "badchars"
    assert sheet["D2"].number_format == "yyyy-mm-dd"
    assert sheet["E2"].number_format == "yyyy-mm-dd hh:mm"
    assert sheet["A1"].font.b and not sheet["A2"].font.b


def test_an_empty_export_is_a_valid_workbook_with_its_header() -> None:
    assert _read(b"".join(stream([], ["名称", "金额"]))) == [("名称", "金额")]


def test_chunks_follow_the_rows() -> None:
    rows = ([f"客户{i}", i] for i in range(30_000))
    chunks = list(stream(rows, ["名称", "序号"], chunk=16 * 1024))
    assert len(chunks) > 3
    assert len(_read(b"".join(chunks))) == 30_001


def test_sheet_titles_are_ones_excel_accepts() -> None:
    assert sheet_title("") == "Sheet1"
    assert sheet_title("a" * 40) == "a" * 31
    assert sheet_title("x:y*z?") == "x y z"
