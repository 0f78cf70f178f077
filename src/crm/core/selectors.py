"""Reads of the core app that are not a plain scoped filter."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .errors import PermissionDenied
from .models import JobRun


def job_runs(user: Any) -> QuerySet[JobRun]:
    """Periodic jobs and their last run; organisation admins only (jobs are deployment-wide)."""
    if not user.can("settings", "configure"):
        raise PermissionDenied()
    return JobRun.objects.order_by("name")
