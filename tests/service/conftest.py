"""Fixtures of the service tests: the world (crm.core.testing.world) with a service role added
to every user in the data scope of their other roles, and a customer per rep."""

from __future__ import annotations

from typing import Any

import pytest

from crm.core.scoping import DataScope
from crm.core.testing.world import World, build_world, make_role
from crm.customers.services import create_customer
from crm.org import services as org_services
from crm.org.models import User

SCOPE_OF = {
    "rep_east": DataScope.SELF,
    "rep_east2": DataScope.SELF,
    "rep_south": DataScope.SELF,
    "rep_sales2": DataScope.SELF,
    "dept_east": DataScope.DEPT,
    "manager1": DataScope.DEPT_TREE,
    "director": DataScope.ALL,
    "custom": DataScope.CUSTOM,
}
REP_PERMS = ["service:view", "service:create", "service:edit"]
MANAGER_PERMS = [*REP_PERMS, "service:delete", "service:transfer", "service:export"]


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def grant_service(world: World) -> World:
    admin = world.admin
    roles = {}
    for scope in DataScope.values:
        perms = REP_PERMS if scope == DataScope.SELF else MANAGER_PERMS
        depts = [world.depts["south"], world.depts["sales2"]] if scope == DataScope.CUSTOM else None
        roles[scope] = make_role(admin, f"service-{scope}", scope, perms, depts)
    for key, scope in SCOPE_OF.items():
        user = world.users[key]
        org_services.update_user(actor=admin, user=user, roles=[*user.roles.all(), roles[scope]])
        world.users[key] = fresh(user)
    # the reps of 华东组 report to the manager of 销售一部 (overdue notices go to both)
    User.objects.filter(pk__in=[world.users["rep_east"].pk, world.users["rep_east2"].pk]).update(
        manager=world.users["manager1"]
    )
    return world


def customer_of(user: User, name: str) -> Any:
    return create_customer(actor=fresh(user), data={"name": name})


@pytest.fixture
def svc(db: None) -> World:
    return grant_service(build_world())


@pytest.fixture
def svc_other(db: None) -> World:
    return grant_service(build_world())
