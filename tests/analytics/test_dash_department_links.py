"""Issue 6: the contract and receipt lists filter by department (the owner's department and the
departments below it, only departments the viewer may see), so the executive dashboard's
click-throughs for a department land on the records its figures count (H-PERF)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from crm.analytics import dashboards
from crm.finance.models import Receipt
from crm.sales.models import Contract
from tests.analytics.test_dashboards import NOW, Q2, Sales, build_sales, expected, sel


@pytest.fixture
def sales(db: None) -> Iterator[Sales]:
    """The dashboard tests' organisation (and another tenant of the same shape), at NOW."""
    with time_machine.travel(NOW, tick=False):
        s = build_sales()
        build_sales("另一家看板公司")
        yield s


def listed(response: Any) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["items"]}


def contract_ids(s: Sales, *owners: Any) -> set[int]:
    return set(
        Contract.objects.filter(org=s.world.org, owner__in=[o.pk for o in owners]).values_list(
            "pk", flat=True
        )
    )


def receipt_ids(s: Sales, *owners: Any) -> set[int]:
    return set(
        Receipt.objects.filter(org=s.world.org, owner__in=[o.pk for o in owners]).values_list(
            "pk", flat=True
        )
    )


def test_api_lists_filter_by_department_tree(sales: Sales, api_client: Any) -> None:
    # issue 6 / R8.1: department_id = the owner's department and those below it
    depts = sales.world.depts
    director = api_client(sales.user("director"))
    url = "/api/v1/contracts/?page_size=200&department_id={}"
    assert listed(director.get(url.format(depts["sales2"].pk))) == contract_ids(sales, sales.rep_c)
    assert listed(director.get(url.format(depts["east"].pk))) == contract_ids(
        sales, sales.rep_a, sales.rep_b
    )
    tree = contract_ids(sales, sales.rep_a, sales.rep_b, sales.manager)
    assert listed(director.get(url.format(depts["sales1"].pk))) == tree
    receipts = "/api/v1/finance/receipts?page_size=200&department_id={}"
    assert listed(director.get(receipts.format(depts["sales2"].pk))) == receipt_ids(
        sales, sales.rep_c
    )
    assert listed(director.get(receipts.format(depts["east"].pk))) == receipt_ids(
        sales, sales.rep_a, sales.rep_b
    )
    assert receipt_ids(sales, sales.rep_c) and contract_ids(sales, sales.rep_a)  # not vacuous


def test_department_filter_never_widens_nor_crosses_tenants(
    sales: Sales, api_client: Any, world: Any
) -> None:
    # issue 6: a department outside the viewer's scope or of another tenant finds nothing
    depts = sales.world.depts
    manager = api_client(sales.user("manager"))  # 销售一部 and below
    assert listed(manager.get(f"/api/v1/contracts/?department_id={depts['sales2'].pk}")) == set()
    assert (
        listed(manager.get(f"/api/v1/finance/receipts?department_id={depts['sales2'].pk}")) == set()
    )
    assert listed(manager.get(f"/api/v1/contracts/?department_id={depts['east'].pk}")) == (
        contract_ids(sales, sales.rep_a, sales.rep_b)
    )
    other = world.depts["sales2"]  # another organisation's department
    director = api_client(sales.user("director"))
    assert listed(director.get(f"/api/v1/contracts/?department_id={other.pk}")) == set()
    assert listed(director.get(f"/api/v1/finance/receipts?department_id={other.pk}")) == set()
    assert director.get("/api/v1/contracts/?department_id=abc").status_code == 422
    assert director.get(f"/api/v1/contracts/?department_id={2**60}").status_code == 422


def test_dashboard_click_through_by_department_lands_on_its_records(
    sales: Sales, client_for: Any
) -> None:
    # issue 6 / R8.1: the signed and collected cards of a department open lists of exactly
    # the records they count; each department row of the ranking opens its contracts
    east = sales.world.depts["east"]
    board = dashboards.dashboard(sel(sales, "director", dept=east))
    urls = board.cards["urls"]
    signed = parse_qs(urlsplit(urls["signed"]).query)
    assert signed["department_id"] == [str(east.pk)]
    assert parse_qs(urlsplit(urls["collected"]).query)["department"] == [str(east.pk)]
    client = client_for(sales.user("director"))
    page = client.get(urls["signed"])
    assert page.status_code == 200
    want = {
        c.number
        for c in Contract.objects.filter(
            org=sales.world.org,
            owner__in=[sales.rep_a.pk, sales.rep_b.pk],
            signed_on__gte=Q2[0],
            signed_on__lt=Q2[1],
        )
    }
    others = set(
        Contract.objects.filter(org=sales.world.org, owner=sales.rep_c).values_list(
            "number", flat=True
        )
    )
    html = page.content.decode()
    assert want and all(n in html for n in want)
    assert not any(n in html for n in others)
    # the signed amount of the card is what the landing list covers
    e = expected(sales, "director", *Q2)
    per_east = sum(
        (v for o, v in e["per_rep"].items() if o in (sales.rep_a.pk, sales.rep_b.pk)),
        start=type(board.cards["signed"])(0),
    )
    assert board.cards["signed"] == per_east
    receipts = client.get(urls["collected"])
    assert receipts.status_code == 200
    departments = dashboards.dashboard(sel(sales, "director")).figure("departments")
    assert departments is not None
    row = next(r for r in departments.rows if r["_pk"] == sales.world.depts["sales2"].pk)
    assert parse_qs(urlsplit(row["_url"]).query)["department_id"] == [
        str(sales.world.depts["sales2"].pk)
    ]


@pytest.mark.parametrize("path", ["/sales/contracts/", "/finance/receipts/"])
def test_list_pages_offer_the_department_filter(sales: Sales, client_for: Any, path: str) -> None:
    # issue 6: the filter is on the pages; a rep (own records only) sees the contract filter
    # but its choices are only the departments they may see
    client = client_for(sales.user("director"))
    sales2 = sales.world.depts["sales2"].pk
    name = "department_id" if "contracts" in path else "department"
    response = client.get(f"{path}?{name}={sales2}")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'name="{name}"' in html
