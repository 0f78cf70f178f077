"""Sending e-mail campaigns (R9.3): run every minute by the ``mailing.send`` job.

Per organisation and run:

1. scheduled campaigns whose time has come start (conditional UPDATE: one run wins);
2. recipients left *being sent* by a killed run for longer than ``STALE_AFTER`` are marked
   failed, **not** retried: the mail may have left before the kill, and no address is ever
   mailed twice;
3. the organisation's budget is ``CRM_MAIL_RATE_PER_MINUTE`` minus the mails attempted in the
   last 60 seconds; each campaign also keeps to its own ``rate_per_minute``;
4. each queued recipient is *claimed* with ``UPDATE … SET status='sending' WHERE
   status='queued'`` committed **before** the SMTP call (of two workers exactly one gets it),
   checked against the unsubscribe list and the address syntax again, sent through Django's
   configured mailer, then marked sent or failed with the error;
5. a campaign without queued or claimed recipients is marked sent.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from crm.org.models import Organization

from . import services
from .models import CampaignStatus, EmailCampaign, Recipient, RecipientStatus

log = logging.getLogger("crm.jobs")

WINDOW = timedelta(seconds=60)
STALE_AFTER = timedelta(minutes=10)
ATTEMPTED = (RecipientStatus.SENDING, RecipientStatus.SENT, RecipientStatus.FAILED)


def _recent(org_id: int, now: datetime, campaign: EmailCampaign | None = None) -> int:
    qs = Recipient.objects.filter(org_id=org_id, status__in=ATTEMPTED, claimed_at__gt=now - WINDOW)
    if campaign is not None:
        qs = qs.filter(email_campaign=campaign)
    return qs.count()


def bounce_address() -> str:
    """The envelope sender (``Return-Path``) bounces go to when it is not the ``From`` address:
    ``CRM_MAIL_BOUNCE_ADDRESS`` (setting or environment variable); empty when unset."""
    value = getattr(settings, "CRM_MAIL_BOUNCE_ADDRESS", None)
    if value is None:
        value = os.environ.get("CRM_MAIL_BOUNCE_ADDRESS", "")
    return str(value or "").strip()


def message_id(ref: str) -> str:
    """``<ref@domain>`` with the domain of the sending address: a bounce quoting the original
    headers names the recipient even when it drops the ``X-CRM-Recipient`` header."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "crm.invalid"
    return f"<{ref}@{domain}>"


def build_message(recipient: Recipient) -> EmailMultiAlternatives:
    """The mail of one recipient: text and HTML bodies, each with the unsubscribe link, the
    ``List-Unsubscribe`` / ``List-Unsubscribe-Post`` headers (RFC 2369, RFC 8058), and the
    signed recipient reference in ``X-CRM-Recipient`` and the ``Message-ID`` (for bounce
    processing, :mod:`crm.mailing.bounces`)."""
    campaign = recipient.email_campaign
    link = services.unsubscribe_url(recipient)
    footer = _("You receive this e-mail as a contact of %(org)s. Unsubscribe: %(link)s") % {
        "org": campaign.org.name,
        "link": link,
    }
    text = f"{campaign.body_text}\n\n--\n{footer}\n"
    html_footer = _(
        'You receive this e-mail as a contact of %(org)s. <a href="%(link)s">Unsubscribe</a>'
    ) % {
        "org": escape(campaign.org.name),
        "link": escape(link),
    }
    html = f'{campaign.body_html}<hr><p style="font-size:12px;color:#666">{html_footer}</p>'
    sender = settings.DEFAULT_FROM_EMAIL
    if campaign.from_name:
        sender = formataddr((campaign.from_name, sender))
    ref = services.recipient_ref(recipient)
    headers = {
        "Message-ID": message_id(ref),
        "X-CRM-Recipient": ref,
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    envelope = bounce_address()
    if envelope:  # Django sends from ``from_email``; the From header stays the sender
        headers["From"] = sender
    message = EmailMultiAlternatives(
        subject=campaign.subject,
        body=text,
        from_email=envelope or sender,
        to=[recipient.email],
        headers=headers,
    )
    message.attach_alternative(html, "text/html")
    return message


def _claim(recipient: Recipient, now: datetime) -> bool:
    return bool(
        Recipient.objects.filter(pk=recipient.pk, status=RecipientStatus.QUEUED).update(
            status=RecipientStatus.SENDING, claimed_at=now
        )
    )


def deliver(recipient: Recipient, now: datetime) -> str:
    """Claim and send one recipient's mail; returns the status it ends in ("" when another
    run had claimed it)."""
    if not _claim(recipient, now):
        return ""
    done = Recipient.objects.filter(pk=recipient.pk, status=RecipientStatus.SENDING)
    if services.is_unsubscribed(recipient.org_id, recipient.email):
        done.update(status=RecipientStatus.SKIPPED_UNSUBSCRIBED)
        return RecipientStatus.SKIPPED_UNSUBSCRIBED
    if not services.is_valid_email(recipient.email):
        done.update(status=RecipientStatus.SKIPPED_INVALID, error=_("Not a valid e-mail address."))
        return RecipientStatus.SKIPPED_INVALID
    try:
        build_message(recipient).send(fail_silently=False)
    except Exception as exc:  # the mailer's errors are many: record any of them
        log.warning("campaign mail %s failed: %s", recipient.pk, exc)
        done.update(status=RecipientStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:500])
        return RecipientStatus.FAILED
    done.update(status=RecipientStatus.SENT, sent_at=timezone.now(), error="")
    return RecipientStatus.SENT


def start_due(org_id: int, now: datetime) -> int:
    return EmailCampaign.objects.filter(
        org_id=org_id, status=CampaignStatus.SCHEDULED, scheduled_at__lte=now
    ).update(status=CampaignStatus.SENDING, started_at=now)


def fail_stale(org_id: int, now: datetime) -> int:
    return Recipient.objects.filter(
        org_id=org_id, status=RecipientStatus.SENDING, claimed_at__lt=now - STALE_AFTER
    ).update(
        status=RecipientStatus.FAILED,
        error=_("Interrupted while sending; not retried so that nobody gets the mail twice."),
    )


def run_org(org: Organization, now: datetime | None = None) -> int:
    """One run for one organisation; returns the number of mails sent."""
    now = now or timezone.now()
    start_due(org.pk, now)
    fail_stale(org.pk, now)
    budget = services.org_rate_limit() - _recent(org.pk, now)
    sent = 0
    campaigns = EmailCampaign.objects.filter(org_id=org.pk, status=CampaignStatus.SENDING).order_by(
        "started_at", "pk"
    )
    for campaign in campaigns:
        quota = min(budget, campaign.rate_per_minute - _recent(org.pk, now, campaign))
        if quota > 0:
            batch = list(
                Recipient.objects.filter(
                    org_id=org.pk, email_campaign=campaign, status=RecipientStatus.QUEUED
                )
                .select_related("email_campaign__org")
                .order_by("pk")[:quota]
            )
            for recipient in batch:
                status = deliver(recipient, now)
                if status in ATTEMPTED:
                    budget -= 1
                sent += status == RecipientStatus.SENT
        pending = Recipient.objects.filter(
            Q(status=RecipientStatus.QUEUED) | Q(status=RecipientStatus.SENDING),
            org_id=org.pk,
            email_campaign=campaign,
        ).exists()
        if not pending:
            EmailCampaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENDING).update(
                status=CampaignStatus.SENT, finished_at=timezone.now()
            )
    return sent


def run_all(now: datetime | None = None) -> int:
    total = 0
    for org in Organization.objects.filter(is_active=True):
        with translation.override(settings.LANGUAGE_CODE):
            total += run_org(org, now)
    return total
