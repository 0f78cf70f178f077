"""Fixtures of the import tests: the shared world with lead and export permissions, and
helpers that upload a file, set the mapping and run the job through the real services."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from crm.core.scoping import DataScope
from crm.core.testing.world import World, make_role
from crm.imports import services
from crm.imports.models import ImportJob
from crm.org import services as org_services
from crm.org.models import User

EXTRA_PERMS = [
    *(f"leads:{a}" for a in ("view", "create", "edit", "delete", "transfer", "export")),
    "customers:export",
    "opportunities:export",
    "opportunities:transfer",
    "activities:export",
]


def fresh(user: User) -> User:
    """The user as a new request sees it (no cached roles or scopes)."""
    return User.objects.get(pk=user.pk)


def grant(world: World, key: str, perms: list[str], scope: str = DataScope.SELF) -> User:
    """Give the world user ``key`` one more role with ``perms``."""
    user = world.users[key]
    extra = make_role(world.admin, f"extra-{key}-{len(perms)}", scope, perms)
    org_services.update_user(actor=world.admin, user=user, roles=[*user.roles.all(), extra])
    world.users[key] = fresh(user)
    return world.users[key]


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


@pytest.fixture(params=["set-based", "per-row"])
def path(request: Any, settings: Any) -> str:
    """Run the test on both paths of the engine (R11.2): the set-based batches and, with
    ``CRM_IMPORT_SET_BASED = False``, one row at a time."""
    settings.CRM_IMPORT_SET_BASED = request.param == "set-based"
    return str(request.param)


@pytest.fixture
def iw(world: World) -> World:
    """The world where rep_east, manager1 and director may also work leads and export."""
    grant(world, "rep_east", [f"leads:{a}" for a in ("view", "create", "edit")])
    grant(world, "manager1", EXTRA_PERMS, DataScope.DEPT_TREE)
    grant(world, "director", EXTRA_PERMS, DataScope.ALL)
    return world


def csv_bytes(rows: list[list[Any]], *, encoding: str = "utf-8", bom: bool = False) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload_file(data: bytes, name: str = "客户.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def new_job(
    actor: User,
    resource: str,
    rows: list[list[Any]],
    *,
    name: str = "data.csv",
    mapping: list[str] | None = None,
    mode: str = "skip",
    strict: bool = False,
) -> ImportJob:
    """A configured draft job of ``rows`` (the first row holds the titles)."""
    data = xlsx_bytes(rows) if name.endswith(".xlsx") else csv_bytes(rows)
    job = services.create_job(
        actor=fresh(actor), resource=resource, uploaded_file=upload_file(data, name)
    )
    return services.configure_job(
        actor=fresh(actor),
        job=job,
        mapping=mapping if mapping is not None else job.mapping,
        duplicate_mode=mode,
        strict=strict,
    )


@pytest.fixture
def run(django_capture_on_commit_callbacks: Any) -> Callable[[ImportJob], ImportJob]:
    """Start a job as the page does; the worker (huey, immediate in tests) runs it on commit."""

    def start(job: ImportJob) -> ImportJob:
        with django_capture_on_commit_callbacks(execute=True):
            services.start_job(actor=fresh(job.created_by), job=job)
        job.refresh_from_db()
        return job

    return start
