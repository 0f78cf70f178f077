"""Optimistic locking: a write names the version it read; a stale one is refused with what
changed since, so the second editor sees it instead of silently overwriting the first."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from . import audit
from .errors import Conflict


class EditConflict(Conflict):
    """The record changed since the editor read it. ``changes`` lists each changed field with
    who changed it, when, and the value before and after; ``field_errors`` says the same per
    field, so a form shows it next to the field and the API in ``errors``."""

    code = "edit_conflict"

    def __init__(self, changes: list[dict[str, Any]], current_version: int):
        self.changes = changes
        self.current_version = current_version
        field_errors: dict[str, list[str]] = {}
        for change in changes:
            field_errors.setdefault(change["field"], []).append(
                _("%(who)s changed this at %(when)s: %(old)s → %(new)s")
                % {
                    "who": change["by"] or _("someone"),
                    "when": change["at"],
                    "old": change["old"] if change["old"] not in (None, "") else "—",
                    "new": change["new"] if change["new"] not in (None, "") else "—",
                }
            )
        super().__init__(
            _(
                "Someone else changed this record since you opened it (now version %(version)s). "
                "Their changes are shown; check them, then save again."
            )
            % {"version": current_version},
            field_errors=field_errors,
        )


def changes_since(obj: models.Model, version: int) -> list[dict[str, Any]]:
    """The field changes recorded on ``obj`` after ``version`` (oldest first). Services that
    lock record the version each change reached as ``data["version"]`` of its event."""
    object_type = obj._meta.label_lower
    result = []
    events = audit.history_for(obj).order_by("created_at", "pk")
    for event in events:
        reached = (event.data or {}).get("version")
        if not isinstance(reached, int) or reached <= version:
            continue
        for field, (old, new) in sorted((event.changes or {}).items()):
            result.append(
                {
                    "field": field,
                    "label": str(audit.field_label(object_type, field)),
                    "old": str(
                        audit.value_label(
                            object_type, field, old, org_id=getattr(obj, "org_id", None)
                        )
                        or ""
                    ),
                    "new": str(
                        audit.value_label(
                            object_type, field, new, org_id=getattr(obj, "org_id", None)
                        )
                        or ""
                    ),
                    "by": event.actor.display_name if event.actor else event.actor_label,
                    "at": formats.date_format(
                        timezone.localtime(event.created_at), "SHORT_DATETIME_FORMAT"
                    ),
                }
            )
    return result


def check_version(obj: Any, version: int | None) -> None:
    """Raise EditConflict when the editor's ``version`` is not the record's current one."""
    if version is not None and int(version) != obj.version:
        raise EditConflict(changes_since(obj, int(version)), obj.version)
