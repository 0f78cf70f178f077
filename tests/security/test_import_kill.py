"""An import killed with SIGKILL (RELIABILITY E3/E5, release gate 9): the import runs in its own
OS process and is killed at several moments; a batch import keeps whole batches only (no
half-written batch), a strict import keeps nothing; the resumed run completes with every row
exactly once, and importing the same file again creates nothing. Real processes and the real
database; nothing is mocked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from crm.customers.models import Customer
from crm.imports.models import ImportJob, ImportRowKey
from tests.imports.conftest import EXTRA_PERMS, grant, new_job
from tests.security.test_job_kill import RUNNER

# enough rows for the kills to land mid-import now that batches are written set-based (R11.2)
ROWS = int(os.environ.get("CRM_KILL_IMPORT_ROWS", "2400"))
BATCH = 40
HEADER = ["客户名称", "手机", "联系人"]

pytestmark = pytest.mark.django_db(transaction=True)


def rows(n: int) -> list[list[str]]:
    return [HEADER] + [[f"断电客户{i:05d}有限公司", f"137{i:08d}", f"联系人{i}"] for i in range(n)]


def run_killed(job: ImportJob, kill_after: float | None) -> int:
    """Run the job in a child process; SIGKILL it ``kill_after`` seconds after it starts
    working (None: let it finish). Returns the exit code."""
    ImportJob.objects.filter(pk=job.pk).update(status="queued")
    connection.close()
    start_at = time.time() + 2.5
    proc = subprocess.Popen(
        [
            sys.executable,
            str(RUNNER),
            str(connection.settings_dict["NAME"]),
            str(start_at),
            str(job.org_id),
            f"import:{job.pk}:{BATCH}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if kill_after is not None:
        time.sleep(max(0.0, start_at - time.time() + kill_after))
        proc.send_signal(signal.SIGKILL)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode in (0, -signal.SIGKILL), err.decode()[-2000:]
    return proc.returncode


def resume(job: ImportJob) -> None:
    """What the stale-job sweep does after the worker died: the job is run again."""
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    job.refresh_from_db()
    if job.status == "running":
        ImportJob.objects.filter(pk=job.pk).update(status="queued")
    assert run_killed(job, None) == 0


def imported(org_id: int) -> list[str]:
    return list(
        Customer.objects.filter(org_id=org_id, name__startswith="断电客户").values_list(
            "name", flat=True
        )
    )


@pytest.mark.parametrize("kill_after", [0.8, 2.0])
def test_a_batch_import_killed_keeps_whole_batches_and_resumes_exactly(
    world, kill_after: float
) -> None:
    # E3 E5: after SIGKILL only whole batches exist; resumed → every row exactly once
    rep = grant(world, "rep_east", [])
    job = new_job(rep, "customers", rows(ROWS), mode="skip")
    code = run_killed(job, kill_after)
    job.refresh_from_db()
    after_kill = imported(world.org.pk)
    print(f"killed={code} rows after kill={len(after_kill)} of {ROWS}")
    assert len(after_kill) % BATCH == 0 or len(after_kill) == ROWS, (code, len(after_kill))
    assert len(after_kill) == job.created_count == job.next_row, (code, job.next_row)
    resume(job)
    job.refresh_from_db()
    names = imported(world.org.pk)
    assert job.status == "done" and job.created_count == ROWS, (code, job.status)
    assert len(names) == len(set(names)) == ROWS
    assert ImportRowKey.objects.filter(job=job).count() == ROWS
    # the same file again: nothing new
    again = new_job(rep, "customers", rows(ROWS), mode="skip")
    assert run_killed(again, None) == 0
    again.refresh_from_db()
    assert (again.created_count, again.skipped_count) == (0, ROWS)
    assert len(imported(world.org.pk)) == ROWS


def test_a_strict_import_killed_keeps_nothing_and_the_rerun_imports_all(world) -> None:
    # E3: strict mode is all or nothing, also under SIGKILL
    rep = grant(world, "rep_east", EXTRA_PERMS[:0])
    job = new_job(rep, "customers", rows(ROWS), mode="skip", strict=True)
    code = run_killed(job, 1.2)
    assert len(imported(world.org.pk)) in (0, ROWS), code
    job.refresh_from_db()
    if code == -signal.SIGKILL and job.status != "done":  # killed before the commit
        assert imported(world.org.pk) == []
    resume(job)
    job.refresh_from_db()
    assert job.status == "done" and job.created_count == ROWS
    assert len(set(imported(world.org.pk))) == ROWS
