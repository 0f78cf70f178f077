"""Confidential records (R1.4, issue #10): a customer or opportunity marked confidential is
visible only to its owner, collaborators, named viewers and organisation admins, whatever the
others' data scope — and so is everything that exposes it (contacts, follow-ups, visit plans,
quotes, contracts, orders, receipts, invoices, tickets, return visits), on every read path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from crm.core import confidential
from crm.core.errors import PermissionDenied, ValidationFailed
from crm.core.models import Event
from crm.core.scoping import DataScope
from crm.core.testing.world import make_role, make_user, role
from crm.customers import pool_services
from crm.customers import services as customer_services
from crm.customers.models import Customer
from crm.org.models import User
from crm.pipeline import opportunities as opportunity_services
from crm.pipeline.models import Opportunity

from .conftest import Tenant, build_tenant, fresh

#: every model whose canary rows of the tenant hang off the owner's customer and opportunity
EXPOSING = [
    "customers.Customer",
    "customers.Contact",
    "pipeline.Opportunity",
    "activities.FollowUp",
    "activities.VisitPlan",
    "sales.Quote",
    "sales.Contract",
    "sales.ContractAmendment",
    "sales.Order",
    "sales.ReturnRequest",
    "finance.ReceivablePlan",
    "finance.Receipt",
    "finance.WriteOff",
    "finance.Invoice",
    "service.Ticket",
    "service.ReturnVisit",
]
VIEW_ALL = [
    f"{m}:view" for m in ("customers", "opportunities", "activities", "sales", "finance", "service")
] + ["customers:export", "opportunities:export", "analytics:view"]


@dataclass
class Conf:
    t: Tenant
    customer: Customer
    opportunity: Opportunity
    director: User  # built-in director role: whole organisation
    boss: User  # built-in manager role of 销售一部 (the owner's department and below)
    colleague: User  # a role on the owner's own department (华东组)
    collaborator: User
    viewer: User

    @property
    def canaries(self) -> list[str]:
        return [
            self.t.names[(label, obj.pk)]
            for label in EXPOSING
            for obj in self.t.targets.get(label, [])
            if not (label == "customers.Customer" and obj.pk != self.customer.pk)
        ]

    def get(self, label: str) -> Any:
        return self.t.first(label)


def build_conf(name: str = "甲方科技有限公司") -> Conf:
    t = build_tenant(name)
    w, admin = t.world, t.admin
    org = w.org
    director = make_user(admin, "销售总监", w.depts["root"], [role(org, "director")])
    boss = make_user(admin, "一部经理", w.depts["sales1"], [role(org, "manager")])
    team = make_role(admin, "华东同组可见", DataScope.DEPT, VIEW_ALL)
    colleague = make_user(admin, "华东同事", w.depts["east"], [team])
    collaborator = make_user(admin, "协作同事", w.depts["sales2"], [role(org, "rep")])
    viewer = make_user(admin, "指定查看人", w.depts["sales2"], [role(org, "rep")])
    customer = Customer.objects.get(pk=t.first("customers.Customer").pk)
    opportunity = Opportunity.objects.get(pk=t.first("pipeline.Opportunity").pk)
    owner = fresh(t.owner)
    customer_services.set_collaborators(actor=owner, customer=customer, users=[collaborator])
    opportunity_services.set_collaborators(
        actor=owner, opportunity=opportunity, users=[collaborator]
    )
    for record in (
        Customer.objects.get(pk=customer.pk),
        Opportunity.objects.get(pk=opportunity.pk),
    ):
        confidential.set_confidential(
            actor=fresh(owner), record=record, is_confidential=True, viewers=[viewer]
        )
    return Conf(
        t=t,
        customer=Customer.objects.get(pk=customer.pk),
        opportunity=Opportunity.objects.get(pk=opportunity.pk),
        director=fresh(director),
        boss=fresh(boss),
        colleague=fresh(colleague),
        collaborator=fresh(collaborator),
        viewer=fresh(viewer),
    )


@pytest.fixture
def conf(db: None) -> Conf:
    return build_conf()


def login(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user, backend="crm.org.backends.LoginBackend")
    return client


def visible(user: User, label: str) -> set[int]:
    from django.apps import apps

    model = apps.get_model(label)
    return set(model.objects.visible_to(fresh(user)).values_list("pk", flat=True))


# --- the rule in the scope engine -----------------------------------------------------------------
@pytest.mark.parametrize("who", ["director", "boss", "colleague"])
def test_confidential_records_invisible_to_wide_scopes(conf: Conf, who: str) -> None:
    """R1.4: confidential records invisible to an all-scope director, the manager of the owner's
    department and a department colleague — and every record that exposes them."""
    user = getattr(conf, who)
    for label in EXPOSING:
        rows = conf.t.targets.get(label, [])
        assert rows, label
        seen = visible(user, label)
        for obj in rows:
            if label == "customers.Customer" and obj.pk != conf.customer.pk:
                continue
            assert obj.pk not in seen, (who, label)
    # the non-confidential customer waiting in the pool is not affected by the mark
    if who == "director":
        assert conf.t.targets["customers.Customer"][1].pk in visible(user, "customers.Customer")


def test_without_the_mark_the_wide_scopes_see_everything(db: None) -> None:
    """R1.4: the rule hides only confidential records (control for the test above)."""
    t = build_tenant("对照公司")
    director = fresh(
        make_user(t.admin, "总监", t.world.depts["root"], [role(t.world.org, "director")])
    )
    for label in EXPOSING:
        seen = visible(director, label)
        assert {o.pk for o in t.targets[label]} <= seen, label


@pytest.mark.parametrize("who", ["owner", "collaborator", "viewer", "admin"])
def test_confidential_records_visible_to_the_circle(conf: Conf, who: str) -> None:
    """R1.4: the owner, a collaborator, a named viewer and an organisation admin see them."""
    user = {
        "owner": conf.t.owner,
        "collaborator": conf.collaborator,
        "viewer": conf.viewer,
        "admin": conf.t.admin,
    }[who]
    assert conf.customer.pk in visible(user, "customers.Customer")
    assert conf.opportunity.pk in visible(user, "pipeline.Opportunity")
    assert conf.get("customers.Contact").pk in visible(user, "customers.Contact")
    if who in ("owner", "admin"):
        for label in EXPOSING:
            assert {o.pk for o in conf.t.targets[label]} <= visible(user, label), (who, label)


def test_other_tenant_sees_nothing(conf: Conf) -> None:
    """R1.4: another organisation's admin and director see none of it."""
    other = build_tenant("乙方贸易有限公司")
    director = make_user(
        other.admin, "乙总监", other.world.depts["root"], [role(other.world.org, "director")]
    )
    for user in (other.admin, director):
        assert conf.customer.pk not in visible(user, "customers.Customer")
        assert conf.opportunity.pk not in visible(user, "pipeline.Opportunity")


def test_confidential_opportunity_of_an_open_customer(conf: Conf) -> None:
    """R1.4: a confidential opportunity of an ordinary customer hides the opportunity and its
    quote, not the customer."""
    owner = fresh(conf.t.owner)
    customer = customer_services.create_customer(actor=owner, data={"name": "普通客户"})
    opp = opportunity_services.create_opportunity(
        actor=fresh(owner), customer=customer, data={"name": "保密商机"}
    )
    confidential.set_confidential(actor=fresh(owner), record=opp, is_confidential=True)
    assert customer.pk in visible(conf.director, "customers.Customer")
    assert opp.pk not in visible(conf.director, "pipeline.Opportunity")
    assert opp.pk in visible(conf.t.owner, "pipeline.Opportunity")


# --- changing the mark ----------------------------------------------------------------------------
def test_only_owner_or_admin_may_change_the_mark(conf: Conf) -> None:
    """R1.4: the collaborator and the viewer see the record but may not change the mark or the
    viewers (403 with a clear message; nothing written); the admin may; an audit event each."""
    events = Event.objects.filter(org=conf.t.world.org).count()
    for user in (conf.collaborator, conf.viewer):
        with translation.override("en"), pytest.raises(PermissionDenied) as err:
            confidential.set_confidential(
                actor=fresh(user), record=conf.customer, is_confidential=False
            )
        assert "Only the owner" in str(err.value.message)
    assert Customer.objects.get(pk=conf.customer.pk).is_confidential
    assert Event.objects.filter(org=conf.t.world.org).count() == events
    confidential.set_confidential(
        actor=fresh(conf.t.admin), record=conf.customer, viewers=[conf.viewer, conf.director]
    )
    event = Event.objects.filter(org=conf.t.world.org).latest("pk")
    assert event.verb == "customer.confidentiality"
    assert event.changes["confidential_viewers"][1] == sorted([conf.viewer.pk, conf.director.pk])
    assert conf.customer.pk in visible(conf.director, "customers.Customer")


def test_viewers_must_be_colleagues(conf: Conf) -> None:
    """R1.4: a named viewer from another organisation is refused, nothing is written."""
    other = build_tenant("乙方贸易有限公司")
    with pytest.raises(ValidationFailed):
        confidential.set_confidential(
            actor=fresh(conf.t.owner), record=conf.customer, viewers=[other.owner]
        )
    assert list(conf.customer.confidential_viewers.all()) == [conf.viewer]


def test_transfer_keeps_it_confidential_and_release_is_refused(conf: Conf) -> None:
    """R1.4: a transfer keeps the mark (the new owner sees it, the old one no longer does);
    a confidential customer cannot be released to the public pool."""
    admin = fresh(conf.t.admin)
    with translation.override("en"), pytest.raises(ValidationFailed) as err:
        pool_services.release(actor=admin, customer=conf.customer, reason="不跟了")
    assert "confidential" in str(err.value.message)
    customer_services.transfer_customers(
        actor=admin, customers=[conf.customer], to_user=conf.colleague
    )
    moved = Customer.objects.get(pk=conf.customer.pk)
    assert moved.is_confidential and moved.owner_id == conf.colleague.pk
    assert conf.customer.pk in visible(conf.colleague, "customers.Customer")
    assert conf.customer.pk not in visible(conf.t.owner, "customers.Customer")


# --- every read path, for the all-scope director --------------------------------------------------
def _pages(c: Conf) -> list[str]:
    phone = c.customer.phone
    mobile = c.get("customers.Contact").mobile
    day = c.get("activities.VisitPlan").planned_at.date().isoformat()
    owner = c.t.owner.pk
    return [
        "/customers/?view=all",
        "/customers/contacts/",
        "/opportunities/",
        "/opportunities/board/",
        f"/search/?q={c.t.tag}",
        f"/search/?q={phone}",
        "/imports/export/customers/?view=all&format=csv",
        "/imports/export/opportunities/?format=csv",
        "/analytics/",
        "/analytics/key-customers/",
        "/analytics/funnel/",
        "/analytics/forecast/",
        "/activities/my-day/?tab=team",
        "/activities/followups/?view=team",
        f"/activities/plans/?who=team&day={day}",
        f"/activities/plans/?who={owner}&day={day}&followups=1",
        "/sales/quotes/",
        "/sales/contracts/",
        "/finance/receipts/",
        "/service/tickets/",
        "/api/v1/customers/customers",
        "/api/v1/customers/contacts",
        f"/api/v1/customers/caller?phone={phone}",
        f"/api/v1/customers/caller?phone={mobile}",
        "/api/v1/opportunities/",
        "/api/v1/opportunities/counts",
        "/api/v1/activities/followups",
        "/api/v1/analytics/dashboard",
        "/api/v1/service/tickets",
    ]


def _body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    if response.get("Content-Type", "").startswith("application/json"):
        return json.dumps(response.json(), ensure_ascii=False)
    return response.content.decode("utf-8", "replace")


def test_director_reads_no_confidential_byte_anywhere(conf: Conf) -> None:
    """R1.4: a confidential customer/opportunity is absent from the director's lists, board,
    search, exports, dashboards, funnel, forecast, My day, calendar, API and caller lookup."""
    client = login(conf.director)
    canaries = conf.canaries
    checked = 0
    for url in _pages(conf):
        response = client.get(url)
        if response.status_code == 404 and not url.startswith("/api/"):
            continue  # a page another module does not have (yet)
        assert response.status_code == 200, (url, response.status_code)
        body = _body(response)
        leaked = [c for c in canaries if c in body]
        assert not leaked, (url, leaked)
        checked += 1
    assert checked >= 20
    # the administrator finds them on the same pages (so the test can fail)
    admin = login(conf.t.admin)
    showing = [u for u in _pages(conf) if any(c in _body(admin.get(u)) for c in canaries)]
    print(len(showing), sorted(set(_pages(conf)) - set(showing)))
    assert len(showing) >= 18, showing


@pytest.mark.parametrize("who", ["director", "boss", "colleague"])
def test_detail_pages_answer_404(conf: Conf, who: str) -> None:
    """R1.4: detail pages and API reads of a confidential record answer 404 like a missing one."""
    user = getattr(conf, who)
    client = login(user)
    c, o = conf.customer.pk, conf.opportunity.pk
    for url in (
        f"/customers/{c}/",
        f"/opportunities/{o}/",
        f"/api/v1/customers/customers/{c}",
        f"/api/v1/customers/customers/{c}/history",
        f"/api/v1/opportunities/{o}",
        f"/api/v1/customers/contacts/{conf.get('customers.Contact').pk}",
    ):
        assert client.get(url).status_code == 404, url
    # an edit page answers 403 only to someone whom no role lets edit at all
    for url, module in (
        (f"/customers/{c}/edit/", "customers"),
        (f"/opportunities/{o}/edit/", "opportunities"),
    ):
        expected = 404 if user.can(module, "edit") else 403
        assert client.get(url).status_code == expected, url
    response = client.patch(
        f"/api/v1/opportunities/{o}",
        data={"version": 1, "name": "改名"},
        content_type="application/json",
    )
    assert response.status_code == (404 if user.can("opportunities", "edit") else 403)


def _totals(user: User) -> tuple[Any, ...]:
    client = login(user)
    board = client.get("/api/v1/analytics/dashboard?period=this_year").json()
    report = client.post(
        "/api/v1/reports/run",
        data={
            "subject": "opportunities",
            "dimensions": ["owner"],
            "measures": ["count", "sum_expected_amount"],
        },
        content_type="application/json",
    )
    assert report.status_code == 200, report.content
    counts = client.get("/api/v1/opportunities/counts").json()
    return board["cards"], report.json()["rows"], counts


def test_totals_exclude_confidential_records(conf: Conf) -> None:
    """R1.4: the director's dashboard cards, custom report and saved-query counts leave the
    confidential opportunity out; clearing the mark brings it back."""
    hidden = _totals(conf.director)
    owner_view = _totals(conf.t.owner)
    confidential.set_confidential(
        actor=fresh(conf.t.owner),
        record=Opportunity.objects.get(pk=conf.opportunity.pk),
        is_confidential=False,
    )
    confidential.set_confidential(
        actor=fresh(conf.t.owner),
        record=Customer.objects.get(pk=conf.customer.pk),
        is_confidential=False,
    )
    shown = _totals(conf.director)
    assert hidden[1] != shown[1]
    assert hidden[2] != shown[2]
    assert "100000.00" in str(shown[1]) and "100000.00" not in str(hidden[1])
    assert "100000.00" in str(owner_view[1])


def test_duplicate_check_does_not_reveal_a_confidential_customer(conf: Conf) -> None:
    """R1.4: creating a customer with a confidential customer's phone is refused without its
    name, owner or phone: "a record exists, ask an administrator"."""
    client = login(conf.director)
    response = client.post(
        "/api/v1/customers/customers",
        data={"name": "新客户", "phone": conf.customer.phone},
        content_type="application/json",
    )
    assert response.status_code == 409
    body = response.content.decode()
    assert conf.customer.name not in body
    assert conf.t.owner.name not in body
    assert conf.customer.phone not in body
    assert "administrator" in body
    check = client.post(
        "/api/v1/customers/customers/check-duplicates",
        data={"name": conf.customer.name},
        content_type="application/json",
    )
    assert check.status_code == 200
    (candidate,) = check.json()["candidates"]
    assert candidate["id"] is None and candidate["owner"] == "" and candidate["phone"] == ""
    assert candidate["name"] != conf.customer.name and "administrator" in candidate["name"]


# --- API and pages that change the mark -----------------------------------------------------------
def test_api_fields_and_403_for_others(conf: Conf) -> None:
    """R1.4: ``is_confidential`` and ``confidential_viewer_ids`` on the read schemas; a
    collaborator (who may edit) gets 403 with a clear message and nothing changes; the owner
    clears the mark through PATCH."""
    c, o = conf.customer, conf.opportunity
    owner = login(conf.t.owner)
    read = owner.get(f"/api/v1/customers/customers/{c.pk}").json()
    assert read["is_confidential"] is True
    assert read["confidential_viewer_ids"] == [conf.viewer.pk]
    opp = owner.get(f"/api/v1/opportunities/{o.pk}").json()
    assert opp["is_confidential"] is True and opp["confidential_viewer_ids"] == [conf.viewer.pk]
    collaborator = login(conf.collaborator)
    for url, version in (
        (f"/api/v1/customers/customers/{c.pk}", read["version"]),
        (f"/api/v1/opportunities/{o.pk}", opp["version"]),
    ):
        response = collaborator.patch(
            url,
            data={"version": version, "is_confidential": False, "name": "改名了"},
            content_type="application/json",
        )
        assert response.status_code == 403, (url, response.content)
        assert "Only the owner" in response.json()["message"]
    assert Customer.objects.get(pk=c.pk).is_confidential
    assert Customer.objects.get(pk=c.pk).name == c.name
    assert Opportunity.objects.get(pk=o.pk).name == o.name
    response = owner.patch(
        f"/api/v1/opportunities/{o.pk}",
        data={"version": opp["version"], "is_confidential": False, "confidential_viewer_ids": []},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["is_confidential"] is False
    assert response.json()["confidential_viewer_ids"] == []


def test_api_create_confidential(conf: Conf) -> None:
    """R1.4: a rep creates a confidential customer with a named viewer; creating one for
    another owner is refused (403) unless the creator is an administrator."""
    owner = login(conf.t.owner)
    response = owner.post(
        "/api/v1/customers/customers",
        data={
            "name": "机密新客户",
            "is_confidential": True,
            "confidential_viewer_ids": [conf.viewer.pk],
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    created = Customer.objects.get(pk=response.json()["id"])
    assert created.is_confidential
    assert created.pk not in visible(conf.director, "customers.Customer")
    assert created.pk in visible(conf.viewer, "customers.Customer")
    boss = login(conf.boss)
    before = Customer.objects.count()
    refused = boss.post(
        "/api/v1/customers/customers",
        data={"name": "替人建的机密客户", "owner_id": conf.t.owner.pk, "is_confidential": True},
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert Customer.objects.count() == before


def test_edit_form_switch(conf: Conf) -> None:
    """R1.4: the owner clears the mark with the switch on the customer edit page; the page of
    a collaborator shows the switch disabled and ignores what they post."""
    from crm.customers.views import _customer_initial

    customer = Customer.objects.get(pk=conf.customer.pk)
    page = login(conf.collaborator).get(f"/customers/{customer.pk}/edit/")
    if page.status_code == 200:
        assert 'id="confidential-card"' in page.content.decode()
        assert "disabled" in page.content.decode().split('id="confidential-card"')[1][:2000]
    owner = login(conf.t.owner)
    for url in (
        "/customers/?view=all",
        "/opportunities/",
        "/opportunities/board/",
        f"/customers/{customer.pk}/",
        f"/opportunities/{conf.opportunity.pk}/",
    ):
        listing = owner.get(url)
        assert listing.status_code == 200, url
        assert 'data-confidential="1"' in listing.content.decode(), url
    page = owner.get(f"/customers/{customer.pk}/edit/")
    assert page.status_code == 200
    assert 'name="is_confidential"' in page.content.decode()
    initial = _customer_initial(customer)
    data = {k: v for k, v in initial.items() if v is not None and not isinstance(v, list)}
    data["version"] = customer.version
    data["confidential_viewers"] = [conf.viewer.pk]
    response = owner.post(f"/customers/{customer.pk}/edit/", data=data)
    assert response.status_code == 302, response.content.decode()[:3000]
    saved = Customer.objects.get(pk=customer.pk)
    assert not saved.is_confidential
    assert (
        Event.objects.filter(verb="customer.confidentiality", object_id=str(saved.pk)).count() == 2
    )
