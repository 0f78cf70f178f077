"""Streamed exports (R10.3): CSV and XLSX in constant memory, with formula neutralisation.

- :func:`stream_csv` yields the CSV row by row (UTF-8 with a BOM so Excel opens Chinese text).
- :func:`stream_xlsx` writes the XLSX as it is sent (:mod:`crm.imports.xlsx_stream`): the first
  chunk leaves with the first rows. :func:`write_xlsx` (openpyxl, write-only) writes the small
  workbooks of templates and refused rows.
- :func:`export_response` wraps either as a download, after checking the module's export
  permission and recording ``export.downloaded`` (resource, filters, row count) in the audit
  trail.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be
run by a spreadsheet as a formula (CSV/formula injection): it gets a leading ``'``, which the
importer removes again (``crm.imports.readers.unneutralise``).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header

from crm.core import audit
from crm.core.errors import PermissionDenied

from .readers import FORMULA_PREFIXES

CHUNK = 64 * 1024
BOM = "\ufeff"
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: the audit verb of a download
EXPORT_VERB = "export.downloaded"


def neutralise(value: Any) -> Any:
    """A cell value safe to open in a spreadsheet: text that would start a formula gets a
    leading ``'``; numbers and dates stay as they are."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | Decimal | dt.date | dt.datetime):
        return value
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Line:
    """A file-like object whose ``write`` returns what it was given (csv.writer → str)."""

    def write(self, value: str) -> str:
        return value


def stream_csv(rows: Iterable[Sequence[Any]], columns: Sequence[Any]) -> Iterator[bytes]:
    """The CSV of ``columns`` (titles) and ``rows``, as UTF-8 bytes with a BOM, in chunks."""
    writer = csv.writer(_Line(), lineterminator="\r\n")
    buffer: list[str] = [BOM, writer.writerow([neutralise(str(c)) for c in columns])]
    size = 0
    for row in rows:
        line = writer.writerow([_csv_cell(v) for v in row])
        buffer.append(line)
        size += len(line)
        if size >= CHUNK:
            yield "".join(buffer).encode("utf-8")
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode("utf-8")


def _csv_cell(value: Any) -> Any:
    value = neutralise(value)
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.strftime("%Y-%m-%d %H:%M")
    return value


def _xlsx_cell(value: Any) -> Any:
    value = neutralise(value)
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        return timezone.make_naive(timezone.localtime(value))
    if isinstance(value, str):
        # XML cannot hold most control characters (openpyxl would refuse the row)
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def write_xlsx(
    handle: Any, rows: Iterable[Sequence[Any]], columns: Sequence[Any], title: str = "Sheet1"
) -> None:
    """Write an XLSX of ``columns`` and ``rows`` to ``handle`` in constant memory."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31] or "Sheet1")
    bold = Font(bold=True)
    header = []
    for c in columns:
        cell = WriteOnlyCell(sheet, value=_xlsx_cell(str(c)))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append([_xlsx_cell(v) for v in row])
    book.save(handle)


def stream_xlsx(
    rows: Iterable[Sequence[Any]], columns: Sequence[Any], title: str = "Sheet1"
) -> Iterator[bytes]:
    """The XLSX of ``columns`` and ``rows``, streamed as it is written: the first chunk leaves
    with the first rows, memory stays constant (:mod:`crm.imports.xlsx_stream`)."""
    from .xlsx_stream import stream

    cells = ([_xlsx_cell(v) for v in row] for row in rows)
    return stream(cells, [_xlsx_cell(str(c)) for c in columns], title=title, chunk=CHUNK)


def download(chunks: Iterator[bytes], filename: str, content_type: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename) or "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def export_response(
    *,
    actor: Any,
    module: str,
    resource: str,
    model_label: str,
    fmt: str,
    columns: Sequence[Any],
    rows: Callable[[], Iterable[Sequence[Any]]],
    count: int,
    filters: dict[str, Any],
    basename: str,
) -> StreamingHttpResponse:
    """A streamed download of ``rows()`` as ``fmt`` (csv or xlsx), for someone with
    ``module:export``; the download is recorded in the audit trail before a row is sent."""
    if not actor.can(module, "export"):
        raise PermissionDenied()
    record_export(
        actor=actor,
        resource=resource,
        model_label=model_label,
        fmt=fmt,
        filters=filters,
        count=count,
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if fmt == "xlsx":
        return download(
            stream_xlsx(rows(), columns, title=basename), f"{basename}-{stamp}.xlsx", XLSX_TYPE
        )
    return download(stream_csv(rows(), columns), f"{basename}-{stamp}.csv", CSV_TYPE)


def record_export(
    *,
    actor: Any,
    resource: str,
    model_label: str,
    fmt: str,
    filters: dict[str, Any],
    count: int,
) -> Any:
    """Record ``export.downloaded`` for the list of ``model_label`` ("app.Model")."""
    event = audit.event_for(
        actor=actor,
        obj=actor,
        verb=EXPORT_VERB,
        data={"resource": resource, "format": fmt, "filters": filters, "rows": count},
    )
    event.object_type = model_label.lower()
    event.object_id = ""
    event.object_repr = resource
    event.save()
    return event
