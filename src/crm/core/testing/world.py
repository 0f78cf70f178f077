"""Build organisations, departments and users for tests through the real services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from crm.core.scoping import DataScope
from crm.org import services
from crm.org.models import Department, Organization, Role, User

PASSWORD = "Crm-test-pass-2026"  # noqa: S105 - test fixture password
_seq = itertools.count(1)


def make_org(name: str | None = None, **kwargs: Any) -> tuple[Organization, User]:
    n = next(_seq)
    return services.create_organization(
        name=name or f"测试公司{n}",
        admin_email=f"admin{n}@example.com",
        admin_password=PASSWORD,
        admin_name=f"管理员{n}",
        **kwargs,
    )


def make_department(admin: User, name: str, parent: Department | None = None) -> Department:
    return services.create_department(actor=admin, name=name, parent=parent)


def role(org: Organization, code: str) -> Role:
    return Role.objects.get(org=org, code=code, is_builtin=True)


def make_role(
    admin: User,
    name: str,
    scope: str,
    perms: list[str],
    departments: list[Department] | None = None,
) -> Role:
    return services.save_role(
        actor=admin,
        name=name,
        permissions=perms,
        data_scope=scope,
        scope_departments=departments or [],
    )


def make_user(
    admin: User, name: str, department: Department, roles: list[Role], username: str | None = None
) -> User:
    n = next(_seq)
    user, _ = services.create_user(
        actor=admin,
        username=username or f"u{n}",
        email=f"u{n}@example.com",
        name=name,
        department=department,
        roles=roles,
        password=PASSWORD,
    )
    return user


@dataclass
class World:
    """One organisation with a department tree and people in every data scope.

    root ─ sales1 ─ east
         │        └ south
         └ sales2
    """

    org: Organization
    admin: User
    depts: dict[str, Department] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)


def build_world(name: str | None = None) -> World:
    org, admin = make_org(name)
    w = World(org=org, admin=admin)
    root = admin.department
    assert root is not None
    w.depts["root"] = root
    w.depts["sales1"] = make_department(admin, "销售一部", root)
    w.depts["east"] = make_department(admin, "华东组", w.depts["sales1"])
    w.depts["south"] = make_department(admin, "华南组", w.depts["sales1"])
    w.depts["sales2"] = make_department(admin, "销售二部", root)
    perms = [
        f"{m}:{a}"
        for m in ("customers", "opportunities", "activities")
        for a in ("view", "create", "edit", "delete")
    ]
    scoped_roles = {
        scope: make_role(
            admin,
            f"scope-{scope}",
            scope,
            perms,
            [w.depts["south"], w.depts["sales2"]] if scope == DataScope.CUSTOM else None,
        )
        for scope in DataScope.values
    }
    w.users["rep_east"] = make_user(
        admin, "华东销售甲", w.depts["east"], [scoped_roles[DataScope.SELF]]
    )
    w.users["rep_east2"] = make_user(
        admin, "华东销售乙", w.depts["east"], [scoped_roles[DataScope.SELF]]
    )
    w.users["rep_south"] = make_user(
        admin, "华南销售", w.depts["south"], [scoped_roles[DataScope.SELF]]
    )
    w.users["rep_sales2"] = make_user(
        admin, "二部销售", w.depts["sales2"], [scoped_roles[DataScope.SELF]]
    )
    w.users["dept_east"] = make_user(
        admin, "华东组长", w.depts["east"], [scoped_roles[DataScope.DEPT]]
    )
    w.users["manager1"] = make_user(
        admin, "一部经理", w.depts["sales1"], [scoped_roles[DataScope.DEPT_TREE]]
    )
    w.users["director"] = make_user(
        admin, "销售总监", w.depts["root"], [scoped_roles[DataScope.ALL]]
    )
    w.users["custom"] = make_user(
        admin, "跨部门专员", w.depts["sales1"], [scoped_roles[DataScope.CUSTOM]]
    )
    w.users["nobody"] = make_user(admin, "无权限", w.depts["east"], [])
    return w
