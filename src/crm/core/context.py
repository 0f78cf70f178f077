"""Per-request and per-job context (request id, acting job, the request's memo of configuration
rows) carried in context variables."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

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


# --- Request-scoped memo -------------------------------------------------------------------------
#: what one request has already read (dictionaries, stages, ...): set by RequestIdMiddleware for
#: the duration of a request; None outside requests (jobs, shell, service tests), where nothing
#: is memoised.
_request_memo: ContextVar[dict[Any, Any] | None] = ContextVar("crm_request_memo", default=None)


@contextlib.contextmanager
def request_memo_scope() -> Iterator[dict[Any, Any]]:
    """Open a fresh memo for the block (one request)."""
    memo: dict[Any, Any] = {}
    token = _request_memo.set(memo)
    try:
        yield memo
    finally:
        _request_memo.reset(token)


def request_memo[T](key: Any, load: Callable[[], T]) -> T:
    """``load()``, read once per request under ``key`` (every call outside a request loads).

    For configuration rows that many parts of one page read (dictionaries, stages,
    departments). Rows read through ``visible_to`` are memoised only under a key that names the
    reader. Callers must not mutate what they get (copy it first)."""
    memo = _request_memo.get()
    if memo is None:
        return load()
    if key not in memo:
        memo[key] = load()
    return memo[key]


def forget_request_memo(match: Callable[[Any], bool]) -> None:
    """Drop the memoised entries whose key ``match``es (after a write in the same request)."""
    memo = _request_memo.get()
    if memo:
        for key in [k for k in memo if match(k)]:
            del memo[key]
