"""The lead rescoring job (Huey): run after the scoring rules of an organisation change."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from . import scoring


@db_task()
def rescore_leads(org_id: int) -> int:
    """Rescore every lead of the organisation (batches of ``scoring.BATCH_SIZE``)."""
    return scoring.rescore_org(org_id)
