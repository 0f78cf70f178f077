"""Redirects stay on this site (RELIABILITY B8): every ``next`` parameter (log in, log out, the
language switch, bulk actions, lead actions), the Referer the language switch falls back on, and
the links of notifications refuse absolute, protocol-relative, backslash and ``javascript:``
targets. A sweep sends ``next`` to every page so new pages are covered by themselves."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.test import Client
from django.urls import reverse

from crm.core.access import OBJECTS, PAGES
from crm.core.notifications import notify
from crm.core.testing.world import PASSWORD
from tests.security.conftest import Tenant
from tests.security.routes import login, page_routes, route_kwargs

EVIL = [
    "https://evil.example/phish",
    "//evil.example/phish",
    "/\\evil.example/phish",
    "\\\\evil.example/phish",
    "http:\\\\evil.example",
    "https:evil.example",
    "javascript:window.__xss=1",
    " javascript:window.__xss=1",
]


def off_site(response: Any) -> str | None:
    """The Location of a redirect that leaves the site (None when it stays or is no redirect)."""
    location = response.headers.get("Location", "")
    if response.status_code not in (301, 302, 303, 307, 308):
        return None
    # browsers read a backslash as a slash and ignore leading blanks and control characters
    normalised = location.strip(" \t\r\n\x00").replace("\\", "/")
    parts = urlsplit(normalised)
    if parts.scheme not in ("", "http", "https") or parts.netloc not in ("", "testserver"):
        return location
    if normalised.startswith("//") or (parts.scheme and not parts.netloc):
        return location
    return None


def test_login_refuses_an_off_site_next(tenant: Tenant) -> None:
    # B8: after logging in, and when an already logged-in user opens the login page
    for target in EVIL:
        client = Client()
        r = client.post(
            f"{reverse('org:login')}?next={target}",
            {"login": tenant.owner.username, "password": PASSWORD, "next": target},
        )
        assert r.status_code == 302, target
        assert r.headers["Location"] == reverse("core:home"), target
        again = client.get(reverse("org:login"), {"next": target})
        assert again.status_code == 302
        assert again.headers["Location"] == reverse("core:home"), target


def test_logout_and_the_language_switch_refuse_an_off_site_target(tenant: Tenant) -> None:
    # B8: logout ignores next; set_language refuses next and an off-site Referer
    for target in EVIL:
        client = login(tenant.owner)
        url = f"{reverse('set_language')}?next={target}"
        r = client.post(url, {"language": "en", "next": target})
        assert r.status_code == 302 and off_site(r) is None, (target, r.headers["Location"])
        r = client.post(reverse("set_language"), {"language": "en"}, HTTP_REFERER=target)
        assert r.status_code == 302 and off_site(r) is None, (target, r.headers["Location"])
        r = client.post(f"{reverse('org:logout')}?next={target}", {"next": target})
        assert r.status_code == 302
        assert r.headers["Location"] == reverse("org:login"), target


def test_a_notification_link_off_site_opens_the_notification_list(tenant: Tenant) -> None:
    # B8: a notification's stored link is followed only when it stays on the site
    client = login(tenant.owner)
    for target in EVIL:
        note = notify(recipient=tenant.owner, verb="security.redirect", message="跳转", url=target)
        r = client.get(reverse("core:notification_open", args=[note.pk]))
        assert r.status_code == 302
        assert r.headers["Location"] == reverse("core:notifications"), target


def test_a_notification_link_on_site_is_followed(tenant: Tenant) -> None:
    # B8: the control
    note = notify(recipient=tenant.owner, verb="security.redirect", message="站内", url="/leads/")
    r = login(tenant.owner).get(reverse("core:notification_open", args=[note.pk]))
    assert r.headers["Location"] == "/leads/"


def test_bulk_and_lead_actions_refuse_an_off_site_next(tenant: Tenant) -> None:
    # B8: the forms that return to the list they came from
    client = login(tenant.admin)
    lead = tenant.first("leads.Lead")
    customer = tenant.first("customers.Customer")
    for target in EVIL:
        posts = [
            (reverse("leads:lead_action", args=[lead.pk, "contacted"]), {"next": target}),
            (reverse("leads:bulk"), {"next": target, "ids": [lead.pk], "action": "invalid"}),
            (reverse("customers:bulk"), {"next": target, "ids": [customer.pk], "action": "tag"}),
        ]
        for url, data in posts:
            r = client.post(url, data)
            assert r.status_code == 302, (url, r.status_code)
            assert off_site(r) is None, (url, r.headers["Location"])


def test_no_page_redirects_off_site_whatever_next_it_is_given(tenant: Tenant) -> None:
    # B8: a sweep of every page, GET and POST, with next in the query string and the body
    failures: list[str] = []
    clients = {"admin": login(tenant.admin), "anonymous": Client(raise_request_exception=False)}
    redirects = 0
    for who, client in clients.items():
        for route in page_routes():
            if route.name not in PAGES or (route.takes_id and route.name not in OBJECTS):
                continue
            if route.name == "org:logout":
                continue  # would end the admin's session for the rest of the sweep
            url = route.url(**route_kwargs(route, tenant)[0])
            for target in EVIL[2:3]:  # one suffices: every view shares one check
                for r in (
                    client.get(url, {"next": target}),
                    client.post(f"{url}?next={target}", {"next": target}),
                ):
                    redirects += r.status_code in (301, 302, 303, 307, 308)
                    if (location := off_site(r)) is not None:
                        failures.append(f"{who} {url} next={target!r}: {location}")
    assert redirects > 30
    assert failures == [], "\n".join(failures)
