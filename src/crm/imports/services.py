"""The import engine (R10.3): upload, map, preview, run, resume, cancel; the bad-rows file.

The life of a job: :func:`create_job` checks the upload completely (size, type, encoding,
malicious workbooks, row count) and suggests a mapping; :func:`configure_job` stores the
mapping and options (duplicates: skip, update or create; strict: all or nothing);
:func:`preview` runs the first rows through the very same code inside a transaction that is
rolled back; :func:`start_job` queues the job, which a worker runs with :func:`run_job`.

Rows are written through the resource's services (``crm.imports.resources``), batch by batch:
a batch commits in one transaction together with the job's counters, its refused rows and
``next_row``. A resource with a batch handler (customers) has each batch decided and written
set-based (``crm.imports.batch``, R11.2) with the same outcome as row by row; otherwise, and
for the rows the handler cannot decide, each row runs in its own savepoint (``run_row``). A
killed worker therefore leaves no half-written batch, and :func:`resume_job` (or the periodic
:func:`resume_stale_jobs`) continues after the last committed batch. A strict job runs in one
transaction: one refused row rolls everything back.

Every row that created or updated a record leaves a key (a hash of its values, and its external
id when the file has one): running the same file again skips those rows, so nothing is created
twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.collab import clean_filename
from crm.core.context import acting_job
from crm.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from crm.core.notifications import notify
from crm.org.models import User

from . import readers
from .batch import run_rows
from .choices import DuplicateMode, Encoding, FileFormat, JobStatus
from .exporters import write_xlsx
from .models import ImportJob, ImportRowError, ImportRowKey, ImportTemplate
from .registry import EXTERNAL_ID, Resource, RowContext, get_resource, suggest

log = logging.getLogger("crm.imports")

PREVIEW_ROWS = 20
#: rows per committed batch: SQLite has one writer at a time, so its batches are shorter (the
#: pages' own writes wait for a batch to commit)
DEFAULT_BATCH_SIZE = 500
SQLITE_BATCH_SIZE = 100
DEFAULT_STALE_SECONDS = 600
DEFAULT_KEEP_DAYS = 30

CREATED, UPDATED, SKIPPED, FAILED = "created", "updated", "skipped", "failed"


def batch_size() -> int:
    from django.db import connection

    default = SQLITE_BATCH_SIZE if connection.vendor == "sqlite" else DEFAULT_BATCH_SIZE
    return max(1, int(getattr(settings, "CRM_IMPORT_BATCH_SIZE", None) or default))


def stale_after() -> timedelta:
    return timedelta(
        seconds=int(getattr(settings, "CRM_IMPORT_STALE_SECONDS", DEFAULT_STALE_SECONDS))
    )


# --- access ----------------------------------------------------------------------------------
def resource_for(actor: User, key: str) -> Resource:
    """The resource ``key`` if ``actor`` may import into it."""
    resource = get_resource(key, actor.org_id)
    if resource is None:
        raise ValidationFailed(field_errors={"resource": [_("Choose what to import.")]})
    if not resource.may_import(actor):
        raise PermissionDenied()
    return resource


def _own(actor: User, job: ImportJob) -> Resource:
    """Only the uploader works with a job (others get "not found")."""
    if job.org_id != actor.org_id or job.created_by_id != actor.pk:
        raise NotFound()
    resource = get_resource(job.resource, job.org_id)
    if resource is None:
        raise NotFound()
    return resource


@contextlib.contextmanager
def acting_as(user: User) -> Iterator[None]:
    """The user's organisation time zone and language, as in their own requests."""
    tz_name = getattr(getattr(user, "org", None), "time_zone", "") or settings.TIME_ZONE
    try:
        tz = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    with timezone.override(tz), translation.override(user.language or settings.LANGUAGE_CODE):
        yield


# --- upload and set-up -----------------------------------------------------------------------
@contextlib.contextmanager
def open_job_table(job: ImportJob) -> Iterator[readers.Table]:
    """The job's stored file as a table (closed afterwards)."""
    with contextlib.ExitStack() as stack:
        try:
            handle = job.file.open("rb")
        except (FileNotFoundError, OSError, ValueError):
            raise ValidationFailed(_("The uploaded file is no longer available.")) from None
        stack.callback(handle.close)
        table = readers.open_table(handle, job.file_name, job.encoding)
        stack.callback(table.close)
        yield table


def create_job(
    *, actor: User, resource: str, uploaded_file: Any, encoding: str = Encoding.AUTO
) -> ImportJob:
    """Check an upload completely and store it as a draft job with a suggested mapping.

    Refused with a clear message (ValidationFailed on ``file``): too big, too many rows, not
    CSV/XLSX, not UTF-8/GBK text, password-protected, malformed or zip-bomb workbooks."""
    res = resource_for(actor, resource)
    if encoding not in Encoding.values:
        raise ValidationFailed(field_errors={"encoding": [_("Choose an encoding.")]})
    raw_name = str(getattr(uploaded_file, "name", "") or "")
    try:
        name = clean_filename(raw_name)
    except ValidationFailed:
        raise ValidationFailed(field_errors={"file": [_("Upload a .csv or .xlsx file.")]}) from None
    size = getattr(uploaded_file, "size", None)
    assert actor.org_id is not None
    info = readers.inspect(uploaded_file, name, size, encoding)
    job = ImportJob(
        org_id=actor.org_id,
        created_by=actor,
        resource=res.key,
        file_name=name,
        file_size=size or 0,
        file_format=info.file_format,
        encoding=info.encoding if info.file_format == FileFormat.CSV else Encoding.AUTO,
        headers=info.headers,
        mapping=suggest(res, info.headers),
        total_rows=info.total_rows,
    )
    uploaded_file.seek(0)
    job.file.save(name, uploaded_file, save=False)
    try:
        with transaction.atomic():
            job.save()
            audit.record(
                actor=actor,
                obj=job,
                verb="import.uploaded",
                data={"resource": res.key, "file": name, "rows": info.total_rows},
            )
    except BaseException:
        job.file.delete(save=False)
        raise
    return job


def validate_mapping(resource: Resource, headers: list[str], mapping: list[str]) -> list[str]:
    """The mapping cleaned (one key or "" per column); ValidationFailed on ``mapping`` when a
    field is chosen twice, unknown, or a required field has no column."""
    if len(mapping) != len(headers):
        raise ValidationFailed(field_errors={"mapping": [_("Choose a field for each column.")]})
    errors: list[str] = []
    seen: set[str] = set()
    clean: list[str] = []
    for key in mapping:
        key = (key or "").strip()
        if key and resource.field_named(key) is None:
            errors.append(_("“%(key)s” is not a field of this import.") % {"key": key})
            key = ""
        if key and key in seen:
            label = resource.field_named(key).label  # type: ignore[union-attr]
            errors.append(_("“%(field)s” is chosen for two columns.") % {"field": label})
        seen.add(key)
        clean.append(key)
    for required in resource.required:
        if required.key not in seen:
            errors.append(
                _("Choose the column of “%(field)s” (required).") % {"field": required.label}
            )
    if errors:
        raise ValidationFailed(errors[0], field_errors={"mapping": errors})
    return clean


def _check_mode(actor: User, resource: Resource, duplicate_mode: str) -> None:
    if duplicate_mode not in DuplicateMode.values:
        raise ValidationFailed(field_errors={"duplicate_mode": [_("Choose what duplicates do.")]})
    if duplicate_mode == DuplicateMode.UPDATE and not resource.may_update(actor):
        raise ValidationFailed(
            field_errors={
                "duplicate_mode": [
                    _("You may not edit these records: choose to skip duplicates instead.")
                ]
            }
        )


def _draft(job: ImportJob) -> None:
    if job.status != JobStatus.DRAFT:
        raise ValidationFailed(_("This import has already been started."))


@transaction.atomic
def configure_job(
    *,
    actor: User,
    job: ImportJob,
    mapping: list[str],
    duplicate_mode: str = DuplicateMode.SKIP,
    strict: bool = False,
) -> ImportJob:
    """Store the column mapping and the options of a draft job."""
    resource = _own(actor, job)
    _draft(job)
    _check_mode(actor, resource, duplicate_mode)
    job.mapping = validate_mapping(resource, job.headers, mapping)
    job.duplicate_mode = duplicate_mode
    job.strict = bool(strict)
    job.save(update_fields=["mapping", "duplicate_mode", "strict", "updated_at"])
    return job


@transaction.atomic
def save_template(*, actor: User, job: ImportJob, name: str) -> ImportTemplate:
    """Save the job's mapping (column title → field) and options under ``name`` for the next
    files of this resource (a template of the same name is replaced)."""
    _own(actor, job)
    name = " ".join((name or "").split())[:100]
    if not name:
        raise ValidationFailed(field_errors={"save_as": [_("Name the mapping.")]})
    columns = {header: key for header, key in zip(job.headers, job.mapping, strict=False) if header}
    template, _created = ImportTemplate.objects.update_or_create(
        org_id=actor.org_id,
        owner=actor,
        resource=job.resource,
        name=name,
        defaults={
            "columns": columns,
            "duplicate_mode": job.duplicate_mode,
            "strict": job.strict,
        },
    )
    return template


@transaction.atomic
def delete_template(*, actor: User, template: ImportTemplate) -> None:
    if template.org_id != actor.org_id or template.owner_id != actor.pk:
        raise NotFound()
    template.delete()


# --- rows ------------------------------------------------------------------------------------
@dataclass
class RowOutcome:
    """What happened (or, in a preview, would happen) to one row."""

    line: int
    action: str
    message: str = ""
    record: str = ""
    values: list[str] = field(default_factory=list)


def row_values(job: ImportJob, cells: list[str]) -> dict[str, str]:
    """``field key -> text`` of a row, by the job's mapping."""
    return {
        key: (cells[i] if i < len(cells) else "").strip()
        for i, key in enumerate(job.mapping)
        if key
    }


def row_key(resource: str, values: dict[str, str]) -> str:
    """``h:<sha256>`` of a row's non-empty values: the same row gives the same key."""
    payload = json.dumps(
        [resource, sorted((k, v) for k, v in values.items() if v)],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return "h:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _model(resource: Resource) -> type[models.Model]:
    return apps.get_model(resource.model_label)


def _existing(resource: Resource, org_id: int, object_id: str) -> Any:
    manager: Any = _model(resource)._default_manager
    return manager.filter(org_id=org_id, pk=object_id).first()


def row_message(resource: Resource, exc: DomainError) -> str:
    """A refused row's reason as the user reads it: each field error with its column."""
    if isinstance(exc, NotFound):
        return _(
            "A record this row names was not found, or the result would be outside what you "
            "may see: check the names and the owner in this row."
        )
    parts: list[str] = []
    for name, messages in exc.field_errors.items():
        label = resource.label_of(name)
        for message in messages:
            parts.append(
                _("%(field)s: %(message)s") % {"field": label, "message": message}
                if label
                else str(message)
            )
    return " ".join(parts) if parts else str(exc.message)


def _keep_key(job: ImportJob, key: str, obj: Any, line: int) -> None:
    ImportRowKey.objects.update_or_create(
        org_id=job.org_id,
        resource=job.resource,
        key=key[:200],
        defaults={"object_id": str(obj.pk), "job": job, "line": line},
    )


def check_required(resource: Resource, values: dict[str, str]) -> None:
    """ValidationFailed naming each required column whose cell is empty."""
    missing = [f for f in resource.required if not values.get(f.key)]
    if missing:
        raise ValidationFailed(
            field_errors={
                f.key: [_("This column is required; the cell is empty.")] for f in missing
            }
        )


def already_imported(line: int) -> str:
    return _("Already imported (line %(line)d of an earlier import).") % {"line": line}


def matches_existing(record: str) -> str:
    return _("Matches an existing record: %(record)s.") % {"record": record}


def _import_row(ctx: RowContext, job: ImportJob, line: int, values: dict[str, str]) -> RowOutcome:
    """One row through the resource's services (the caller holds a savepoint)."""
    resource = ctx.resource
    check_required(resource, values)
    hashed = row_key(resource.key, values)
    known = ImportRowKey.objects.filter(
        org_id=job.org_id, resource=resource.key, key=hashed
    ).first()
    if known is not None and _existing(resource, job.org_id, known.object_id) is not None:
        return RowOutcome(line, SKIPPED, already_imported(known.line))
    external = values.get(EXTERNAL_ID, "")
    duplicate = None
    if external:
        by_id = ImportRowKey.objects.filter(
            org_id=job.org_id, resource=resource.key, key=("x:" + external)[:200]
        ).first()
        if by_id is not None:
            duplicate = _existing(resource, job.org_id, by_id.object_id)
    if duplicate is None:
        duplicate = resource.find(ctx, values)
    mode = job.duplicate_mode
    if duplicate is not None and mode == DuplicateMode.SKIP:
        record = resource.describe(duplicate)
        return RowOutcome(line, SKIPPED, matches_existing(record), record)
    if duplicate is not None and mode == DuplicateMode.UPDATE:
        obj = resource.update(ctx, duplicate, values)
        action = UPDATED
    else:
        ctx.allow_duplicate = mode == DuplicateMode.CREATE
        obj = resource.create(ctx, values)
        action = CREATED
    _keep_key(job, hashed, obj, line)
    if external:
        _keep_key(job, "x:" + external, obj, line)
    return RowOutcome(line, action, record=resource.describe(obj))


def run_row(ctx: RowContext, job: ImportJob, line: int, values: dict[str, str]) -> RowOutcome:
    """One row in its own savepoint: a refused row leaves nothing behind and is reported
    with a reason; an unexpected error is logged and reported as such. (BaseException, a
    worker being killed, is not caught: the batch's transaction rolls back.)"""
    try:
        with transaction.atomic():
            return _import_row(ctx, job, line, values)
    except DomainError as exc:
        return RowOutcome(line, FAILED, row_message(ctx.resource, exc))
    except Exception:
        log.exception("import %s: line %s failed", job.pk, line)
        return RowOutcome(
            line, FAILED, _("An unexpected error stopped this row; it was not imported.")
        )


def _context(actor: User, resource: Resource, job: ImportJob) -> RowContext:
    return RowContext(actor=actor, resource=resource, duplicate_mode=job.duplicate_mode)


def _indexed(table: readers.Table) -> Iterator[tuple[int, int, list[str]]]:
    """``(row index, line, cells)``: the index counts non-blank data rows from 0."""
    for index, (line, cells) in enumerate(table.rows()):
        yield index, line, cells


def preview(*, actor: User, job: ImportJob, limit: int = PREVIEW_ROWS) -> list[RowOutcome]:
    """What the first ``limit`` rows would do, computed by the import itself inside a
    transaction that is always rolled back (nothing is written, nobody is notified)."""
    resource = _own(actor, job)
    validate_mapping(resource, job.headers, job.mapping)
    ctx = _context(actor, resource, job)
    outcomes: list[RowOutcome] = []
    with acting_as(actor), transaction.atomic():
        with open_job_table(job) as table:
            for index, line, cells in _indexed(table):
                if index >= limit:
                    break
                outcome = run_row(ctx, job, line, row_values(job, cells))
                outcome.values = cells
                outcomes.append(outcome)
        transaction.set_rollback(True)
    return outcomes


# --- running ---------------------------------------------------------------------------------
def _enqueue(job_id: int) -> None:
    from .tasks import run_import

    run_import(job_id)


@transaction.atomic
def start_job(*, actor: User, job: ImportJob) -> ImportJob:
    """Queue a configured draft job; a worker runs it after this transaction commits."""
    resource = _own(actor, job)
    _draft(job)
    _check_mode(actor, resource, job.duplicate_mode)
    validate_mapping(resource, job.headers, job.mapping)
    updated = ImportJob.objects.filter(pk=job.pk, status=JobStatus.DRAFT).update(
        status=JobStatus.QUEUED, updated_at=timezone.now()
    )
    if not updated:
        raise ValidationFailed(_("This import has already been started."))
    job.refresh_from_db()
    audit.record(
        actor=actor,
        obj=job,
        verb="import.started",
        data={"mode": job.duplicate_mode, "strict": job.strict, "rows": job.total_rows},
    )
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def is_stale(job: ImportJob, now: Any = None) -> bool:
    """A queued or running job nobody has touched for a while: its worker was killed."""
    now = now or timezone.now()
    limit = now - stale_after()
    if job.status == JobStatus.RUNNING:
        return job.heartbeat_at is None or job.heartbeat_at < limit
    if job.status == JobStatus.QUEUED:
        return job.updated_at < limit
    return False


def _stale_q(now: Any) -> Q:
    limit = now - stale_after()
    return (
        Q(status=JobStatus.RUNNING, heartbeat_at__lt=limit)
        | Q(status=JobStatus.RUNNING, heartbeat_at__isnull=True)
        | Q(status=JobStatus.QUEUED, updated_at__lt=limit)
    )


@transaction.atomic
def resume_job(*, actor: User, job: ImportJob) -> ImportJob:
    """Queue again a job whose worker died: it continues after its last committed batch."""
    _own(actor, job)
    now = timezone.now()
    updated = (
        ImportJob.objects.filter(pk=job.pk)
        .filter(_stale_q(now))
        .update(status=JobStatus.QUEUED, run_token="", updated_at=now)
    )
    if not updated:
        raise ValidationFailed(_("This import is not interrupted: it cannot be resumed."))
    job.refresh_from_db()
    audit.record(actor=actor, obj=job, verb="import.resumed", data={"from_row": job.next_row})
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


@transaction.atomic
def cancel_job(*, actor: User, job: ImportJob) -> ImportJob:
    """Stop a job: a draft is dropped, a running one stops after the batch in progress
    (committed batches stay)."""
    _own(actor, job)
    updated = ImportJob.objects.filter(
        pk=job.pk, status__in=[JobStatus.DRAFT, JobStatus.QUEUED, JobStatus.RUNNING]
    ).update(status=JobStatus.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now())
    if not updated:
        raise ValidationFailed(_("This import has already finished."))
    job.refresh_from_db()
    audit.record(actor=actor, obj=job, verb="import.cancelled", data={"rows_done": job.next_row})
    return job


def purge_old_files(days: int | None = None) -> int:
    """Delete the stored files of imports that ended more than ``days`` days ago
    (``CRM_IMPORT_KEEP_DAYS``, 30): uploads hold personal data and are not kept for ever."""
    keep = (
        days
        if days is not None
        else int(getattr(settings, "CRM_IMPORT_KEEP_DAYS", DEFAULT_KEEP_DAYS))
    )
    limit = timezone.now() - timedelta(days=keep)
    count = 0
    old = ImportJob.objects.filter(
        status__in=[JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED], updated_at__lt=limit
    ).exclude(file="")
    for job in old.only("pk", "file")[:1000]:
        job.file.delete(save=False)
        ImportJob.objects.filter(pk=job.pk).update(file="")
        count += 1
    return count


def resume_stale_jobs() -> int:
    """Queue again every job whose worker died (the periodic job runs this)."""
    now = timezone.now()
    ids = list(ImportJob.objects.filter(_stale_q(now)).values_list("pk", flat=True)[:100])
    count = 0
    for pk in ids:
        if (
            ImportJob.objects.filter(pk=pk)
            .filter(_stale_q(now))
            .update(status=JobStatus.QUEUED, run_token="", updated_at=now)
        ):
            count += 1
            _enqueue(pk)
    return count


def _claim(job_id: int) -> str | None:
    """Take the job for this worker (a queued one, or a running one whose worker died)."""
    token = uuid.uuid4().hex
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING,
        run_token=token,
        heartbeat_at=now,
        started_at=Coalesce(F("started_at"), now),
        updated_at=now,
    )
    if not claimed:
        claimed = ImportJob.objects.filter(
            pk=job_id, status=JobStatus.RUNNING, heartbeat_at__lt=now - stale_after()
        ).update(run_token=token, heartbeat_at=now, updated_at=now)
    return token if claimed else None


def _fail(job_id: int, token: str, message: str) -> None:
    ImportJob.objects.filter(pk=job_id, run_token=token).update(
        status=JobStatus.FAILED, message=message[:2000], finished_at=timezone.now()
    )


def run_job(job_id: int, *, size: int | None = None) -> ImportJob | None:
    """Run (or continue) a queued job: the worker's entry point. Returns None when another
    worker has the job or it is no longer queued."""
    token = _claim(job_id)
    if token is None:
        return None
    job = ImportJob.objects.select_related("created_by", "created_by__org").get(pk=job_id)
    actor = job.created_by
    resource = get_resource(job.resource, job.org_id)
    if actor is None or not actor.is_active or resource is None:
        _fail(job_id, token, _("The account that started this import is no longer active."))
        return job
    actor = User.objects.select_related("org").get(pk=actor.pk)
    with acting_job(f"import:{job.pk}"), acting_as(actor):
        if not resource.may_import(actor):
            _fail(job_id, token, _("You may no longer import these records."))
        else:
            try:
                if job.strict:
                    _run_strict(job, actor, resource, token)
                else:
                    _run_batches(job, actor, resource, token, size or batch_size())
            except DomainError as exc:
                _fail(job_id, token, str(exc.message))
            except Exception:
                log.exception("import %s failed", job_id)
                _fail(job_id, token, _("The import stopped because of an unexpected error."))
        job.refresh_from_db()
        _announce(actor, job)
    return job


def _still_mine(job_id: int, token: str) -> bool:
    """Lock the job row for this batch; False when it was cancelled or taken over."""
    row = (
        ImportJob.objects.select_for_update()
        .filter(pk=job_id)
        .values_list("run_token", "status")
        .first()
    )
    return row is not None and row[0] == token and row[1] == JobStatus.RUNNING


def _commit_batch(
    job: ImportJob, ctx: RowContext, token: str, batch: list[tuple[int, int, list[str]]]
) -> bool:
    """One batch in one transaction with the job's counters and ``next_row``."""
    counts = {CREATED: 0, UPDATED: 0, SKIPPED: 0, FAILED: 0}
    with transaction.atomic():
        if not _still_mine(job.pk, token):
            return False
        errors = []
        outcomes = run_rows(ctx, job, batch)
        for (index, line, _cells), outcome in zip(batch, outcomes, strict=True):
            counts[outcome.action] += 1
            if outcome.action == FAILED:
                errors.append(
                    ImportRowError(
                        org_id=job.org_id,
                        job=job,
                        row_index=index,
                        line=line,
                        message=outcome.message,
                    )
                )
        ImportRowError.objects.bulk_create(errors)
        ImportJob.objects.filter(pk=job.pk, run_token=token).update(
            next_row=batch[-1][0] + 1,
            created_count=F("created_count") + counts[CREATED],
            updated_count=F("updated_count") + counts[UPDATED],
            skipped_count=F("skipped_count") + counts[SKIPPED],
            failed_count=F("failed_count") + counts[FAILED],
            heartbeat_at=timezone.now(),
        )
    return True


def _run_batches(job: ImportJob, actor: User, resource: Resource, token: str, size: int) -> None:
    ctx = _context(actor, resource, job)
    start = job.next_row
    batch: list[tuple[int, int, list[str]]] = []
    with open_job_table(job) as table:
        for item in _indexed(table):
            if item[0] < start:
                continue
            batch.append(item)
            if len(batch) >= size:
                if not _commit_batch(job, ctx, token, batch):
                    return
                batch = []
        if batch and not _commit_batch(job, ctx, token, batch):
            return
    ImportJob.objects.filter(pk=job.pk, run_token=token, status=JobStatus.RUNNING).update(
        status=JobStatus.DONE, finished_at=timezone.now(), heartbeat_at=timezone.now()
    )


class _StrictRollback(Exception):
    """Raised to roll a strict import back when a row was refused."""


def _run_strict(job: ImportJob, actor: User, resource: Resource, token: str) -> None:
    """All rows in one transaction; any refused row rolls everything back (and is reported)."""
    ctx = _context(actor, resource, job)
    counts = {CREATED: 0, UPDATED: 0, SKIPPED: 0, FAILED: 0}
    failures: list[tuple[int, int, str]] = []
    rows = 0

    def run(chunk: list[tuple[int, int, list[str]]]) -> None:
        for (index, line, _cells), outcome in zip(chunk, run_rows(ctx, job, chunk), strict=True):
            counts[outcome.action] += 1
            if outcome.action == FAILED:
                failures.append((index, line, outcome.message))

    try:
        with transaction.atomic():
            if not _still_mine(job.pk, token):
                return
            size = batch_size()
            chunk: list[tuple[int, int, list[str]]] = []
            with open_job_table(job) as table:
                for item in _indexed(table):
                    rows = item[0] + 1
                    chunk.append(item)
                    if len(chunk) >= size:
                        run(chunk)
                        chunk = []
                if chunk:
                    run(chunk)
            if failures:
                raise _StrictRollback
            ImportJob.objects.filter(pk=job.pk, run_token=token).update(
                status=JobStatus.DONE,
                next_row=rows,
                created_count=counts[CREATED],
                updated_count=counts[UPDATED],
                skipped_count=counts[SKIPPED],
                failed_count=0,
                heartbeat_at=timezone.now(),
                finished_at=timezone.now(),
            )
    except _StrictRollback:
        with transaction.atomic():
            ImportRowError.objects.filter(job=job).delete()
            ImportRowError.objects.bulk_create(
                [
                    ImportRowError(
                        org_id=job.org_id, job=job, row_index=index, line=line, message=message
                    )
                    for index, line, message in failures
                ],
                batch_size=1000,
            )
            ImportJob.objects.filter(pk=job.pk, run_token=token).update(
                status=JobStatus.FAILED,
                next_row=0,
                created_count=0,
                updated_count=0,
                skipped_count=0,
                failed_count=len(failures),
                message=_(
                    "Nothing was imported (all or nothing): %(n)d rows have errors. "
                    "Correct them and upload the file again."
                )
                % {"n": len(failures)},
                finished_at=timezone.now(),
            )


def _announce(actor: User, job: ImportJob) -> None:
    """Record the outcome and tell the uploader (finished, failed or cancelled)."""
    if job.status not in (JobStatus.DONE, JobStatus.FAILED):
        return
    counts = {
        "created": job.created_count,
        "updated": job.updated_count,
        "skipped": job.skipped_count,
        "failed": job.failed_count,
    }
    with transaction.atomic():
        audit.record(
            actor=actor,
            obj=job,
            verb="import.finished" if job.status == JobStatus.DONE else "import.failed",
            data={**counts, "message": job.message},
        )
        if job.status == JobStatus.DONE:
            message = _(
                "Import of “%(file)s” finished: %(created)d created, %(updated)d updated, "
                "%(skipped)d skipped, %(failed)d refused."
            ) % {"file": job.file_name, **counts}
        else:
            message = _("Import of “%(file)s” failed: %(reason)s") % {
                "file": job.file_name,
                "reason": job.message,
            }
        notify(
            recipient=actor,
            verb="import.finished",
            message=message,
            url=reverse("imports:detail", args=[job.pk]),
            target=job,
        )


# --- results ---------------------------------------------------------------------------------
def bad_rows(job: ImportJob) -> Iterator[list[str]]:
    """The refused rows as they are in the file, each followed by its reason."""
    reasons = dict(
        ImportRowError.objects.filter(job=job)
        .order_by("row_index")
        .values_list("row_index", "message")
    )
    if not reasons:
        return
    last = max(reasons)
    with open_job_table(job) as table:
        width = len(table.headers)
        for index, _line, cells in _indexed(table):
            if index in reasons:
                yield [*cells[:width], reasons[index]]
            if index >= last:
                break


def write_bad_rows(job: ImportJob, handle: Any) -> None:
    """The XLSX of the refused rows with an extra "error" column, to fix and upload again."""
    columns = [*job.headers, _("Error")]
    write_xlsx(handle, bad_rows(job), columns, title=_("Refused rows"))


def template_columns(resource: Resource) -> tuple[list[str], list[str]]:
    """Titles (the Chinese column title of each field, required ones marked *) and an example
    row of the downloadable template of ``resource``."""
    titles = [
        f"{f.aliases[0] if f.aliases else f.label}{'*' if f.required else ''}"
        for f in resource.fields
    ]
    return titles, [f.example for f in resource.fields]


def write_template(resource: Resource, handle: Any) -> None:
    titles, example = template_columns(resource)
    with translation.override(settings.LANGUAGE_CODE):
        write_xlsx(handle, [example], titles, title=str(resource.label))
