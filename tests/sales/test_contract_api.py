"""The contracts API (/api/v1/contracts/, R6.2 – R6.4, R9.1): contracts with filters, create from
a source, PATCH of drafts with the version, the life-cycle actions and amendments; approval
tasks and decisions; orders whose shipment status downstream systems set (idempotent repeats,
409 on a stale version); returns and refunds; and every endpoint answering 404 to other tenants
and out-of-scope colleagues with nothing changed."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from crm.core.models import Event
from crm.core.testing.world import World
from crm.pipeline.choices import OpportunityStatus
from crm.pipeline.models import Opportunity
from crm.sales import approvals
from crm.sales import order_services as orders
from crm.sales import return_services as returns
from crm.sales.choices import ContractStatus, ReturnStatus, ShipmentStatus
from crm.sales.models import Contract, ContractAmendment, Order, ReturnRequest
from tests.sales.contract_helpers import (
    contract,
    customer,
    flow,
    grant_sales,
    opportunity,
    reload,
    signed,
    u,
)

BASE = "/api/v1/contracts"
LIST = f"{BASE}/"


@pytest.fixture
def w(world: World) -> World:
    return grant_sales(world)


def post(client: Any, url: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


def patch(client: Any, url: str, body: dict[str, Any]) -> Any:
    return client.patch(url, data=json.dumps(body), content_type="application/json")


def today() -> str:
    return timezone.localdate().isoformat()


def test_contract_life_cycle_through_the_api(w: World, api_client: Any) -> None:
    # R6.2: create from an opportunity, edit the draft, submit, sign (opportunity won), run
    client = api_client(w.users["rep_east"])
    opp = opportunity(w, customer(w), amount="50000")
    r = post(client, LIST, {"opportunity_id": opp.pk, "payment_terms": "预付30%"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["amount"], body["status"], body["opportunity"]["id"]) == (
        "50000.00",
        "draft",
        opp.pk,
    )
    cid = body["id"]
    r = patch(client, f"{BASE}/{cid}", {"version": 1, "amount": "52,000.5", "name": "改名"})
    assert r.status_code == 200 and r.json()["amount"] == "52000.50"
    stale = patch(client, f"{BASE}/{cid}", {"version": 1, "notes": "过期"})
    assert stale.status_code == 409 and stale.json()["code"] == "edit_conflict"
    r = post(client, f"{BASE}/{cid}/submit", {"comment": "请审批"})
    assert r.json()["status"] == "approved"
    locked = patch(client, f"{BASE}/{cid}", {"version": r.json()["version"], "notes": "x"})
    assert locked.status_code == 409 and locked.json()["code"] == "invalid_transition"
    future = (timezone.localdate() + timedelta(days=3)).isoformat()
    assert post(client, f"{BASE}/{cid}/sign", {"signed_on": future}).status_code == 400
    r = post(client, f"{BASE}/{cid}/sign", {"signed_on": today(), "customer_signer": "李总"})
    assert r.status_code == 200 and r.json()["status"] == "signed"
    assert Opportunity.objects.get(pk=opp.pk).status == OpportunityStatus.WON
    assert post(client, f"{BASE}/{cid}/complete", {}).status_code == 409
    assert post(client, f"{BASE}/{cid}/start", {}).json()["status"] == "executing"
    r = post(client, f"{BASE}/{cid}/amendments", {"reason": "延长", "ends_on": "2028-01-31"})
    assert r.status_code == 201 and r.json()["status"] == "approved"
    assert client.get(f"{BASE}/{cid}").json()["ends_on"] == "2028-01-31"
    assert client.get(f"{BASE}/{cid}/amendments").json()["count"] == 1
    r = post(client, f"{BASE}/{cid}/terminate", {"reason": "客户违约"})
    assert r.json()["status"] == "terminated" and r.json()["termination_reason"] == "客户违约"


def test_contract_list_filters_and_sort(w: World, api_client: Any) -> None:
    client = api_client(w.users["rep_east"])
    a = signed(w, amount="300", name="甲合同")
    b = signed(w, amount="100", name="乙合同")
    contract(w, name="丙草稿")
    Contract.objects.filter(pk=a.pk).update(renewal_on=timezone.localdate() + timedelta(days=3))
    names = lambda r: [row["name"] for row in r.json()["items"]]  # noqa: E731
    assert names(client.get(LIST, {"status": "signed", "sort": "amount"})) == ["乙合同", "甲合同"]
    assert names(client.get(LIST, {"renewal_within_days": 7})) == ["甲合同"]
    assert names(client.get(LIST, {"q": "丙"})) == ["丙草稿"]
    assert client.get(LIST, {"customer_id": b.customer_id}).json()["count"] == 1
    assert client.get(LIST, {"sort": "nonsense"}).status_code == 400
    assert client.get(LIST, {"renewal_within_days": -1}).status_code == 422
    assert api_client(w.users["rep_east2"]).get(LIST).json()["count"] == 0


def test_approvals_through_the_api(w: World, api_client: Any) -> None:
    # R9.1: the approver lists their tasks, rejects (comment required), the rep resubmits,
    # the approver approves; the rep sees the history
    flow(w, "contract", {"approver_kind": "user", "user": w.users["director"]})
    rep = api_client(w.users["rep_east"])
    director = api_client(w.users["director"])
    c = contract(w)
    assert post(rep, f"{BASE}/{c.pk}/submit").json()["status"] == "pending"
    tasks = director.get(f"{BASE}/approval-tasks").json()
    assert tasks["count"] == 1
    rid = tasks["items"][0]["request"]["id"]
    assert tasks["items"][0]["request"]["amount"] == "100000.00"
    assert api_client(w.users["manager1"]).get(f"{BASE}/approval-tasks").json()["count"] == 0
    r = post(director, f"{BASE}/approval-requests/{rid}/reject", {"comment": ""})
    assert r.status_code == 400
    r = post(director, f"{BASE}/approval-requests/{rid}/reject", {"comment": "补充附件"})
    assert r.json()["status"] == "rejected" and reload(c).status == ContractStatus.DRAFT
    post(rep, f"{BASE}/{c.pk}/submit")
    rid2 = director.get(f"{BASE}/approval-tasks").json()["items"][0]["request"]["id"]
    assert post(rep, f"{BASE}/approval-requests/{rid2}/approve").status_code == 403
    assert post(director, f"{BASE}/approval-requests/{rid2}/approve").json()["status"] == (
        "approved"
    )
    assert reload(c).status == ContractStatus.APPROVED
    history = rep.get(f"{BASE}/{c.pk}/approvals").json()
    assert [h["status"] for h in history] == ["approved", "rejected"]
    assert history[1]["tasks"][0]["comment"] == "补充附件"
    mine = rep.get(f"{BASE}/approval-requests").json()
    assert mine["count"] == 2
    # withdraw through the generic endpoint
    c2 = contract(w)
    post(rep, f"{BASE}/{c2.pk}/submit")
    rid3 = approvals.pending_request("contract", c2).pk
    assert post(rep, f"{BASE}/approval-requests/{rid3}/withdraw").json()["status"] == "withdrawn"
    assert reload(c2).status == ContractStatus.DRAFT


def test_downstream_systems_update_orders(w: World, api_client: Any) -> None:
    # R6.4: logistics sets shipped (with tracking) then delivered; a repeated call is a no-op,
    # a stale version of another change is a 409
    c = signed(w, amount="800")
    client = api_client(w.users["rep_east"])
    r = post(client, f"{BASE}/orders", {"contract_id": c.pk, "external_ref": "ERP-77"})
    assert r.status_code == 201
    order = r.json()
    assert (order["status"], order["amount"], len(order["lines"])) == ("pending", "800.00", 1)
    url = f"{BASE}/orders/{order['id']}"
    logistics = api_client(w.users["director"])
    r = patch(logistics, url, {"version": 1, "status": "shipped"})
    assert r.status_code == 400  # carrier and tracking number are needed
    ship = {"version": 1, "status": "shipped", "carrier": "顺丰", "tracking_number": "SF1"}
    r = patch(logistics, url, ship)
    assert r.status_code == 200 and r.json()["status"] == "shipped"
    assert r.json()["version"] == 2
    again = patch(logistics, url, ship)  # retry with the same body: no-op
    assert again.status_code == 200 and again.json()["version"] == 2
    stale = patch(logistics, url, {"version": 1, "status": "delivered"})
    assert stale.status_code == 409
    assert patch(logistics, url, {"version": 2, "status": "pending"}).status_code == 409
    r = patch(logistics, url, {"version": 2, "status": "delivered"})
    assert r.json()["status"] == "delivered" and r.json()["delivered_at"]
    assert logistics.get(f"{BASE}/orders", {"external_ref": "ERP-77"}).json()["count"] == 1
    assert Order.objects.get(pk=order["id"]).status == ShipmentStatus.DELIVERED
    draft = contract(w)
    assert post(client, f"{BASE}/orders", {"contract_id": draft.pk}).status_code == 409
    custom = post(
        client,
        f"{BASE}/orders",
        {
            "contract_id": c.pk,
            "lines": [{"description": "部分发货", "quantity": "2", "unit_price": "100.5"}],
        },
    )
    assert custom.json()["amount"] == "201.00"


def test_returns_and_refunds_through_the_api(w: World, api_client: Any) -> None:
    # R6.3
    c = signed(w, amount="1000")
    rep = api_client(w.users["rep_east"])
    r = post(rep, f"{BASE}/returns", {"contract_id": c.pk, "reason": "quality", "amount": "1001"})
    assert r.status_code == 400
    r = post(rep, f"{BASE}/returns", {"contract_id": c.pk, "reason": "quality", "amount": "400"})
    assert r.status_code == 201 and r.json()["reason_label"]
    rid = r.json()["id"]
    r = patch(rep, f"{BASE}/returns/{rid}", {"version": 1, "amount": "300"})
    assert r.json()["amount"] == "300.00"
    assert post(rep, f"{BASE}/returns/{rid}/submit").json()["status"] == "approved"
    assert post(rep, f"{BASE}/returns/{rid}/refund", {"refunded_on": today()}).status_code == 403
    finance = api_client(w.users["finance"])
    r = post(finance, f"{BASE}/returns/{rid}/refund", {"refunded_on": today()})
    assert r.status_code == 200 and r.json()["status"] == "refunded"
    assert reload(c).refunded_amount == Decimal("300.00")
    assert finance.get(f"{BASE}/returns", {"status": "refunded"}).json()["count"] == 1
    assert ReturnRequest.objects.get(pk=rid).status == ReturnStatus.REFUNDED


def test_finance_reads_contracts_but_cannot_change_them(w: World, api_client: Any) -> None:
    c = contract(w)
    opp = opportunity(w, customer(w))
    finance = api_client(w.users["finance"])
    assert finance.get(f"{BASE}/{c.pk}").status_code == 200
    assert finance.get(LIST).json()["count"] == 1
    before = Event.objects.count()
    assert patch(finance, f"{BASE}/{c.pk}", {"version": 1, "name": "x"}).status_code == 403
    assert post(finance, f"{BASE}/{c.pk}/submit").status_code == 403
    assert post(finance, LIST, {"customer_id": c.customer_id, "amount": "1"}).status_code == 403
    r = finance.patch(
        f"/api/v1/opportunities/{opp.pk}",
        data=json.dumps({"version": 1, "name": "财务改"}),
        content_type="application/json",
    )
    assert r.status_code in (403, 404)
    assert Event.objects.count() == before


def _targets(w: World) -> dict[str, Any]:
    rep = u(w, "rep_east")
    flow(w, "return", {"approver_kind": "user", "user": w.users["director"]})
    c = signed(w, amount="1000", name="越权靶子合同")
    order = orders.create_order(actor=rep, contract=c)
    ret = returns.submit_return(
        actor=rep,
        ret=returns.create_return(
            actor=rep,
            contract=c,
            data={"reason": "other", "amount": "10", "description": "越权靶子"},
        ),
    )
    request = approvals.pending_request("return", ret)
    return {"contract": c, "order": order, "return": ret, "request": request}


def test_every_endpoint_answers_404_out_of_scope_and_changes_nothing(
    w: World, other_world: World, api_client: Any
) -> None:
    # R1.3: other tenant's admin and out-of-scope colleagues, on every endpoint with an id,
    # including ids in the body
    grant_sales(other_world)
    t = _targets(w)
    cid, oid, rid, qid = t["contract"].pk, t["order"].pk, t["return"].pk, t["request"].pk
    calls = [
        ("get", f"{BASE}/{cid}", None),
        ("patch", f"{BASE}/{cid}", {"version": 1, "name": "越权"}),
        ("post", f"{BASE}/{cid}/submit", {}),
        ("post", f"{BASE}/{cid}/withdraw", None),
        ("post", f"{BASE}/{cid}/sign", {"signed_on": "2026-01-01"}),
        ("post", f"{BASE}/{cid}/start", {}),
        ("post", f"{BASE}/{cid}/complete", {}),
        ("post", f"{BASE}/{cid}/terminate", {"reason": "越权"}),
        ("post", f"{BASE}/{cid}/amendments", {"reason": "越权", "amount": "1"}),
        ("get", f"{BASE}/{cid}/amendments", None),
        ("get", f"{BASE}/{cid}/approvals", None),
        ("get", f"{BASE}/orders/{oid}", None),
        ("patch", f"{BASE}/orders/{oid}", {"version": 1, "status": "cancelled"}),
        ("post", f"{BASE}/orders", {"contract_id": cid}),
        ("get", f"{BASE}/returns/{rid}", None),
        ("patch", f"{BASE}/returns/{rid}", {"version": 1, "amount": "1"}),
        ("post", f"{BASE}/returns/{rid}/submit", {}),
        ("post", f"{BASE}/returns/{rid}/withdraw", None),
        ("post", f"{BASE}/returns/{rid}/refund", {"refunded_on": "2026-01-01"}),
        ("post", f"{BASE}/returns", {"contract_id": cid, "reason": "other", "amount": "1"}),
        ("get", f"{BASE}/approval-requests/{qid}", None),
        ("post", f"{BASE}/approval-requests/{qid}/approve", {}),
        ("post", f"{BASE}/approval-requests/{qid}/reject", {"comment": "越权"}),
        ("post", f"{BASE}/approval-requests/{qid}/withdraw", None),
    ]
    rows = [t["contract"], t["order"], t["return"], t["request"]]

    def state() -> Any:
        return (
            Event.objects.count(),
            Order.objects.count(),
            ReturnRequest.objects.count(),
            ContractAmendment.objects.count(),
            [type(r).objects.filter(pk=r.pk).values().first() for r in rows],
        )

    outsiders = (other_world.admin, w.users["rep_east2"], w.users["rep_sales2"])
    clients = [api_client(x) for x in outsiders]
    before = state()
    for user, client in zip(("other admin", "rep_east2", "rep_sales2"), clients, strict=True):
        for method, url, body in calls:
            if body is None:
                r = getattr(client, method)(url)
            else:
                r = getattr(client, method)(
                    url, data=json.dumps(body), content_type="application/json"
                )
            assert r.status_code == 404, (user, method, url, r.status_code, r.content[:200])
            assert "越权靶子" not in r.content.decode()
        for url in (LIST, f"{BASE}/orders", f"{BASE}/returns", f"{BASE}/approval-tasks"):
            assert "越权靶子" not in client.get(url).content.decode()
    assert state() == before
