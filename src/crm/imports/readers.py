"""Reading uploaded tables: CSV (UTF-8 with or without BOM, GBK/GB18030) and XLSX.

Everything is checked before a sheet is parsed, quickly and within a memory bound:

- the size (``CRM_IMPORT_MAX_BYTES``) before a byte is read;
- XLSX: an OLE2 container (password-protected workbooks and old ``.xls`` files) is refused
  from its first eight bytes; the zip's central directory is checked for zip bombs (total
  unpacked size and packing ratio), path tricks and macros by ``crm.core.collab`` without
  unpacking anything; the shared-strings part (which openpyxl keeps in memory) is bounded;
  then openpyxl reads the sheet in read-only (streaming) mode;
- CSV: text only (no NUL bytes), decoded as UTF-8 (a BOM is dropped) or else GB18030 (a
  superset of GBK and GB2312), or as the encoding chosen;
- the number of data rows (``CRM_IMPORT_MAX_ROWS``).

Cells are returned as text. A cell that an export neutralised (``'=…``, ``'+…``, ``'-…``,
``'@…``) gets its leading apostrophe removed again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from crm.core.errors import ValidationFailed

from .choices import Encoding, FileFormat

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_ROWS = 200_000
#: openpyxl keeps the shared strings of a workbook in memory: their unpacked size is bounded
MAX_SHARED_STRINGS = 64 * 1024 * 1024
MAX_COLUMNS = 200
MAX_CELL = 10_000
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
#: what a spreadsheet would run as a formula (the export neutralises these with a leading ')
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

csv.field_size_limit(MAX_CELL * 10)


def max_bytes() -> int:
    return int(getattr(settings, "CRM_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def max_rows() -> int:
    return int(getattr(settings, "CRM_IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS))


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, field_errors={"file": [message]})


def unneutralise(text: str) -> str:
    """Undo the export's formula neutralisation: ``'=SUM(A1)`` → ``=SUM(A1)``."""
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_PREFIXES:
        return text[1:]
    return text


def cell_text(value: Any) -> str:
    """A cell as the text a user typed: dates as ``YYYY-MM-DD`` (``YYYY-MM-DD HH:MM`` with a
    time), whole numbers without ``.0`` (phone numbers saved as numbers), the rest as str."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time.min:
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    text = str(value).replace("\x00", "").strip()
    return unneutralise(text[:MAX_CELL])


@dataclass
class Table:
    """An opened table: ``headers`` and the data rows (the header is line 1)."""

    headers: list[str]
    file_format: str
    encoding: str = ""
    _rows: Any = None
    _close: Any = None
    width: int = field(default=0)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """``(line, cells)`` of every non-blank data row, cells padded to the headers' width."""
        width = self.width or len(self.headers)
        line = 1
        for raw in self._rows:
            line += 1
            cells = [cell_text(v) for v in list(raw)[:width]]
            if not any(cells):
                continue
            if len(cells) < width:
                cells += [""] * (width - len(cells))
            yield line, cells

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def format_of(name: str) -> str:
    """``csv`` or ``xlsx`` from the file name; other types are refused with a clear message."""
    lowered = (name or "").lower()
    if lowered.endswith(".csv") or lowered.endswith(".txt"):
        return FileFormat.CSV
    if lowered.endswith(".xlsx"):
        return FileFormat.XLSX
    if lowered.endswith(".xls"):
        raise _refuse(_("Old Excel files (.xls) cannot be read: save the file as .xlsx or .csv."))
    raise _refuse(_("Upload a .csv or .xlsx file."))


def check_size(size: int | None) -> None:
    limit = max_bytes()
    if size is None or size > limit:
        raise _refuse(
            _("The file is %(size)s; imports may be at most %(limit)s.")
            % {"size": filesizeformat(size or 0), "limit": filesizeformat(limit)}
        )
    if size == 0:
        raise _refuse(_("The file is empty."))


def _headers(raw: list[Any]) -> list[str]:
    headers = [cell_text(v) for v in raw]
    while headers and not headers[-1]:
        headers.pop()
    if not headers:
        raise _refuse(_("The first row must hold the column titles; it is empty."))
    if len(headers) > MAX_COLUMNS:
        raise _refuse(_("The file has more than %(n)d columns.") % {"n": MAX_COLUMNS})
    return headers


# --- CSV -------------------------------------------------------------------------------------
def decode(data: bytes, encoding: str = Encoding.AUTO) -> tuple[str, str]:
    """``(text, encoding used)``: UTF-8 (a BOM dropped), else GB18030, or the one chosen."""
    if b"\x00" in data[:65536]:
        raise _refuse(_("This is not a text (CSV) file."))
    order = ["utf-8-sig", "gb18030"] if encoding in ("", Encoding.AUTO) else [encoding]
    for name in order:
        codec = "utf-8-sig" if name in ("utf-8", "utf-8-sig") else name
        try:
            return data.decode(codec), (Encoding.UTF8 if codec == "utf-8-sig" else name)
        except (UnicodeDecodeError, LookupError):
            continue
    if encoding in ("", Encoding.AUTO):
        raise _refuse(_("The file is neither UTF-8 nor GBK text: save it as CSV (UTF-8)."))
    raise _refuse(
        _("The file is not %(encoding)s text: choose another encoding.")
        % {"encoding": Encoding(encoding).label if encoding in Encoding.values else encoding}
    )


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def open_csv(data: bytes, encoding: str = Encoding.AUTO) -> Table:
    text, used = decode(data, encoding)
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first))
    try:
        headers = _headers(next(reader, []))
    except csv.Error:
        raise _refuse(_("The file is not a valid CSV file.")) from None

    def rows() -> Iterator[list[str]]:
        try:
            yield from reader
        except csv.Error as exc:
            raise _refuse(
                _("The CSV file is malformed near line %(line)d.") % {"line": reader.line_num}
            ) from exc

    return Table(headers=headers, file_format=FileFormat.CSV, encoding=used, _rows=rows())


# --- XLSX ------------------------------------------------------------------------------------
def check_xlsx(file: Any, name: str = "") -> None:
    """Refuse encrypted/OLE2, non-zip, zip-bomb and malformed workbooks without unpacking."""
    from crm.core.collab import _check_zip

    file.seek(0)
    head = file.read(8)
    file.seek(0)
    if head.startswith(OLE2_MAGIC):
        raise _refuse(
            _(
                "The workbook is password-protected (or an old .xls file): remove the password "
                "and save it as .xlsx."
            )
        )
    if not head.startswith(ZIP_MAGIC):
        raise _refuse(_("The file is not a valid XLSX workbook."))
    try:
        _check_zip(file, name or "import.xlsx", "xlsx")
    except ValidationFailed as exc:
        texts = [str(m) for msgs in exc.field_errors.values() for m in msgs]
        raise _refuse(" ".join(texts) or str(exc.message)) from None
    file.seek(0)
    with zipfile.ZipFile(file) as archive:
        strings = sum(
            e.file_size
            for e in archive.infolist()
            if e.filename.lower().endswith("sharedstrings.xml")
        )
    file.seek(0)
    if strings > MAX_SHARED_STRINGS:
        raise _refuse(_("The workbook holds too much text to be imported at once: split it."))


def open_xlsx(file: Any, name: str = "") -> Table:
    """The first worksheet of a checked workbook, streamed (openpyxl read-only mode)."""
    from openpyxl import load_workbook

    check_xlsx(file, name)
    bad = _("The file is not a valid XLSX workbook.")
    try:
        book = load_workbook(file, read_only=True, data_only=True, keep_links=False)
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        headers = _headers(list(next(rows, ())))
    except ValidationFailed:
        raise
    except Exception:  # openpyxl raises many kinds for malformed parts
        raise _refuse(bad) from None

    def guarded() -> Iterator[Any]:
        try:
            yield from rows
        except Exception as exc:
            raise _refuse(bad) from exc

    return Table(
        headers=headers,
        file_format=FileFormat.XLSX,
        _rows=guarded(),
        _close=book.close,
    )


def open_table(file: Any, name: str, encoding: str = Encoding.AUTO) -> Table:
    """Open an uploaded or stored file (a binary file object) as a table."""
    kind = format_of(name)
    if kind == FileFormat.XLSX:
        return open_xlsx(file, name)
    file.seek(0)
    data = file.read(max_bytes() + 1)
    return open_csv(data, encoding)


@dataclass
class Inspection:
    """What an upload holds: titles, the resolved encoding, the number of data rows and the
    first ones (for the mapping page)."""

    headers: list[str]
    file_format: str
    encoding: str
    total_rows: int
    sample: list[tuple[int, list[str]]]


def inspect(file: Any, name: str, size: int | None, encoding: str = Encoding.AUTO) -> Inspection:
    """Check an upload completely (size, type, content, row count) before it is stored."""
    check_size(size)
    limit = max_rows()
    with open_table(file, name, encoding) as table:
        total = 0
        sample: list[tuple[int, list[str]]] = []
        for line, cells in table.rows():
            total += 1
            if len(sample) < 5:
                sample.append((line, cells))
            if total > limit:
                raise _refuse(
                    _("The file has more than %(n)s rows; split it into smaller files.")
                    % {"n": f"{limit:,}"}
                )
        if total == 0:
            raise _refuse(_("The file has column titles but no rows to import."))
        return Inspection(
            headers=table.headers,
            file_format=table.file_format,
            encoding=table.encoding,
            total_rows=total,
            sample=sample,
        )
