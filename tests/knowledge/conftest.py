"""Fixtures of the knowledge-base tests: an organisation with the built-in roles (rep, manager,
director, marketing) placed in the world's departments, a customer with an industry, and an
opportunity of it at the pipeline's first stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache

from crm.core.testing.world import World, build_world, make_user, role
from crm.customers.services import create_customer
from crm.knowledge import services as kb
from crm.knowledge.models import Article
from crm.org.models import User
from crm.pipeline import opportunities as opp_services
from crm.pipeline.choices import StageKind
from crm.pipeline.models import Opportunity, Stage


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


@dataclass
class KB:
    world: World
    rep: User  # rep role, 华东组: reads the knowledge base only
    rep2: User  # rep role, 销售二部
    editor: User  # manager role, 销售一部 tree: creates and edits
    editor2: User  # manager role, 销售二部
    director: User  # director role, whole organisation: also deletes
    customer: Any
    opportunity: Opportunity

    @property
    def admin(self) -> User:
        return self.world.admin

    def stages(self, kind: str = StageKind.OPEN) -> list[Stage]:
        return list(
            Stage.objects.filter(
                pipeline_id=self.opportunity.pipeline_id, parent=None, kind=kind, is_active=True
            ).order_by("sort_order", "pk")
        )


def build_kb(name: str | None = None) -> KB:
    w = build_world(name)
    org = w.org
    rep = make_user(w.admin, "知识销售甲", w.depts["east"], [role(org, "rep")])
    rep2 = make_user(w.admin, "知识销售乙", w.depts["sales2"], [role(org, "rep")])
    editor = make_user(w.admin, "一部编辑", w.depts["sales1"], [role(org, "manager")])
    editor2 = make_user(w.admin, "二部编辑", w.depts["sales2"], [role(org, "manager")])
    director = make_user(w.admin, "知识总监", w.depts["root"], [role(org, "director")])
    customer = create_customer(
        actor=fresh(rep),
        data={"name": "杭州数智制造有限公司", "industry": "manufacturing"},
        contacts=[{"name": "王工", "mobile": "13800001234"}],
    )
    opportunity = opp_services.create_opportunity(
        actor=fresh(rep),
        customer=customer,
        data={"name": "智能工厂一期", "expected_amount": "500000"},
    )
    return KB(
        world=w,
        rep=fresh(rep),
        rep2=fresh(rep2),
        editor=fresh(editor),
        editor2=fresh(editor2),
        director=fresh(director),
        customer=customer,
        opportunity=Opportunity.objects.get(pk=opportunity.pk),
    )


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


@pytest.fixture
def kbw(db: None) -> KB:
    return build_kb()


@pytest.fixture
def other_kbw(db: None) -> KB:
    return build_kb("另一家知识公司")


def article(
    actor: User,
    title: str = "大客户拜访打法",
    *,
    body: str = "<p>先约关键人，再讲方案。</p>",
    publish: bool = True,
    stage_ids: list[int] | None = None,
    industries: list[str] | None = None,
    category: str = "playbook",
    tags: list[str] | None = None,
) -> Article:
    return kb.create_article(
        actor=fresh(actor),
        data={"title": title, "body": body, "category": category, "tags": tags or []},
        stage_ids=stage_ids,
        industries=industries,
        publish=publish,
    )
