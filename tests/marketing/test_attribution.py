"""Attribution report (R9.3): leads, qualified, converted, opportunities, won count and amount,
cost per lead and ROI per campaign and per quarter, checked against hand counts and an
independent plain-Python computation over a generated world; each viewer counts only the leads
and opportunities in their data scope; click-through URLs; Excel export needs marketing:export."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from crm.customers.services import create_customer
from crm.leads import services as lead_services
from crm.leads.models import Lead
from crm.marketing import selectors, services
from crm.pipeline import opportunities as opp_services
from crm.pipeline.models import Opportunity

from ..conftest import login_client
from .conftest import Mk, campaign, fresh

pytestmark = pytest.mark.django_db


def lead_for(mk: Mk, owner: Any, c: Any, n: int, status: str = "new") -> Lead:
    lead = lead_services.create_lead(
        actor=fresh(mk.world.admin),
        data={"company": f"线索{n}", "mobile": f"139{n:08d}"},
        owner=owner,
        campaign=c,
    )
    Lead.objects.filter(pk=lead.pk).update(status=status)
    return lead


def opportunity_for(mk: Mk, owner: Any, lead: Lead | None, n: int, **values: Any) -> Any:
    customer = create_customer(actor=fresh(mk.world.admin), owner=owner, data={"name": f"客户{n}"})
    opp = opp_services.create_opportunity(
        actor=fresh(mk.world.admin),
        customer=customer,
        owner=owner,
        data={"name": f"商机{n}", "expected_amount": "1000"},
        lead=lead,
    )
    if values:
        Opportunity.objects.filter(pk=opp.pk).update(**values)
    return opp


def test_figures_by_hand_for_the_director_and_a_rep(mk: Mk) -> None:
    # R9.3: attribution per campaign (fixed data, counted by hand); scoped to the viewer
    a = campaign(mk, "展会", actual_cost="1000.00", start_date="2026-01-10")
    b = campaign(mk, "广告", actual_cost="0", start_date="2026-04-02")
    rep, rep2 = mk.rep, mk.rep2
    l1 = lead_for(mk, rep, a, 1, "converted")
    l2 = lead_for(mk, rep, a, 2, "qualified")
    lead_for(mk, rep2, a, 3, "new")
    l4 = lead_for(mk, rep2, a, 4, "converted")
    lead_for(mk, rep, b, 5, "invalid")
    lead_for(mk, rep, None, 6, "converted")  # no campaign: counted nowhere
    opportunity_for(mk, rep, l1, 1, status="won", actual_amount=Decimal("3000.00"))
    opportunity_for(mk, rep, l1, 2, status="lost")
    opportunity_for(mk, rep2, l4, 3, status="won", actual_amount=None)  # expected 1000
    opportunity_for(mk, rep, l2, 4)
    opportunity_for(mk, rep, None, 5, status="won", actual_amount=Decimal("9999"))
    qs = services.Campaign.objects.filter(org=mk.world.org)
    rows = {r["campaign"]: r for r in selectors.attribution(fresh(mk.director), qs)}
    director_a = {k: rows["展会"][k] for k in ("leads", "qualified", "converted")}
    assert director_a == {"leads": 4, "qualified": 3, "converted": 2}
    assert (rows["展会"]["opportunities"], rows["展会"]["won"]) == (4, 2)
    assert rows["展会"]["won_amount"] == Decimal("4000.00")
    assert rows["展会"]["cost_per_lead"] == Decimal("250.00")
    assert rows["展会"]["roi"] == Decimal("300.0")
    assert rows["广告"]["leads"] == 1 and rows["广告"]["roi"] is None
    assert rows["广告"]["cost_per_lead"] == Decimal("0.00")
    # the rep sees only their own leads and opportunities
    mine = {r["campaign"]: r for r in selectors.attribution(fresh(rep), qs)}["展会"]
    assert (mine["leads"], mine["qualified"], mine["converted"]) == (2, 2, 1)
    assert (mine["opportunities"], mine["won"], mine["won_amount"]) == (3, 1, Decimal("3000.00"))
    assert mine["roi"] == Decimal("200.0")
    # per quarter of the campaign start
    quarters = {r["period"]: r for r in selectors.by_quarter(fresh(mk.director), qs)}
    assert set(quarters) == {"2026 Q1", "2026 Q2"}
    assert quarters["2026 Q1"]["won_amount"] == Decimal("4000.00")
    assert quarters["2026 Q2"]["leads"] == 1


def test_figures_match_an_independent_computation_on_a_generated_world(mk: Mk) -> None:
    # R9.3: random campaigns, leads and opportunities; every figure recomputed in Python
    rnd = random.Random(20261124)
    owners = [mk.rep, mk.rep2, mk.director]
    camps = [
        campaign(
            mk,
            f"活动{i}",
            actual_cost=str(rnd.choice([0, 500, 1234.56, 20000])),
            start_date=date(2026, rnd.randint(1, 12), rnd.randint(1, 28)).isoformat(),
        )
        for i in range(5)
    ]
    n = 100
    for _ in range(40):
        n += 1
        owner = rnd.choice(owners)
        c = rnd.choice([*camps, None])
        lead = lead_for(mk, owner, c, n, rnd.choice(["new", "qualified", "converted", "invalid"]))
        for _k in range(rnd.randint(0, 2)):
            n += 1
            status = rnd.choice(["continue", "won", "lost"])
            amount = rnd.choice([None, Decimal("1500.50"), Decimal("88.88")])
            opportunity_for(
                mk,
                rnd.choice(owners),
                lead,
                n,
                status=status,
                actual_amount=amount if status == "won" else None,
            )
    qs = services.Campaign.objects.filter(org=mk.world.org)
    for viewer in (fresh(mk.director), fresh(mk.rep), fresh(mk.rep2)):
        got = {r["id"]: r for r in selectors.attribution(viewer, qs)}
        seen_leads = set(Lead.objects.visible_to(viewer).values_list("pk", flat=True))
        seen_opps = set(Opportunity.objects.visible_to(viewer).values_list("pk", flat=True))
        for c in camps:
            leads = [x for x in Lead.objects.filter(campaign=c) if x.pk in seen_leads]
            opps = [
                o
                for o in Opportunity.objects.filter(lead__in=Lead.objects.filter(campaign=c))
                if o.pk in seen_opps
            ]
            won = [o for o in opps if o.status == "won"]
            amount = sum(
                (
                    o.actual_amount if o.actual_amount is not None else o.expected_amount
                    for o in won
                ),
                Decimal("0"),
            )
            cost = c.actual_cost
            expect = {
                "leads": len(leads),
                "qualified": sum(x.status in ("qualified", "converted") for x in leads),
                "converted": sum(x.status == "converted" for x in leads),
                "opportunities": len(opps),
                "won": len(won),
                "won_amount": amount,
                "cost_per_lead": (cost / len(leads)).quantize(Decimal("0.01")) if leads else None,
                "roi": ((amount - cost) * 100 / cost).quantize(Decimal("0.1")) if cost else None,
            }
            assert {k: got[c.pk][k] for k in expect} == expect, (viewer.name, c.name)
        # the quarter figures add up to the per-campaign ones
        quarters = selectors.by_quarter(viewer, qs)
        assert sum(q["leads"] for q in quarters) == sum(r["leads"] for r in got.values())
        assert sum(q["won_amount"] for q in quarters) == sum(r["won_amount"] for r in got.values())


def test_pages_click_through_and_export(mk: Mk) -> None:
    # R9.3: comparison page (table + chart + Excel), detail funnel linking to the records
    c = campaign(mk, "可点活动", actual_cost="100")
    lead = lead_for(mk, mk.rep, c, 7, "converted")
    opportunity_for(mk, mk.rep, lead, 7, status="won", actual_amount=Decimal("500"))
    opportunity_for(mk, mk.rep, None, 8)
    director = login_client(mk.director)
    page = director.get(reverse("marketing:compare"))
    body = page.content.decode()
    assert page.status_code == 200 and "可点活动" in body and "campaigns-data" in body
    detail = director.get(reverse("marketing:detail", args=[c.pk])).content.decode()
    assert f"campaign_id={c.pk}" in detail and "¥500.00" in detail and "400.0%" in detail
    opps = director.get(reverse("opportunities:list"), {"campaign_id": c.pk}).content.decode()
    assert "商机7" in opps and "商机8" not in opps
    export = director.get(reverse("marketing:compare"), {"export": "campaigns"})
    assert export.status_code == 200
    assert export.headers["Content-Disposition"].endswith('.xlsx"')
    csv = b"".join(
        director.get(
            reverse("marketing:compare"), {"export": "campaigns", "format": "csv"}
        ).streaming_content
    ).decode("utf-8-sig")
    assert "可点活动" in csv and "500.00" in csv
    # marketing:view without marketing:export: no download
    assert (
        login_client(mk.rep).get(reverse("marketing:compare"), {"export": "campaigns"}).status_code
        == 403
    )
    api = login_client(mk.rep).get("/api/v1/marketing/campaigns/attribution").json()
    assert api["items"][0]["won_amount"] == "500.00"
