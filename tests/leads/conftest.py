"""Fixtures of the leads tests: the shared world, with lead roles in every data scope, a
marketing user, and two sub-pools (华东 managed by the east team lead, 华南)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache

from crm.core.scoping import DataScope
from crm.core.testing.world import World, make_role, make_user, role
from crm.leads import services
from crm.leads.models import Lead, LeadPool
from crm.org import services as org_services
from crm.org.models import User

LEAD_PERMS = [f"leads:{a}" for a in ("view", "create", "edit", "delete", "transfer")]
REP_PERMS = [f"leads:{a}" for a in ("view", "create", "edit")]
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


def fresh(user: User) -> User:
    """The user as a new request sees it (no cached roles or scopes)."""
    return User.objects.get(pk=user.pk)


def grant_leads(world: World) -> World:
    """Give every world user a leads role with the same data scope as their customers role
    (reps without delete/transfer), and add a marketing user (built-in role)."""
    if "marketing" in world.users:
        return world
    admin = world.admin
    roles = {}
    for scope in DataScope.values:
        perms = REP_PERMS if scope == DataScope.SELF else LEAD_PERMS
        depts = [world.depts["south"], world.depts["sales2"]] if scope == DataScope.CUSTOM else None
        roles[scope] = make_role(admin, f"leads-{scope}", scope, perms, depts)
    for key, scope in SCOPE_OF.items():
        user = world.users[key]
        org_services.update_user(actor=admin, user=user, roles=[*user.roles.all(), roles[scope]])
        world.users[key] = fresh(user)
    world.users["marketing"] = make_user(
        admin, "市场专员", world.depts["root"], [role(world.org, "marketing")]
    )
    return world


@dataclass
class Pools:
    total: LeadPool
    east: LeadPool
    south: LeadPool


def make_pools(world: World) -> Pools:
    """华东 sub-pool: managed by dept_east, members rep_east and rep_east2; 华南: rep_south."""
    mk = fresh(world.users["marketing"])
    east = services.save_pool(
        actor=mk,
        data={"name": "华东线索池", "region": "华东"},
        managers=[world.users["dept_east"]],
        members=[world.users["rep_east"], world.users["rep_east2"]],
    )
    south = services.save_pool(
        actor=mk,
        data={"name": "华南线索池", "region": "华南"},
        members=[world.users["rep_south"]],
    )
    return Pools(total=services.total_pool(world.org.pk), east=east, south=south)


@pytest.fixture
def lw(world: World) -> World:
    """The world with lead roles and a marketing user."""
    return grant_leads(world)


@pytest.fixture
def pools(lw: World) -> Pools:
    return make_pools(lw)


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


def stored(msgid: str, **values: Any) -> str:
    """A note as the services store it: in the default language (CRM_LANGUAGE)."""
    from django.conf import settings
    from django.utils import translation

    with translation.override(settings.LANGUAGE_CODE):
        return translation.gettext(msgid) % values


def new_lead(actor: Any, **data: Any) -> Lead:
    """A lead created through the service (rules apply)."""
    data.setdefault("company", "杭州示例科技有限公司")
    data.setdefault("mobile", "13800138000")
    pool = data.pop("pool", None)
    owner = data.pop("owner", None)
    return services.create_lead(actor=fresh(actor), data=data, pool=pool, owner=owner)
