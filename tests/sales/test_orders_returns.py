"""Orders (R6.4) and returns and refunds (R6.3): orders from signed contracts with their lines,
the shipment status pending → shipped → delivered (or cancelled) with every refused move and
idempotent repeats; returns within the contract amount minus refunds and other pending or
approved returns, approved through the ``return`` flow (rejection and withdrawal back to draft),
refunded by finance with the contract's refunded amount kept exact; the pages and their scope."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from crm.core.locking import EditConflict
from crm.core.models import Event
from crm.core.testing.world import World
from crm.sales import approvals
from crm.sales import order_services as orders
from crm.sales import return_services as returns
from crm.sales.choices import QuoteStatus, ReturnStatus, ShipmentStatus
from crm.sales.models import Contract, Order, OrderLine, Quote, QuoteLine, ReturnRequest
from tests.sales.contract_helpers import contract, customer, flow, grant_sales, reload, signed, u


@pytest.fixture
def w(world: World) -> World:
    return grant_sales(world)


def today() -> Any:
    return timezone.localdate()


# --- orders ---------------------------------------------------------------------------------------
def test_an_order_of_a_signed_contract_has_one_line_for_the_whole_contract(w: World) -> None:
    # R6.4: number DD-…, pending, one line = the contract when it has no quote
    c = signed(w, amount="5000.50", name="设备合同")
    order = orders.create_order(
        actor=u(w, "rep_east"), contract=c, data={"ship_to": "杭州", "external_ref": "WMS-1"}
    )
    assert order.number == f"DD-{today().year}-00001"
    assert (order.status, order.amount, order.customer_id) == (
        ShipmentStatus.PENDING,
        Decimal("5000.50"),
        c.customer_id,
    )
    lines = list(OrderLine.objects.filter(order=order).values_list("description", "amount"))
    assert lines == [("设备合同", Decimal("5000.50"))]
    with pytest.raises(InvalidTransition):
        orders.create_order(actor=u(w, "rep_east"), contract=contract(w))  # a draft


def test_order_lines_come_from_the_quote_when_it_still_matches(w: World) -> None:
    cust = customer(w)
    quote = Quote.objects.create(
        org=w.org,
        number="BJ-1",
        title="报价",
        customer=cust,
        owner=w.users["rep_east"],
        status=QuoteStatus.ACCEPTED,
        total=Decimal("300.00"),
    )
    for i, (name, total) in enumerate((("服务器", "200.00"), ("安装", "100.00"))):
        QuoteLine.objects.create(
            org=w.org,
            quote=quote,
            sort_order=i,
            description=name,
            quantity=Decimal("1"),
            unit_price=Decimal(total),
            total=Decimal(total),
        )
    from crm.sales import contract_services

    rep = u(w, "rep_east")
    c = contract_services.create_contract(actor=rep, quote=quote, data={})
    c = contract_services.submit_contract(actor=rep, contract=c)
    c = contract_services.sign_contract(actor=rep, contract=c, signed_on=today())
    order = orders.create_order(actor=rep, contract=c)
    assert [(line.description, line.amount) for line in order.lines.order_by("sort_order")] == [
        ("服务器", Decimal("200.00")),
        ("安装", Decimal("100.00")),
    ]
    assert order.amount == Decimal("300.00")


def test_shipment_status_moves_and_refusals(w: World) -> None:
    # R6.4: shipping needs carrier and tracking; delivered follows shipped; repeats are no-ops
    rep = u(w, "rep_east")
    order = orders.create_order(actor=rep, contract=signed(w))
    with pytest.raises(ValidationFailed) as exc:
        orders.update_order(actor=rep, order=order, status="shipped", data={})
    assert set(exc.value.field_errors) == {"carrier", "tracking_number"}
    with pytest.raises(InvalidTransition):
        orders.update_order(actor=rep, order=reload(order), status="delivered", data={})
    order = orders.update_order(
        actor=rep,
        order=reload(order),
        status="shipped",
        data={"carrier": "顺丰", "tracking_number": "SF123"},
        version=1,
    )
    assert order.status == ShipmentStatus.SHIPPED and order.shipped_at is not None
    version = order.version
    again = orders.update_order(  # the same again, with a stale version: nothing changes
        actor=rep,
        order=reload(order),
        status="shipped",
        data={"carrier": "顺丰", "tracking_number": "SF123"},
        version=1,
    )
    assert again.version == version
    with pytest.raises(EditConflict):
        orders.update_order(actor=rep, order=reload(order), status="delivered", data={}, version=1)
    with pytest.raises(InvalidTransition):
        orders.update_order(actor=rep, order=reload(order), status="cancelled", data={})
    order = orders.update_order(actor=rep, order=reload(order), status="delivered", data={})
    assert order.status == ShipmentStatus.DELIVERED and order.delivered_at is not None
    with pytest.raises(InvalidTransition):
        orders.update_order(actor=rep, order=reload(order), status="pending", data={})
    verbs = list(
        Event.objects.filter(object_type="sales.order", object_id=str(order.pk))
        .order_by("pk")
        .values_list("verb", flat=True)
    )
    assert verbs == ["order.created", "order.shipped", "order.delivered"]
    cancelled = orders.create_order(actor=rep, contract=reload(order.contract))
    cancelled = orders.update_order(actor=rep, order=cancelled, status="cancelled", data={})
    assert cancelled.status == ShipmentStatus.CANCELLED


# --- returns --------------------------------------------------------------------------------------
def test_returns_stay_within_the_contract_amount(w: World) -> None:
    # R6.3: amount ≤ contract amount − refunds − other pending or approved returns
    rep = u(w, "rep_east")
    c = signed(w, amount="1000")
    first = returns.create_return(
        actor=rep, contract=c, data={"reason": "quality", "amount": "600"}
    )
    assert first.number == f"TH-{today().year}-00001" and first.status == ReturnStatus.DRAFT
    draft = returns.create_return(
        actor=rep, contract=c, data={"reason": "damaged", "amount": "1000"}
    )  # drafts reserve nothing
    first = returns.submit_return(actor=rep, ret=first)  # no flow: approved at once
    assert first.status == ReturnStatus.APPROVED
    with pytest.raises(ValidationFailed) as exc:
        returns.submit_return(actor=rep, ret=draft)
    assert "amount" in exc.value.field_errors and reload(draft).status == ReturnStatus.DRAFT
    with pytest.raises(ValidationFailed):
        returns.create_return(actor=rep, contract=c, data={"reason": "price", "amount": "400.01"})
    with pytest.raises(ValidationFailed):
        returns.create_return(actor=rep, contract=c, data={"reason": "nonsense", "amount": "1"})
    with pytest.raises(ValidationFailed):
        returns.create_return(actor=rep, contract=c, data={"reason": "price", "amount": "0"})
    with pytest.raises(InvalidTransition):
        returns.create_return(
            actor=rep, contract=contract(w), data={"reason": "price", "amount": "1"}
        )
    returns.update_return(actor=rep, ret=draft, data={"amount": "400"}, version=draft.version)
    assert returns.submit_return(actor=rep, ret=reload(draft)).status == ReturnStatus.APPROVED
    assert returns.available_amount(c) == Decimal("0.00")


def test_refund_by_finance_grows_the_refunded_amount_exactly_once(w: World) -> None:
    rep = u(w, "rep_east")
    c = signed(w, amount="1000")
    ret = returns.submit_return(
        actor=rep,
        ret=returns.create_return(
            actor=rep, contract=c, data={"reason": "quality", "amount": "250.25"}
        ),
    )
    with pytest.raises(PermissionDenied):  # a sales rep does not pay money back
        returns.refund_return(actor=rep, ret=ret, refunded_on=today())
    with pytest.raises(ValidationFailed):
        returns.refund_return(actor=u(w, "finance"), ret=ret, refunded_on=None)
    ret = returns.refund_return(actor=u(w, "finance"), ret=ret, refunded_on=today())
    assert (ret.status, ret.refunded_on) == (ReturnStatus.REFUNDED, today())
    assert reload(c).refunded_amount == Decimal("250.25")
    with pytest.raises(InvalidTransition):
        returns.refund_return(actor=u(w, "finance"), ret=reload(ret), refunded_on=today())
    assert reload(c).refunded_amount == Decimal("250.25")
    assert returns.available_amount(c) == Decimal("749.75")


def test_the_refund_itself_never_goes_beyond_the_contract_amount(w: World) -> None:
    rep = u(w, "rep_east")
    c = signed(w, amount="100")
    ret = returns.submit_return(
        actor=rep,
        ret=returns.create_return(actor=rep, contract=c, data={"reason": "late", "amount": "80"}),
    )
    Contract.objects.filter(pk=c.pk).update(refunded_amount=Decimal("30"))  # meanwhile
    with pytest.raises(ValidationFailed):
        returns.refund_return(actor=u(w, "finance"), ret=ret, refunded_on=today())
    assert reload(ret).status == ReturnStatus.APPROVED
    assert reload(c).refunded_amount == Decimal("30.00")


def test_return_approval_rejection_withdrawal_and_resubmission(w: World) -> None:
    # R6.3, R9.1: the return flow; rejection and withdrawal bring the return back to draft
    flow(w, "return", {"approver_kind": "user", "user": w.users["director"]})
    rep = u(w, "rep_east")
    c = signed(w, amount="1000")
    ret = returns.create_return(actor=rep, contract=c, data={"reason": "quality", "amount": "10"})
    ret = returns.submit_return(actor=rep, ret=ret, comment="请批")
    assert ret.status == ReturnStatus.PENDING
    with pytest.raises(InvalidTransition):
        returns.update_return(actor=rep, ret=ret, data={"amount": "20"})
    director = u(w, "director")
    approvals.reject(
        actor=director, request=approvals.pending_request("return", ret), comment="附上照片"
    )
    assert reload(ret).status == ReturnStatus.DRAFT
    ret = returns.submit_return(actor=rep, ret=reload(ret))
    ret = returns.withdraw_return(actor=rep, ret=ret)
    assert ret.status == ReturnStatus.DRAFT
    ret = returns.submit_return(actor=rep, ret=ret)
    approvals.approve(actor=director, request=approvals.pending_request("return", ret))
    assert reload(ret).status == ReturnStatus.APPROVED


# --- pages ----------------------------------------------------------------------------------------
def test_order_and_return_pages(w: World, client_for: Any) -> None:
    c = signed(w, amount="2000")
    client = client_for(w.users["rep_east"])
    assert client.get(reverse("sales:order_create", args=[c.pk])).status_code == 200
    r = client.post(reverse("sales:order_create", args=[c.pk]), {"ship_to": "上海"})
    order = Order.objects.get(contract=c)
    assert r["Location"] == reverse("sales:order_detail", args=[order.pk])
    page = client.get(reverse("sales:order_detail", args=[order.pk])).content.decode()
    assert order.number in page and 'id="shipment-form"' in page
    client.post(
        reverse("sales:order_status", args=[order.pk]),
        {"status": "shipped", "carrier": "京东", "tracking_number": "JD9", "version": 1},
    )
    assert reload(order).status == ShipmentStatus.SHIPPED
    assert order.number in client.get(reverse("sales:order_list")).content.decode()
    r = client.post(
        reverse("sales:return_create", args=[c.pk]),
        {"reason": "damaged", "amount": "150", "order": order.pk, "description": "破损"},
    )
    ret = ReturnRequest.objects.get(contract=c)
    assert r["Location"] == reverse("sales:return_detail", args=[ret.pk])
    assert ret.order_id == order.pk and ret.amount == Decimal("150.00")
    client.post(reverse("sales:return_submit", args=[ret.pk]), {"version": ret.version})
    assert reload(ret).status == ReturnStatus.APPROVED
    listing = client.get(reverse("sales:return_list")).content.decode()
    assert ret.number in listing and str(returns.ReturnReason.DAMAGED.label) in listing
    finance = client_for(w.users["finance"])
    detail = finance.get(reverse("sales:return_detail", args=[ret.pk])).content.decode()
    assert 'id="refund-form"' in detail
    finance.post(
        reverse("sales:return_refund", args=[ret.pk]),
        {"refunded_on": today().isoformat(), "version": reload(ret).version},
    )
    assert reload(ret).status == ReturnStatus.REFUNDED
    assert reload(c).refunded_amount == Decimal("150.00")
    too_much = client.post(
        reverse("sales:return_create", args=[c.pk]), {"reason": "price", "amount": "1850.01"}
    )
    assert too_much.status_code == 200 and ReturnRequest.objects.count() == 1


def test_order_and_return_pages_answer_404_out_of_scope(
    w: World, other_world: World, client_for: Any
) -> None:
    # R1.3: other tenants and out-of-scope colleagues, on every page and action
    grant_sales(other_world)
    rep = u(w, "rep_east")
    c = signed(w, amount="1000")
    order = orders.create_order(actor=rep, contract=c, data={"ship_to": "越权靶子地址"})
    ret = returns.create_return(
        actor=rep, contract=c, data={"reason": "other", "amount": "5", "description": "越权靶子"}
    )
    urls = [
        ("get", reverse("sales:order_detail", args=[order.pk]), {}),
        ("post", reverse("sales:order_status", args=[order.pk]), {"status": "cancelled"}),
        ("get", reverse("sales:return_detail", args=[ret.pk]), {}),
        ("get", reverse("sales:return_edit", args=[ret.pk]), {}),
        ("post", reverse("sales:return_edit", args=[ret.pk]), {"reason": "other", "amount": "1"}),
        ("post", reverse("sales:return_submit", args=[ret.pk]), {}),
        ("post", reverse("sales:return_withdraw", args=[ret.pk]), {}),
        ("post", reverse("sales:return_refund", args=[ret.pk]), {"refunded_on": "2026-01-01"}),
    ]
    before = (Event.objects.count(), reload(order).version, reload(ret).version)
    for user in (other_world.admin, w.users["rep_east2"], w.users["rep_sales2"]):
        client = client_for(user)
        for method, url, data in urls:
            r = getattr(client, method)(url, data)
            assert r.status_code == 404, (user, url, r.status_code)
        for url in (reverse("sales:order_list"), reverse("sales:return_list")):
            assert "越权靶子" not in client.get(url).content.decode()
            assert order.number not in client.get(url).content.decode()
    assert (Event.objects.count(), reload(order).version, reload(ret).version) == before
