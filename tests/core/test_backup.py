"""Backup and restore (R10.4): an archive of the whole database, or of one organisation,
restores into an empty database with every row equal; damaged archives, a different schema and
a non-empty database are refused before anything is written."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core import serializers
from django.core.management import call_command
from django.core.management.base import CommandError

from crm.core.backup import (
    BackupError,
    backed_up_models,
    create_backup,
    restore_backup,
    rotate,
    scheduled_backup,
)
from crm.core.models import Attachment
from crm.org.models import Organization, User
from tests.security.conftest import build_tenant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _english() -> Any:
    """The messages are matched in English (they are translated; the default is Chinese)."""
    from django.utils import translation

    with translation.override("en"):
        yield


def snapshot(org_id: int | None = None) -> dict[str, list[Any]]:
    """Every backed-up row as plain data (an independent read with Django's python serialiser)."""
    from crm.core.backup import _queryset

    rows: dict[str, list[Any]] = {}
    for model in backed_up_models():
        qs = _queryset(model, org_id)
        if qs is None:
            continue
        data = serializers.serialize("python", qs.order_by("pk"))
        rows[model._meta.label] = sorted(json.dumps(d, sort_keys=True, default=str) for d in data)
    return rows


def empty_database() -> None:
    call_command("flush", interactive=False, verbosity=0)
    assert not Organization.objects.exists()


def test_the_whole_database_round_trips(tmp_path: Path) -> None:
    # R10.4: every row of every table comes back equal, files too; new rows get fresh ids
    build_tenant("甲公司")
    build_tenant("乙公司")
    before = snapshot()
    assert sum(len(v) for v in before.values()) > 100
    attachment = Attachment.objects.first()
    assert attachment is not None
    content = attachment.file.read()
    summary = create_backup(tmp_path)
    assert summary.path.name.startswith("crm-backup-") and summary.rows == sum(
        len(v) for v in before.values()
    )
    empty_database()
    attachment.file.storage.delete(attachment.file.name)
    restored = restore_backup(summary.path)
    assert restored.rows == summary.rows
    assert snapshot() == before
    again = Attachment.objects.get(pk=attachment.pk)
    assert again.file.read() == content
    # sequences continue after the restored ids
    newest = Organization.objects.order_by("-pk").first()
    assert newest is not None
    fresh = Organization.objects.create(name="新公司")
    assert fresh.pk > newest.pk


def test_one_organisation_round_trips_alone(tmp_path: Path) -> None:
    # R10.4: an organisation's archive holds its rows only and restores them equal
    mine = build_tenant("甲公司")
    build_tenant("乙公司")
    org_id = mine.world.org.pk
    before = snapshot(org_id)
    summary = create_backup(tmp_path / "one.zip", org=mine.world.org.pk)
    manifest = json.loads(zipfile.ZipFile(summary.path).read("manifest.json"))
    assert manifest["organization"]["id"] == org_id
    empty_database()
    restore_backup(summary.path)
    assert list(Organization.objects.values_list("pk", flat=True)) == [org_id]
    assert set(User.objects.values_list("org_id", flat=True)) == {org_id}
    assert snapshot(org_id) == before


def test_a_non_empty_database_is_refused(tmp_path: Path) -> None:
    # R10.4: restore never overwrites existing data
    build_tenant("甲公司")
    summary = create_backup(tmp_path)
    before = snapshot()
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(summary.path)
    assert snapshot() == before


def test_an_organisation_restores_beside_others_but_never_over_itself(tmp_path: Path) -> None:
    # R10.4 (issue 7, restore safety): one organisation's archive restores into a database
    # serving other organisations; restoring it again, or over rows whose ids are taken, is
    # refused with a clear message and nothing changed
    first = build_tenant("乙公司")  # lower ids
    second = build_tenant("甲公司")
    first_id, second_id = first.world.org.pk, second.world.org.pk
    before_first, before_second = snapshot(first_id), snapshot(second_id)
    first_zip = create_backup(tmp_path / "first.zip", org=first_id).path
    second_zip = create_backup(tmp_path / "second.zip", org=second_id).path
    empty_database()
    restore_backup(first_zip)
    restore_backup(second_zip)  # beside the first: allowed
    assert snapshot(first_id) == before_first
    assert snapshot(second_id) == before_second
    # the same organisation again: refused, nothing changed
    whole = snapshot()
    with pytest.raises(BackupError, match="already holds the organisation “甲公司”"):
        restore_backup(second_zip)
    with pytest.raises(CommandError, match="already holds the organisation"):
        call_command("restore", str(second_zip))
    assert snapshot() == whole
    # a whole-database archive into a database with data: refused
    create_backup(tmp_path / "whole.zip")
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(tmp_path / "whole.zip")
    assert snapshot() == whole


def test_an_organisation_whose_ids_are_taken_is_refused(tmp_path: Path) -> None:
    # R10.4 (issue 7): ids are kept, so rows of another organisation with the same ids make
    # the restore refuse before writing anything
    mine = build_tenant("甲公司")
    archive = create_backup(tmp_path / "mine.zip", org=mine.world.org.pk).path
    user_pk = min(User.objects.filter(org=mine.world.org).values_list("pk", flat=True))
    empty_database()
    other = Organization.objects.create(pk=mine.world.org.pk + 1000, name="丙公司")
    User.objects.create(pk=user_pk, org=other, username="bing-admin", name="丙管理员")
    before = snapshot()
    with pytest.raises(BackupError, match="would overwrite a row that already exists"):
        restore_backup(archive)
    assert snapshot() == before
    assert not Organization.objects.filter(name="甲公司").exists()


def test_damaged_and_foreign_archives_are_refused_before_writing(tmp_path: Path) -> None:
    # R10.4: a tampered row, a missing file, another schema or a stray file → clear error
    build_tenant("甲公司")
    summary = create_backup(tmp_path / "good.zip")
    empty_database()

    def rewrite(name: str, change: Any) -> Path:
        target = tmp_path / name
        with zipfile.ZipFile(summary.path) as src, zipfile.ZipFile(target, "w") as dst:
            for item in src.infolist():
                data = src.read(item.filename)
                result = change(item.filename, data)
                if result is not None:
                    dst.writestr(item.filename, result)
        return target

    def tamper(filename: str, data: bytes) -> bytes:
        if filename == "data/customers.customer.jsonl":
            return data.replace("甲公司".encode(), "乙公司".encode()) + b"\n"
        return data

    def drop_customers(filename: str, data: bytes) -> bytes | None:
        return None if filename == "data/customers.customer.jsonl" else data

    def other_schema(filename: str, data: bytes) -> bytes:
        if filename == "manifest.json":
            manifest = json.loads(data)
            manifest["migrations"] = manifest["migrations"][:-1]
            return json.dumps(manifest).encode()
        return data

    cases = {
        rewrite("tampered.zip", tamper): "checksum",
        rewrite("missing.zip", drop_customers): "missing",
        rewrite("schema.zip", other_schema): "schema",
    }
    for path, message in cases.items():
        with pytest.raises(BackupError, match=message):
            restore_backup(path)
        assert not Organization.objects.exists() and not User.objects.exists()
    stray = tmp_path / "notes.zip"
    stray.write_bytes(b"not a zip at all")
    with pytest.raises(BackupError, match="not a CRM backup"):
        restore_backup(stray)
    restore_backup(summary.path)
    assert Organization.objects.exists()


def test_commands_and_the_nightly_job_keep_the_newest(tmp_path: Path, settings: Any) -> None:
    # R10.4: `crm backup` / `crm restore`; the scheduled job keeps the last N archives
    build_tenant("甲公司")
    for name in ("crm-backup-20260101-000000.zip", "crm-backup-20260102-000000.zip"):
        (tmp_path / name).write_bytes(b"old")
    settings.CRM_BACKUP_DIR = str(tmp_path)
    settings.CRM_BACKUP_KEEP = 2
    message = scheduled_backup()
    kept = sorted(p.name for p in tmp_path.glob("crm-backup-*.zip"))
    assert len(kept) == 2 and "crm-backup-20260101-000000.zip" not in kept, message
    assert rotate(tmp_path, 5) == []
    newest = tmp_path / kept[-1]
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(newest))
    empty_database()
    call_command("restore", str(newest))
    assert Organization.objects.exists()
    with pytest.raises(CommandError, match="No organisation"):
        call_command("backup", "--org", "no-such-org", "--output", str(tmp_path))
