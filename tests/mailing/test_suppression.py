"""Removing an address from the unsubscribe (suppression) list (R9.3): marketing:configure
only, with a confirmation and a reason kept in the audit trail; the address is mailed again by
the next campaign and can unsubscribe again; another organisation's row answers 404 like a
missing one."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from crm.core.models import Event
from crm.mailing import bounces, sending, services
from crm.mailing.models import EmailCampaign, Recipient, Unsubscribe
from crm.org.services import create_token
from tests.mailing.conftest import MailWorld, fresh

pytestmark = pytest.mark.django_db


def login(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user, backend="crm.org.backends.LoginBackend")
    return client


def bearer(user: Any) -> Client:
    raw = create_token(actor=fresh(user), name="suppression")[1]
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {raw}")


def send(mw: MailWorld, subject: str) -> EmailCampaign:
    campaign = services.create_campaign(
        actor=fresh(mw.marketer), data={"subject": subject, "body_html": "<p>b</p>"}
    )
    services.send_campaign(actor=fresh(mw.marketer), campaign=campaign)
    sending.run_org(mw.world.org)
    return campaign


def status_of(campaign: EmailCampaign, email: str) -> str:
    return Recipient.objects.get(email_campaign=campaign, email=email).status


def test_removing_an_address_on_the_page_asks_then_records_who_when_why(mw: MailWorld) -> None:
    """R9.3: the list links to a confirmation page; without a reason nothing happens; with one
    the row goes, the audit event keeps actor, address, source and reason; the next campaign
    mails the address; unsubscribing again works."""
    row = services.add_unsubscribe(actor=fresh(mw.marketer), email="zhang@example.com")
    first = send(mw, "第一封")
    assert status_of(first, "zhang@example.com") == "skipped_unsubscribed"
    c = login(mw.marketer)
    url = reverse("mailing:unsubscribe_remove", args=[row.pk])
    listing = reverse("mailing:unsubscribe_list")
    assert url in c.get(listing).content.decode()
    assert url in c.get(listing + "?source=manual").content.decode()
    assert url not in c.get(listing + "?source=bounce").content.decode()
    r = c.get(url)
    assert r.status_code == 200 and "zhang@example.com" in r.content.decode()
    assert Unsubscribe.objects.filter(pk=row.pk).exists()  # GET only asks
    r = c.post(url, {"reason": "  "})
    assert r.status_code == 200 and r.context["form"].errors
    assert Unsubscribe.objects.filter(pk=row.pk).exists()
    r = c.post(url, {"reason": "客户来电要求继续接收活动邮件"})
    assert r.status_code == 302 and r["Location"] == reverse("mailing:unsubscribe_list")
    assert not Unsubscribe.objects.exists()
    event = Event.objects.get(verb="mailing.unsubscribe_removed")
    assert event.actor_id == mw.marketer.pk and event.object_id == str(row.pk)
    assert event.data["email"] == "zhang@example.com" and event.data["source"] == "manual"
    assert event.data["reason"] == "客户来电要求继续接收活动邮件"
    assert event.created_at is not None
    # mail already skipped stays skipped; the next campaign mails the address
    assert status_of(first, "zhang@example.com") == "skipped_unsubscribed"
    mail.outbox.clear()
    second = send(mw, "第二封")
    assert status_of(second, "zhang@example.com") == "sent"
    assert ["zhang@example.com"] in [m.to for m in mail.outbox]
    # and the person can unsubscribe again with the new mail's link
    token = services.unsubscribe_token(
        Recipient.objects.get(email_campaign=second, email="zhang@example.com")
    )
    r = Client().post(reverse("mailing:unsubscribe", args=[token]))
    assert r.status_code == 200
    assert Unsubscribe.objects.get().source == "link"


def test_removing_a_bounce_suppression_is_not_undone_by_the_same_bounce(mw: MailWorld) -> None:
    """R9.3: an address suppressed by a hard bounce can be removed; reading the same bounce
    again does not put it back (a new bounce would)."""
    send(mw, "第一封")
    event = [{"email": "zhao@example.org", "kind": "hard", "event_id": "ev-1"}]
    bounces.report_bounces(actor=fresh(mw.marketer), events=event)
    row = Unsubscribe.objects.get()
    assert row.source == "bounce"
    r = bearer(mw.marketer).delete(
        f"/api/v1/mailing/unsubscribes/{row.pk}?reason=%E5%9C%B0%E5%9D%80%E5%B7%B2%E4%BF%AE%E5%A4%8D"
    )
    assert r.status_code == 204, r.content
    assert Event.objects.get(verb="mailing.unsubscribe_removed").data["reason"] == "地址已修复"
    assert bounces.report_bounces(actor=fresh(mw.marketer), events=event)["duplicate"] == 1
    assert not Unsubscribe.objects.exists()
    event = [{"email": "zhao@example.org", "kind": "hard", "event_id": "ev-2"}]
    bounces.report_bounces(actor=fresh(mw.marketer), events=event)
    assert Unsubscribe.objects.get().source == "bounce"


def test_the_api_needs_a_reason_and_marketing_configure(mw: MailWorld) -> None:
    """R9.3: DELETE without a reason is a 400 with nothing removed; a rep without marketing
    rights and a manager who may only view are refused; nothing changes."""
    row = services.add_unsubscribe(actor=fresh(mw.marketer), email="zhang@example.com")
    url = f"/api/v1/mailing/unsubscribes/{row.pk}"
    r = bearer(mw.marketer).delete(url)
    assert r.status_code == 400 and "reason" in r.content.decode()
    for user in (mw.world.users["rep_east"], mw.world.users["manager1"]):
        assert bearer(user).delete(url + "?reason=x").status_code == 403
        c = login(user)
        page = reverse("mailing:unsubscribe_remove", args=[row.pk])
        assert c.get(page).status_code == 403
        assert c.post(page, {"reason": "x"}).status_code == 403
    assert Unsubscribe.objects.filter(pk=row.pk).exists()
    assert not Event.objects.filter(verb="mailing.unsubscribe_removed").exists()
    # a marketer with configure rights but a narrow data scope: the list is organisation-wide
    r = bearer(mw.east_marketer).delete(url + "?reason=ok")
    assert r.status_code == 204


def test_another_organisations_row_answers_404_like_a_missing_one(
    mw: MailWorld, mw_other: MailWorld
) -> None:
    """R9.3: the other organisation's administrator cannot see or remove a row; the answer is
    the one a non-existent id gets, and nothing changes."""
    row = services.add_unsubscribe(
        actor=fresh(mw.marketer), email="zhang@example.com", note="内部备注"
    )
    outsider = mw_other.world.admin
    c = login(outsider)
    api = bearer(outsider)
    missing = 987_654_321
    for pk in (row.pk, missing):
        page = reverse("mailing:unsubscribe_remove", args=[pk])
        r = c.get(page)
        assert r.status_code == 404 and "zhang@example.com" not in r.content.decode()
        assert c.post(page, {"reason": "x"}).status_code == 404
        r = api.delete(f"/api/v1/mailing/unsubscribes/{pk}?reason=x")
        assert r.status_code == 404
    assert r.json() == api.delete(f"/api/v1/mailing/unsubscribes/{row.pk}?reason=x").json()
    assert Unsubscribe.objects.filter(pk=row.pk).exists()
    assert not Event.objects.filter(verb="mailing.unsubscribe_removed").exists()
    # the other organisation's list does not show it either
    assert "zhang@example.com" not in c.get(reverse("mailing:unsubscribe_list")).content.decode()
