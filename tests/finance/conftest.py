"""Fixtures of the finance tests: an organisation with people in the built-in roles (two reps of
华东组, a rep of 销售二部, the managers of 销售一部 and 销售二部, a finance clerk), a customer of
the first rep and a signed contract of ¥100,000.00 for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from crm.core.money import money
from crm.core.numbering import next_number
from crm.core.testing.world import World, build_world, make_user, role
from crm.customers.models import Customer
from crm.customers.services import create_customer
from crm.org.models import User
from crm.sales.choices import ContractStatus
from crm.sales.models import ApprovalFlow, ApprovalStep, Contract


def fresh(user: User) -> User:
    """The user as a new request sees it (no cached roles or scopes)."""
    return User.objects.get(pk=user.pk)


def signed_contract(
    owner: User,
    customer: Customer,
    amount: Any = "100000",
    status: str = ContractStatus.SIGNED,
    signed_days_ago: int = 30,
) -> Contract:
    """A contract in ``status`` straight in the database (the contract services have their own
    tests; the finance services start where a contract is signed)."""
    return Contract.objects.create(
        org_id=owner.org_id,
        created_by=owner,
        number=next_number(owner.org_id, "HT"),
        name=f"{customer.name} 合同",
        customer=customer,
        owner=owner,
        amount=money(amount),
        status=status,
        signed_on=timezone.localdate() - timedelta(days=signed_days_ago),
    )


def approval_flow(world: World, subject: str, approver: User) -> ApprovalFlow:
    """An active flow of ``subject`` with one step to ``approver``."""
    flow = ApprovalFlow.objects.create(org=world.org, name=f"{subject} 审批", subject=subject)
    ApprovalStep.objects.create(
        org=world.org, flow=flow, name="财务经理", approver_kind="user", user=approver
    )
    return flow


@dataclass
class Fin:
    world: World
    rep: User
    rep2: User
    other_rep: User
    manager: User
    other_manager: User
    finance: User
    customer: Customer
    contract: Contract

    @property
    def admin(self) -> User:
        return self.world.admin

    def refresh(self) -> Fin:
        for key in ("rep", "rep2", "other_rep", "manager", "other_manager", "finance"):
            setattr(self, key, fresh(getattr(self, key)))
        self.contract.refresh_from_db()
        return self


def build_fin(name: str | None = None) -> Fin:
    w = build_world(name)
    admin, org = w.admin, w.org
    rep = make_user(admin, "回款销售甲", w.depts["east"], [role(org, "rep")])
    rep2 = make_user(admin, "回款销售乙", w.depts["east"], [role(org, "rep")])
    other_rep = make_user(admin, "二部销售丙", w.depts["sales2"], [role(org, "rep")])
    manager = make_user(admin, "一部经理丁", w.depts["sales1"], [role(org, "manager")])
    other_manager = make_user(admin, "二部经理戊", w.depts["sales2"], [role(org, "manager")])
    finance = make_user(admin, "财务己", w.depts["root"], [role(org, "finance")])
    customer = create_customer(
        actor=fresh(rep),
        data={
            "name": "回款测试客户有限公司",
            "invoice_title": "回款测试客户有限公司",
            "tax_number": "91330100MA2B3C4D5E",
            "invoice_address_phone": "杭州市西湖区文三路 1 号 0571-88880000",
            "bank_name": "招商银行杭州分行",
            "bank_account": "571900000000001",
        },
    )
    contract = signed_contract(rep, customer)
    return Fin(
        world=w,
        rep=fresh(rep),
        rep2=fresh(rep2),
        other_rep=fresh(other_rep),
        manager=fresh(manager),
        other_manager=fresh(other_manager),
        finance=fresh(finance),
        customer=customer,
        contract=contract,
    )


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


@pytest.fixture
def fin(db: None) -> Fin:
    return build_fin()


@pytest.fixture
def other_fin(db: None) -> Fin:
    return build_fin("另一家回款公司")


def plan(fin: Fin, *amounts: Any, first_due_days: int = -10, every: int = 30) -> list[Any]:
    """Plan ``fin.contract`` as installments of ``amounts`` (as the finance clerk)."""
    from crm.finance import plan_services

    today = timezone.localdate()
    return plan_services.replace_plans(
        actor=fresh(fin.finance),
        contract=fin.contract,
        rows=[
            {"due_on": today + timedelta(days=first_due_days + i * every), "amount": a}
            for i, a in enumerate(amounts)
        ],
    )


D = Decimal
