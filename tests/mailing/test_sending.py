"""E-mail campaigns (R9.3): segment, unsubscribe, address checks, rate limit, delivery status
and the never-twice claim of the sending job."""

from __future__ import annotations

from datetime import timedelta
from email.header import decode_header, make_header
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from crm.core.errors import ValidationFailed
from crm.customers.models import Contact
from crm.customers.services import create_customer
from crm.mailing import sending, services
from crm.mailing.models import CampaignStatus, EmailCampaign, Recipient, Unsubscribe
from tests.mailing.conftest import MailWorld, fresh

pytestmark = pytest.mark.django_db


def compose(user: Any, **extra: Any) -> EmailCampaign:
    data = {"subject": "新品发布会邀请", "body_html": "<p>诚邀您参加</p><script>x()</script>"}
    data.update(extra)
    return services.create_campaign(actor=fresh(user), data=data)


def send_now(user: Any, campaign: EmailCampaign) -> EmailCampaign:
    return services.send_campaign(actor=fresh(user), campaign=campaign)


def statuses(campaign: EmailCampaign) -> dict[str, str]:
    return dict(Recipient.objects.filter(email_campaign=campaign).values_list("email", "status"))


def test_html_is_sanitised_and_text_derived(mw: MailWorld) -> None:
    """R9.3: the HTML body goes through the knowledge sanitiser; the text body follows it."""
    campaign = compose(mw.marketer)
    assert "<script" not in campaign.body_html and "诚邀您参加" in campaign.body_html
    assert campaign.body_text == "诚邀您参加"
    assert campaign.status == CampaignStatus.DRAFT


def test_segment_reaches_only_contacts_the_sender_may_see(mw: MailWorld) -> None:
    """R9.3: the segment is the sender's scoped contacts; filters narrow it."""
    everyone = services.segment_contacts(mw.marketer, {})
    assert {c.name for c in everyone} == {"张三", "李四", "赵六"}  # 王五 has no address
    east_only = services.segment_contacts(mw.east_marketer, {})
    assert {c.name for c in east_only} == {"张三", "李四"}
    trade = services.segment_contacts(mw.marketer, {"industries": ["贸易"]})
    assert [c.name for c in trade] == ["赵六"]
    by_dept = services.segment_contacts(
        mw.marketer, {"department_ids": [mw.world.depts["sales2"].pk]}
    )
    assert [c.name for c in by_dept] == ["赵六"]
    campaign = compose(mw.east_marketer)
    send_now(mw.east_marketer, campaign)
    assert set(statuses(campaign)) == {"zhang@example.com", "li.si@example.com"}


def test_unsubscribed_address_is_skipped_by_every_later_campaign(mw: MailWorld) -> None:
    """R9.3: after unsubscribing, a new campaign to the same segment skips the address, in any
    case or surrounding whitespace, even after the contact is deleted and imported again."""
    first = compose(mw.marketer)
    send_now(mw.marketer, first)
    recipient = Recipient.objects.get(email_campaign=first, email="zhang@example.com")
    services.record_unsubscribe(
        org_id=recipient.org_id,
        email="  ZHANG@Example.com ",
        source="link",
        campaign_id=first.pk,
    )
    assert Unsubscribe.objects.filter(email="zhang@example.com").count() == 1
    # queued mail of the running campaign is skipped at once
    assert statuses(first)["zhang@example.com"] == "skipped_unsubscribed"
    # the contact is deleted and imported again with another spelling of the address
    Contact.objects.filter(email="zhang@example.com").delete()
    create_customer(
        actor=fresh(mw.world.users["rep_east"]),
        data={"name": "重新导入公司"},
        contacts=[{"name": "张三(新)", "email": "zhang@example.com"}],
    )
    Contact.objects.filter(name="张三(新)").update(email=" Zhang@EXAMPLE.com")
    second = compose(mw.marketer, subject="第二次邀请")
    send_now(mw.marketer, second)
    assert statuses(second)["zhang@example.com"] == "skipped_unsubscribed"
    sending.run_org(mw.world.org)
    assert all("zhang@example.com" not in m.to for m in mail.outbox)
    # both campaigns mail 李四 and 赵六; nobody mails 张三
    assert sorted(m.to[0] for m in mail.outbox) == [
        "li.si@example.com",
        "li.si@example.com",
        "zhao@example.org",
        "zhao@example.org",
    ]


def test_unsubscribe_during_sending_is_honoured_at_send_time(mw: MailWorld) -> None:
    """R9.3: the job checks the list again for each mail (the claim, then the check)."""
    campaign = compose(mw.marketer)
    send_now(mw.marketer, campaign)
    # written behind the service's back (e.g. another process): only the send-time check sees it
    Unsubscribe.objects.create(org=mw.world.org, email="zhao@example.org", source="manual")
    sending.run_org(mw.world.org)
    assert statuses(campaign)["zhao@example.org"] == "skipped_unsubscribed"
    assert sorted(m.to[0] for m in mail.outbox) == ["li.si@example.com", "zhang@example.com"]


def test_invalid_addresses_are_skipped_with_the_reason(mw: MailWorld) -> None:
    """R9.3: no mail to an address that fails the syntax check; the reason is recorded."""
    Contact.objects.filter(name="李四").update(email="li si@example")
    Contact.objects.filter(name="赵六").update(email="zhao@localhost")
    for bad in ("a@b", "x@[127.0.0.1]", "no-at.example.com", "a b@example.com", "a@-x.com"):
        assert not services.is_valid_email(bad), bad
    assert services.is_valid_email(" Good.Name+tag@Sub.Example.CN ")
    campaign = compose(mw.marketer)
    send_now(mw.marketer, campaign)
    rows = {r.email: r for r in Recipient.objects.filter(email_campaign=campaign)}
    assert rows["li si@example"].status == "skipped_invalid" and rows["li si@example"].error
    assert rows["zhao@localhost"].status == "skipped_invalid"
    sending.run_org(mw.world.org)
    assert [m.to for m in mail.outbox] == [["zhang@example.com"]]


def test_nobody_to_mail_is_refused_and_nothing_is_written(mw: MailWorld) -> None:
    """R9.3: a segment with no valid, subscribed address is a clear error; the draft stays."""
    campaign = compose(mw.marketer, segment={"industries": ["不存在的行业"]})
    with pytest.raises(ValidationFailed):
        send_now(mw.marketer, campaign)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert not Recipient.objects.filter(email_campaign=campaign).exists()


def test_bad_segment_and_fields_are_refused(mw: MailWorld) -> None:
    """R9.3: bad input gets a field error; nothing is created."""
    before = EmailCampaign.objects.count()
    for data in (
        {"subject": "", "body_html": "<p>x</p>"},
        {"subject": "x" * 201, "body_html": "<p>x</p>"},
        {"subject": "ok", "body_html": ""},
        {"subject": "ok", "body_html": "x", "rate_per_minute": 5000},
        {"subject": "ok", "body_html": "x", "segment": {"colour": ["red"]}},
        {"subject": "ok", "body_html": "x", "segment": {"tag_ids": [10**9]}},
        {"subject": "ok", "body_html": "x", "from_name": "a\r\nBcc: x@evil.com"},
    ):
        with pytest.raises(ValidationFailed):
            services.create_campaign(actor=fresh(mw.marketer), data=data)
    assert EmailCampaign.objects.count() == before


def test_delivery_status_headers_and_unsubscribe_link(mw: MailWorld) -> None:
    """R9.3: each mail carries the signed unsubscribe link in both bodies and the
    List-Unsubscribe / one-click headers; each recipient's status and time are recorded."""
    campaign = compose(mw.marketer, from_name="华东市场部")
    send_now(mw.marketer, campaign)
    assert sending.run_org(mw.world.org) == 3
    assert len(mail.outbox) == 3
    message = next(m for m in mail.outbox if m.to == ["zhang@example.com"])
    recipient = Recipient.objects.get(email_campaign=campaign, email="zhang@example.com")
    header = message.extra_headers["List-Unsubscribe"]
    assert header.startswith("<https://crm.example.com/mailing/u/") and header.endswith("/>")
    link = header[1:-1]
    token = link.rstrip("/").rpartition("/")[2]
    assert services.read_token(token) == {
        "org_id": recipient.org_id,
        "email": "zhang@example.com",
        "campaign_id": campaign.pk,
    }
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link in message.body
    assert link in message.alternatives[0].content
    assert "华东市场部" in str(make_header(decode_header(message.from_email)))
    assert recipient.status == "sent" and recipient.sent_at is not None
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT and campaign.finished_at is not None


class Broken(Exception):
    pass


def test_a_failing_mailer_marks_the_recipient_failed_with_the_error(
    mw: MailWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R9.3: an SMTP error is recorded per recipient (failed + error text), never retried."""
    from django.core.mail import EmailMultiAlternatives

    calls: list[str] = []

    def broken_send(self: Any, fail_silently: bool = False) -> int:
        calls.append(self.to[0])
        if self.to[0] == "zhao@example.org":
            raise Broken("550 mailbox unavailable")
        return 1

    monkeypatch.setattr(EmailMultiAlternatives, "send", broken_send)
    campaign = compose(mw.marketer)
    send_now(mw.marketer, campaign)
    sending.run_org(mw.world.org)
    failed = Recipient.objects.get(email_campaign=campaign, email="zhao@example.org")
    assert failed.status == "failed" and "550 mailbox unavailable" in failed.error
    assert statuses(campaign)["zhang@example.com"] == "sent"
    sending.run_org(mw.world.org)
    assert sorted(calls) == sorted(set(calls))  # nothing sent twice
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT


def test_the_rate_limit_caps_each_run(mw: MailWorld, settings: Any) -> None:
    """R9.3: at most N mails per minute per organisation, and the campaign's own rate."""
    settings.CRM_MAIL_RATE_PER_MINUTE = 2
    campaign = compose(mw.marketer)
    send_now(mw.marketer, campaign)
    now = timezone.now()
    assert sending.run_org(mw.world.org, now) == 2
    assert sending.run_org(mw.world.org, now + timedelta(seconds=30)) == 0  # same minute
    assert len(mail.outbox) == 2
    assert sending.run_org(mw.world.org, now + timedelta(seconds=61)) == 1
    assert len(mail.outbox) == 3
    settings.CRM_MAIL_RATE_PER_MINUTE = 60
    slow = compose(mw.marketer, subject="慢速", rate_per_minute=1)
    send_now(mw.marketer, slow)
    later = now + timedelta(minutes=5)
    assert sending.run_org(mw.world.org, later) == 1
    assert sending.run_org(mw.world.org, later + timedelta(seconds=10)) == 0


def test_a_claimed_recipient_is_never_sent_twice(mw: MailWorld) -> None:
    """R9.3: the claim is a conditional update committed before sending: a second run (or a
    resumed killed run) finds nothing to claim; one left mid-send is failed, not resent."""
    campaign = compose(mw.marketer)
    send_now(mw.marketer, campaign)
    rows = list(Recipient.objects.filter(email_campaign=campaign, status="queued"))
    now = timezone.now()
    assert sending.deliver(rows[0], now) == "sent"
    assert sending.deliver(rows[0], now) == ""  # the stale copy claims nothing
    # a killed run left the second one claimed: the next runs never send it
    Recipient.objects.filter(pk=rows[1].pk).update(status="sending", claimed_at=now)
    sending.run_org(mw.world.org, now + timedelta(minutes=1))
    sending.run_org(mw.world.org, now + timedelta(minutes=20))
    assert [m.to[0] for m in mail.outbox].count(rows[1].email) == 0
    stuck = Recipient.objects.get(pk=rows[1].pk)
    assert stuck.status == "failed" and stuck.error
    assert len(mail.outbox) == 2
    assert len({m.to[0] for m in mail.outbox}) == 2


def test_a_scheduled_campaign_starts_when_due_and_cancel_stops_it(mw: MailWorld) -> None:
    """R9.3: scheduled campaigns wait; cancelled ones send nothing more."""
    when = timezone.now() + timedelta(hours=1)
    campaign = services.send_campaign(
        actor=fresh(mw.marketer), campaign=compose(mw.marketer), when=when
    )
    assert campaign.status == CampaignStatus.SCHEDULED
    assert sending.run_org(mw.world.org) == 0
    assert sending.run_org(mw.world.org, when + timedelta(seconds=1)) == 3
    other = send_now(mw.marketer, compose(mw.marketer, subject="取消"))
    services.cancel_campaign(actor=fresh(mw.marketer), campaign=other)
    assert sending.run_org(mw.world.org, when + timedelta(minutes=2)) == 0
    assert statuses(other) and set(statuses(other).values()) == {"queued"}


def test_the_unsubscribe_token_cannot_be_forged(mw: MailWorld) -> None:
    """R9.3: the link's token is signed: tampered, foreign-salt and unsigned tokens are
    refused."""
    from django.core import signing

    campaign = send_now(mw.marketer, compose(mw.marketer))
    recipient = Recipient.objects.filter(email_campaign=campaign).first()
    assert recipient is not None
    token = services.unsubscribe_token(recipient)
    assert services.read_token(token) == {
        "org_id": recipient.org_id,
        "email": recipient.email,
        "campaign_id": campaign.pk,
    }
    forged = [
        token[:-2] + ("aa" if not token.endswith("aa") else "bb"),
        signing.dumps({"o": recipient.org_id, "e": "x@example.com", "c": None}, salt="other"),
        signing.dumps({"o": recipient.org_id, "e": "x@example.com"}, salt="x")[:-1],
        "forged-token",
        "",
    ]
    for bad in forged:
        assert services.read_token(bad) is None, bad
