"""Fixtures of the security tier: two organisations with a record of every kind, created through
the services, each named with a unique canary so a leak of any byte of it is easy to spot."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.cache import cache

from crm.core.models import Event, Notification
from crm.core.notifications import notify
from crm.core.testing.world import World, build_world, make_department, make_role, make_user, role
from crm.customers import pool_services
from crm.customers import services as customer_services
from crm.customers.models import Contact, Customer, OwnershipMove
from crm.leads import services as lead_services
from crm.leads.models import Lead, LeadPool
from crm.org import services as org_services
from crm.org.models import User
from crm.pipeline import services as pipeline_services

_seq = itertools.count(1)

#: rows whose counts must not move when a request is refused (RELIABILITY A2)
WATCHED = (Event, Customer, Contact, Lead, OwnershipMove, Notification)


def fresh(user: User) -> User:
    """The user as a new request sees it (no cached roles or scopes)."""
    return User.objects.get(pk=user.pk)


def row_counts() -> dict[str, int]:
    return {m._meta.label: m._base_manager.count() for m in WATCHED}


@dataclass
class Tenant:
    """One organisation: the world's people plus a canary-named record of every kind.

    ``targets`` maps a model label to records of it; ``names`` maps (label, pk) to the record's
    canary name (a string no other record, page or message contains).
    """

    world: World
    tag: str
    owner: User
    rep: User
    manager: User
    targets: dict[str, list[Any]] = field(default_factory=dict)
    own_lead_pool: LeadPool | None = None
    tag_row: Any = None
    names: dict[tuple[str, int], str] = field(default_factory=dict)

    @property
    def admin(self) -> User:
        return self.world.admin

    def first(self, label: str) -> Any:
        return self.targets[label][0]


def build_tenant(name: str) -> Tenant:
    """An organisation with canary-named records, all created through the services.

    - ``owner`` (built-in rep role, 华东组) owns a customer with a contact, a lead in a sub-pool
      they work in, an API token and a notification;
    - ``rep`` (built-in rep role, 销售二部) and ``manager`` (built-in manager role, 销售二部)
      are colleagues who must not see the owner's records;
    - a second customer waits in a public pool open only to 华东组; a custom role, a department,
      an assignment rule and a user carry canary names too.
    """
    tag = uuid.uuid4().hex[:8]
    w = build_world(name)
    admin = w.admin
    org = w.org
    rep_role = role(org, "rep")
    owner = make_user(admin, f"靶子用户{tag}", w.depts["east"], [rep_role])
    rep = make_user(admin, "外部销售", w.depts["sales2"], [rep_role])
    manager = make_user(admin, "二部经理", w.depts["sales2"], [role(org, "manager")])
    t = Tenant(world=w, tag=tag, owner=owner, rep=rep, manager=manager)

    def add(label: str, obj: Any, canary: str) -> None:
        t.targets.setdefault(label, []).append(obj)
        t.names[(label, obj.pk)] = canary

    add("org.User", owner, f"靶子用户{tag}")
    dept = make_department(admin, f"靶子部门{tag}", w.depts["sales1"])
    add("org.Department", dept, f"靶子部门{tag}")
    custom = make_role(admin, f"靶子角色{tag}", "dept", ["customers:view"])
    add("org.Role", custom, f"靶子角色{tag}")
    token, _raw = org_services.create_token(actor=fresh(owner), name=f"靶子令牌{tag}")
    add("org.ApiToken", token, f"靶子令牌{tag}")
    note = notify(
        recipient=owner,
        verb="security.canary",
        message=f"靶子通知{tag}",
        url="/customers/",
    )
    add("core.Notification", note, f"靶子通知{tag}")

    customer = customer_services.create_customer(
        actor=admin,
        owner=owner,
        data={"name": f"靶子客户{tag}", "phone": f"0571-{next(_seq) + 81000000}"},
        contacts=[{"name": f"靶子联系人{tag}", "mobile": f"139{next(_seq) + 10000000:08d}"}],
    )
    add("customers.Customer", customer, f"靶子客户{tag}")
    add("customers.Contact", Contact.objects.get(customer=customer), f"靶子联系人{tag}")
    east_pool = pool_services.save_pool(
        actor=admin,
        data={"name": f"靶子公海{tag}", "is_active": True},
        departments=[w.depts["east"]],
    )
    add("customers.PublicPool", east_pool, f"靶子公海{tag}")
    waiting = customer_services.create_customer(
        actor=admin, owner=owner, data={"name": f"靶子公海客户{tag}"}
    )
    pool_services.release(actor=admin, customer=waiting, reason="无人跟进", pool=east_pool)
    add("customers.Customer", Customer.objects.get(pk=waiting.pk), f"靶子公海客户{tag}")
    t.tag_row = customer_services.create_tag(actor=admin, name=f"靶子标签{tag}")
    customer_services.tag_customers(actor=admin, customers=[customer], tags=[t.tag_row])

    lead_pool = lead_services.save_pool(
        actor=admin,
        data={"name": f"靶子线索池{tag}", "region": "华东", "form_enabled": True},
        managers=[owner],
        members=[owner],
    )
    add("leads.LeadPool", lead_pool, f"靶子线索池{tag}")
    lead = lead_services.create_lead(
        actor=admin,
        data={"company": f"靶子线索{tag}", "mobile": f"138{next(_seq) + 20000000:08d}"},
        pool=lead_pool,
        owner=owner,
    )
    add("leads.Lead", lead, f"靶子线索{tag}")
    waiting_lead = lead_services.create_lead(
        actor=admin,
        data={"company": f"靶子待分线索{tag}", "mobile": f"138{next(_seq) + 30000000:08d}"},
        pool=lead_pool,
        apply_rules=False,
    )
    add("leads.Lead", waiting_lead, f"靶子待分线索{tag}")
    rule = lead_services.save_rule(
        actor=admin,
        data={
            "name": f"靶子规则{tag}",
            "order": 5,
            "is_active": False,
            "conditions": {"region": ["西北"]},
            "strategy": "round_robin",
        },
        eligible_users=[owner],
        fixed_user=None,
        target_pool=None,
    )
    add("leads.AssignmentRule", rule, f"靶子规则{tag}")
    # Settings records that every member with the module's view permission reads by design.
    pipeline = pipeline_services.save_pipeline(actor=admin, data={"name": f"靶子管道{tag}"})
    add("pipeline.Pipeline", pipeline, f"靶子管道{tag}")
    stage = pipeline_services.add_stage(
        actor=admin, pipeline=pipeline, data={"name": f"靶子阶段{tag}"}
    )
    add("pipeline.Stage", stage, f"靶子阶段{tag}")
    item = pipeline_services.add_dictionary_item(
        actor=admin, kind="industry", label=f"靶子行业{tag}"
    )
    add("pipeline.DictionaryItem", item, f"靶子行业{tag}")
    # The rep's and the manager's own sub-pool: they may work there, not in the owner's.
    t.own_lead_pool = lead_services.save_pool(
        actor=admin,
        data={"name": f"二部线索池{tag}", "region": "华南"},
        managers=[manager],
        members=[rep],
    )
    t.owner, t.rep, t.manager = fresh(owner), fresh(rep), fresh(manager)
    return t


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


@pytest.fixture
def tenants(db: None) -> tuple[Tenant, Tenant]:
    """(target organisation, other organisation)."""
    return build_tenant("甲方科技有限公司"), build_tenant("乙方贸易有限公司")


@pytest.fixture
def tenant(db: None) -> Tenant:
    return build_tenant("甲方科技有限公司")


def hints(t: Tenant, actor: User) -> dict[str, Any]:
    """Values for the required fields of API bodies, taken from ``actor``'s own organisation
    ``t`` (so a request gets past validation and reaches the record lookup it is testing)."""
    return {
        "to_user_id": actor.pk,
        "user_id": actor.pk,
        "transfer_to_id": actor.pk,
        "source_id": t.targets["customers.Customer"][1].pk,
        "parent_id": t.world.depts["root"].pk,
        "department_id": t.world.depts["sales2"].pk,
        "pool_id": t.own_lead_pool.pk if t.own_lead_pool else None,
        "lead_ids": [t.first("leads.Lead").pk],
        "ids": [t.first("customers.Customer").pk],
        "tag_ids": [t.tag_row.pk],
        "user_ids": [actor.pk],
        "member_ids": [actor.pk],
        "role_ids": [],
        "permissions": ["customers:view"],
        "data_scope": "self",
        "version": 1,
    }
