"""Fixtures of the e-mail campaign tests (R9.3): the world (crm.core.testing.world) plus a
marketing user who sees every customer, one who sees only 华东组's, and customers with
contacts in 华东组 and 销售二部."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings as django_settings

from crm.core.scoping import DataScope
from crm.core.testing.world import World, build_world, make_role, make_user, role
from crm.customers.models import Customer
from crm.customers.services import create_customer
from crm.org.models import User

MKT_PERMS = [
    "customers:view",
    *(f"marketing:{a}" for a in ("view", "create", "edit", "delete", "configure")),
]


@dataclass
class MailWorld:
    world: World
    marketer: User  # built-in marketing role: whole organisation
    east_marketer: User  # marketing rights, customers of 华东组 only
    east: Any  # a customer of 华东组 with three contacts (one without a valid address)
    south2: Any  # a customer of 销售二部 with one contact


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def build_mail_world() -> MailWorld:
    w = build_world()
    admin = w.admin
    marketer = make_user(admin, "市场专员", w.depts["root"], [role(w.org, "marketing")])
    east_role = make_role(admin, "华东市场", DataScope.DEPT, MKT_PERMS)
    east_marketer = make_user(admin, "华东市场专员", w.depts["east"], [east_role])
    east = create_customer(
        actor=fresh(w.users["rep_east"]),
        data={"name": "华东机械有限公司", "grade": "A"},
        contacts=[
            {"name": "张三", "email": "zhang@example.com"},
            {"name": "李四", "email": " Li.Si@Example.COM "},
            {"name": "王五", "email": ""},
        ],
    )
    other = create_customer(
        actor=fresh(w.users["rep_sales2"]),
        data={"name": "二部贸易公司", "grade": "B"},
        contacts=[{"name": "赵六", "email": "zhao@example.org"}],
    )
    # industry and region come from the organisation's dictionaries: set directly
    Customer.objects.filter(pk=east.pk).update(industry="制造", region="华东")
    Customer.objects.filter(pk=other.pk).update(industry="贸易", region="华北")
    return MailWorld(
        world=w,
        marketer=fresh(marketer),
        east_marketer=fresh(east_marketer),
        east=east,
        south2=other,
    )


@pytest.fixture
def mw(db: None) -> MailWorld:
    return build_mail_world()


@pytest.fixture
def mw_other(db: None) -> MailWorld:
    return build_mail_world()


@pytest.fixture(autouse=True)
def _mail_settings(settings: Any) -> None:
    settings.CRM_BASE_URL = "https://crm.example.com"
    settings.CRM_MAIL_RATE_PER_MINUTE = 60
    assert django_settings.CRM_BASE_URL == "https://crm.example.com"
