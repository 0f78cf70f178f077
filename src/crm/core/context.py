"""Per-request and per-job context (request id, acting job) carried in context variables."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("crm_request_id", default="")
job_label_var: ContextVar[str] = ContextVar("crm_job_label", default="")


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextlib.contextmanager
def acting_job(label: str) -> Iterator[str]:
    """Mark events written inside the block as made by the job ``label``."""
    token = job_label_var.set(label)
    rid = request_id_var.set(f"job:{label}:{uuid.uuid4().hex[:12]}")
    try:
        yield label
    finally:
        job_label_var.reset(token)
        request_id_var.reset(rid)
