"""The import job (R10.3): batches that commit with their counters, per-row errors with line
numbers and the bad-rows file, strict mode (all or nothing), re-runs that create nothing twice,
a killed import resumed from its last committed batch, preview without side effects, cancel."""

from __future__ import annotations

import dataclasses
import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation
from openpyxl import load_workbook

from crm.core.errors import ValidationFailed
from crm.core.models import Event, Notification
from crm.core.testing.world import World
from crm.customers.models import Contact, Customer
from crm.imports import registry, services
from crm.imports.models import ImportJob, ImportRowError, ImportRowKey
from tests.imports.conftest import csv_bytes, fresh, new_job

HEADER = ["客户名称", "手机", "联系人"]


def good_rows(n: int, start: int = 0) -> list[list[str]]:
    return [
        [f"测试客户{i:03d}有限公司", f"138{i:08d}", f"联系人{i}"] for i in range(start, start + n)
    ]


def names(world: World) -> list[str]:
    return sorted(Customer.objects.filter(org=world.org).values_list("name", flat=True))


def test_rows_commit_batch_by_batch_with_the_counters(
    iw: World, run: Any, settings: Any, path: str
) -> None:
    # R10.3: each batch commits in one transaction, with next_row and the counts
    settings.CRM_IMPORT_BATCH_SIZE = 4
    rep = iw.users["rep_east"]
    rows = [HEADER, *good_rows(5), ["", "13900000000", "无名"], *good_rows(4, 5)]
    job = run(new_job(rep, "customers", rows))
    assert (job.status, job.total_rows, job.next_row) == ("done", 10, 10)
    assert (job.created_count, job.updated_count, job.skipped_count, job.failed_count) == (
        9,
        0,
        0,
        1,
    )
    assert len(names(iw)) == 9
    assert Contact.objects.filter(org=iw.org).count() == 9
    assert job.started_at is not None and job.finished_at is not None
    note = Notification.objects.get(recipient=rep, verb="import.finished")
    assert str(job.pk) in note.url
    verbs = list(
        Event.objects.filter(object_type="imports.importjob", object_id=str(job.pk))
        .order_by("pk")
        .values_list("verb", flat=True)
    )
    assert verbs == ["import.uploaded", "import.started", "import.finished"]


def test_refused_rows_have_line_numbers_and_a_bad_rows_file(iw: World, run: Any, path: str) -> None:
    # R10.3: every refused row with its line and a reason; the bad rows as XLSX + "error"
    rep = iw.users["rep_east"]
    rows = [
        HEADER,
        *good_rows(2),
        ["", "13900000001", "甲"],
        ["坏邮箱有限公司", "12", "乙"],
        *good_rows(1, 2),
    ]
    job = run(new_job(rep, "customers", rows))
    assert (job.created_count, job.failed_count) == (3, 2)
    assert list(ImportRowError.objects.filter(job=job).values_list("line", flat=True)) == [4, 5]
    out = io.BytesIO()
    with translation.override("en"):
        services.write_bad_rows(job, out)
    sheet = load_workbook(io.BytesIO(out.getvalue()), read_only=True).worksheets[0]
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert table[0] == [*HEADER, "Error"]
    assert [r[:3] for r in table[1:]] == [
        [None, "13900000001", "甲"],
        ["坏邮箱有限公司", "12", "乙"],
    ]
    stored = list(ImportRowError.objects.filter(job=job).values_list("message", flat=True))
    assert [r[3] for r in table[1:]] == stored
    # fixed and uploaded again: the error column is ignored, the rows import
    fixed = [
        [*table[0][:3]],
        ["补上名字有限公司", "13900000001", "甲"],
        ["坏邮箱有限公司", "13900000002", "乙"],
    ]
    again = run(new_job(rep, "customers", fixed, name="fixed.xlsx"))
    assert (again.created_count, again.failed_count) == (2, 0)


def test_strict_mode_imports_all_or_nothing(iw: World, run: Any, settings: Any, path: str) -> None:
    # R10.3: one refused row → nothing at all is imported, every error is reported
    settings.CRM_IMPORT_BATCH_SIZE = 2
    rep = iw.users["rep_east"]
    events = Event.objects.filter(object_type="customers.customer").count()
    rows = [
        HEADER,
        *good_rows(3),
        ["", "13900000003", "丙"],
        *good_rows(2, 3),
        ["", "", ""],
        ["", "1", ""],
    ]
    job = run(new_job(rep, "customers", rows, strict=True))
    assert job.status == "failed"
    assert (job.created_count, job.failed_count, job.next_row) == (0, 2, 0)
    assert list(ImportRowError.objects.filter(job=job).values_list("line", flat=True)) == [5, 9]
    assert names(iw) == [] and Contact.objects.filter(org=iw.org).count() == 0
    assert Event.objects.filter(object_type="customers.customer").count() == events
    assert ImportRowKey.objects.filter(job=job).count() == 0
    assert "2" in job.message
    ok = run(new_job(rep, "customers", [HEADER, *good_rows(5)], strict=True))
    assert (ok.status, ok.created_count, ok.next_row) == ("done", 5, 5)


def test_running_the_same_file_again_creates_nothing_twice(iw: World, run: Any, path: str) -> None:
    # R10.3: the row keys make a re-run idempotent, in every duplicate mode
    rep = iw.users["rep_east"]
    rows = [HEADER, *good_rows(4)]
    first = run(new_job(rep, "customers", rows, mode="create"))
    assert first.created_count == 4
    for mode in ("create", "skip", "update"):
        again = run(new_job(rep, "customers", rows, mode=mode))
        assert (again.created_count, again.updated_count, again.skipped_count) == (0, 0, 4)
    assert len(names(iw)) == 4
    # a record deleted since is imported again
    Customer.objects.filter(name="测试客户000有限公司").delete()
    third = run(new_job(rep, "customers", rows, mode="create"))
    assert (third.created_count, third.skipped_count) == (1, 3)
    # the same row twice in one file: the second is skipped
    twice = run(
        new_job(rep, "customers", [HEADER, *good_rows(1, 50), *good_rows(1, 50)], mode="create")
    )
    assert (twice.created_count, twice.skipped_count) == (1, 1)


class Killed(BaseException):
    """What kill -9 looks like to the code: nothing after it runs, nothing catches it."""


def crash_on(monkeypatch: Any, row_name: str) -> None:
    """Make the import die when it writes the row ``row_name`` (once): row by row in the
    customers resource's ``create``, set-based in ``bulk.create_customers``."""
    from crm.customers import bulk

    original = registry.RESOURCES["customers"]
    state = {"armed": True}

    def create(ctx: Any, values: dict[str, str]) -> Any:
        if state["armed"] and values.get("name") == row_name:
            state["armed"] = False
            raise Killed
        return original.create(ctx, values)

    write = bulk.create_customers

    def create_many(*, items: list[Any], **kwargs: Any) -> Any:
        if state["armed"] and any(i.customer.name == row_name for i in items):
            state["armed"] = False
            raise Killed
        return write(items=items, **kwargs)

    monkeypatch.setitem(
        registry.RESOURCES, "customers", dataclasses.replace(original, create=create)
    )
    monkeypatch.setattr(bulk, "create_customers", create_many)


def make_stale(job: ImportJob) -> None:
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))


def test_a_killed_import_resumes_after_its_last_committed_batch(
    iw: World, monkeypatch: Any, django_capture_on_commit_callbacks: Any, path: str
) -> None:
    # R10.3: killed in the middle of batch 3 → batches 1 and 2 stay, batch 3 left nothing;
    # resumed → every row exactly once
    rep = iw.users["rep_east"]
    rows = [HEADER, *good_rows(10)]
    job = new_job(rep, "customers", rows)
    services.start_job(actor=fresh(rep), job=job)  # the worker is not started (no commit)
    crash_on(monkeypatch, "测试客户007有限公司")
    with pytest.raises(Killed):
        services.run_job(job.pk, size=3)
    job.refresh_from_db()
    assert (job.status, job.next_row, job.created_count) == ("running", 6, 6)
    assert names(iw) == [f"测试客户{i:03d}有限公司" for i in range(6)]
    assert ImportRowKey.objects.filter(job=job).count() == 6
    # the worker is gone: a second run does not take over a job with a fresh heartbeat
    assert services.run_job(job.pk) is None
    with pytest.raises(ValidationFailed):
        services.resume_job(actor=fresh(rep), job=job)
    make_stale(job)
    assert services.is_stale(ImportJob.objects.get(pk=job.pk))
    with django_capture_on_commit_callbacks(execute=True):
        services.resume_job(actor=fresh(rep), job=ImportJob.objects.get(pk=job.pk))
    job.refresh_from_db()
    assert (job.status, job.next_row, job.created_count, job.failed_count) == ("done", 10, 10, 0)
    assert names(iw) == [f"测试客户{i:03d}有限公司" for i in range(10)]
    assert Contact.objects.filter(org=iw.org).count() == 10
    assert (
        Event.objects.filter(object_type="customers.customer", verb="customer.imported").count()
        == 10
    )


def test_the_periodic_job_resumes_stale_imports(iw: World, monkeypatch: Any, path: str) -> None:
    # R10.3: a worker restart is enough: stale imports are queued again by the scheduler
    rep = iw.users["rep_east"]
    job = new_job(rep, "customers", [HEADER, *good_rows(5)])
    services.start_job(actor=fresh(rep), job=job)
    crash_on(monkeypatch, "测试客户004有限公司")
    with pytest.raises(Killed):
        services.run_job(job.pk, size=2)
    assert services.resume_stale_jobs() == 0  # heartbeat still fresh
    make_stale(job)
    assert services.resume_stale_jobs() == 1
    job.refresh_from_db()
    assert (job.status, job.created_count) == ("done", 5)
    assert len(names(iw)) == 5


def test_a_strict_import_killed_midway_leaves_nothing(
    iw: World, monkeypatch: Any, path: str
) -> None:
    # R10.3: strict mode is one transaction: a kill rolls everything back; resume starts over
    rep = iw.users["rep_east"]
    job = new_job(rep, "customers", [HEADER, *good_rows(6)], strict=True)
    services.start_job(actor=fresh(rep), job=job)
    crash_on(monkeypatch, "测试客户004有限公司")
    with pytest.raises(Killed):
        services.run_job(job.pk)
    assert names(iw) == []
    job.refresh_from_db()
    assert (job.status, job.next_row, job.created_count) == ("running", 0, 0)
    make_stale(job)
    services.run_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.created_count) == ("done", 6)


def test_an_unexpected_error_in_one_row_is_reported_and_the_rest_continues(
    iw: World, run: Any, monkeypatch: Any, path: str
) -> None:
    # R10.3: a bug in one row is logged and refused, not a crash of the whole import (the
    # set-based path hands the row to the per-row path, which reports it the same way)
    from crm.customers import services as customer_services

    derive = customer_services._derive

    def broken(customer: Any) -> None:
        if customer.name == "测试客户001有限公司":
            raise RuntimeError("boom")
        derive(customer)

    monkeypatch.setattr(customer_services, "_derive", broken)
    job = run(new_job(iw.users["rep_east"], "customers", [HEADER, *good_rows(3)]))
    assert (job.status, job.created_count, job.failed_count) == ("done", 2, 1)
    error = ImportRowError.objects.get(job=job)
    assert error.line == 3 and "boom" not in error.message
    assert names(iw) == ["测试客户000有限公司", "测试客户002有限公司"]


def test_preview_shows_the_first_rows_and_writes_nothing(iw: World) -> None:
    # R10.3: the dry run uses the import itself and is rolled back
    from crm.customers import services as customer_services

    rep = iw.users["rep_east"]
    customer_services.create_customer(actor=fresh(rep), data={"name": "已有客户有限公司"})
    rows = [HEADER, *good_rows(25)]
    rows[2] = ["已有客户有限公司", "", ""]
    rows[3] = ["", "", ""]
    rows[4] = ["", "13900000009", "丁"]
    job = new_job(rep, "customers", rows)
    counts = (Customer.objects.count(), Event.objects.count(), Notification.objects.count())
    outcomes = services.preview(actor=fresh(rep), job=job)
    assert len(outcomes) == 20
    assert [o.action for o in outcomes[:4]] == ["created", "skipped", "failed", "created"]
    assert [o.line for o in outcomes[:4]] == [2, 3, 5, 6]  # the blank line 4 is not a row
    assert outcomes[0].values == ["测试客户000有限公司", "13800000000", "联系人0"]
    assert (Customer.objects.count(), Event.objects.count(), Notification.objects.count()) == counts
    assert ImportRowKey.objects.count() == 0
    job.refresh_from_db()
    assert job.status == "draft"


def test_mapping_is_checked_before_preview_and_run(iw: World) -> None:
    # R10.3: required fields must be mapped; a field only once; unknown keys refused
    rep = iw.users["rep_east"]
    job = new_job(rep, "customers", [HEADER, *good_rows(1)])
    for mapping, word in (
        (["", "contact_mobile", "contact_name"], "required"),
        (["name", "name", ""], "two columns"),
        (["name", "bogus", ""], "bogus"),
    ):
        with translation.override("en"), pytest.raises(Exception) as caught:
            services.configure_job(actor=fresh(rep), job=job, mapping=mapping)
        assert word in " ".join(str(m) for m in caught.value.field_errors["mapping"])


def test_update_mode_needs_the_edit_permission(iw: World) -> None:
    # R10.3: updating duplicates needs module:edit as well as create
    from crm.core.testing.world import make_role, make_user

    creator = make_user(
        iw.admin,
        "只能新建",
        iw.depts["east"],
        [make_role(iw.admin, "仅新建", "self", ["customers:view", "customers:create"])],
    )
    job = new_job(creator, "customers", [HEADER, *good_rows(1)])
    with pytest.raises(Exception) as caught:
        services.configure_job(
            actor=fresh(creator), job=job, mapping=job.mapping, duplicate_mode="update"
        )
    assert "duplicate_mode" in caught.value.field_errors


def test_cancel_stops_a_job_and_keeps_committed_batches(iw: World) -> None:
    # R10.3: a cancelled job is not run (or stops before its next batch)
    rep = iw.users["rep_east"]
    job = new_job(rep, "customers", [HEADER, *good_rows(3)])
    services.start_job(actor=fresh(rep), job=job)
    services.cancel_job(actor=fresh(rep), job=ImportJob.objects.get(pk=job.pk))
    assert services.run_job(job.pk) is None
    assert names(iw) == []
    assert ImportJob.objects.get(pk=job.pk).status == "cancelled"


def test_someone_else_cannot_work_with_my_job(iw: World, other_world: World) -> None:
    # R10.3 + R1.3: a job is its uploader's: colleagues, managers and other tenants get NotFound
    from crm.core.errors import NotFound

    job = new_job(iw.users["rep_east"], "customers", [HEADER, *good_rows(1)])
    for intruder in (iw.users["manager1"], iw.users["director"], iw.admin, other_world.admin):
        for call in (
            lambda u: services.preview(actor=u, job=job),
            lambda u: services.start_job(actor=u, job=job),
            lambda u: services.configure_job(actor=u, job=job, mapping=job.mapping),
            lambda u: services.cancel_job(actor=u, job=job),
            lambda u: services.save_template(actor=u, job=job, name="x"),
        ):
            with pytest.raises(NotFound):
                call(fresh(intruder))
    assert ImportJob.objects.get(pk=job.pk).status == "draft"


def test_a_user_without_the_resource_permission_cannot_upload(iw: World) -> None:
    # R10.3: importing customers needs customers:create; leads needs leads:create
    from crm.core.errors import PermissionDenied

    upload = SimpleUploadedFile("a.csv", csv_bytes([HEADER, *good_rows(1)]))
    with pytest.raises(PermissionDenied):
        services.create_job(
            actor=fresh(iw.users["nobody"]), resource="customers", uploaded_file=upload
        )
    with pytest.raises(PermissionDenied):
        services.create_job(
            actor=fresh(iw.users["rep_east2"]), resource="leads", uploaded_file=upload
        )
    assert ImportJob.objects.count() == 0


def test_uploaded_files_of_old_imports_are_deleted(iw: World, run: Any) -> None:
    # R10.3: uploads hold personal data: their files go CRM_IMPORT_KEEP_DAYS after the end
    job = run(new_job(iw.users["rep_east"], "customers", [HEADER, *good_rows(1)]))
    path = job.file.path
    assert services.purge_old_files(days=30) == 0
    ImportJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(days=31))
    assert services.purge_old_files(days=30) == 1
    job.refresh_from_db()
    assert job.file.name == ""
    import os

    assert not os.path.exists(path)
