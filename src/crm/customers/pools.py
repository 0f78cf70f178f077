"""Which public pools a user may see and claim from."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from crm.core.scoping import DataScope


def visible_pool_ids(user: Any) -> list[int]:
    """Active pools of the user's organisation open to everyone or to one of the user's
    department's ancestors-or-self (a pool opened to 销售一部 is open to 华东组 below it).
    Needs the customers:view permission. Memoised on the user for the request."""
    cache = user.__dict__.setdefault("_scope_cache", {})
    if "pool_ids" in cache:
        return cache["pool_ids"]
    from .models import PublicPool

    ids: list[int] = []
    if user.is_active and user.org_id and user.can("customers", "view"):
        pools = PublicPool.objects.filter(org_id=user.org_id, is_active=True)
        dept = user.department
        if any(scope == DataScope.ALL for scope, _d in user.role_grants("customers", "view")):
            ids = list(pools.values_list("pk", flat=True))  # whole-organisation roles see all
        else:
            open_q = Q(departments__isnull=True)
            if dept is not None:
                ancestor_ids = [int(p) for p in dept.path.strip("/").split("/") if p]
                open_q |= Q(departments__in=ancestor_ids)
            ids = sorted(set(pools.filter(open_q).values_list("pk", flat=True)))
    cache["pool_ids"] = ids
    return ids
