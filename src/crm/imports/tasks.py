"""Jobs of the import module: running an import, and resuming imports whose worker died."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_task

from crm.core.tasks import periodic_job

from . import services


@db_task()
def run_import(job_id: int) -> None:
    """Run (or continue) one import; a second worker for the same job does nothing."""
    services.run_job(job_id)


@periodic_job(crontab(minute="*/5"), name="imports.resume_stale")
def resume_stale() -> str:
    """Queue again imports whose worker was killed (no committed batch for a while)."""
    return f"resumed {services.resume_stale_jobs()}"


@periodic_job(crontab(minute="40", hour="3"), name="imports.purge_files")
def purge_files() -> str:
    """Delete the uploaded files of imports that ended long ago (nightly)."""
    return f"deleted {services.purge_old_files()}"
