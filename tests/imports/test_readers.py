"""Readers of uploaded tables (R10.3): CSV in UTF-8 with and without BOM and in GBK/GB18030
(detected or chosen), XLSX through openpyxl's read-only mode; limits with clear messages; and
malicious files refused quickly within a memory bound: zip bombs, password-protected
workbooks (OLE2), garbage."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from crm.core.errors import ValidationFailed
from crm.imports import readers
from tests.imports.conftest import csv_bytes, xlsx_bytes

ROWS = [["客户名称", "手机", "备注"], ["杭州示例科技有限公司", "13800138000", "=1+2"]]


def inspect(data: bytes, name: str, encoding: str = "auto") -> readers.Inspection:
    return readers.inspect(io.BytesIO(data), name, len(data), encoding)


def refused(data: bytes, name: str, encoding: str = "auto") -> str:
    """The message (in English, so that the assertions do not depend on the catalogue)."""
    with translation.override("en"), pytest.raises(ValidationFailed) as caught:
        inspect(data, name, encoding)
    return str(caught.value.field_errors["file"][0])


def test_utf8_with_and_without_bom_read_the_same() -> None:
    # R10.3: UTF-8 with or without a BOM (what Excel's "CSV UTF-8" saves)
    for bom in (True, False):
        info = inspect(csv_bytes(ROWS, bom=bom), "a.csv")
        assert info.headers == ["客户名称", "手机", "备注"]
        assert info.encoding == "utf-8"
        assert info.total_rows == 1
        assert info.sample == [(2, ["杭州示例科技有限公司", "13800138000", "=1+2"])]


def test_gbk_is_detected_and_can_be_chosen() -> None:
    # R10.3: GBK/GB18030, what Excel on Chinese Windows saves as "CSV"
    data = csv_bytes(ROWS, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    detected = inspect(data, "a.csv")
    assert detected.encoding == "gb18030"
    assert detected.sample[0][1][0] == "杭州示例科技有限公司"
    chosen = inspect(data, "a.csv", "gb18030")
    assert chosen.headers == ["客户名称", "手机", "备注"]
    # choosing UTF-8 for a GBK file says so clearly instead of importing mojibake
    assert "UTF-8" in refused(data, "a.csv", "utf-8")


def test_semicolon_and_tab_separated_files_and_blank_rows() -> None:
    # R10.3: a delimiter other than the comma, blank lines ignored, line numbers kept
    data = "客户名称;手机\r\n甲公司;13800138000\r\n;\r\n乙公司;13900139000\r\n".encode()
    info = inspect(data, "a.csv")
    assert info.total_rows == 2
    assert [line for line, _cells in info.sample] == [2, 4]
    tabbed = inspect("客户名称\t手机\n甲公司\t138\n".encode(), "a.txt")
    assert tabbed.sample == [(2, ["甲公司", "138"])]


def test_xlsx_cells_read_as_the_text_users_typed() -> None:
    # R10.3: XLSX (read-only mode); numbers without ".0", dates as ISO, formulas neutralised
    import datetime as dt

    data = xlsx_bytes(
        [
            ["客户名称", "手机", "日期", "时间", "备注"],
            [
                "甲公司",
                13800138000,
                dt.date(2026, 3, 5),
                dt.datetime(2026, 3, 5, 10, 30),  # noqa: DTZ001 - a spreadsheet's wall time
                "'=HYPERLINK(1)",
            ],
        ]
    )
    info = inspect(data, "a.xlsx")
    assert info.file_format == "xlsx"
    assert info.sample == [
        (2, ["甲公司", "13800138000", "2026-03-05", "2026-03-05 10:30", "=HYPERLINK(1)"])
    ]


def test_neutralised_cells_are_restored() -> None:
    # R10.3: the export's leading ' is removed on import; other apostrophes stay
    assert readers.unneutralise("'=SUM(A1)") == "=SUM(A1)"
    assert readers.unneutralise("'+8613800138000") == "+8613800138000"
    assert readers.unneutralise("'-5") == "-5"
    assert readers.unneutralise("'@user") == "@user"
    assert readers.unneutralise("'quoted'") == "'quoted'"
    assert readers.unneutralise("'") == "'"
    info = inspect(csv_bytes([["备注"], ["'=1+2"], ["'@x"]]), "a.csv")
    assert [cells for _l, cells in info.sample] == [["=1+2"], ["@x"]]


def test_size_and_row_limits_give_clear_messages(settings) -> None:
    # R10.3: configurable limits (CRM_IMPORT_MAX_BYTES, CRM_IMPORT_MAX_ROWS)
    settings.CRM_IMPORT_MAX_BYTES = 100
    message = refused(b"x" * 101, "a.csv")
    assert "100" in message and "101" in message
    settings.CRM_IMPORT_MAX_BYTES = 10_000_000
    settings.CRM_IMPORT_MAX_ROWS = 3
    rows = [["客户名称"]] + [[f"公司{i}"] for i in range(4)]
    assert "3" in refused(csv_bytes(rows), "a.csv")
    assert inspect(csv_bytes(rows[:4]), "a.csv").total_rows == 3
    assert "3" in refused(xlsx_bytes(rows), "a.xlsx")
    assert refused(b"", "a.csv")
    assert refused(csv_bytes([["客户名称"]]), "a.csv")  # titles but no rows


def test_other_file_types_and_garbage_are_refused() -> None:
    # R10.3: malformed files are refused with a message, never a crash
    assert ".xlsx" in refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "a.xls")
    assert refused(b"%PDF-1.7 ...", "a.pdf")
    assert refused(b"\x00\x01\x02binary\x00", "a.csv")
    assert refused(b"this is not a zip file at all", "a.xlsx")
    broken = xlsx_bytes(ROWS)[:-200]  # truncated: the zip directory is gone
    assert refused(broken, "a.xlsx")
    # a zip that is no workbook
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("hello.txt", "hi")
    assert refused(out.getvalue(), "a.xlsx")
    # a workbook whose sheet XML is garbage
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes(ROWS))) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("sheet1.xml"):
                data = b"<worksheet><sheetData><row><c><<<not xml"
            dst.writestr(item, data)
    assert refused(out.getvalue(), "a.xlsx")


def test_password_protected_workbook_is_refused_from_its_header() -> None:
    # R10.3: an encrypted OOXML file is an OLE2 container: refused before parsing
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4096
    message = refused(data, "secret.xlsx")
    assert "password" in message.lower()


def zip_bomb_xlsx(unpacked_mb: int) -> bytes:
    """A workbook whose sheet unpacks to ``unpacked_mb`` MB of zeros from a tiny file."""
    base = xlsx_bytes(ROWS)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(base)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for item in src.infolist():
            dst.writestr(item.filename, src.read(item))
        with dst.open("xl/worksheets/sheet2.xml", "w", force_zip64=True) as handle:
            chunk = b"0" * (1024 * 1024)
            for _ in range(unpacked_mb):
                handle.write(chunk)
    return out.getvalue()


def test_zip_bomb_is_refused_quickly_without_unpacking() -> None:
    # R10.3: the central directory's sizes and ratio are checked before anything is read
    data = zip_bomb_xlsx(300)
    assert len(data) < 2 * 1024 * 1024
    tracemalloc.start()
    started = time.monotonic()
    message = refused(data, "bomb.xlsx")
    elapsed = time.monotonic() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "too much data" in message
    assert elapsed < 2
    assert peak < 20 * 1024 * 1024  # far less than the 300 MB it would unpack to


def test_high_ratio_bomb_under_the_size_cap_is_refused_too() -> None:
    # R10.3: a small file that unpacks 100× is refused by its packing ratio
    assert "too much data" in refused(zip_bomb_xlsx(50), "bomb.xlsx")


def test_uploaded_file_objects_work_like_files() -> None:
    # R10.3: Django's uploaded files (in memory or temporary) are read the same way
    upload = SimpleUploadedFile("a.csv", csv_bytes(ROWS))
    info = readers.inspect(upload, upload.name, upload.size)
    assert info.total_rows == 1
