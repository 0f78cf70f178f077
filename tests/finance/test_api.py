"""/api/v1/finance/ (R7.1–R7.3): plans (list, replace, get), receipts (list, create with
allocations, get, void), write-offs, invoices (request, issue, mail, cancel) and the collection
summary; anonymous 401, another organisation and out-of-scope users 404 with nothing changed,
users without the permission refused."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.test import Client
from django.utils import timezone

from crm.core.models import Event
from crm.finance import invoice_services, plan_services, receipt_services
from crm.finance.models import Invoice, Receipt, ReceivablePlan, WriteOff
from crm.sales.models import Contract
from tests.finance.conftest import Fin, fresh

D = Decimal
BASE = "/api/v1/finance"


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    if method == "get":
        return client.get(url)
    return getattr(client, method)(
        url, data=json.dumps(body or {}), content_type="application/json"
    )


def test_plans_replace_list_and_get(fin: Fin, api_client: Any) -> None:
    """R7.1: PUT replaces the set; a wrong sum answers 400 with the message."""
    rep = api_client(fin.rep)
    today = timezone.localdate()
    url = f"{BASE}/contracts/{fin.contract.pk}/plans"
    bad = send(rep, "put", url, {"plans": [{"due_on": str(today), "amount": "99999"}]})
    assert bad.status_code == 400 and "¥1.00" in bad.json()["message"]
    r = send(
        rep,
        "put",
        url,
        {
            "plans": [
                {"due_on": str(today - timedelta(days=3)), "percentage": "40"},
                {"due_on": str(today + timedelta(days=30)), "amount": 60000, "remind_days": 3},
            ]
        },
    )
    assert r.status_code == 200, r.content
    first, second = r.json()
    assert (first["amount"], first["percentage"], first["status"]) == (
        "40000.00",
        "40.00",
        "overdue",
    )
    assert first["overdue_days"] == 3 and first["ageing_bucket"] == "1-30"
    assert second["remind_days"] == 3 and second["owner"]["id"] == fin.rep.pk
    listed = rep.get(f"{BASE}/plans", {"contract_id": fin.contract.pk}).json()
    assert [p["id"] for p in listed["items"]] == [first["id"], second["id"]]
    assert rep.get(f"{BASE}/plans", {"overdue": "true"}).json()["count"] == 1
    assert rep.get(f"{BASE}/plans/{second['id']}").json()["outstanding"] == "60000.00"
    other = api_client(fin.other_rep)
    assert other.get(f"{BASE}/plans").json()["count"] == 0
    assert other.get(f"{BASE}/plans/{first['id']}").status_code == 404
    assert send(other, "put", url, {"plans": []}).status_code == 404


def test_receipts_create_with_allocations_get_and_void(fin: Fin, api_client: Any) -> None:
    """R7.2: finance records (201), over-collection 400 with what is left, void gives back."""
    plans = plan_services.replace_plans(
        actor=fin.finance,
        contract=fin.contract,
        rows=[
            {"due_on": timezone.localdate(), "amount": "30000"},
            {"due_on": timezone.localdate() + timedelta(days=30), "amount": "70000"},
        ],
    )
    finance = api_client(fin.finance)
    r = send(
        finance,
        "post",
        f"{BASE}/receipts",
        {
            "contract_id": fin.contract.pk,
            "amount": "12,345.67",
            "method": "online",
            "allocations": [{"plan_id": plans[1].pk, "amount": "12345.67"}],
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["number"].startswith("HK-") and body["status"] == "confirmed"
    assert body["allocations"] == [{"plan_id": plans[1].pk, "sequence": 2, "amount": "12345.67"}]
    over = send(
        finance, "post", f"{BASE}/receipts", {"contract_id": fin.contract.pk, "amount": 90000}
    )
    assert over.status_code == 400 and "¥87,654.33" in over.json()["errors"][0]["message"]
    rep = api_client(fin.rep)
    assert (
        send(
            rep, "post", f"{BASE}/receipts", {"contract_id": fin.contract.pk, "amount": 1}
        ).status_code
        == 403
    )
    assert rep.get(f"{BASE}/receipts/{body['id']}").status_code == 200
    assert rep.get(f"{BASE}/receipts").json()["count"] == 1
    assert (
        send(rep, "post", f"{BASE}/receipts/{body['id']}/void", {"reason": "x"}).status_code == 403
    )
    voided = send(finance, "post", f"{BASE}/receipts/{body['id']}/void", {"reason": "录错"})
    assert voided.status_code == 200 and voided.json()["status"] == "voided"
    assert Contract.objects.get(pk=fin.contract.pk).received_amount == D("0.00")
    again = send(finance, "post", f"{BASE}/receipts/{body['id']}/void", {"reason": "录错"})
    assert again.status_code == 409


def test_write_offs(fin: Fin, api_client: Any) -> None:
    (only,) = plan_services.replace_plans(
        actor=fin.finance,
        contract=fin.contract,
        rows=[{"due_on": timezone.localdate(), "amount": "100000"}],
    )
    finance = api_client(fin.finance)
    r = send(
        finance,
        "post",
        f"{BASE}/write-offs",
        {"plan_id": only.pk, "amount": "100", "reason": "坏账"},
    )
    assert r.status_code == 201 and r.json()["status"] == "approved"
    assert finance.get(f"{BASE}/write-offs", {"contract_id": fin.contract.pk}).json()["count"] == 1
    rep = api_client(fin.rep)
    refused = send(
        rep, "post", f"{BASE}/write-offs", {"plan_id": only.pk, "amount": "1", "reason": "x"}
    )
    assert refused.status_code == 403
    assert rep.get(f"{BASE}/write-offs").json()["count"] == 1
    assert api_client(fin.other_rep).get(f"{BASE}/write-offs").json()["count"] == 0


def test_invoices_request_issue_mail_cancel(fin: Fin, api_client: Any) -> None:
    """R7.3: the rep requests (the customer's details by default), finance issues and mails."""
    rep = api_client(fin.rep)
    r = send(
        rep,
        "post",
        f"{BASE}/invoices",
        {
            "contract_id": fin.contract.pk,
            "kind": "special",
            "amount": 1000,
            "lines": [{"description": "软件", "amount": "1000", "tax_rate": 13}],
        },
    )
    assert r.status_code == 201, r.content
    invoice = r.json()
    assert invoice["tax_number"] == "91330100MA2B3C4D5E" and invoice["status"] == "requested"
    url = f"{BASE}/invoices/{invoice['id']}"
    assert send(rep, "post", f"{url}/issue", {"invoice_number": "1"}).status_code == 403
    finance = api_client(fin.finance)
    issued = send(finance, "post", f"{url}/issue", {"invoice_number": "04400001"})
    assert issued.status_code == 200 and issued.json()["status"] == "issued"
    mailed = send(
        finance,
        "post",
        f"{url}/mail",
        {"recipient": "周明", "mail_address": "杭州", "courier": "顺丰", "tracking_number": "SF9"},
    )
    assert mailed.status_code == 200 and mailed.json()["tracking_number"] == "SF9"
    cancelled = send(finance, "post", f"{url}/cancel", {"reason": "红冲"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    too_much = send(
        finance, "post", f"{BASE}/invoices", {"contract_id": fin.contract.pk, "amount": "100000.01"}
    )
    assert too_much.status_code == 400
    assert finance.get(f"{BASE}/invoices", {"status": "cancelled"}).json()["count"] == 1


def test_summary(fin: Fin, api_client: Any) -> None:
    plan_services.replace_plans(
        actor=fin.finance,
        contract=fin.contract,
        rows=[
            {"due_on": timezone.localdate() - timedelta(days=45), "amount": "60000"},
            {"due_on": timezone.localdate() + timedelta(days=45), "amount": "40000"},
        ],
    )
    receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "10000"}
    )
    body = api_client(fin.finance).get(f"{BASE}/summary").json()
    assert body["received"] == "10000.00" and body["outstanding"] == "90000.00"
    assert body["overdue"] == "50000.00" and body["received_this_month"] == "10000.00"
    assert {b["key"]: b["amount"] for b in body["ageing"]}["31-60"] == "50000.00"
    assert body["awaiting_contracts"] == 1
    other = api_client(fin.other_rep).get(f"{BASE}/summary").json()
    assert other["outstanding"] == "0.00" and other["awaiting_contracts"] == 0


def _records(fin: Fin) -> dict[str, Any]:
    (only,) = plan_services.replace_plans(
        actor=fin.finance,
        contract=fin.contract,
        rows=[{"due_on": timezone.localdate(), "amount": "100000"}],
    )
    receipt = receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "10"}
    )
    invoice = invoice_services.request_invoice(
        actor=fin.finance, contract=fin.contract, data={"amount": "10"}
    )
    return {"contract": fin.contract, "plan": only, "receipt": receipt, "invoice": invoice}


def _state(records: dict[str, Any]) -> list[Any]:
    return [type(o)._base_manager.filter(pk=o.pk).values().first() for o in records.values()] + [
        Event.objects.count(),
        Receipt.objects.count(),
        WriteOff.objects.count(),
        Invoice.objects.count(),
        ReceivablePlan.objects.count(),
    ]


def test_other_tenant_and_out_of_scope_get_404_and_change_nothing(
    fin: Fin, other_fin: Fin, api_client: Any
) -> None:
    """R7 (A1/A2): every operation on another organisation's or an out-of-scope record (path
    or body id) answers 404; lists leave them out; nothing changes."""
    r = _records(fin)
    intruders = [other_fin.admin, other_fin.finance, fresh(fin.other_rep), fresh(fin.other_manager)]
    clients = [(user, api_client(user)) for user in intruders]  # tokens first: they are events
    before = _state(r)
    calls = [
        ("get", f"{BASE}/plans/{r['plan'].pk}", None),
        ("put", f"{BASE}/contracts/{r['contract'].pk}/plans", {"plans": []}),
        ("get", f"{BASE}/receipts/{r['receipt'].pk}", None),
        ("post", f"{BASE}/receipts/{r['receipt'].pk}/void", {"reason": "越权"}),
        ("get", f"{BASE}/invoices/{r['invoice'].pk}", None),
        ("post", f"{BASE}/invoices/{r['invoice'].pk}/issue", {"invoice_number": "1"}),
        (
            "post",
            f"{BASE}/invoices/{r['invoice'].pk}/mail",
            {"recipient": "x", "mail_address": "x", "courier": "x", "tracking_number": "x"},
        ),
        ("post", f"{BASE}/invoices/{r['invoice'].pk}/cancel", {"reason": "越权"}),
        ("post", f"{BASE}/receipts", {"contract_id": r["contract"].pk, "amount": 1}),
        ("post", f"{BASE}/write-offs", {"plan_id": r["plan"].pk, "amount": 1, "reason": "x"}),
        ("post", f"{BASE}/invoices", {"contract_id": r["contract"].pk, "amount": 1}),
    ]
    for user, client in clients:
        for method, url, body in calls:
            answer = send(client, method, url, body)
            assert answer.status_code in (403, 404), (user.name, method, url, answer.status_code)
            if answer.status_code == 403:  # only for a right the user lacks altogether
                assert not user.can(
                    "finance",
                    "edit" if "void" in url or "issue" in url or "mail" in url else "create",
                )
            assert r["contract"].number not in answer.content.decode()
        for url in ("plans", "receipts", "invoices", "write-offs"):
            assert client.get(f"{BASE}/{url}").json()["count"] == 0, (user.name, url)
    assert _state(r) == before
    anonymous = Client()
    for method, url, body in calls:
        assert send(anonymous, method, url, body).status_code == 401
    assert anonymous.get(f"{BASE}/summary").status_code == 401
    assert _state(r) == before
