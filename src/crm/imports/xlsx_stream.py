"""An XLSX written as it is sent (R10.3 export, R11.2): the first bytes leave with the first rows.

openpyxl's write-only mode keeps memory constant, but it zips the workbook only when it is
saved, so a download of a million rows sent nothing for minutes (50,000 opportunities: 35 s to
the first byte), long enough for a proxy to give up. An XLSX is a zip of a few XML parts; the
only large one is the sheet. Here the small parts are fixed text, and the sheet is written row by
row into a zip entry that :mod:`zipfile` compresses as it goes and, on a stream it cannot seek,
closes with a data descriptor (the format every spreadsheet program reads). Each chunk the zip
produces is yielded at once.

Cells: text as inline strings (no shared-string table to hold in memory), numbers as numbers,
dates and times as Excel serial numbers with a date or date-time format, the header bold.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

_EPOCH_DAY = dt.date(1899, 12, 30)  # day 0 of Excel's serial dates (1900 system)
#: characters XML 1.0 cannot hold (openpyxl refuses them too)
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: style ids of xl/styles.xml below: 0 plain, 1 bold (header), 2 date, 3 date and time
_BOLD, _DATE, _DATETIME = 1, 2, 3

_PKG = "http://schemas.openxmlformats.org/package/2006"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_OOXML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_CONTENT_TYPES = (
    f'{_XML_DECL}<Types xmlns="{_PKG}/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_OOXML}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_OOXML}.worksheet+xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{_OOXML}.styles+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    f'{_XML_DECL}<Relationships xmlns="{_PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{_DOC}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK_RELS = (
    f'{_XML_DECL}<Relationships xmlns="{_PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{_DOC}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_DOC}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
_STYLES = (
    f'{_XML_DECL}<styleSheet xmlns="{_SHEET_NS}">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _workbook(title: str) -> str:
    return (
        f'{_XML_DECL}<workbook xmlns="{_SHEET_NS}" xmlns:r="{_DOC}">'
        f'<sheets><sheet name="{escape(sheet_title(title), {chr(34): "&quot;"})}" '
        'sheetId="1" r:id="rId1"/></sheets></workbook>'
    )


def sheet_title(title: str) -> str:
    """A sheet name Excel accepts: at most 31 characters, none of ``[]:*?/\\``."""
    cleaned = re.sub(r"[\[\]:*?/\\]", " ", _ILLEGAL.sub("", title)).strip()[:31]
    return cleaned or "Sheet1"


def _serial(value: dt.date | dt.datetime) -> str:
    if not isinstance(value, dt.datetime):
        return str((value - _EPOCH_DAY).days)
    moment = value.replace(tzinfo=None)
    days = (moment.date() - _EPOCH_DAY).days
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6
    return repr(round(days + seconds / 86400, 10))


def _cell(value: Any, style: int = 0) -> str:
    """One ``<c>`` element (no reference: cells follow each other from column A)."""
    attr = f' s="{style}"' if style else ""
    if value is None or value == "":
        return f"<c{attr}/>"
    if isinstance(value, bool):
        return f'<c{attr} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float | Decimal):
        if isinstance(value, float) and value != value:  # NaN has no XLSX form
            return f"<c{attr}/>"
        return f"<c{attr}><v>{value}</v></c>"
    if isinstance(value, dt.datetime):
        return f'<c s="{_DATETIME}"><v>{_serial(value)}</v></c>'
    if isinstance(value, dt.date):
        return f'<c s="{_DATE}"><v>{_serial(value)}</v></c>'
    # a carriage return would come back as a line feed (XML normalises line ends): a reference
    text = escape(_ILLEGAL.sub("", str(value))).replace("\r", "&#13;")
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f'<c{attr} t="inlineStr"><is><t{space}>{text}</t></is></c>'


class _Pipe(io.RawIOBase):
    """An unseekable sink: what the zip writes waits here until the generator takes it."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.size += len(chunk)
        return len(chunk)

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts, self.size = [], 0
        return out


def stream(
    rows: Iterable[Sequence[Any]],
    columns: Sequence[Any],
    title: str = "Sheet1",
    *,
    chunk: int = 64 * 1024,
) -> Iterator[bytes]:
    """The XLSX of ``columns`` (a bold header row) and ``rows``, in chunks of about ``chunk``
    bytes, the first as soon as the first rows are compressed. Values are written as given:
    the caller neutralises formulas and converts time zones."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as book:
        book.writestr("[Content_Types].xml", _CONTENT_TYPES)
        book.writestr("_rels/.rels", _ROOT_RELS)
        book.writestr("xl/workbook.xml", _workbook(title))
        book.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        book.writestr("xl/styles.xml", _STYLES)
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                f'{_XML_DECL}<worksheet xmlns="{_SHEET_NS}">'.encode()
                + b'<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
                b'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews><sheetData>'
            )
            header = "".join(_cell(str(c), _BOLD) for c in columns)
            sheet.write(f"<row>{header}</row>".encode())
            lines: list[str] = []
            pending = 0
            for row in rows:
                line = "<row>" + "".join(map(_cell, row)) + "</row>"
                lines.append(line)
                pending += len(line)
                if pending >= chunk:
                    sheet.write("".join(lines).encode())
                    lines, pending = [], 0
                    if pipe.size:
                        yield pipe.take()
            sheet.write(("".join(lines) + "</sheetData></worksheet>").encode())
    yield pipe.take()
