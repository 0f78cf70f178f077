"""Endpoint inventory (RELIABILITY A12, §6.3) and the function-level matrix (A8): every URL pattern
and every API operation declares an access policy in ``crm.core.access``; anonymous callers are
sent to log in (pages) or get 401 (API); a user holding every permission but the declared one
is refused. New routes are picked up from the URL resolver and the OpenAPI schema by themselves.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.urls import reverse

from crm.core.access import API, AUTHENTICATED, OBJECTS, PAGES, PUBLIC, permission, policy
from crm.core.testing.world import make_role, make_user
from crm.org.permissions import ACTIONS, ALL_PERMISSIONS, MODULE_KEYS
from tests.security.conftest import Tenant, hints, row_counts
from tests.security.routes import (
    PageRoute,
    all_url_patterns,
    api_body,
    api_operations,
    bearer,
    call_api,
    is_api_operation,
    login,
    op_url,
    openapi,
    page_routes,
    route_kwargs,
)

VALID_POLICIES = {PUBLIC, AUTHENTICATED} | {f"{m}:{a}" for m in MODULE_KEYS for a, _l in ACTIONS}


def _login_url() -> str:
    return reverse("org:login")


def declared_pages() -> list[PageRoute]:
    """Pages with a policy (and a model when they take an id); the rest fail the tests above."""
    return [r for r in page_routes() if r.name in PAGES and (not r.takes_id or r.name in OBJECTS)]


# --- Every route is declared -----------------------------------------------------------------
def test_every_page_declares_an_access_policy() -> None:
    # A12: a new URL pattern without a policy (or without a name to declare it by) fails here
    routes = page_routes()
    unnamed = [r.route for r in routes if r.name is None]
    undeclared = sorted(r.name for r in routes if r.name and r.name not in PAGES)
    stale = sorted(set(PAGES) - {r.name for r in routes if r.name})
    invalid = sorted(f"{k}={v}" for k, v in PAGES.items() if v not in VALID_POLICIES)
    assert unnamed == [], f"URL patterns without a name: {unnamed}"
    assert undeclared == [], f"pages without an access policy in crm.core.access: {undeclared}"
    assert stale == [], f"policies of pages that no longer exist: {stale}"
    assert invalid == [], f"unknown policies: {invalid}"


def test_every_api_operation_declares_an_access_policy() -> None:
    # A12: every operation of /api/openapi.json, and no operation hidden from the schema
    ops = api_operations()
    undeclared = sorted(op.op_id for op in ops if op.op_id not in API)
    stale = sorted(set(API) - {op.op_id for op in ops})
    invalid = sorted(f"{k}={v}" for k, v in API.items() if v not in VALID_POLICIES)
    public = sorted(k for k, v in API.items() if v == PUBLIC)
    schema_paths = {p.removeprefix("/") for p in openapi()["paths"]}
    hidden = sorted(
        r.route
        for r in all_url_patterns()
        if is_api_operation(r) and r.route.replace("<", "{").replace(">", "}") not in schema_paths
    )
    assert undeclared == [], f"operations without an access policy: {undeclared}"
    assert stale == [], f"policies of operations that no longer exist: {stale}"
    assert invalid == [], f"unknown policies: {invalid}"
    assert public == [], f"API operations must not be public: {public}"
    assert hidden == [], f"operations missing from the OpenAPI schema: {hidden}"


def test_every_route_that_takes_an_id_names_its_model() -> None:
    # A1/A12: the matrix needs to know which record an id names
    page_ids = {r.name for r in page_routes() if r.takes_id and r.name}
    api_ids = {op.op_id for op in api_operations() if op.id_params}
    missing = sorted((page_ids | api_ids) - set(OBJECTS))
    stale = sorted(set(OBJECTS) - page_ids - api_ids)
    unknown = []
    for label in set(OBJECTS.values()):
        try:
            apps.get_model(label)
        except LookupError:
            unknown.append(label)
    assert missing == [], f"routes taking an id without a model in access.OBJECTS: {missing}"
    assert stale == [], f"OBJECTS entries of routes without an id: {stale}"
    assert unknown == [], unknown


# --- Anonymous callers ---------------------------------------------------------------------------
def test_anonymous_callers_are_sent_to_log_in_on_every_non_public_page(tenant: Tenant) -> None:
    # A12 C-section: "authenticated" and "module:action" pages redirect to the login page;
    # public pages answer without one
    from django.test import Client

    client = Client(raise_request_exception=False)
    failures: list[str] = []
    checked = 0
    routes = declared_pages()
    for route in routes:
        assert route.name is not None
        for kwargs in route_kwargs(route, tenant)[:1]:
            url = route.url(**kwargs)
            r = client.get(url)
            if r.status_code == 405:
                r = client.post(url)
            checked += 1
            location = r.headers.get("Location", "")
            # login_required's answer: back to this page after logging in
            to_login = r.status_code == 302 and location.startswith(f"{_login_url()}?next=")
            if PAGES[route.name] == PUBLIC:
                if to_login or r.status_code >= 500:
                    failures.append(f"{route.name} {url}: public page answered {r.status_code}")
            elif not to_login:
                failures.append(f"{route.name} {url}: {r.status_code} {location!r}, not login")
    assert checked == len(routes)
    assert failures == [], "\n".join(failures)


def test_anonymous_api_calls_answer_401_and_change_nothing(tenant: Tenant) -> None:
    # A12 C4: no operation answers without a token or a session
    from django.test import Client

    client = Client(raise_request_exception=False)
    before = row_counts()
    failures: list[str] = []
    for op in api_operations():
        if op.op_id not in API or (op.id_params and op.op_id not in OBJECTS):
            continue  # undeclared: test_every_api_operation_declares_an_access_policy fails
        url = op_url(op, tenant)
        r = call_api(client, op, url, api_body(op, hints(tenant, tenant.admin)))
        if r.status_code != 401 or r.json()["code"] != "not_authenticated":
            failures.append(f"{op.method.upper()} {op.path}: {r.status_code}")
    assert failures == [], "\n".join(failures)
    assert row_counts() == before


# --- Function level: everything but the declared permission is not enough ------------------------
def _lacking(tenant: Tenant, cache: dict[str, Any], perm: str) -> Any:
    """A user of ``tenant`` whose role grants every permission except ``perm`` (and except
    ``settings:configure``, the administrator's permission, which implies configuring pools),
    seeing the whole organisation."""
    if perm not in cache:
        grants = [p for p in ALL_PERMISSIONS if p not in {perm, "settings:configure"}]
        if perm == "settings:configure":
            grants = [p for p in ALL_PERMISSIONS if p != perm]
        admin = tenant.admin
        r = make_role(admin, f"缺{perm}", "all", grants)
        cache[perm] = make_user(admin, f"缺{perm}的人", tenant.world.depts["sales1"], [r])
    return cache[perm]


def test_a_user_without_the_declared_permission_is_refused_on_every_page(tenant: Tenant) -> None:
    # A8: 403 on the page (404 on a page about one record), and nothing changes
    users: dict[str, Any] = {}
    failures: list[str] = []
    checked = 0
    for route in declared_pages():
        assert route.name is not None
        need = permission(route.name)
        if need is None:
            continue
        user = _lacking(tenant, users, policy(route.name))
        client = login(user)
        for kwargs in route_kwargs(route, tenant)[:1]:
            url = route.url(**kwargs)
            before = row_counts()
            r = client.get(url)
            if r.status_code == 405:
                r = client.post(url, {"name": "越权", "reason": "越权"})
            checked += 1
            expected = {403, 404} if route.takes_id else {403}
            if r.status_code not in expected:
                failures.append(
                    f"{route.name} {url} without {policy(route.name)}: {r.status_code}"
                    f" {r.headers.get('Location', '')}"
                )
            if row_counts() != before:
                failures.append(f"{route.name} {url}: rows changed")
    assert checked > 50
    assert failures == [], "\n".join(failures)


def test_a_user_without_the_declared_permission_is_refused_on_every_operation(
    tenant: Tenant,
) -> None:
    # A8: writes 403/404; reads 404, or an empty list (the scoped query layer shows nothing)
    users: dict[str, Any] = {}
    clients: dict[str, Any] = {}
    failures: list[str] = []
    for op in api_operations():
        if op.op_id not in API or (op.id_params and op.op_id not in OBJECTS):
            continue  # undeclared: reported by the inventory tests above
        need = permission(op.op_id)
        if need is None:
            continue
        perm = policy(op.op_id)
        user = _lacking(tenant, users, perm)
        if perm not in clients:
            clients[perm] = bearer(user)
        before = row_counts()
        r = call_api(clients[perm], op, op_url(op, tenant), api_body(op, hints(tenant, user)))
        if op.is_list and r.status_code == 200:
            body = r.json()
            items = body["items"] if isinstance(body, dict) else body
            if items:
                failures.append(f"{op.op_id} without {perm}: listed {len(items)} rows")
        elif r.status_code not in (403, 404):
            failures.append(f"{op.op_id} without {perm}: {r.status_code} {r.content[:200]!r}")
        if row_counts() != before:
            failures.append(f"{op.op_id}: rows changed")
    assert failures == [], "\n".join(failures)
