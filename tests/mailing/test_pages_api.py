"""E-mail campaign pages and API (R9.3): compose with preview, send, detail with status counts,
the unsubscribe list, the public unsubscribe page (confirm, one-click, forged), and scope:
another tenant and out-of-scope users get 404."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import translation

from crm.core.models import Event
from crm.mailing import sending, services
from crm.mailing.models import EmailCampaign, Recipient, Unsubscribe
from tests.mailing.conftest import MailWorld, fresh

pytestmark = pytest.mark.django_db


def client_of(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user, backend="crm.org.backends.LoginBackend")
    return client


def form_data(**extra: Any) -> dict[str, Any]:
    data = {"subject": "展会邀请", "body_html": "<p>欢迎光临展位</p>", "rate_per_minute": "60"}
    data.update(extra)
    return data


def test_compose_preview_save_send_and_detail_pages(mw: MailWorld) -> None:
    """R9.3: compose, preview the segment (count + first recipients), save, send, detail."""
    c = client_of(mw.marketer)
    assert c.get(reverse("mailing:campaign_list")).status_code == 200
    r = c.post(reverse("mailing:campaign_create"), form_data(industries="制造", preview="1"))
    assert r.status_code == 200
    assert r.context["preview"]["to_send"] == 2
    assert "zhang@example.com" in r.content.decode()
    assert not EmailCampaign.objects.exists()  # a preview saves nothing
    r = c.post(reverse("mailing:campaign_create"), form_data(industries="制造"))
    campaign = EmailCampaign.objects.get()
    assert r.status_code == 302 and r["Location"] == reverse(
        "mailing:campaign_detail", args=[campaign.pk]
    )
    assert campaign.segment == {"industries": ["制造"]}
    assert Event.objects.filter(verb="emailcampaign.created", object_id=str(campaign.pk)).exists()
    r = c.post(
        reverse("mailing:campaign_edit", args=[campaign.pk]),
        form_data(subject="展会邀请(改)", version=str(campaign.version)),
    )
    assert r.status_code == 302
    campaign.refresh_from_db()
    assert campaign.subject == "展会邀请(改)" and campaign.segment == {}
    r = c.post(reverse("mailing:campaign_send", args=[campaign.pk]), {"scheduled_at": ""})
    assert r.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == "sending"
    sending.run_org(mw.world.org)
    r = c.get(reverse("mailing:campaign_detail", args=[campaign.pk]))
    assert r.status_code == 200
    counts = {value: n for value, _label, n, _c in r.context["counts"]}
    assert counts["sent"] == 3 and r.context["total"] == 3
    assert "zhao@example.org" in r.content.decode()
    r = c.get(reverse("mailing:campaign_detail", args=[campaign.pk]) + "?status=failed")
    assert "zhao@example.org" not in r.content.decode()


def test_bad_form_input_shows_errors_and_writes_nothing(mw: MailWorld) -> None:
    """R9.3: a clear error on the form (English and Chinese), nothing half-written."""
    c = client_of(mw.marketer)
    with translation.override("en"):
        r = c.post(
            reverse("mailing:campaign_create"),
            form_data(subject="", rate_per_minute="0"),
            HTTP_ACCEPT_LANGUAGE="en",
        )
    assert r.status_code == 200
    assert r.context["form"].errors
    assert not EmailCampaign.objects.exists()


def test_cancel_and_unsubscribe_list_pages(mw: MailWorld) -> None:
    """R9.3: cancel a running campaign; add an address to the list by hand and search it."""
    campaign = services.send_campaign(
        actor=fresh(mw.marketer),
        campaign=services.create_campaign(
            actor=fresh(mw.marketer), data={"subject": "s", "body_html": "b"}
        ),
    )
    c = client_of(mw.marketer)
    assert c.post(reverse("mailing:campaign_cancel", args=[campaign.pk])).status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == "cancelled"
    url = reverse("mailing:unsubscribe_list")
    r = c.post(url, {"email": " Someone@Example.com ", "note": "电话要求"})
    assert r.status_code == 302
    row = Unsubscribe.objects.get()
    assert row.email == "someone@example.com" and row.source == "manual"
    r = c.post(url, {"email": "not-an-address"})
    assert r.status_code == 200 and Unsubscribe.objects.count() == 1
    r = c.get(url + "?q=SOMEONE")
    assert "someone@example.com" in r.content.decode()
    # a manager may view campaigns but not the list of addresses
    manager = client_of(mw.world.users["manager1"])
    assert manager.get(url).status_code == 403


def _token(mw: MailWorld) -> tuple[str, Recipient]:
    campaign = services.send_campaign(
        actor=fresh(mw.marketer),
        campaign=services.create_campaign(
            actor=fresh(mw.marketer), data={"subject": "s", "body_html": "b"}
        ),
    )
    recipient = Recipient.objects.get(email_campaign=campaign, email="zhang@example.com")
    return services.unsubscribe_token(recipient), recipient


def test_the_public_unsubscribe_page_confirms_then_records(mw: MailWorld) -> None:
    """R9.3: GET asks (records nothing), POST records; no login needed."""
    token, recipient = _token(mw)
    anonymous = Client(enforce_csrf_checks=True)
    url = reverse("mailing:unsubscribe", args=[token])
    r = anonymous.get(url)
    assert r.status_code == 200 and not Unsubscribe.objects.exists()
    assert "zhang@example.com" in r.content.decode()
    r = anonymous.post(url, {"csrfmiddlewaretoken": r.context["csrf_token"]})
    assert r.status_code == 200 and r.context["done"]
    row = Unsubscribe.objects.get()
    assert (row.email, row.source, row.email_campaign_id) == (
        "zhang@example.com",
        "link",
        recipient.email_campaign_id,
    )
    # the rest of the campaign's mail to the address is skipped
    recipient.refresh_from_db()
    assert recipient.status == "skipped_unsubscribed"
    assert anonymous.post(url).status_code == 200  # twice: still one row
    assert Unsubscribe.objects.count() == 1


def test_one_click_unsubscribe_works_without_a_session(mw: MailWorld) -> None:
    """R9.3 (RFC 8058): a mail client's POST List-Unsubscribe=One-Click records at once."""
    token, _recipient = _token(mw)
    client = Client(enforce_csrf_checks=True)
    r = client.post(reverse("mailing:unsubscribe", args=[token]), {"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert Unsubscribe.objects.get().source == "one_click"


def test_a_forged_unsubscribe_link_changes_nothing(mw: MailWorld) -> None:
    """R9.3: tampered or foreign tokens answer 400 and record nothing."""
    token, _recipient = _token(mw)
    from django.core import signing

    client = Client()
    forged = [
        token[:-3] + "abc",
        signing.dumps(
            {"o": mw.world.org.pk, "e": "victim@example.com", "c": None},
            salt="attacker",
            compress=True,
        ),
        "forged-token",
    ]
    for bad in forged:
        r = client.post(
            reverse("mailing:unsubscribe", args=[bad]), {"List-Unsubscribe": "One-Click"}
        )
        assert r.status_code == 400, bad
    assert not Unsubscribe.objects.exists()


def test_other_tenants_and_out_of_scope_users_get_404(mw: MailWorld, mw_other: MailWorld) -> None:
    """R9.3: a campaign is seen by its owner and marketing users whose scope covers the owner;
    another organisation's admin and an out-of-scope marketer get 404 on pages and API."""
    campaign = services.create_campaign(
        actor=fresh(mw.marketer), data={"subject": "内部邀请", "body_html": "b"}
    )
    before = (campaign.subject, campaign.version, Event.objects.count())
    pages = [
        ("get", "mailing:campaign_detail"),
        ("get", "mailing:campaign_edit"),
        ("post", "mailing:campaign_send"),
        ("post", "mailing:campaign_cancel"),
        ("post", "mailing:campaign_delete"),
    ]
    api = [
        ("get", ""),
        ("put", ""),
        ("delete", ""),
        ("post", "/send"),
        ("post", "/cancel"),
        ("get", "/recipients"),
    ]
    for outsider in (mw_other.world.admin, mw.east_marketer):
        c = client_of(outsider)
        for method, name in pages:
            r = getattr(c, method)(reverse(name, args=[campaign.pk]))
            assert r.status_code == 404, (outsider, name, r.status_code)
            assert "内部邀请" not in r.content.decode()
        for method, suffix in api:
            url = f"/api/v1/mailing/campaigns/{campaign.pk}{suffix}"
            if method == "get":
                r = c.get(url)
            else:
                body = json.dumps({"subject": "越权", "body_html": "x"})
                r = getattr(c, method)(url, data=body, content_type="application/json")
            assert r.status_code == 404, (outsider, method, suffix, r.status_code)
        r = c.get("/api/v1/mailing/campaigns")
        assert r.status_code == 200 and r.json()["count"] == 0
        assert "内部邀请" not in c.get(reverse("mailing:campaign_list")).content.decode()
    campaign.refresh_from_db()
    assert (campaign.subject, campaign.version, Event.objects.count()) == before
    # the sales rep without marketing rights: refused; the organisation admin: sees it
    assert client_of(mw.world.users["rep_east"]).get(
        reverse("mailing:campaign_detail", args=[campaign.pk])
    ).status_code in (403, 404)
    assert (
        client_of(mw.world.admin)
        .get(reverse("mailing:campaign_detail", args=[campaign.pk]))
        .status_code
        == 200
    )


def test_the_api_composes_previews_sends_and_lists_recipients(mw: MailWorld) -> None:
    """R9.3: the API does what the pages do; bad input is a 400/422 with nothing written."""
    c = client_of(mw.marketer)
    c.cookies["csrftoken"] = "x" * 32
    csrf = {"HTTP_X_CSRFTOKEN": "x" * 32}

    def post(path: str, body: dict[str, Any]) -> Any:
        return c.post(path, data=json.dumps(body), content_type="application/json", **csrf)

    r = post("/api/v1/mailing/preview", {"industries": ["贸易"]})
    assert r.status_code == 200, r.content
    assert r.json()["to_send"] == 1 and r.json()["sample"][0]["email"] == "zhao@example.org"
    r = post("/api/v1/mailing/campaigns", {"subject": "", "body_html": "x"})
    assert r.status_code in (400, 422) and not EmailCampaign.objects.exists()
    r = post(
        "/api/v1/mailing/campaigns",
        {"subject": "API 邀请", "body_html": "<p>hi</p>", "segment": {"regions": ["华北"]}},
    )
    assert r.status_code == 201, r.content
    pk = r.json()["id"]
    r = post(f"/api/v1/mailing/campaigns/{pk}/send", {})
    assert r.status_code == 200 and r.json()["status"] == "sending"
    assert r.json()["counts"]["queued"] == 1
    sending.run_org(mw.world.org)
    assert [m.to for m in mail.outbox] == [["zhao@example.org"]]
    r = c.get(f"/api/v1/mailing/campaigns/{pk}/recipients")
    assert r.json()["items"][0]["status"] == "sent"
    r = post("/api/v1/mailing/unsubscribes", {"email": "Zhao@Example.org"})
    assert r.status_code == 201 and r.json()["email"] == "zhao@example.org"
    assert c.get("/api/v1/mailing/unsubscribes?q=zhao").json()["count"] == 1
    # a manager (view only) sees no addresses and may not add one
    m = client_of(mw.world.users["manager1"])
    assert m.get("/api/v1/mailing/unsubscribes").json()["count"] == 0
