"""Return visits planned by hand and rescheduled (R3.7, issue #10): from the customer 360 page
and the visit list, and over the API; the customer must be in the planner's scope (else 404,
another organisation's too), the due date today or later, the owner an active colleague who may
see the customer (others than oneself only with service:transfer; default: the customer's
owner). Planned visits show in the visit list and the owner's My day like automatic ones."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.core.models import Event
from crm.core.testing.pages import with_sections
from crm.core.testing.world import World
from crm.service import selectors, services
from crm.service.models import ReturnVisit

from ..conftest import login_client
from .conftest import customer_of, fresh

pytestmark = pytest.mark.django_db
VISITS = "/api/v1/service/visits"


def post_json(client: Any, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def _day(n: int) -> str:
    return (timezone.localdate() + timedelta(days=n)).isoformat()


def test_plan_from_the_customer_page_reschedule_and_my_day(svc: World, svc_other: World) -> None:
    # R3.7: "plan a return visit" from customer 360; list, reschedule, My day
    rep = fresh(svc.users["rep_east"])
    customer = customer_of(rep, "回访计划客户")
    client = login_client(rep)
    page = with_sections(client, reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "data-plan-visit" in page
    url = reverse("service:visit_create") + f"?customer={customer.pk}"
    form = client.get(url)
    assert form.status_code == 200 and "回访计划客户" in form.content.decode()
    r = client.post(url, {"customer": customer.pk, "due_on": _day(-1), "note": "问问培训"})
    assert r.status_code == 200 and not ReturnVisit.objects.exists()  # not in the past
    r = client.post(url, {"customer": customer.pk, "due_on": _day(3), "note": "问问培训"})
    assert r.status_code == 302
    visit = ReturnVisit.objects.get()
    assert (visit.source, visit.owner_id, visit.note) == ("manual", rep.pk, "问问培训")
    assert visit.due_on == timezone.localdate() + timedelta(days=3)
    assert Event.objects.filter(verb="returnvisit.scheduled", object_id=str(visit.pk)).exists()
    listed = client.get(reverse("service:visit_list") + "?tab=planned").content.decode()
    assert f'data-visit="{visit.pk}"' in listed and "问问培训" in listed
    assert 'id="visit-plan"' in listed
    assert selectors.my_day(rep) is None  # not due yet
    resched = reverse("service:visit_reschedule", args=[visit.pk])
    assert client.get(resched).status_code == 200
    r = client.post(resched, {"due_on": _day(0), "note": "问问培训和续费", "version": 1})
    assert r.status_code == 302
    visit.refresh_from_db()
    assert visit.due_on == timezone.localdate() and visit.version == 2
    day = selectors.my_day(fresh(rep))
    assert day is not None and [v.pk for v in day["svc_visits"]] == [visit.pk]
    # out of scope: a colleague's customer and another organisation's answer 404
    other = customer_of(svc.users["rep_sales2"], "别人的客户")
    foreign = customer_of(svc_other.users["rep_east"], "别家的客户")
    for c in (other, foreign):
        bad = reverse("service:visit_create") + f"?customer={c.pk}"
        assert client.get(bad).status_code == 404
        assert client.post(bad, {"customer": c.pk, "due_on": _day(1)}).status_code == 404
    assert login_client(fresh(svc.users["rep_sales2"])).get(resched).status_code == 404
    assert login_client(fresh(svc_other.users["director"])).get(resched).status_code == 404
    assert ReturnVisit.objects.count() == 1


def test_api_plan_validation_owner_and_scope(svc: World, svc_other: World, api_client: Any) -> None:
    # R3.7: API create with the rules; out-of-scope and other-tenant customers answer 404
    rep, rep2 = fresh(svc.users["rep_east"]), fresh(svc.users["rep_sales2"])
    manager = fresh(svc.users["manager1"])
    customer = customer_of(rep, "接口回访客户")
    client = api_client(rep)
    r = post_json(client, VISITS, {"customer_id": customer.pk, "due_on": _day(1), "note": "回访"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["source"] == "manual" and body["owner"]["id"] == rep.pk and body["note"] == "回访"
    r = post_json(client, VISITS, {"customer_id": customer.pk, "due_on": _day(-3)})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "due_on"
    r = post_json(
        client, VISITS, {"customer_id": customer.pk, "due_on": _day(1), "owner_id": rep2.pk}
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "owner"
    other = customer_of(rep2, "二部客户")
    foreign = customer_of(svc_other.users["rep_east"], "别家客户")
    for c in (other, foreign):
        r = post_json(client, VISITS, {"customer_id": c.pk, "due_on": _day(1)})
        assert r.status_code == 404, r.content
    # a manager (may transfer) plans for the customer's owner by default …
    boss = api_client(manager)
    r = post_json(boss, VISITS, {"customer_id": customer.pk, "due_on": _day(2)})
    assert r.status_code == 201 and r.json()["owner"]["id"] == rep.pk
    # … but never for a colleague who cannot see the customer, or someone inactive
    r = post_json(
        boss, VISITS, {"customer_id": customer.pk, "due_on": _day(2), "owner_id": rep2.pk}
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "owner"
    nobody = fresh(svc.users["rep_east2"])
    nobody.is_active = False
    nobody.save(update_fields=["is_active"])
    r = post_json(
        boss, VISITS, {"customer_id": customer.pk, "due_on": _day(2), "owner_id": nobody.pk}
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "owner_id"
    r = post_json(
        boss,
        VISITS,
        {"customer_id": customer.pk, "due_on": _day(2), "owner_id": svc_other.admin.pk},
    )
    assert r.status_code == 400
    assert post_json(api_client(fresh(svc.users["nobody"])), VISITS, {}).status_code in (403, 422)
    assert ReturnVisit.objects.count() == 2


def test_api_reschedule(svc: World, svc_other: World, api_client: Any) -> None:
    # R3.7: reschedule a planned visit (automatic or by hand); scope, version, state
    rep = fresh(svc.users["rep_east"])
    customer = customer_of(rep, "改期客户")
    visit = services.plan_visit(actor=rep, customer=customer, due_on=_day(5))
    url = f"{VISITS}/{visit.pk}/reschedule"
    client = api_client(rep)
    r = post_json(client, url, {"due_on": _day(1), "note": "提前", "version": 1})
    assert r.status_code == 200, r.content
    assert r.json()["due_on"] == _day(1) and r.json()["version"] == 2
    assert r.json()["note"] == "提前"
    assert post_json(client, url, {"due_on": _day(2), "version": 1}).status_code == 409
    r = post_json(client, url, {"due_on": _day(-1)})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "due_on"
    r = post_json(client, url, {"due_on": _day(1), "owner_id": svc.users["rep_east2"].pk})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "owner"
    for outsider in (svc.users["rep_sales2"], svc_other.users["director"]):
        r = post_json(api_client(fresh(outsider)), url, {"due_on": _day(3)})
        assert r.status_code == 404
    services.complete_visit(actor=rep, visit=ReturnVisit.objects.get(pk=visit.pk), satisfaction=4)
    r = post_json(client, url, {"due_on": _day(3)})
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert ReturnVisit.objects.get(pk=visit.pk).due_on.isoformat() == _day(1)
