"""The set-based path of the import engine (R10.3, R11.2).

Row by row (``services.run_row``), a customer costs some twenty statements: a savepoint, the
row-key look-ups, the duplicate queries (twice), the inserts and the event. A resource with a
batch handler (``Resource.batch``) instead has each batch of rows decided in Python and written
in a few statements, with the same outcome for every row:

1. every row's row key and external id are looked up in one query (with the records they
   point to), the handler reads what its rules need for the whole window of rows (the
   customers': every duplicate candidate, which of them the importer may edit, the tags);
2. the rows are decided in file order exactly as ``services._import_row`` does: required
   cells, "already imported", external id, the resource's duplicate rule, the duplicate mode,
   then the service's checks (``handler.build``); a refused row gets the same message, a row
   accepted earlier in the batch counts for the next ones (the same row twice is skipped);
3. the accepted rows are written together (``handler.write``: records, their related rows,
   events, signals), then their row keys, in a savepoint.

A row the engine or the handler cannot decide exactly (:class:`NeedsRow`: "update" of a
duplicate, the external id of another row of the same batch, what the handler says it cannot
rank, anything unexpected) goes through ``run_row`` as before, after the rows accepted before
it were written; the rest of the batch is then read again. A batch whose rows mostly go that
way (an "update" file) finishes row by row. If writing fails, the savepoint is rolled back and
those rows go one by one, so the outcome is still the per-row one. A failed query while
deciding (no savepoint to go back to) fails the batch, as a broken connection would.
``CRM_IMPORT_SET_BASED = False`` turns the path off.

All of this runs inside the caller's transaction: a batch still commits (or dies) as a whole
with the job's counters, and a strict import is still all or nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, transaction

from crm.core.errors import DomainError

from .choices import DuplicateMode
from .models import ImportJob, ImportRowKey
from .registry import EXTERNAL_ID, RowContext

if TYPE_CHECKING:
    from .services import RowOutcome

log = logging.getLogger("crm.imports")

#: a batch whose rows mostly go the per-row way (an "update" file) finishes row by row
FALLBACK_FLOOR = 8
#: keys per ``IN (…)`` list
CHUNK = 2000


class NeedsRow(Exception):
    """The handler cannot decide this row set-based: it goes through ``run_row``."""


@dataclass
class Row:
    """One data row of a batch: ``values`` by field key; its row key and external-id key."""

    index: int
    line: int
    cells: list[str]
    values: dict[str, str]
    hashed: str = ""
    external_key: str = ""


class BatchHandler(Protocol):
    """What a resource implements to be imported set-based (see the module docstring)."""

    def begin(self, ctx: RowContext, rows: list[Row]) -> Any:
        """Read what deciding ``rows`` needs; the returned state is passed to the others."""

    def find(self, ctx: RowContext, state: Any, row: Row) -> Any:
        """``resource.find`` for the row: the existing record it duplicates, or None."""

    def build(self, ctx: RowContext, state: Any, row: Row) -> Any:
        """``resource.create``'s checks for the row (``ctx.allow_duplicate`` is set): the
        record to create, not written; DomainError for a refused row. From then on it counts
        as a record for the rows after it."""

    def write(self, ctx: RowContext, state: Any, pending: list[Any]) -> list[Any]:
        """Write the records ``build`` returned (in order); return them saved."""


def enabled() -> bool:
    """``CRM_IMPORT_SET_BASED`` (default on); off, every resource is imported row by row."""
    return bool(getattr(settings, "CRM_IMPORT_SET_BASED", True))


def run_rows(
    ctx: RowContext, job: ImportJob, items: list[tuple[int, int, list[str]]]
) -> list[RowOutcome]:
    """The outcome of each ``(index, line, cells)`` of one batch, in order, with everything
    written (in the caller's transaction): set-based when the resource has a batch handler,
    else row by row."""
    from .services import row_values, run_row

    handler = ctx.resource.batch if enabled() else None
    if handler is None:
        return [run_row(ctx, job, line, row_values(job, cells)) for _index, line, cells in items]
    rows = [Row(index, line, cells, row_values(job, cells)) for index, line, cells in items]
    return _Batch(ctx, job, handler).run(rows)


@dataclass
class _Window:
    """What is known while deciding a run of rows: row keys whose record exists (key → line),
    records named by external ids, the keys of rows accepted but not written yet."""

    known: dict[str, int]
    by_external: dict[str, Any]
    handler: Any
    pending_keys: dict[str, int] = field(default_factory=dict)
    pending_external: set[str] = field(default_factory=set)


class _Batch:
    def __init__(self, ctx: RowContext, job: ImportJob, handler: BatchHandler) -> None:
        self.ctx = ctx
        self.job = job
        self.handler = handler
        self.resource = ctx.resource

    def run(self, rows: list[Row]) -> list[RowOutcome]:
        from .services import row_key

        for row in rows:
            row.hashed = row_key(self.resource.key, row.values)[:200]
            external = row.values.get(EXTERNAL_ID, "")
            row.external_key = ("x:" + external)[:200] if external else ""
        outcomes: list[RowOutcome | None] = [None] * len(rows)
        pos, fallbacks = 0, 0
        while pos < len(rows):
            if fallbacks >= FALLBACK_FLOOR and fallbacks * 4 > pos:
                # most rows need the per-row path (an "update" file): no reading ahead
                for k in range(pos, len(rows)):
                    outcomes[k] = self._one(rows[k])
                break
            # read what the rest of the batch needs, decide its rows until one needs the per-row
            # path: write those decided, run that one, and read again for the rest
            state = self._begin(rows[pos:])
            if state is None:
                for k in range(pos, len(rows)):
                    outcomes[k] = self._one(rows[k])
                break
            segment: list[tuple[int, Any]] = []
            k = pos
            while k < len(rows):
                try:
                    outcome, pending = self._decide(state, rows[k])
                except NeedsRow as why:
                    log.debug("import %s: line %s row by row (%r)", self.job.pk, rows[k].line, why)
                    self._flush(state, rows, segment, outcomes)
                    outcomes[k] = self._one(rows[k])
                    fallbacks += 1
                    k += 1
                    break
                outcomes[k] = outcome
                segment.append((k, pending))
                k += 1
            else:
                self._flush(state, rows, segment, outcomes)
            pos = k
        assert all(o is not None for o in outcomes)
        return outcomes  # type: ignore[return-value]

    def _one(self, row: Row) -> RowOutcome:
        from .services import run_row

        return run_row(self.ctx, self.job, row.line, row.values)

    def _begin(self, rows: list[Row]) -> _Window | None:
        """What deciding ``rows`` needs, read in a savepoint (None when it cannot be read: the
        rows then go one by one, which reports why)."""
        try:
            with transaction.atomic():
                return self._read(rows)
        except Exception:
            log.warning(
                "import %s: rows from line %s go one by one",
                self.job.pk,
                rows[0].line,
                exc_info=True,
            )
            return None

    def _read(self, rows: list[Row]) -> _Window:
        """The row keys of ``rows`` whose record still exists (``_import_row`` skips those
        rows), the records their external ids name, and the handler's state."""
        org_id = self.job.org_id
        keys = {r.hashed for r in rows} | {r.external_key for r in rows if r.external_key}
        found: list[tuple[str, str, int]] = []
        for part in chunks(sorted(keys)):
            found.extend(
                ImportRowKey.objects.filter(
                    org_id=org_id, resource=self.resource.key, key__in=part
                ).values_list("key", "object_id", "line")
            )
        manager: Any = apps.get_model(self.resource.model_label)._default_manager
        records: dict[str, Any] = {}
        for part in chunks(sorted({object_id for _k, object_id, _l in found})):
            for obj in manager.filter(org_id=org_id, pk__in=part):
                records[str(obj.pk)] = obj
        return _Window(
            known={k: line for k, object_id, line in found if object_id in records},
            by_external={
                k: records[object_id]
                for k, object_id, _l in found
                if k.startswith("x:") and object_id in records
            },
            handler=self.handler.begin(self.ctx, rows),
        )

    def _decide(self, state: _Window, row: Row) -> tuple[RowOutcome, Any]:
        """``services._import_row`` for one row, without writing: its outcome and, for a row
        that creates a record, the handler's pending record."""
        from .services import (
            CREATED,
            FAILED,
            SKIPPED,
            RowOutcome,
            already_imported,
            check_required,
            matches_existing,
            row_message,
        )

        resource, ctx, mode = self.resource, self.ctx, self.job.duplicate_mode
        try:
            check_required(resource, row.values)
            line = state.known.get(row.hashed, state.pending_keys.get(row.hashed))
            if line is not None:
                return RowOutcome(row.line, SKIPPED, already_imported(line)), None
            duplicate = None
            if row.external_key:
                if row.external_key in state.pending_external:
                    raise NeedsRow
                duplicate = state.by_external.get(row.external_key)
                if duplicate is not None and mode != DuplicateMode.SKIP:
                    raise NeedsRow
            if duplicate is None:
                duplicate = self.handler.find(ctx, state.handler, row)
            if duplicate is not None and mode == DuplicateMode.SKIP:
                record = resource.describe(duplicate)
                return RowOutcome(row.line, SKIPPED, matches_existing(record), record), None
            if duplicate is not None and mode == DuplicateMode.UPDATE:
                raise NeedsRow
            ctx.allow_duplicate = mode == DuplicateMode.CREATE
            pending = self.handler.build(ctx, state.handler, row)
        except DomainError as exc:
            return RowOutcome(row.line, FAILED, row_message(resource, exc)), None
        except (NeedsRow, DatabaseError):
            raise  # a failed query leaves no savepoint to go back to: the batch fails
        except Exception as exc:
            # the per-row path reports it (and logs it) exactly as it always did
            raise NeedsRow from exc
        state.pending_keys[row.hashed] = row.line
        if row.external_key:
            state.pending_external.add(row.external_key)
        return RowOutcome(row.line, CREATED), pending

    def _flush(
        self, state: _Window, rows: list[Row], segment: list[tuple[int, Any]], outcomes: list[Any]
    ) -> None:
        """Write the accepted rows of ``segment`` and their row keys in a savepoint; if that
        fails, every row of the segment goes one by one instead."""
        created = [(k, pending) for k, pending in segment if pending is not None]
        if not created:
            return
        job, resource = self.job, self.resource
        try:
            with transaction.atomic():
                objs = self.handler.write(self.ctx, state.handler, [p for _k, p in created])
                keys = []
                for (k, _pending), obj in zip(created, objs, strict=True):
                    row = rows[k]
                    for key in (row.hashed, row.external_key):
                        if key:
                            keys.append(
                                ImportRowKey(
                                    org_id=job.org_id,
                                    resource=resource.key,
                                    key=key,
                                    object_id=str(obj.pk),
                                    job=job,
                                    line=row.line,
                                )
                            )
                    outcomes[k].record = resource.describe(obj)
                ImportRowKey.objects.bulk_create(
                    keys,
                    update_conflicts=True,
                    unique_fields=["org", "resource", "key"],
                    update_fields=["object_id", "job", "line", "updated_at"],
                )
        except Exception:
            log.warning(
                "import %s: writing rows %s–%s together failed; they go one by one",
                job.pk,
                rows[segment[0][0]].line,
                rows[segment[-1][0]].line,
                exc_info=True,
            )
            for k, _pending in segment:
                outcomes[k] = self._one(rows[k])


def chunks(values: list[Any]) -> list[list[Any]]:
    """``values`` in lists short enough for one ``IN (…)``."""
    return [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]
