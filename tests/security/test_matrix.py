"""Cross-tenant and cross-scope matrix (RELIABILITY A1, A2, A5, A11).

For every page that takes a record id and every API operation with a path id — found through
the URL resolver and the OpenAPI schema, so new routes join by themselves — and for every
method, three actors ask for records they may not see:

- the other organisation's administrator (every permission, whole organisation: A5);
- a sales rep of the same organisation in another department (own records only: A1);
- a sales manager of a sibling department tree (department and below, may transfer: A1).

Each answer must be a 404 (or the same refusal a non-existent id gets: 403 without the
function permission, 405 for a method the page does not take), never a 500, with none of the
record's canary name in the body, and with nothing changed: the counts of events, customers,
contacts, leads, ownership moves and notifications, and the target row itself (A2).
Every failure is collected, so one run shows every leak.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.urls import reverse

from crm.core.access import OBJECTS
from crm.core.testing.pages import with_sections
from crm.customers.models import Customer
from crm.leads.models import Lead
from tests.security.conftest import Tenant, hints, row_counts
from tests.security.routes import (
    MISSING_ID,
    ApiOp,
    PageRoute,
    api_body,
    api_operations,
    bearer,
    call_api,
    login,
    op_url,
    page_routes,
    route_kwargs,
    text_of,
)

#: read by every member of the organisation by design: the directory (departments, colleagues,
#: roles), and the settings every module's pages show (pipelines, stages, dictionaries)
DIRECTORY = {
    "org.Department",
    "org.User",
    "org.Role",
    "pipeline.Pipeline",
    "pipeline.Stage",
    "pipeline.DictionaryItem",
    "activities.ReminderRule",
    "sales.Product",  # the catalogue and price lists: every sales:view member (H-QUOTES)
    "sales.PriceList",
    "marketing.Campaign",  # organisation-wide plans for every marketing:view member (H-CAMP)
    "knowledge.Category",  # kb-categories: the article categories every knowledge:view reads
}
#: statuses that are acceptable when a non-existent id gets exactly the same one
SAME_AS_MISSING = {403, 405}


@dataclass
class Actor:
    key: str
    user: Any
    home: Tenant
    labels: set[str]


@dataclass
class Tally:
    failures: list[str] = field(default_factory=list)
    requests: int = 0
    routes: set[str] = field(default_factory=set)


def snapshot(obj: Any) -> Any:
    row = type(obj)._base_manager.filter(pk=obj.pk).values().first()
    if row is not None:
        row.pop("last_login", None)
    return row


def page_form(actor: Actor) -> dict[str, Any]:
    """What the forms of the pages expect, filled with the actor's own organisation's values."""
    home = actor.home
    return {
        "name": "越权",
        "company": "越权公司",
        "mobile": "13900000000",
        "email": "intruder@example.com",
        "reason": "越权",
        "reason_text": "越权",
        "note": "越权",
        "notes": "越权",
        "version": "1",
        "to_user": actor.user.pk,
        "members": [actor.user.pk],
        "managers": [actor.user.pk],
        "parent": home.world.depts["root"].pk,
        "target": "new",
        "is_active": "on",
        "permissions": ["customers:view"],
        "data_scope": "all",
        "new_name": "越权角色",
    }


def secrets_of(target_tenant: Tenant, actor: Actor) -> list[str]:
    """Canary names the actor must never receive."""
    return [
        name
        for (label, _pk), name in target_tenant.names.items()
        if not (actor.home is target_tenant and label in DIRECTORY)
    ]


def check(
    tally: Tally,
    where: str,
    response: Any,
    baseline: Any,
    secrets: list[str],
    before: tuple[dict[str, int], Any],
    after: tuple[dict[str, int], Any],
) -> None:
    tally.requests += 1
    status = response.status_code
    body = text_of(response)
    if status == 500:
        tally.failures.append(f"{where}: 500 {getattr(response, 'exc_info', None)!r:.300}")
    elif status != 404 and not (status in SAME_AS_MISSING and baseline.status_code == status):
        tally.failures.append(
            f"{where}: {status} (missing id: {baseline.status_code}) "
            f"{response.headers.get('Location', '')} {body[:160]!r}"
        )
    leaked = [s for s in secrets if s in body or s in response.headers.get("Location", "")]
    if leaked:
        tally.failures.append(f"{where}: body shows {leaked}")
    if before != after:
        tally.failures.append(f"{where}: side effect {before} -> {after}")


def run_pages(tally: Tally, target: Tenant, actor: Actor, routes: list[PageRoute]) -> None:
    client = login(actor.user)
    form = page_form(actor)
    secrets = secrets_of(target, actor)
    baselines: dict[tuple[str, str], Any] = {}  # a missing id's answer, per URL and method
    for route in routes:
        assert route.name is not None
        label = OBJECTS.get(route.name, "")
        if label not in actor.labels:
            continue
        tally.routes.add(route.name)
        for obj in target.targets[label]:
            for kwargs in route_kwargs(route, target, obj):
                url = route.url(**kwargs)
                missing = route.url(
                    **{k: (MISSING_ID if isinstance(v, int) else v) for k, v in kwargs.items()}
                )
                for method in ("get", "post"):
                    call = getattr(client, method)
                    data = form if method == "post" else None
                    if (missing, method) not in baselines:
                        baselines[missing, method] = call(missing, data) if data else call(missing)
                    baseline = baselines[missing, method]
                    before = (row_counts(), snapshot(obj))
                    r = call(url, data) if data else call(url)
                    after = (row_counts(), snapshot(obj))
                    where = f"{actor.key} {method.upper()} {url} ({route.name})"
                    check(tally, where, r, baseline, secrets, before, after)


def run_api(tally: Tally, target: Tenant, actor: Actor, ops: list[ApiOp]) -> None:
    client = bearer(actor.user)
    body = hints(actor.home, actor.user)
    secrets = secrets_of(target, actor)
    for op in ops:
        label = OBJECTS.get(op.op_id, "")
        if label not in actor.labels:
            continue
        tally.routes.add(op.op_id)
        payload = api_body(op, body)
        baseline = call_api(client, op, op_url(op, target, record_id=MISSING_ID), payload)
        for obj in target.targets[label]:
            url = op_url(op, target, obj)
            before = (row_counts(), snapshot(obj))
            r = call_api(client, op, url, payload)
            after = (row_counts(), snapshot(obj))
            where = f"{actor.key} {op.method.upper()} {url} ({op.op_id})"
            check(tally, where, r, baseline, secrets, before, after)
            if r.status_code == 404 and r.json() != baseline.json():
                tally.failures.append(f"{where}: 404 body differs from a missing id's")


# Operations and pages that take record ids in the body or the query string (A11).
def body_id_requests(
    actor: Actor, customer: int, lead: int, opportunity: int = MISSING_ID
) -> list[tuple[str, str, str, Any]]:
    """(name, kind, url, payload) naming the customer, lead and opportunity ids given, mixed
    with the actor's own records where an operation takes several."""
    home = actor.home
    mine_customer = home.targets["customers.Customer"][0].pk
    mine_lead = home.first("leads.Lead").pk
    mine_opportunity = home.first("pipeline.Opportunity").pk
    c, ld = "/api/v1/customers/customers", "/api/v1/leads/leads"
    api_json = [
        # api-gaps (R10.1): the bulk release and the opportunities' bulk transfer
        ("release_many", f"{c}/release", {"ids": [customer], "reason": "越权", "pool_id": None}),
        ("release_many(mixed)", f"{c}/release", {"ids": [mine_customer, customer], "reason": "x"}),
        (
            "opportunity_bulk_transfer",
            "/api/v1/opportunities/bulk/transfer",
            {"ids": [opportunity]},
        ),
        (
            "opportunity_bulk_transfer(mixed)",
            "/api/v1/opportunities/bulk/transfer",
            {"ids": [mine_opportunity, opportunity]},
        ),
        ("transfer_many", f"{c}/transfer", {"ids": [customer], "to_user_id": actor.user.pk}),
        ("transfer_many(mixed)", f"{c}/transfer", {"ids": [mine_customer, customer]}),
        ("tag_many", f"{c}/tag", {"ids": [customer], "tag_ids": [home.tag_row.pk]}),
        ("bulk_distribute", f"{ld}/bulk/distribute", {"lead_ids": [lead]}),
        (
            "bulk_assign",
            f"{ld}/bulk/assign",
            {"lead_ids": [mine_lead, lead], "user_id": actor.user.pk},
        ),
        ("bulk_invalid", f"{ld}/bulk/invalid", {"lead_ids": [lead], "reason": "spam"}),
        ("bulk_apply_rules", f"{ld}/bulk/apply-rules", {"lead_ids": [lead]}),
        ("merge(source)", f"{c}/{mine_customer}/merge", {"source_id": customer}),
        (
            "create_customer(parent)",
            c,
            {"name": "越权子公司", "parent_id": customer},
        ),
        ("convert_lead(customer)", f"{ld}/{mine_lead}/convert", {"customer_id": customer}),
    ]
    out: list[tuple[str, str, str, Any]] = []
    for name, url, payload in api_json:
        payload = {"to_user_id": actor.user.pk, "pool_id": home.own_lead_pool.pk} | payload
        out.append((name, "api", url, payload))
    out += [
        (
            "customers:bulk",
            "page",
            reverse("customers:bulk"),
            {"ids": [customer], "action": "tag", "new_tag": "越权"},
        ),
        (
            "leads:bulk",
            "page",
            reverse("leads:bulk"),
            {"ids": [lead], "action": "invalid", "reason": "spam"},
        ),
        (
            "customers:merge",
            "page",
            reverse("customers:merge"),
            {"source": customer, "target": mine_customer},
        ),
        (
            "customers:merge(GET)",
            "page-get",
            f"{reverse('customers:merge')}?source={customer}&target={mine_customer}",
            None,
        ),
    ]
    return out


def run_body_ids(tally: Tally, target: Tenant, actor: Actor) -> None:
    api_client, page_client = bearer(actor.user), login(actor.user)
    secrets = secrets_of(target, actor)
    watched = [target.first("customers.Customer"), target.first("leads.Lead")]

    def send(kind: str, url: str, payload: Any) -> Any:
        if kind == "api":
            return api_client.post(url, data=json.dumps(payload), content_type="application/json")
        if kind == "page":
            return page_client.post(url, payload)
        return page_client.get(url)

    opportunity = target.first("pipeline.Opportunity").pk
    real = body_id_requests(actor, watched[0].pk, watched[1].pk, opportunity)
    missing = body_id_requests(actor, MISSING_ID, MISSING_ID, MISSING_ID)
    for (name, kind, url, payload), (_n, _k, missing_url, missing_payload) in zip(
        real, missing, strict=True
    ):
        baseline = send(kind, missing_url, missing_payload)
        before = (row_counts(), [snapshot(o) for o in watched])
        r = send(kind, url, payload)
        after = (row_counts(), [snapshot(o) for o in watched])
        tally.routes.add(name)
        check(tally, f"{actor.key} {name}", r, baseline, secrets, before, after)


@pytest.mark.parametrize("who", ["other-tenant admin", "out-of-scope rep", "out-of-scope manager"])
def test_no_route_reaches_a_record_of_another_organisation_or_outside_the_scope(
    tenants: tuple[Tenant, Tenant], who: str
) -> None:
    # A1 A2 A5 A11: 0 leaks, 0 side effects, invisible records answer 404 (one actor per test,
    # so the parallel runners share the work)
    a, b = tenants
    everything = set(OBJECTS.values())
    owned = everything - DIRECTORY
    # Undeclared routes fail test_inventory; declared models need a canary record here.
    without_records = sorted(everything - set(a.targets))
    assert without_records == [], (
        f"add a canary record of {without_records} to tests/security/conftest.py build_tenant"
    )
    actor = {
        "other-tenant admin": Actor(who, b.admin, b, everything),
        "out-of-scope rep": Actor(who, a.rep, a, owned),
        "out-of-scope manager": Actor(who, a.manager, a, owned),
    }[who]
    pages = [r for r in page_routes() if r.takes_id]
    ops = [op for op in api_operations() if op.id_params]
    tally = Tally()
    run_pages(tally, a, actor, pages)
    run_api(tally, a, actor, ops)
    run_body_ids(tally, a, actor)
    # every declared route that takes an id of a kind the actor may be refused is exercised
    declared = {
        name
        for name in ({r.name for r in pages} | {op.op_id for op in ops}) & set(OBJECTS)
        if OBJECTS[name] in actor.labels
    }
    assert declared <= tally.routes
    assert tally.requests > 150
    assert Customer.objects.filter(org=a.world.org, name__startswith="越权").count() == 0
    assert Lead.objects.filter(org=a.world.org, company__startswith="越权").count() == 0
    assert tally.failures == [], f"{len(tally.failures)} leaks:\n" + "\n".join(tally.failures)


def test_the_matrix_detects_a_leak(tenants: tuple[Tenant, Tenant]) -> None:
    # A1: the checker itself — a 200 with the record's name, or a changed row, is reported
    a, _b = tenants
    customer = a.first("customers.Customer")
    actor = Actor("owner", a.owner, a, set())
    tally = Tally()
    client = login(a.owner)
    url = reverse("customers:detail", args=[customer.pk])
    missing = with_sections(client, reverse("customers:detail", args=[MISSING_ID]))
    state = (row_counts(), snapshot(customer))
    r = client.get(url)
    check(tally, "owner GET", r, missing, secrets_of(a, actor), state, (row_counts(), None))
    assert r.status_code == 200
    assert len(tally.failures) == 3, tally.failures
    assert tally.failures[0].startswith("owner GET: 200")
    assert "body shows" in tally.failures[1] and a.names[("customers.Customer", customer.pk)]
    assert "side effect" in tally.failures[2]
