"""Cached report figures (issue 6, R8): the dashboard, funnel and forecast of a viewer, kept
until their organisation records its next change.

A figure is cached under the viewer (never shared between people, so no one sees another
scope's figures), the language, the figure's own parameters and the organisation's **change
marker**: the newest audit event of the organisation. Every write path records an event in its
transaction (issue 9's audit gate), so the first read after any change — a won opportunity, a
receipt, a new target, a changed role or department — misses and computes afresh. The marker is
one indexed read (``event_time_idx``), the same on every worker whatever the cache backend.

Two writes committing out of order can leave the newest marker unchanged for a moment; figures
then live at most ``CRM_FIGURE_CACHE_SECONDS`` (300 s by default; 0 turns the cache off).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import translation

from .models import Event

logger = logging.getLogger(__name__)

_MISSING = object()


def change_marker(org_id: int) -> int:
    """The id of the organisation's newest audit event (0 before the first)."""
    newest = (
        Event.objects.filter(org_id=org_id)
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)[:1]
    )
    return next(iter(newest), 0)


def figure_key(viewer: Any, name: str, parts: tuple[Any, ...], marker: int) -> str:
    raw = repr((viewer.org_id, viewer.pk, translation.get_language(), marker, name, parts))
    return "crm:fig:" + hashlib.sha256(raw.encode()).hexdigest()


def cached[T](viewer: Any, name: str, parts: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """``compute()``, or what it gave for the same viewer, ``name`` and ``parts`` (plain values:
    dates, ids, strings) since the organisation last changed."""
    ttl = settings.CRM_FIGURE_CACHE_SECONDS
    if ttl <= 0 or not getattr(viewer, "org_id", None):
        return compute()
    key = figure_key(viewer, name, parts, change_marker(viewer.org_id))
    hit = cache.get(key, _MISSING)
    if isinstance(hit, bytes):
        return pickle.loads(hit)  # noqa: S301 - our own bytes
    value = compute()
    try:
        blob = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:  # never costs the page
        logger.warning("figure %s not cached: %s", name, exc)
        return value
    cache.set(key, blob, ttl)
    return value


def pk(obj: Any) -> Any:
    """A model instance as its id in a key's ``parts`` (None stays None)."""
    return getattr(obj, "pk", obj)
