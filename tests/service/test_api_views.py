"""Service API and pages (R3.7): ticket CRUD and transitions over the API with ErrorOut errors
and bounds; scope (a rep does not see a colleague's tickets, another tenant nobody's: 404);
the list tabs, detail, forms, return visits, settings and the analysis figures compared with a
plain-Python computation over the rows created here."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from crm.core.testing.pages import with_sections
from crm.core.testing.world import World
from crm.service import services
from crm.service.models import ReturnVisit, Ticket

from ..conftest import login_client
from .conftest import customer_of, fresh

pytestmark = pytest.mark.django_db


def post_json(client: Any, url: str, body: dict[str, Any], method: str = "post") -> Any:
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def test_api_crud_transitions_and_errors(svc: World, api_client: Any) -> None:
    # R3.7: tickets CRUD + transitions; ErrorOut 4xx; input bounds
    rep = fresh(svc.users["rep_east"])
    customer = customer_of(rep, "接口客户")
    client = api_client(rep)
    r = post_json(
        client,
        "/api/v1/service/tickets",
        {"customer_id": customer.pk, "type": "complaint", "priority": "high", "subject": "投诉"},
    )
    assert r.status_code == 201, r.content
    body = r.json()
    pk = body["id"]
    assert body["status"] == "open" and body["number"].startswith("FW-")
    assert (
        post_json(client, "/api/v1/service/tickets", {"customer_id": customer.pk}).status_code
        == 422
    )
    bad = post_json(
        client,
        "/api/v1/service/tickets",
        {"customer_id": customer.pk, "type": "repair", "subject": "x" * 201},
    )
    assert bad.status_code == 422 and "errors" in bad.json()
    r = post_json(
        client, f"/api/v1/service/tickets/{pk}", {"subject": "投诉升级", "version": 1}, "patch"
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    stale = post_json(
        client, f"/api/v1/service/tickets/{pk}", {"subject": "y", "version": 1}, "patch"
    )
    assert stale.status_code == 409
    r = post_json(client, f"/api/v1/service/tickets/{pk}/status", {"status": "resolved"})
    assert r.status_code == 200 and r.json()["resolved_at"]
    refused = post_json(client, f"/api/v1/service/tickets/{pk}/status", {"status": "open"})
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    r = post_json(client, f"/api/v1/service/tickets/{pk}/status", {"status": "closed"})
    assert r.status_code == 200
    visits = client.get("/api/v1/service/visits").json()
    assert visits["count"] == 1
    vid = visits["items"][0]["id"]
    assert (
        post_json(client, f"/api/v1/service/visits/{vid}/complete", {"satisfaction": 9}).status_code
        == 422
    )
    r = post_json(
        client, f"/api/v1/service/visits/{vid}/complete", {"satisfaction": 5, "comment": "好"}
    )
    assert r.status_code == 200 and r.json()["satisfaction"] == 5
    # a rep may not delete (403)
    assert client.delete(f"/api/v1/service/tickets/{pk}").status_code == 403
    manager = api_client(fresh(svc.users["manager1"]))
    assert manager.delete(f"/api/v1/service/tickets/{pk}").status_code == 204


def test_scope_a_colleague_and_another_tenant_see_nothing(
    svc: World, svc_other: World, api_client: Any
) -> None:
    # R3.7 scope: a rep does not see another rep's tickets; another tenant neither (404)
    rep = fresh(svc.users["rep_east"])
    ticket = services.create_ticket(
        actor=rep,
        customer=customer_of(rep, "范围客户"),
        data={"type": "repair", "subject": "秘密工单"},
    )
    colleague = api_client(fresh(svc.users["rep_east2"]))
    outsider = api_client(fresh(svc_other.users["director"]))
    for client in (colleague, outsider):
        assert client.get(f"/api/v1/service/tickets/{ticket.pk}").status_code == 404
        assert client.get("/api/v1/service/tickets").json()["count"] == 0
        r = post_json(client, f"/api/v1/service/tickets/{ticket.pk}/status", {"status": "closed"})
        assert r.status_code == 404
    assert Ticket.objects.get(pk=ticket.pk).status == "open"
    # the manager of 销售一部 (department and below) and the director see it
    for key in ("manager1", "director"):
        assert (
            api_client(fresh(svc.users[key]))
            .get(f"/api/v1/service/tickets/{ticket.pk}")
            .status_code
            == 200
        )
    page = login_client(fresh(svc.users["rep_east2"])).get(
        reverse("service:ticket_detail", args=[ticket.pk])
    )
    assert page.status_code == 404


def test_pages_list_detail_forms_visits_settings(svc: World) -> None:
    # R3.7 pages: list with tabs, detail with timeline, create, status, visits, SLA settings
    rep = fresh(svc.users["rep_east"])
    customer = customer_of(rep, "页面客户")
    client = login_client(rep)
    r = client.get(reverse("service:ticket_create") + f"?customer={customer.pk}")
    assert r.status_code == 200
    r = client.post(
        reverse("service:ticket_create"),
        {"customer": customer.pk, "type": "repair", "priority": "urgent", "subject": "页面工单"},
    )
    ticket = Ticket.objects.get(subject="页面工单")
    assert r.status_code == 302 and r["Location"] == reverse(
        "service:ticket_detail", args=[ticket.pk]
    )
    bad = client.post(reverse("service:ticket_create"), {"customer": customer.pk, "type": "repair"})
    assert bad.status_code == 200 and Ticket.objects.count() == 1
    detail = client.get(reverse("service:ticket_detail", args=[ticket.pk]))
    assert detail.status_code == 200 and "页面工单" in detail.content.decode()
    r = client.post(
        reverse("service:ticket_status", args=[ticket.pk]),
        {"status": "closed", "version": ticket.version, "note": "已修好"},
    )
    assert r.status_code == 302 and Ticket.objects.get(pk=ticket.pk).status == "closed"
    services.sweep_overdue(svc.org.pk)
    for tab in ("all", "mine", "overdue", "unfinished"):
        assert client.get(reverse("service:ticket_list") + f"?tab={tab}").status_code == 200
    visit = ReturnVisit.objects.get(ticket=ticket)
    assert client.get(reverse("service:visit_list")).status_code == 200
    r = client.post(reverse("service:visit_complete", args=[visit.pk]), {"satisfaction": "3"})
    assert r.status_code == 302 and ReturnVisit.objects.get(pk=visit.pk).satisfaction == 3
    customer_page = with_sections(
        client, reverse("customers:detail", args=[customer.pk])
    ).content.decode()
    assert "页面工单" in customer_page and "3.00 / 5" in customer_page
    assert client.get(reverse("service:settings")).status_code == 403
    admin = login_client(fresh(svc.admin))
    r = admin.post(
        reverse("service:settings"),
        {
            **{f"{p}_response": 60 for p in ("urgent", "high", "normal", "low")},
            **{f"{p}_resolution": 600 for p in ("urgent", "high", "normal", "low")},
            "visit_days_after_contract": 10,
            "visit_days_after_ticket": 1,
        },
    )
    assert r.status_code == 302
    assert services.get_settings(svc.org.pk).visit_days_after_ticket == 1


def test_analysis_figures_match_an_independent_count(svc: World) -> None:
    # R3.7 analysis: by type/priority/status, overdue rate, medians, satisfaction per owner
    rep, rep2 = fresh(svc.users["rep_east"]), fresh(svc.users["rep_east2"])
    made = []
    for user, n in ((rep, 3), (rep2, 2)):
        customer = customer_of(user, f"分析客户{user.pk}")
        for i in range(n):
            t = services.create_ticket(
                actor=fresh(user),
                customer=customer,
                data={
                    "type": ["repair", "complaint"][i % 2],
                    "priority": "urgent",
                    "subject": f"t{i}",
                },
            )
            made.append(t)
    # responses after 30 min, 2 h and 3 h (one late); resolutions after 4 h and 10 h (one late)
    for t, hours_resp, hours_res in ((made[0], 0.5, 4), (made[1], 2, 10), (made[3], 3, None)):
        services.change_status(
            actor=fresh(t.owner),
            ticket=t,
            status="in_progress",
            now=t.opened_at + timedelta(hours=hours_resp),
        )
        if hours_res:
            services.change_status(
                actor=fresh(t.owner),
                ticket=Ticket.objects.get(pk=t.pk),
                status="closed",
                now=t.opened_at + timedelta(hours=hours_res),
            )
    for v, score in zip(ReturnVisit.objects.order_by("pk"), (5, 2), strict=True):
        services.complete_visit(actor=fresh(v.owner), visit=v, satisfaction=score)
    from crm.service import selectors

    director = fresh(svc.users["director"])
    data = selectors.analysis(director, selectors.Period(None, None))
    rows = list(Ticket.objects.filter(org=svc.org))
    far = max(t.resolution_due_at for t in rows) + timedelta(days=1)
    # independent: a ticket missed a deadline when it was answered/resolved late or is open
    # past its deadline now (all urgent tickets opened just now are not yet overdue)
    missed = [
        t
        for t in rows
        if (t.response_seconds or 0) > 3600 or (t.resolution_seconds or 0) > 8 * 3600
    ]
    head = data["head"]
    assert head["total"] == 5 and head["missed"] == len(missed) == 2
    assert head["missed_rate"] == Decimal("40.0")
    # medians: response 0.5 h, 2 h, 3 h → 2.0; resolution 4 h, 10 h → 7.0
    assert head["median_response_hours"] == Decimal("2.0")
    assert head["median_resolution_hours"] == Decimal("7.0")
    assert head["satisfaction"] == Decimal("3.50")
    by_type = {r["label"]: r["tickets"] for r in data["figures"][0].rows}
    assert sorted(by_type.values()) == sorted(
        [sum(1 for t in rows if t.type == "repair"), sum(1 for t in rows if t.type == "complaint")]
    )
    by_owner = {r["label"]: r for r in data["figures"][3].rows}
    assert by_owner[rep.display_name]["tickets"] == 3
    assert by_owner[rep.display_name]["satisfaction"] == Decimal("3.50")  # both visits rep's
    # the rep sees only their own tickets
    mine = selectors.analysis(rep2, selectors.Period(None, None))["head"]
    assert mine["total"] == 2
    assert far > timezone_now()
    # the page renders, with the export refused to a viewer without analytics:export
    client = login_client(director)
    assert client.get(reverse("service:analysis")).status_code == 200
    assert client.get(reverse("service:analysis") + "?from=bad").status_code == 200


def timezone_now() -> Any:
    from django.utils import timezone

    return timezone.now()
