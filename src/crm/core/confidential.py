"""Confidential records (R1.4): the mark and the named viewers of a customer or opportunity.

Who sees a confidential record is decided by the scope engine (``crm.core.scoping``): its owner,
collaborators, named viewers and organisation administrators (users with ``settings:configure``,
``User.is_org_admin``), whatever the others' data scope. This module is the one write path for the
mark and the viewers; only the record's owner or an administrator may change them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from . import audit
from .errors import Conflict, PermissionDenied, ValidationFailed
from .scoping import assert_in_scope

MAX_VIEWERS = 50
#: the API fields of the mark on the customer and opportunity write schemas
KEYS = ("is_confidential", "confidential_viewer_ids")


def may_change(user: Any, record: Any) -> bool:
    """May ``user`` mark ``record`` confidential, clear the mark or change its viewers?"""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.org_id != record.org_id:
        return False
    return bool(user.is_org_admin or (record.owner_id and record.owner_id == user.pk))


def _refuse() -> PermissionDenied:
    return PermissionDenied(
        _(
            "Only the owner of this record or an organisation administrator may change "
            "whether it is confidential and who may see it."
        )
    )


def require_may_create(actor: Any, owner: Any) -> None:
    """Before creating a record owned by ``owner`` with a confidential mark or named viewers:
    only the future owner or an administrator may set them (checked before anything is written)."""
    if not (actor.is_org_admin or (owner is not None and owner.pk == actor.pk)):
        raise _refuse()


def require_may_change(actor: Any, record: Any) -> None:
    """403 (PermissionDenied with a clear message) unless ``actor`` may change the mark."""
    if not may_change(actor, record):
        raise _refuse()


def viewer_ids(record: Any) -> list[int]:
    return sorted(record.confidential_viewers.values_list("pk", flat=True)) if record.pk else []


def _clean_viewers(actor: Any, ids: Iterable[Any]) -> list[Any]:
    from crm.org.models import User

    wanted: set[int] = set()
    for raw in ids:
        try:
            wanted.add(int(raw))
        except (TypeError, ValueError):
            raise ValidationFailed(
                field_errors={"confidential_viewer_ids": [_("Choose colleagues from the list.")]}
            ) from None
    if len(wanted) > MAX_VIEWERS:
        raise ValidationFailed(
            field_errors={
                "confidential_viewer_ids": [
                    _("Name at most %(count)d viewers.") % {"count": MAX_VIEWERS}
                ]
            }
        )
    users = list(User.objects.filter(org_id=actor.org_id, is_active=True, pk__in=wanted))
    if len(users) != len(wanted):
        raise ValidationFailed(
            field_errors={
                "confidential_viewer_ids": [_("Choose active colleagues of your organisation.")]
            }
        )
    return users


@transaction.atomic
def set_confidential(
    *,
    actor: Any,
    record: Any,
    is_confidential: bool | None = None,
    viewers: Iterable[Any] | None = None,
) -> Any:
    """Mark or unmark ``record`` (a customer or an opportunity) confidential and/or set its named
    viewers (user ids or users). Only the owner or an organisation administrator may; anyone else
    gets PermissionDenied and nothing changes. Records ``<model>.confidentiality`` in the audit
    trail with the old and new values. Returns the record, refreshed."""
    assert_in_scope(actor, record, "view")
    if not may_change(actor, record):
        raise _refuse()
    model: type[models.Model] = type(record)
    before_flag = bool(
        model._default_manager.filter(pk=record.pk).values_list("is_confidential", flat=True)[0]
    )
    before_viewers = viewer_ids(record)
    users = (
        None if viewers is None else _clean_viewers(actor, [getattr(v, "pk", v) for v in viewers])
    )
    changes: dict[str, list[Any]] = {}
    if is_confidential is not None and bool(is_confidential) != before_flag:
        if is_confidential and getattr(record, "owner_id", None) is None:
            raise ValidationFailed(
                _("A record in the public pool cannot be confidential: claim or assign it first.")
            )
        changes["is_confidential"] = [before_flag, bool(is_confidential)]
    if users is not None:
        after_viewers = sorted(u.pk for u in users)
        if after_viewers != before_viewers:
            changes["confidential_viewers"] = [before_viewers, after_viewers]
    if not changes:
        record.refresh_from_db()
        return record
    update: dict[str, Any] = {"version": F("version") + 1, "updated_at": timezone.now()}
    if "is_confidential" in changes:
        update["is_confidential"] = bool(is_confidential)
    if not model._default_manager.filter(pk=record.pk).update(**update):
        raise Conflict()
    if users is not None:
        record.confidential_viewers.set(users)
    record.refresh_from_db()
    audit.record(
        actor=actor,
        obj=record,
        verb=f"{model._meta.model_name}.confidentiality",
        changes=changes,
    )
    return record
