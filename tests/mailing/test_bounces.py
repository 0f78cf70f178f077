"""Bounce processing of e-mail campaigns (R9.3): the signed recipient reference in every mail,
delivery status notifications of real-looking shapes (Postfix, Exchange, Gmail, qmail, Exim),
``crm process-bounces`` over a Maildir and an mbox, the providers' webhook, idempotency, hard
bounces suppressed for the next campaign, soft bounces only counted, and tenants kept apart."""

from __future__ import annotations

import json
import mailbox
from email import message_from_bytes, policy
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from crm.core.models import Event
from crm.mailing import bounces, sending, services
from crm.mailing.models import Bounce, EmailCampaign, Recipient, Unsubscribe
from crm.org.services import create_token
from tests.mailing.conftest import MailWorld, fresh

pytestmark = pytest.mark.django_db

DSN = Path(__file__).parent / "dsn"


def sent_campaign(mw: MailWorld, subject: str = "新品发布会邀请") -> EmailCampaign:
    campaign = services.create_campaign(
        actor=fresh(mw.marketer), data={"subject": subject, "body_html": "<p>诚邀您参加</p>"}
    )
    services.send_campaign(actor=fresh(mw.marketer), campaign=campaign)
    sending.run_org(mw.world.org)
    return campaign


def recipient(campaign: EmailCampaign, email: str) -> Recipient:
    return Recipient.objects.get(email_campaign=campaign, email=email)


def render(name: str, to: str, ref: str = "") -> bytes:
    """A DSN fixture addressed to ``to``, quoting the headers of the mail with ``ref``."""
    user, _at, domain = to.partition("@")
    text = (DSN / name).read_text(encoding="utf-8")
    for key, value in {
        "{TO_USER}": user,
        "{TO_DOMAIN}": domain,
        "{TO}": to,
        "{MSGID}": sending.message_id(ref) if ref else "<other@example.net>",
        "{REF}": ref,
    }.items():
        text = text.replace(key, value)
    return text.encode("utf-8")


def parse(raw: bytes) -> list[bounces.Report]:
    return bounces.parse_message(message_from_bytes(raw, policy=policy.compat32), raw)


def maildir(tmp_path: Path, *messages: bytes) -> Path:
    box = mailbox.Maildir(str(tmp_path / "bounces"), create=True)
    for raw in messages:
        box.add(raw)
    return tmp_path / "bounces"


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("process_bounces", *args, stdout=out)
    return out.getvalue()


def bearer(user: Any) -> Client:
    raw = create_token(actor=fresh(user), name="bounces")[1]
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {raw}")


def post_bounces(client: Client, events: list[dict[str, Any]]) -> Any:
    return client.post(
        "/api/v1/mailing/bounces",
        data=json.dumps({"bounces": events}),
        content_type="application/json",
    )


def test_every_mail_carries_a_signed_recipient_reference(mw: MailWorld) -> None:
    """R9.3: the send job writes X-CRM-Recipient and a Message-ID naming the recipient; only a
    correctly signed reference is read back."""
    campaign = sent_campaign(mw)
    zhang = recipient(campaign, "zhang@example.com")
    message = next(m for m in mail.outbox if m.to == ["zhang@example.com"])
    ref = message.extra_headers["X-CRM-Recipient"]
    assert ref == services.recipient_ref(zhang)
    assert message.extra_headers["Message-ID"] == sending.message_id(ref)
    assert f"<{ref}@" in message.message()["Message-ID"]
    assert services.read_recipient_refs(f"Message-ID: <{ref}@x>\nX-CRM-Recipient: {ref}") == [
        (zhang.org_id, campaign.pk, zhang.pk)
    ]
    forged = ref.replace(f"-{zhang.pk}.", f"-{zhang.pk + 1}.")
    assert services.read_recipient_refs(forged) == []
    assert services.read_recipient_refs(ref[:-2] + "xx") == []


def test_bounce_address_is_the_envelope_sender_when_configured(
    mw: MailWorld, settings: Any
) -> None:
    """R9.3: CRM_MAIL_BOUNCE_ADDRESS becomes the envelope sender; From stays the sender."""
    settings.CRM_MAIL_BOUNCE_ADDRESS = "bounces@crm-mail.example.com"
    sent_campaign(mw)
    message = mail.outbox[0]
    assert message.from_email == "bounces@crm-mail.example.com"
    assert message.message()["From"] == settings.DEFAULT_FROM_EMAIL


@pytest.mark.parametrize(
    ("name", "kind", "status", "reason_part", "has_ref"),
    [
        ("postfix_hard.eml", "hard", "5.1.1", "User unknown in virtual mailbox table", True),
        ("postfix_delayed.eml", "soft", "4.2.2", "Mailbox full", True),
        ("exchange_hard.eml", "hard", "5.1.10", "RESOLVER.ADR.RecipientNotFound", True),
        ("gmail_hard.eml", "hard", "5.1.1", "does not exist", True),
        ("qmail_hard.eml", "hard", "5.1.1", "no mailbox here by that name", True),
        ("exim_no_reference.eml", "hard", "5.1.1", "User unknown", False),
    ],
)
def test_delivery_status_notifications_are_read(
    name: str, kind: str, status: str, reason_part: str, has_ref: bool
) -> None:
    """R9.3: RFC 3464 reports (Postfix failed/delayed, Exchange, Gmail) and non-standard
    bounces (qmail, Exim) give the failed address, hard/soft, the status code and the reason;
    numbers in the quoted original mail ("5.4.1", "10.4.5.1") are not taken for codes."""
    ref = services.recipient_ref(Recipient(org_id=7, email_campaign_id=8, pk=9))
    [report] = parse(render(name, "Zhang.San@Example.com", ref if has_ref else ""))
    assert (report.email, report.kind, report.status) == ("zhang.san@example.com", kind, status)
    assert reason_part in report.reason
    assert report.ref == ((7, 8, 9) if has_ref else None)
    assert len(report.key) == 64
    assert parse(render(name, "Zhang.San@Example.com", ref))[0].key == report.key


def test_auto_replies_and_other_mail_are_not_bounces() -> None:
    """R9.3: an out-of-office reply (even mentioning 550) is not a bounce."""
    assert parse(render("autoreply.eml", "zhang@example.com")) == []
    plain = b"From: someone@example.com\nSubject: Re: offer\n\nPlease call me. 550 thanks\n"
    assert parse(plain) == []


def test_process_bounces_marks_hard_suppresses_and_counts_soft(
    mw: MailWorld, tmp_path: Path
) -> None:
    """R9.3: hard bounces become status bounced with the reason and join the suppression list
    (source bounce); a soft bounce is counted and not suppressed; processing the same mailbox
    again changes nothing."""
    campaign = sent_campaign(mw)
    zhang, li, zhao = (
        recipient(campaign, e)
        for e in ("zhang@example.com", "li.si@example.com", "zhao@example.org")
    )
    box = maildir(
        tmp_path,
        render("postfix_hard.eml", "zhang@example.com", services.recipient_ref(zhang)),
        render("exchange_hard.eml", "li.si@example.com", services.recipient_ref(li)),
        render("postfix_delayed.eml", "zhao@example.org", services.recipient_ref(zhao)),
        render("autoreply.eml", "zhang@example.com"),
    )
    out = run_command(str(box))
    assert "messages=4 hard=2 soft=1 already_processed=0" in out and "not_bounces=1" in out
    zhang.refresh_from_db()
    li.refresh_from_db()
    zhao.refresh_from_db()
    assert zhang.status == "bounced" and "User unknown" in zhang.error
    assert li.status == "bounced" and "5.1.10" in li.error
    assert (zhao.status, zhao.soft_bounces, zhao.error) == ("sent", 1, "")
    rows = dict(Unsubscribe.objects.values_list("email", "source"))
    assert rows == {"zhang@example.com": "bounce", "li.si@example.com": "bounce"}
    assert Unsubscribe.objects.get(email="zhang@example.com").email_campaign_id == campaign.pk
    assert Bounce.objects.filter(kind="soft", email="zhao@example.org").count() == 1
    state = (
        list(Recipient.objects.values_list("pk", "status", "soft_bounces", "error")),
        Unsubscribe.objects.count(),
        Bounce.objects.count(),
        Event.objects.count(),
    )
    out = run_command(str(box))  # the same notifications again: nothing changes
    assert "hard=0 soft=0 already_processed=3" in out
    assert state == (
        list(Recipient.objects.values_list("pk", "status", "soft_bounces", "error")),
        Unsubscribe.objects.count(),
        Bounce.objects.count(),
        Event.objects.count(),
    )


def test_the_next_campaign_skips_hard_bounced_and_mails_soft_bounced(
    mw: MailWorld, tmp_path: Path
) -> None:
    """R9.3: the suppression is honoured by the next send; a soft bounce is not suppressed."""
    campaign = sent_campaign(mw)
    zhang, zhao = recipient(campaign, "zhang@example.com"), recipient(campaign, "zhao@example.org")
    run_command(
        str(
            maildir(
                tmp_path,
                render("gmail_hard.eml", "zhang@example.com", services.recipient_ref(zhang)),
                render("postfix_delayed.eml", "zhao@example.org", services.recipient_ref(zhao)),
            )
        )
    )
    mail.outbox.clear()
    second = sent_campaign(mw, "第二封")
    statuses = dict(Recipient.objects.filter(email_campaign=second).values_list("email", "status"))
    assert statuses == {
        "zhang@example.com": "skipped_unsubscribed",
        "li.si@example.com": "sent",
        "zhao@example.org": "sent",
    }
    assert sorted(m.to[0] for m in mail.outbox) == ["li.si@example.com", "zhao@example.org"]


def test_a_bounce_without_reference_is_matched_by_the_latest_mail_to_the_address(
    mw: MailWorld, tmp_path: Path
) -> None:
    """R9.3: an Exim bounce that quotes no CRM header (in an mbox file) names the failed
    address; the latest mail sent to it bounces. An unknown address changes nothing."""
    first = sent_campaign(mw, "第一封")
    second = sent_campaign(mw, "第二封")
    path = tmp_path / "bounces.mbox"
    box = mailbox.mbox(str(path), create=True)
    box.add(render("exim_no_reference.eml", "zhang@example.com"))
    box.add(render("exim_no_reference.eml", "nobody@example.net").replace(b"1tF3kL", b"2tF3kL"))
    box.flush()
    box.close()
    out = run_command(str(path))
    assert "hard=1" in out and "unmatched=1" in out
    assert recipient(second, "zhang@example.com").status == "bounced"
    assert recipient(first, "zhang@example.com").status == "sent"
    assert list(Unsubscribe.objects.values_list("email", flat=True)) == ["zhang@example.com"]


def test_a_forged_reference_names_nobody(mw: MailWorld, tmp_path: Path) -> None:
    """R9.3: a bounce with a tampered reference and an address nobody was mailed at changes
    nothing (a made-up notification cannot bounce an arbitrary recipient)."""
    campaign = sent_campaign(mw)
    zhang = recipient(campaign, "zhang@example.com")
    forged = services.recipient_ref(zhang)[:-4] + "AAAA"
    out = run_command(str(maildir(tmp_path, render("postfix_hard.eml", "x@example.net", forged))))
    assert "unmatched=1" in out
    zhang.refresh_from_db()
    assert zhang.status == "sent" and not Unsubscribe.objects.exists()


def test_the_command_keeps_to_one_organisation_with_org(
    mw: MailWorld, mw_other: MailWorld, tmp_path: Path
) -> None:
    """R9.3: --org limits the run to one organisation: another organisation's recipient named
    by its reference is not touched."""
    theirs = sent_campaign(mw_other)
    target = recipient(theirs, "zhang@example.com")
    raw = render("postfix_hard.eml", "zhang@example.com", services.recipient_ref(target))
    out = run_command(str(maildir(tmp_path, raw)), "--org", str(mw.world.org.pk))
    assert "hard=1" in out  # suppressed in the named organisation (the address bounced) …
    target.refresh_from_db()
    assert target.status == "sent"  # … but the other organisation's mail is untouched
    assert list(Unsubscribe.objects.values_list("org_id", flat=True)) == [mw.world.org.pk]


def test_the_webhook_applies_provider_events_once(mw: MailWorld, mw_other: MailWorld) -> None:
    """R9.3: a provider posts {email, kind, reason, campaign_id}; hard bounces suppress, soft
    are counted, invalid addresses are reported, the same events again change nothing, and
    the same address in another organisation is not touched."""
    campaign = sent_campaign(mw)
    theirs = sent_campaign(mw_other)
    client = bearer(mw.marketer)
    events = [
        {"email": "Zhang@Example.com", "kind": "hard", "reason": "550 5.1.1 user unknown"},
        {"email": "zhao@example.org", "kind": "soft", "reason": "452 4.2.2 mailbox full"},
        {"email": "not-an-address", "kind": "hard"},
        {"email": "li.si@example.com", "kind": "hard", "campaign_id": theirs.pk},
    ]
    r = post_bounces(client, events)
    assert r.status_code == 200, r.content
    assert r.json() == {"hard": 2, "soft": 1, "duplicate": 0, "unmatched": 0, "invalid": 1}
    assert recipient(campaign, "zhang@example.com").status == "bounced"
    assert recipient(campaign, "zhang@example.com").error == "550 5.1.1 user unknown"
    assert recipient(campaign, "zhao@example.org").soft_bounces == 1
    assert set(Unsubscribe.objects.filter(org=mw.world.org).values_list("email", flat=True)) == {
        "zhang@example.com",
        "li.si@example.com",
    }
    # another organisation's campaign id names nothing here: its recipients stay as they were
    assert set(
        Recipient.objects.filter(email_campaign=theirs).values_list("status", flat=True)
    ) == {"sent"}
    assert not Unsubscribe.objects.filter(org=mw_other.world.org).exists()
    before = Event.objects.count(), Bounce.objects.count()
    r = post_bounces(client, events)
    assert r.json() == {"hard": 0, "soft": 0, "duplicate": 3, "unmatched": 0, "invalid": 1}
    assert recipient(campaign, "zhao@example.org").soft_bounces == 1
    assert (Event.objects.count(), Bounce.objects.count()) == before
    # a new soft event (its own id) is counted again, never suppressed
    r = post_bounces(client, [{"email": "zhao@example.org", "kind": "soft", "event_id": "ev-2"}])
    assert r.json()["soft"] == 1
    assert recipient(campaign, "zhao@example.org").soft_bounces == 2
    assert not Unsubscribe.objects.filter(email="zhao@example.org").exists()
    listed = client.get("/api/v1/mailing/unsubscribes?source=bounce").json()
    assert sorted(i["email"] for i in listed["items"]) == ["li.si@example.com", "zhang@example.com"]
    assert client.get("/api/v1/mailing/unsubscribes?source=manual").json()["count"] == 0


def test_the_webhook_needs_marketing_configure(mw: MailWorld) -> None:
    """R9.3: a rep without marketing rights and a manager who may only view are refused with
    nothing changed; a bad body and more than 1000 events are refused."""
    campaign = sent_campaign(mw)
    event = [{"email": "zhang@example.com", "kind": "hard"}]
    for user in (mw.world.users["rep_east"], mw.world.users["manager1"]):
        r = post_bounces(bearer(user), event)
        assert r.status_code == 403, (user, r.status_code)
    assert recipient(campaign, "zhang@example.com").status == "sent"
    assert not Bounce.objects.exists() and not Unsubscribe.objects.exists()
    client = bearer(mw.marketer)
    assert post_bounces(client, [{"email": "zhang@example.com", "kind": "bad"}]).status_code == 422
    r = client.post("/api/v1/mailing/bounces", data="[", content_type="application/json")
    assert r.status_code in (400, 422)
    r = post_bounces(client, event * 1001)
    assert r.status_code == 422 and not Bounce.objects.exists()


def test_detail_page_shows_bounce_counts_and_filters(mw: MailWorld) -> None:
    """R9.3: the campaign detail counts bounced and soft-bounced recipients and filters the
    recipients by each; the API detail and recipient list say the same."""
    campaign = sent_campaign(mw)
    bounces.report_bounces(
        actor=fresh(mw.marketer),
        events=[
            {"email": "zhang@example.com", "kind": "hard", "reason": "550 5.1.1 no such user"},
            {"email": "zhao@example.org", "kind": "soft", "reason": "421 4.7.0 try later"},
        ],
    )
    client = Client()
    client.force_login(mw.marketer, backend="crm.org.backends.LoginBackend")
    url = reverse("mailing:campaign_detail", args=[campaign.pk])
    r = client.get(url)
    counts = {value: n for value, _label, n, _c in r.context["counts"]}
    assert counts["bounced"] == 1 and counts["sent"] == 2
    assert r.context["bounces"] == {"hard": 1, "soft": 1}
    r = client.get(url + "?status=bounced")
    body = r.content.decode()
    assert "zhang@example.com" in body and "550 5.1.1 no such user" in body
    assert "zhao@example.org" not in body
    body = client.get(url + "?status=soft_bounced").content.decode()
    assert "zhao@example.org" in body and "zhang@example.com" not in body
    api = bearer(mw.marketer)
    detail = api.get(f"/api/v1/mailing/campaigns/{campaign.pk}").json()
    assert detail["bounces"] == {"hard": 1, "soft": 1} and detail["counts"]["bounced"] == 1
    items = api.get(f"/api/v1/mailing/campaigns/{campaign.pk}/recipients?status=bounced").json()
    assert [i["email"] for i in items["items"]] == ["zhang@example.com"]
    items = api.get(f"/api/v1/mailing/campaigns/{campaign.pk}/recipients?soft_bounced=true")
    assert [(i["email"], i["soft_bounces"]) for i in items.json()["items"]] == [
        ("zhao@example.org", 1)
    ]
