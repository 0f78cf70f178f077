"""Backup and restore (R10.4): a consistent, versioned archive of the whole database or of one
organisation, and its restore into an empty database.

The archive is a zip file:

``manifest.json``
    format version, CRM version, when, database vendor, the organisation (or none for the whole
    database), the applied migrations, and for every data file its model, row count and SHA-256.
``data/<app_label>.<model>.jsonl``
    one JSON object per row (Django's ``jsonl`` serialisation, primary keys kept), many-to-many
    links as their own tables.
``media/<path>``
    the uploaded files the rows refer to (attachments, document templates, import files).

Consistency: every table is read inside one transaction — a snapshot on PostgreSQL (REPEATABLE
READ) and on SQLite (a read transaction sees one state of the file) — so an archive taken while
people work is a state the database was really in.

Restore checks everything before writing anything (manifest format, checksums, same migrations
as this installation, an empty database), then loads all rows in one transaction with foreign
keys checked at the end, copies the files and resets the id sequences. A failed restore leaves
the database as empty as it was.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.files.storage import default_storage
from django.core.management.color import no_style
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django.utils.translation import gettext as _

FORMAT = "crm-backup"
FORMAT_VERSION = 1
#: Apps whose tables are backed up (Django's own bookkeeping is rebuilt by ``migrate``).
EXCLUDED_APPS = {"contenttypes", "sessions", "admin", "auth", "axes"}
#: Tables that belong to the installation rather than to an organisation.
INSTALLATION_ONLY = {"core.JobRun"}
CHUNK = 2000


class _ExactEncoder(DjangoJSONEncoder):
    """Django's encoder cuts times to milliseconds; a backup keeps the microseconds."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


class BackupError(Exception):
    """An archive that cannot be written or restored; the message says why, for a person."""


@dataclass
class Summary:
    path: Path
    rows: int = 0
    files: int = 0
    tables: dict[str, int] = field(default_factory=dict)


def backed_up_models() -> list[type[models.Model]]:
    """Every table to back up, parents before children (many-to-many tables last)."""
    app_models: list[tuple[Any, list[type[models.Model]]]] = []
    for config in apps.get_app_configs():
        if config.label in EXCLUDED_APPS or not config.name.startswith("crm"):
            continue
        app_models.append((config, list(config.get_models())))
    ordered = serializers.sort_dependencies(app_models)
    through: list[type[models.Model]] = []
    for model in ordered:
        for m2m in model._meta.local_many_to_many:
            remote: Any = m2m.remote_field.through
            targets = {
                f.related_model._meta.app_label
                for f in remote._meta.get_fields()
                if f.many_to_one and f.related_model is not None
            }
            if remote._meta.auto_created and remote not in through and not targets & EXCLUDED_APPS:
                through.append(remote)
    return ordered + through


def _org_filter(model: type[models.Model], org_id: int) -> models.Q | None:
    """The rows of ``model`` that belong to organisation ``org_id`` (None: the table is not
    per organisation and is left out of an organisation's archive)."""
    label = model._meta.label
    if label == "org.Organization":
        return models.Q(pk=org_id)
    names = {f.name for f in model._meta.get_fields() if getattr(f, "concrete", False)}
    if "org" in names:
        return models.Q(org_id=org_id)
    if model._meta.auto_created:
        # A many-to-many table: follow its first foreign key to a per-organisation row.
        for f in model._meta.get_fields():
            parent: Any = f.related_model
            if f.many_to_one and parent is not None:
                parent_q = _org_filter(parent, org_id)
                if parent_q is not None:
                    ids = parent._base_manager.filter(parent_q).values("pk")
                    return models.Q(**{f"{f.name}__in": ids})
    return None


def _queryset(model: type[models.Model], org_id: int | None) -> models.QuerySet[Any] | None:
    qs = model._base_manager.order_by("pk")
    if org_id is None:
        return qs
    if model._meta.label in INSTALLATION_ONLY:
        return None
    q = _org_filter(model, org_id)
    return None if q is None else qs.filter(q)


def _file_fields(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if isinstance(f, models.FileField)]


def _applied_migrations() -> list[list[str]]:
    recorder = MigrationRecorder(connection)
    return sorted([app, name] for app, name in recorder.applied_migrations())


def _crm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("crm")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "dev"


def _organization(slug_or_id: str | int | None) -> Any:
    """The organisation named by its id or its exact name."""
    if slug_or_id is None:
        return None
    from crm.org.models import Organization

    qs = Organization.objects.all()
    found = (
        qs.filter(pk=int(slug_or_id)).first()
        if str(slug_or_id).isdigit()
        else qs.filter(name=str(slug_or_id)).first()
    )
    if found is None:
        raise BackupError(_("No organisation %(org)s.") % {"org": slug_or_id})
    return found


def default_name(org: Any = None) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return f"crm-backup-{stamp}{'-org' + str(org.pk) if org is not None else ''}.zip"


def create_backup(target: str | Path, *, org: str | int | None = None) -> Summary:
    """Write an archive to ``target`` (a file, or a directory to put a dated file in)."""
    organization = _organization(org)
    path = Path(target)
    if path.is_dir():
        path = path / default_name(organization)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    summary = Summary(path=path)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "crm_version": _crm_version(),
        "created_at": timezone.now().isoformat(),
        "database": connection.vendor,
        "organization": (
            {"id": organization.pk, "name": organization.name} if organization is not None else None
        ),
        "migrations": [],
        "tables": [],
        "media": [],
    }
    serializer = serializers.get_serializer("jsonl")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                manifest["migrations"] = _applied_migrations()
                media: set[str] = set()
                for model in backed_up_models():
                    qs = _queryset(model, organization.pk if organization else None)
                    if qs is None:
                        continue
                    name = f"data/{model._meta.label_lower}.jsonl"
                    digest = hashlib.sha256()
                    rows = 0
                    file_fields = _file_fields(model)
                    # Many-to-many links are written as their own tables, not inside the rows.
                    columns = [f.name for f in model._meta.concrete_fields if not f.primary_key]
                    with archive.open(name, "w") as raw:
                        hashing = _HashingWriter(raw, digest)
                        text = io.TextIOWrapper(hashing, encoding="utf-8", newline="\n")  # type: ignore[type-var]
                        for chunk in _chunks(qs):
                            serializer().serialize(
                                chunk, stream=text, fields=columns, cls=_ExactEncoder
                            )
                            rows += len(chunk)
                            for obj in chunk:
                                for f in file_fields:
                                    value = getattr(obj, f)
                                    if value and value.name:
                                        media.add(value.name)
                        text.flush()
                        text.detach()
                    manifest["tables"].append(
                        {
                            "model": model._meta.label,
                            "file": name,
                            "rows": rows,
                            "sha256": digest.hexdigest(),
                        }
                    )
                    summary.tables[model._meta.label] = rows
                    summary.rows += rows
                for stored in sorted(media):
                    if not default_storage.exists(stored):
                        continue
                    member = f"media/{stored}"
                    digest = hashlib.sha256()
                    with (
                        default_storage.open(stored, "rb") as src,
                        archive.open(member, "w") as dst,
                    ):
                        while block := src.read(1 << 20):
                            digest.update(block)
                            dst.write(block)
                    manifest["media"].append({"path": stored, "sha256": digest.hexdigest()})
                    summary.files += 1
            archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return summary


def _chunks(qs: models.QuerySet[Any]) -> Iterator[list[Any]]:
    """Rows in primary-key order, CHUNK at a time (keyset pagination: constant memory)."""
    last = None
    while True:
        page = qs if last is None else qs.filter(pk__gt=last)
        chunk = list(page[:CHUNK])
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk


class _HashingWriter(io.RawIOBase):
    def __init__(self, raw: Any, digest: Any) -> None:
        self.raw, self.digest = raw, digest

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.digest.update(data)
        self.raw.write(data)
        return len(data)


# --- restore --------------------------------------------------------------------------------------
def read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except (KeyError, ValueError) as exc:
        raise BackupError(_("This file is not a CRM backup (no manifest).")) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(_("This file is not a CRM backup."))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            _("This backup has format version %(found)s; this CRM reads version %(ours)s.")
            % {"found": manifest.get("format_version"), "ours": FORMAT_VERSION}
        )
    return manifest


def verify(archive: zipfile.ZipFile, manifest: dict[str, Any]) -> None:
    """Every data file and media file is present, within the archive's own names, and has the
    checksum the manifest says."""
    names = set(archive.namelist())
    entries = [(t["file"], t["sha256"]) for t in manifest.get("tables", [])]
    entries += [(f"media/{m['path']}", m["sha256"]) for m in manifest.get("media", [])]
    for member, expected in entries:
        pure = PurePosixPath(member)
        if pure.is_absolute() or ".." in pure.parts or member not in names:
            raise BackupError(_("The backup is damaged: %(file)s is missing.") % {"file": member})
        digest = hashlib.sha256()
        with archive.open(member) as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != expected:
            raise BackupError(
                _("The backup is damaged: %(file)s does not match its checksum.") % {"file": member}
            )


def _database_is_empty() -> bool:
    from crm.org.models import Organization, User

    return not Organization.objects.exists() and not User.objects.exists()


def restore_backup(source: str | Path) -> Summary:
    """Load an archive into this (migrated, empty) database; all or nothing."""
    path = Path(source)
    if not path.is_file():
        raise BackupError(_("No file %(path)s.") % {"path": path})
    summary = Summary(path=path)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise BackupError(_("This file is not a CRM backup (not a zip archive).")) from exc
    with archive:
        manifest = read_manifest(archive)
        ours = _applied_migrations()
        if manifest.get("migrations") != ours:
            theirs = {tuple(m) for m in manifest.get("migrations", [])}
            missing = sorted({tuple(m) for m in ours} ^ theirs)[:5]
            raise BackupError(
                _(
                    "The backup was taken with a different database schema (e.g. %(diff)s). "
                    "Restore it with the CRM version that wrote it (%(version)s), then upgrade."
                )
                % {
                    "diff": ", ".join(f"{a}.{n}" for a, n in missing),
                    "version": manifest.get("crm_version"),
                }
            )
        organization = manifest.get("organization")
        if organization is None and not _database_is_empty():
            raise BackupError(
                _(
                    "The database is not empty. A whole-database backup restores only into a "
                    "new, migrated database (crm migrate), so no existing data is overwritten."
                )
            )
        if organization is not None:
            _refuse_existing_organization(organization)
        verify(archive, manifest)
        known = {m._meta.label: m for m in backed_up_models()}
        for table in manifest["tables"]:
            if table["model"] not in known:
                raise BackupError(
                    _("The backup holds a table this CRM does not know: %(model)s.")
                    % {"model": table["model"]}
                )
        if organization is not None and not _database_is_empty():
            _refuse_taken_ids(archive, manifest, known)
        loaded_models: list[type[models.Model]] = []
        try:
            _load(archive, manifest, known, summary, loaded_models)
        except IntegrityError as exc:
            raise BackupError(
                _(
                    "The backup conflicts with data already in this database (%(error)s). "
                    "Nothing was restored."
                )
                % {"error": str(exc).splitlines()[0][:200]}
            ) from exc
        for item in manifest.get("media", []):
            stored = item["path"]
            if default_storage.exists(stored):
                default_storage.delete(stored)
            with archive.open(f"media/{stored}") as src:
                default_storage.save(stored, src)
            summary.files += 1
    return summary


def _refuse_existing_organization(organization: dict[str, Any]) -> None:
    """A single-organisation backup never overwrites that organisation: refused when the
    database holds an organisation with the archive's id or name."""
    from crm.org.models import Organization

    existing = (
        Organization.objects.filter(
            models.Q(pk=organization.get("id")) | models.Q(name=organization.get("name"))
        )
        .order_by("pk")
        .first()
    )
    if existing is not None:
        raise BackupError(
            _(
                "This database already holds the organisation “%(name)s” (id %(id)s), and this "
                "backup is of “%(backup)s” (id %(backup_id)s). Restoring would overwrite its "
                "data, so it is refused. Restore into a new, migrated database instead."
            )
            % {
                "name": existing.name,
                "id": existing.pk,
                "backup": organization.get("name"),
                "backup_id": organization.get("id"),
            }
        )


def _refuse_taken_ids(
    archive: zipfile.ZipFile, manifest: dict[str, Any], known: dict[str, type[models.Model]]
) -> None:
    """Ids are kept on restore: refused when any archived row's id is already used here (by
    another organisation's row), before anything is written."""
    for table in manifest["tables"]:
        model = known[table["model"]]
        with archive.open(table["file"]) as raw:
            pks = [json.loads(line)["pk"] for line in io.TextIOWrapper(raw, encoding="utf-8")
                   if line.strip()]  # fmt: skip
        for start in range(0, len(pks), 500):
            taken = (
                model._base_manager.filter(pk__in=pks[start : start + 500])
                .values_list("pk", flat=True)
                .first()
            )
            if taken is not None:
                raise BackupError(
                    _(
                        "The backup's %(model)s with id %(id)s would overwrite a row that "
                        "already exists in this database (another organisation's). Restore "
                        "this organisation into a new, migrated database instead."
                    )
                    % {"model": table["model"], "id": taken}
                )


def _load(
    archive: zipfile.ZipFile,
    manifest: dict[str, Any],
    known: dict[str, type[models.Model]],
    summary: Summary,
    loaded_models: list[type[models.Model]],
) -> None:
    """Every row in one transaction, foreign keys checked at the end, sequences reset."""
    with transaction.atomic():
        with connection.constraint_checks_disabled():
            for table in manifest["tables"]:
                model = known[table["model"]]
                count = 0
                with archive.open(table["file"]) as raw:
                    text = io.TextIOWrapper(raw, encoding="utf-8")
                    for obj in serializers.deserialize("jsonl", text, ignorenonexistent=False):
                        obj.save()
                        count += 1
                if count != table["rows"]:
                    raise BackupError(
                        _("The backup is damaged: %(model)s has %(found)s rows, not %(rows)s.")
                        % {"model": table["model"], "found": count, "rows": table["rows"]}
                    )
                summary.tables[table["model"]] = count
                summary.rows += count
                loaded_models.append(model)
        connection.check_constraints(table_names=[m._meta.db_table for m in loaded_models])
        statements = connection.ops.sequence_reset_sql(no_style(), loaded_models)
        if statements:
            with connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)


def rotate(directory: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` whole-database archives in ``directory``."""
    folder = Path(directory)
    archives = sorted(
        (p for p in folder.glob("crm-backup-*.zip") if p.is_file()),
        key=lambda p: p.name,
        reverse=True,
    )
    removed = []
    for old in archives[max(keep, 1) :]:
        old.unlink(missing_ok=True)
        removed.append(old)
    return removed


def scheduled_backup() -> str:
    """The nightly job: a whole-database archive in CRM_BACKUP_DIR, keeping CRM_BACKUP_KEEP."""
    directory = getattr(settings, "CRM_BACKUP_DIR", "")
    if not directory:
        return "CRM_BACKUP_DIR is not set; no backup taken"
    Path(directory).mkdir(parents=True, exist_ok=True)
    summary = create_backup(directory)
    removed = rotate(directory, int(getattr(settings, "CRM_BACKUP_KEEP", 7)))
    return (
        f"{summary.path.name}: {summary.rows} rows, {summary.files} files; removed {len(removed)}"
    )
