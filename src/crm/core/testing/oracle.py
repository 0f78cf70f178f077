"""An independent scope oracle: who should see a record, computed in plain Python from the
people and the department tree, without the query layer under test (RELIABILITY.md §6.2)."""

from __future__ import annotations

from typing import Any

from crm.core.scoping import DataScope


def _under(dept: Any, ancestor: Any) -> bool:
    """Is ``dept`` the department ``ancestor`` or below it (walking parents, not paths)?"""
    node = dept
    while node is not None:
        if node.pk == ancestor.pk:
            return True
        node = node.parent
    return False


def sees(
    user: Any,
    owner: Any,
    *,
    module: str,
    action: str,
    org_id: int,
    collaborators: list[Any] | tuple[Any, ...] = (),
) -> bool:
    """Should ``user`` be able to ``action`` a record of ``org_id`` owned by ``owner``?"""
    if not user.is_active or user.org_id != org_id:
        return False
    perm = f"{module}:{action}"
    roles = [r for r in user.roles.all() if perm in r.permissions]
    if not roles:
        return False
    if any(c.pk == user.pk for c in collaborators):
        return True
    for role in roles:
        scope = role.data_scope
        if scope == DataScope.ALL:
            return True
        if owner is None:
            continue
        if owner.pk == user.pk:
            return True
        if scope == DataScope.DEPT and owner.department_id == user.department_id:
            return True
        if (
            scope == DataScope.DEPT_TREE
            and user.department
            and owner.department
            and _under(owner.department, user.department)
        ):
            return True
        if (
            scope == DataScope.CUSTOM
            and owner.department
            and any(_under(owner.department, d) for d in role.scope_departments.all())
        ):
            return True
    return False
