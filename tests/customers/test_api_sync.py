"""Incremental sync (issue 7, R10.1 api-gaps): ``updated_since`` / ``updated_before`` and
``sort=updated_at`` on the lists of customers, contacts, leads, opportunities, contracts,
orders, receipts and invoices — one helper (``apply_updated_window``) for all of them."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from crm.core.testing.world import World
from crm.customers.models import Contact, Customer
from crm.customers.services import create_customer
from crm.finance import receipt_services
from crm.leads import services as lead_services
from crm.leads.models import Lead
from crm.pipeline import opportunities as opportunity_services
from crm.pipeline.models import Opportunity
from crm.sales.models import Contract
from tests.finance.conftest import signed_contract

T0 = dt.datetime(2026, 1, 10, 8, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=1)
T2 = T0 + dt.timedelta(hours=2)


def _ids(client: Any, url: str, **params: str) -> list[int]:
    r = client.get(f"{url}?{urlencode(params)}")
    assert r.status_code == 200, r.content
    return [row["id"] for row in r.json()["items"]]


def _window(client: Any, url: str, model: Any, rows: list[Any]) -> None:
    """rows[0] changed at T0, rows[1] at T2: windows and ascending sort pick them right."""
    model._base_manager.filter(pk=rows[0].pk).update(updated_at=T0)
    model._base_manager.filter(pk=rows[1].pk).update(updated_at=T2)
    mine = {r.pk for r in rows}
    found = [i for i in _ids(client, url, updated_since=T0.isoformat(), sort="updated_at")]
    assert [i for i in found if i in mine] == [rows[0].pk, rows[1].pk], url
    found = _ids(client, url, updated_since=T1.isoformat())
    assert rows[1].pk in found and rows[0].pk not in found, url
    found = _ids(client, url, updated_since=T0.isoformat(), updated_before=T1.isoformat())
    assert rows[0].pk in found and rows[1].pk not in found, url
    found = _ids(client, url, sort="-updated_at")
    assert found.index(rows[1].pk) < found.index(rows[0].pk), url


def test_records_changed_in_a_window_are_listed_oldest_change_first(
    world: World, api_client: Any
) -> None:
    # R10.1: the same window on every list of the sync
    admin = world.admin
    client = api_client(admin)
    customers = [
        create_customer(
            actor=admin, data={"name": f"同步客户{i}"}, contacts=[{"name": f"同步联系人{i}"}]
        )
        for i in range(2)
    ]
    _window(client, "/api/v1/customers/customers", Customer, customers)
    contacts = [Contact.objects.get(customer=c) for c in customers]
    _window(client, "/api/v1/customers/contacts", Contact, contacts)
    leads = [
        lead_services.create_lead(
            actor=admin, data={"company": f"同步线索{i}", "mobile": f"1370000000{i}"}
        )
        for i in range(2)
    ]
    _window(client, "/api/v1/leads/leads", Lead, leads)
    opps = [
        opportunity_services.create_opportunity(
            actor=admin, customer=customers[0], data={"name": f"同步商机{i}"}
        )
        for i in range(2)
    ]
    _window(client, "/api/v1/opportunities/", Opportunity, opps)
    contracts = [signed_contract(admin, customers[i]) for i in range(2)]
    _window(client, "/api/v1/contracts/", Contract, contracts)
    from crm.finance import plan_services
    from crm.finance.models import Receipt

    for contract in contracts:
        plan_services.replace_plans(
            actor=admin,
            contract=contract,
            rows=[{"due_on": timezone.localdate(), "amount": contract.amount, "note": "同步"}],
        )
    receipts = [
        receipt_services.record_receipt(
            actor=admin, contract=contracts[i], data={"amount": "10", "payer": "付款方"}
        )
        for i in range(2)
    ]
    _window(client, "/api/v1/finance/receipts", Receipt, receipts)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/contracts/orders",
        "/api/v1/finance/invoices",
        "/api/v1/customers/customers",
        "/api/v1/leads/leads",
    ],
)
def test_the_window_parameters_are_checked_and_applied(
    world: World, api_client: Any, url: str
) -> None:
    # R10.1: a future updated_since lists nothing; a bad moment is a 422; sort=updated_at works
    client = api_client(world.admin)
    future = (timezone.now() + dt.timedelta(days=1)).isoformat()
    assert _ids(client, url, updated_since=future, sort="updated_at") == []
    assert client.get(f"{url}?updated_since=yesterday").status_code == 422
    assert client.get(f"{url}?updated_before=2026-13-01").status_code == 422
