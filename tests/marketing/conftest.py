"""Fixtures of the campaign tests: the world (crm.core.testing.world) where a marketing person
(every marketing and lead right, whole organisation) and the reps (own leads, marketing:view)
work with campaigns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from crm.core.scoping import DataScope
from crm.core.testing.world import World, build_world, make_role, make_user
from crm.marketing import services
from crm.org import services as org_services
from crm.org.models import User

MARKETING = [
    f"marketing:{a}" for a in ("view", "create", "edit", "delete", "export", "configure")
] + [f"leads:{a}" for a in ("view", "create", "edit", "delete", "transfer", "configure")]
REP = ["marketing:view", "leads:view", "leads:create", "leads:edit", "opportunities:view"]


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


@dataclass
class Mk:
    world: World
    marketer: User
    rep: User  # 华东组, own records
    rep2: User  # 销售二部, own records
    director: User  # whole organisation (leads and opportunities)
    outsider: User  # no marketing right at all

    @property
    def admin(self) -> User:
        return fresh(self.world.admin)


def build_mk(name: str | None = None) -> Mk:
    w = build_world(name)
    admin = w.admin
    mk_role = make_role(admin, "活动测试市场", DataScope.ALL, MARKETING)
    rep_role = make_role(admin, "活动测试销售", DataScope.SELF, REP)
    all_role = make_role(admin, "活动测试总监", DataScope.ALL, [*REP, "marketing:export"])
    marketer = make_user(admin, "市场专员", w.depts["root"], [mk_role])
    for key, extra in (("rep_east", rep_role), ("rep_sales2", rep_role), ("director", all_role)):
        user = w.users[key]
        org_services.update_user(actor=admin, user=user, roles=[*user.roles.all(), extra])
        w.users[key] = fresh(user)
    return Mk(
        world=w,
        marketer=fresh(marketer),
        rep=fresh(w.users["rep_east"]),
        rep2=fresh(w.users["rep_sales2"]),
        director=fresh(w.users["director"]),
        outsider=fresh(w.users["rep_south"]),
    )


def campaign(mk: Mk, name: str, **data: Any) -> Any:
    return services.create_campaign(actor=fresh(mk.marketer), data={"name": name, **data})


@pytest.fixture
def mk(db: None) -> Mk:
    return build_mk()


@pytest.fixture
def mk_other(db: None) -> Mk:
    return build_mk("另一家公司")
