"""CSRF everywhere (RELIABILITY C6): every unsafe call that rides on the session cookie — each
page and each API operation — is refused without the CSRF token, or with the token of another
session, and changes nothing. The public lead web form is the documented exception
(``crm.core.access.CSRF_EXEMPT``): it acts for no logged-in user and checks a signed stamp."""

from __future__ import annotations

import json
from typing import Any

from django.core import signing
from django.test import Client
from django.urls import reverse

from crm.core.access import API, CSRF_EXEMPT, OBJECTS, PAGES
from crm.core.models import Notification
from crm.leads import webform
from crm.leads.models import Lead
from tests.security.conftest import Tenant, hints, row_counts
from tests.security.routes import UNSAFE, api_body, api_operations, op_url, page_routes
from tests.security.routes import route_kwargs as kwargs_of


def csrf_client(user: Any) -> tuple[Client, str]:
    """A logged-in client that enforces CSRF like a browser, and its own CSRF token."""
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(user, backend="crm.org.backends.LoginBackend")
    client.get(reverse("org:account"))  # sets the csrftoken cookie of this session
    return client, client.cookies["csrftoken"].value


def test_every_unsafe_page_call_without_a_valid_csrf_token_is_refused(tenant: Tenant) -> None:
    # C6: 403 without a token and with another session's token; nothing changes
    client, _own = csrf_client(tenant.admin)
    _other, foreign = csrf_client(tenant.owner)
    failures: list[str] = []
    checked = 0
    before = row_counts()
    for route in page_routes():
        if route.name not in PAGES or route.name in CSRF_EXEMPT:
            continue
        if route.takes_id and route.name not in OBJECTS:
            continue  # undeclared: the inventory tests fail
        url = route.url(**kwargs_of(route, tenant)[0])
        for method in UNSAFE:
            for token in (None, foreign):
                headers = {"HTTP_X_CSRFTOKEN": token} if token else {}
                data = {"name": "伪造", "csrfmiddlewaretoken": token or ""}
                if method == "post":
                    r = client.post(url, data, **headers)
                else:
                    r = getattr(client, method)(url, **headers)
                checked += 1
                if r.status_code != 403 or (b"CSRF" not in r.content and b"403" not in r.content):
                    failures.append(f"{method.upper()} {url} token={bool(token)}: {r.status_code}")
    assert row_counts() == before
    assert checked >= 8 * 70
    assert failures == [], "\n".join(failures)


def test_a_page_post_with_the_sessions_own_token_goes_through(tenant: Tenant) -> None:
    # C6: the control — the refusals above are about the token, not the request
    client, own = csrf_client(tenant.owner)
    assert Notification.objects.filter(recipient=tenant.owner, read_at=None).count() == 1
    r = client.post(reverse("core:notifications_read_all"), {"csrfmiddlewaretoken": own})
    assert r.status_code == 302
    assert Notification.objects.filter(recipient=tenant.owner, read_at=None).count() == 0


def test_every_unsafe_api_call_on_the_session_without_a_valid_token_is_refused(
    tenant: Tenant,
) -> None:
    # C6: the API's session authentication needs X-CSRFToken on unsafe methods (401/403)
    client, _own = csrf_client(tenant.admin)
    _other, foreign = csrf_client(tenant.owner)
    failures: list[str] = []
    checked = 0
    before = row_counts()
    for op in api_operations():
        if op.method not in UNSAFE or op.op_id not in API:
            continue
        if op.id_params and op.op_id not in OBJECTS:
            continue
        url = op_url(op, tenant)
        body = api_body(op, hints(tenant, tenant.admin)) or "{}"
        for token in (None, foreign):
            headers = {"HTTP_X_CSRFTOKEN": token} if token else {}
            r = getattr(client, op.method)(
                url, data=body, content_type="application/json", **headers
            )
            checked += 1
            if r.status_code not in (401, 403):
                failures.append(f"{op.method.upper()} {url} token={bool(token)}: {r.status_code}")
    assert row_counts() == before
    assert checked >= 2 * 50
    assert failures == [], "\n".join(failures)


def test_an_api_call_on_the_session_with_its_own_token_goes_through(tenant: Tenant) -> None:
    # C6: the control for the API
    client, own = csrf_client(tenant.owner)
    r = client.post(
        "/api/v1/core/notifications/read-all",
        data="{}",
        content_type="application/json",
        HTTP_X_CSRFTOKEN=own,
    )
    assert r.status_code == 200, r.content
    assert r.json() == {"updated": 1}


# --- The documented exception: the public lead web form ----------------------------------------
def _post_form(tenant: Tenant, **extra: str) -> Any:
    pool = tenant.first("leads.LeadPool")
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    data = {"company": "伪造表单公司", "name": "王五", "mobile": "13912345678", **extra}
    return client.post(reverse("leads:webform", args=[pool.form_token]), data)


def test_the_web_form_refuses_a_post_without_its_signed_stamp(tenant: Tenant) -> None:
    # C6 (exception): no session, so no CSRF token; a missing stamp is refused, nothing stored
    leads = Lead.objects.count()
    r = _post_form(tenant)
    assert r.status_code == 400
    assert Lead.objects.count() == leads


def test_the_web_form_refuses_a_forged_or_foreign_stamp(tenant: Tenant) -> None:
    # C6 (exception): a stamp signed with another salt, a stamp of another pool, a tampered one
    pool = tenant.first("leads.LeadPool")
    other = tenant.own_lead_pool
    assert other is not None
    leads = Lead.objects.count()
    forged = [
        signing.dumps({"p": pool.pk}, salt="attacker", compress=True),
        webform.form_stamp(other),
        webform.form_stamp(pool)[:-2] + "xx",
        json.dumps({"p": pool.pk}),
    ]
    for stamp in forged:
        r = _post_form(tenant, stamp=stamp)
        assert r.status_code == 400, stamp
    assert Lead.objects.count() == leads


def test_the_web_form_accepts_its_own_stamp_without_a_csrf_token(tenant: Tenant) -> None:
    # C6 (exception): the control — a genuine visitor's post creates one lead
    pool = tenant.first("leads.LeadPool")
    r = _post_form(tenant, stamp=webform.form_stamp(pool))
    assert r.status_code == 200
    assert Lead.objects.filter(pool=pool, company="伪造表单公司").count() == 1
    assert frozenset({"leads:webform", "mailing:unsubscribe"}) == CSRF_EXEMPT  # + H-MAIL
