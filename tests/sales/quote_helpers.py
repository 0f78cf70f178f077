"""Helpers of the product, quote and document tests (H-QUOTES): the shared world with sales roles
in every data scope, and records created through the services."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from crm.core.scoping import DataScope
from crm.core.testing.world import World, make_role
from crm.customers.services import create_customer
from crm.org import services as org_services
from crm.org.models import User
from crm.pipeline import opportunities
from crm.sales import product_services, quote_services
from crm.sales.models import ApprovalFlow, ApprovalStep, Product, Quote

SALES_PERMS = [f"sales:{a}" for a in ("view", "create", "edit", "delete")]
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
_seq = itertools.count(1)


def fresh(user: User) -> User:
    """The user as a new request sees it (no cached roles or scopes)."""
    return User.objects.get(pk=user.pk)


def grant_sales(world: World) -> World:
    """Give every scoped world user a sales role (view, create, edit, delete; others than reps
    also approve) with the data scope of their customers role. Idempotent."""
    if getattr(world, "_sales_granted", False):
        return world
    admin = world.admin
    roles = {}
    for scope in DataScope.values:
        perms = SALES_PERMS if scope == DataScope.SELF else [*SALES_PERMS, "sales:approve"]
        depts = [world.depts["south"], world.depts["sales2"]] if scope == DataScope.CUSTOM else None
        roles[scope] = make_role(admin, f"quotes-{scope}", scope, perms, depts)
    for key, scope in SCOPE_OF.items():
        user = world.users[key]
        org_services.update_user(actor=admin, user=user, roles=[*user.roles.all(), roles[scope]])
        world.users[key] = fresh(user)
    world._sales_granted = True  # type: ignore[attr-defined]
    return world


def u(world: World, key: str) -> User:
    return fresh(world.users[key])


def make_customer(world: World, owner: User, **data: Any) -> Any:
    return create_customer(
        actor=world.admin,
        owner=owner,
        data={"name": f"报价测试客户{next(_seq)}有限公司", **data},
        contacts=[{"name": f"联系人{next(_seq)}", "mobile": f"136{next(_seq):08d}"}],
    )


def make_opportunity(world: World, owner: User, customer: Any = None, **data: Any) -> Any:
    customer = customer or make_customer(world, owner)
    lines = data.pop("lines", None)
    return opportunities.create_opportunity(
        actor=world.admin,
        customer=customer,
        owner=owner,
        data={"name": f"报价测试商机{next(_seq)}", **data},
        lines=lines,
    )


def make_product(world: World, **data: Any) -> Product:
    n = next(_seq)
    return product_services.create_product(
        actor=world.admin,
        data={"code": f"P-{n:04d}", "name": f"测试产品{n}", "list_price": "100.00", **data},
    )


def line(product: Product | None = None, **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "product": product,
        "description": "" if product is not None else "自由文本服务",
        "quantity": "1",
        "unit_price": "100.00",
        "discount_kind": "percent",
        "discount_value": "0",
        "tax_rate": "13",
    }
    return {**base, **values}


def make_quote(
    world: World,
    owner_key: str = "rep_east",
    *,
    lines: list[dict[str, Any]] | None = None,
    opportunity: Any = None,
    **data: Any,
) -> Quote:
    """A draft quote owned by ``owner_key`` (of a customer or opportunity they own)."""
    grant_sales(world)
    owner = u(world, owner_key)
    if opportunity is None:
        customer = data.pop("customer", None) or make_customer(world, owner)
    else:
        customer = None
    return quote_services.create_quote(
        actor=owner,
        customer=customer,
        opportunity=opportunity,
        data={"title": f"测试报价{next(_seq)}", **data},
        lines=lines if lines is not None else [line(unit_price="1000.00", quantity="2")],
    )


def flow(world: World, *steps: dict[str, Any], **conditions: Any) -> ApprovalFlow:
    """An active quote approval flow with ``steps`` (approver_kind, user/role, mode)."""
    f = ApprovalFlow.objects.create(
        org=world.org,
        name=f"报价审批{ApprovalFlow.objects.count() + 1}",
        subject="quote",
        **conditions,
    )
    for i, step in enumerate(steps):
        ApprovalStep.objects.create(
            org=world.org, flow=f, sort_order=i, name=f"第{i + 1}步", **step
        )
    return f


def d(value: str) -> Decimal:
    return Decimal(value)
