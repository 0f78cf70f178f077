from typing import Any

from django.db import transaction

from crm.core import audit
from crm.core.errors import PermissionDenied, ValidationFailed
from crm.core.scoping import assert_in_scope

from .models import Memo


@transaction.atomic
def create_memo(*, actor: Any, title: str, owner: Any = None) -> Memo:
    if not actor.can("customers", "create"):
        raise PermissionDenied()
    if not title.strip():
        raise ValidationFailed(field_errors={"title": ["required"]})
    memo = Memo.objects.create(
        org_id=actor.org_id, title=title, owner=owner or actor, created_by=actor
    )
    assert_in_scope(actor, memo, "view")
    audit.record_created(actor=actor, obj=memo)
    return memo


@transaction.atomic
def update_memo(*, actor: Any, memo: Memo, title: str) -> Memo:
    before = audit.snapshot(memo)
    memo.title = title
    memo.save(update_fields=["title", "updated_at"])
    audit.record(
        actor=actor, obj=memo, verb="updated", changes=audit.diff(before, audit.snapshot(memo))
    )
    return memo


@transaction.atomic
def delete_memo(*, actor: Any, memo: Memo) -> None:
    audit.record(actor=actor, obj=memo, verb="deleted")
    memo.delete()


def transfer_memos(*, actor: Any, from_user: Any, to_user: Any) -> int:
    return Memo.objects.filter(org_id=from_user.org_id, owner=from_user).update(owner=to_user)
