"""A job run in its own OS process, for the kill tests (tests/security/test_job_kill.py).

    python tests/security/job_process.py DB_NAME START_AT ORG_ID JOB

Connects to the test database DB_NAME (SQLite file or PostgreSQL database), waits until the
wall-clock time START_AT so that every process starts together, runs JOB ("sweep" or
"reminders") for the organisation once — or, with JOB "import:<job id>:<batch size>", runs
that import job — and prints its result.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.test")


def main() -> None:
    name, start_at, org_id, job = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    import django
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = name
    django.setup()
    from django.utils import timezone

    from crm.activities import reminders
    from crm.customers import pool_services

    later = timezone.now() + timezone.timedelta(hours=1)
    while time.time() < start_at:
        time.sleep(0.001)
    if job == "sweep":
        print(pool_services.sweep_org(org_id)["returned"], flush=True)
    elif job.startswith("import:"):
        from crm.imports import services as import_services

        _kind, job_id, size = job.split(":")
        done = import_services.run_job(int(job_id), size=int(size))
        print(done.status if done else "not claimed", flush=True)
    else:
        print(reminders.remind_org(org_id, now=later), flush=True)


if __name__ == "__main__":
    main()
