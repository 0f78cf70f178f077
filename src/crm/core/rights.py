"""What a user may do with the records a page has read, read with the records (R11.2).

A record page shows only the buttons the viewer may use (edit, transfer, delete…), and each
answer is "does ``Model.objects.visible_to(user, action)`` hold the record?". Asked one by one,
that is a query per action and per section that wants to know. :func:`with_rights` asks every
action in the query that reads the records (one ``EXISTS`` over ``visible_to`` per action), and
:func:`may` answers from what the record carries; a record read without them is asked on its
own, exactly as before. The answers are tied to the user they were computed for.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models
from django.db.models import BooleanField, Exists, OuterRef, QuerySet, Value


def _attr(user: Any, action: str) -> str:
    return f"rights_{user.pk}_{action}"


def with_rights(qs: QuerySet[Any], user: Any, actions: Iterable[str]) -> QuerySet[Any]:
    """``qs`` whose rows also say, per action, whether ``user`` may do it to them (through
    ``visible_to(user, action)``; no EXISTS at all when the user's roles never allow it)."""
    manager: Any = qs.model._default_manager
    annotations: dict[str, Any] = {}
    for action in actions:
        allowed = manager.visible_to(user, action)
        if allowed.query.is_empty():
            annotations[_attr(user, action)] = Value(False, output_field=BooleanField())
        else:
            annotations[_attr(user, action)] = Exists(allowed.filter(pk=OuterRef("pk")))
    return qs.annotate(**annotations)


def known(user: Any, record: models.Model, action: str) -> bool | None:
    """What the record says ``user`` may do (None: it was read without that answer)."""
    value = record.__dict__.get(_attr(user, action))
    return bool(value) if value is not None else None


def may(user: Any, record: models.Model, action: str) -> bool:
    """May ``user`` ``action`` ``record`` (data scope and function permission)? From the
    record when it was read :func:`with_rights`, else one query."""
    answer = known(user, record, action)
    if answer is not None:
        return answer
    manager: Any = type(record)._default_manager
    return bool(manager.visible_to(user, action).filter(pk=record.pk).exists())
