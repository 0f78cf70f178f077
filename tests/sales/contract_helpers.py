"""Helpers of the contract, order, return and approval tests (H-CONTRACTS): the shared world with
sales roles in every data scope, a finance user, approval flows, and records created through the
services."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from crm.core.scoping import DataScope
from crm.core.testing.world import World, make_role, make_user, role
from crm.customers.services import create_customer
from crm.org import services as org_services
from crm.org.models import User
from crm.pipeline import opportunities
from crm.sales import contract_services
from crm.sales.models import ApprovalFlow, ApprovalStep, Contract

SALES_PERMS = [f"sales:{a}" for a in ("view", "create", "edit")]
MANAGER_PERMS = [*SALES_PERMS, "sales:approve"]
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


def grant_sales(world: World) -> World:
    """Give every world user a sales role with the data scope of their customers role (reps
    view/create/edit, others also approve), and add a finance user (built-in finance role)."""
    if "finance" in world.users:
        return world
    admin = world.admin
    roles = {}
    for scope in DataScope.values:
        perms = SALES_PERMS if scope == DataScope.SELF else MANAGER_PERMS
        depts = [world.depts["south"], world.depts["sales2"]] if scope == DataScope.CUSTOM else None
        roles[scope] = make_role(admin, f"sales-{scope}", scope, perms, depts)
    for key, scope in SCOPE_OF.items():
        user = world.users[key]
        org_services.update_user(actor=admin, user=user, roles=[*user.roles.all(), roles[scope]])
        world.users[key] = fresh(user)
    world.users["finance"] = make_user(
        admin, "财务专员", world.depts["root"], [role(world.org, "finance")]
    )
    return world


def u(world: World, key: str) -> User:
    return fresh(world.users[key])


def flow(world: World, subject: str, *steps: dict[str, Any], **conditions: Any) -> ApprovalFlow:
    """An active flow of ``subject`` with ``steps`` (approver_kind, user/role, mode)."""
    f = ApprovalFlow.objects.create(
        org=world.org,
        name=f"{subject}流程{ApprovalFlow.objects.count() + 1}",
        subject=subject,
        **conditions,
    )
    for i, step in enumerate(steps):
        ApprovalStep.objects.create(
            org=world.org, flow=f, sort_order=i, name=f"第{i + 1}步", **step
        )
    return f


_seq = itertools.count(1)


def customer(world: World, owner: str = "rep_east", name: str | None = None) -> Any:
    return create_customer(
        actor=u(world, owner), data={"name": name or f"合同测试客户{next(_seq)}"}
    )


def opportunity(world: World, cust: Any, owner: str = "rep_east", amount: str = "100000") -> Any:
    return opportunities.create_opportunity(
        actor=u(world, owner),
        customer=cust,
        data={"name": f"{cust.name}项目", "expected_amount": amount},
    )


def contract(
    world: World,
    owner: str = "rep_east",
    *,
    amount: str = "100000.00",
    cust: Any = None,
    opp: Any = None,
    name: str = "年度服务合同",
) -> Contract:
    cust = cust or (opp.customer if opp is not None else customer(world, owner))
    return contract_services.create_contract(
        actor=u(world, owner),
        customer=cust,
        opportunity=opp,
        data={"name": name, "amount": amount},
    )


def signed(world: World, owner: str = "rep_east", **kwargs: Any) -> Contract:
    """A contract approved without a flow and signed today."""
    from django.utils import timezone

    c = contract(world, owner, **kwargs)
    c = contract_services.submit_contract(actor=u(world, owner), contract=c)
    return contract_services.sign_contract(
        actor=u(world, owner), contract=c, signed_on=timezone.localdate()
    )


def reload(obj: Any) -> Any:
    return type(obj).objects.get(pk=obj.pk)


D = Decimal
