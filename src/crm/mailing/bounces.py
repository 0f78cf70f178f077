"""Bounce processing of e-mail campaigns (R9.3): delivery failures reported after a mail left.

Two ways in, one way to apply them (:func:`apply`):

- ``crm process-bounces PATH`` reads the bounce mailbox (mbox, Maildir, a directory of ``.eml``
  files or one message) and :func:`parse_message` turns each message into reports: RFC 3464
  ``multipart/report; report-type=delivery-status`` notifications (Postfix, Exchange, Gmail,
  Exim, Sendmail …) field by field, and the common non-standard bounces (qmail, old Exim,
  provider notices) from their text, ``X-Failed-Recipients`` and the quoted original headers;
- ``POST /api/v1/mailing/bounces`` takes a provider's events (``email``, ``kind``, ``reason``).

The recipient is found by the signed reference the sending job writes into every mail's
``X-CRM-Recipient`` and ``Message-ID`` headers (a bounce quoting the original headers names it;
a forged reference does not verify), else by the failed address: the latest mail sent to it.

- **hard** (a ``5.x.x`` status, or an SMTP ``5xx`` reply): the recipient becomes ``bounced``
  with the reason, and the address joins the organisation's suppression list (the unsubscribe
  list, source ``bounce``): every later campaign skips it, in the one place that already skips
  unsubscribed addresses;
- **soft** (``4.x.x`` / ``4xx``, e.g. mailbox full for now, greylisting, a delayed delivery):
  counted on the recipient (``soft_bounces``), never suppressed.

Each report has a key (the notification's ``Message-ID`` or content digest, the address and
the kind; for the webhook the provider's event id or the event's fields) stored unique per
organisation in :class:`~crm.mailing.models.Bounce`: the same report processed twice changes
nothing, and an address taken off the list by hand is not put back by reading an old mailbox.
"""

from __future__ import annotations

import hashlib
import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from crm.org.models import User

from . import services
from .models import (
    Bounce,
    BounceKind,
    BounceSource,
    EmailCampaign,
    Recipient,
    RecipientStatus,
    UnsubscribeSource,
)

#: "4.2.2", "5.1.1": an RFC 3463 enhanced status code, not part of an IP address or version
_ENHANCED = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
#: "550 ", "421-": an SMTP reply code at the start of a reply
_SMTP_CODE = re.compile(r"(?<![\d.#])([45])\d\d(?=[ \-:])")
_ADDRESS = re.compile(r"[A-Za-z0-9._%+'=-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.[A-Za-z]+")
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (status notification|failure|has failed|incomplete)|"
    r"mail delivery (failed|failure|subsystem)|returned mail|failure notice|could not be delivered|"
    r"delivery failed|non.?delivery|退信|未能送达|投递失败|无法投递|发送失败",
    re.I,
)
_PERMANENT = re.compile(
    r"permanent(ly)? (error|failure|fatal)|does not exist|no such (user|mailbox)|user unknown|"
    r"unknown user|mailbox unavailable|address rejected|account (has been )?disabled|"
    r"recipient not found|用户不存在|地址不存在|邮箱不存在",
    re.I,
)
_TEMPORARY = re.compile(
    r"temporar(y|ily)|delayed|will (be )?retr|still trying|try again later|mailbox (is )?full|"
    r"quota exceeded|over quota|greylist|暂时",
    re.I,
)
#: where a non-standard bounce starts quoting the original message
_QUOTE_START = re.compile(
    r"^\s*-{2,}.*(copy of|original message|below this line|undelivered message)|"
    r"^\s*(Return-Path|Received):",
    re.I | re.M,
)
MAX_REASON = 500


@dataclass(frozen=True)
class Report:
    """One failed recipient of one notification (or one webhook event)."""

    email: str  # the failed address, normalised ("" when the notification does not say)
    kind: str  # BounceKind
    status: str  # "5.1.1"
    reason: str
    key: str  # identifies the report: sha256 hex
    ref: tuple[int, int, int] | None = None  # verified (org, campaign, recipient)


@dataclass
class Tally:
    """What a run did: reports applied per kind, and the ones that changed nothing."""

    messages: int = 0
    hard: int = 0
    soft: int = 0
    duplicate: int = 0
    unmatched: int = 0
    not_bounce: int = 0
    invalid: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()


# --- reading notifications ---------------------------------------------------------------------
def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, "replace")
        except LookupError:
            return payload.decode("utf-8", "replace")
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def _headers_text(msg: Message) -> str:
    return "".join(f"{name}: {value}\n" for name, value in msg.items())


def _all_text(msg: Message) -> str:
    """Every header and decoded text of the notification, attached messages included (where
    the original headers, and so the recipient reference, are quoted)."""
    chunks = []
    for part in msg.walk():
        chunks.append(_headers_text(part))
        if not part.is_multipart():
            chunks.append(_decoded(part))
    return "\n".join(chunks)


def _notice_text(msg: Message) -> str:
    """The human-readable text of the notification itself: text parts outside attached
    messages, cut where a non-standard bounce starts quoting the original."""
    chunks: list[str] = []

    def visit(part: Message) -> None:
        kind = part.get_content_type()
        if kind in ("message/rfc822", "text/rfc822-headers", "message/delivery-status"):
            return
        if part.is_multipart():
            for sub in part.get_payload():
                if isinstance(sub, Message):
                    visit(sub)
        elif part.get_content_maintype() == "text":
            text = _decoded(part)
            if kind == "text/html":
                text = re.sub(r"<[^>]+>", " ", text)
            chunks.append(text)

    visit(msg)
    text = "\n".join(chunks)
    cut = _QUOTE_START.search(text)
    return text[: cut.start()] if cut else text


def _fields(block: str) -> dict[str, str]:
    """``name -> value`` of one header-like block (continuation lines joined)."""
    found: dict[str, str] = {}
    name = ""
    for line in block.splitlines():
        if line[:1] in (" ", "\t") and name:
            found[name] += " " + line.strip()
            continue
        head, sep, value = line.partition(":")
        if sep and head.strip() and " " not in head.strip():
            name = head.strip().lower()
            found[name] = value.strip()
    return found


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The field groups of a ``message/delivery-status`` part: the per-message group first,
    then one per recipient (parsed by the email package, or from the text when an MTA encoded
    the part so that it was not)."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload:
        return [
            {k.lower(): str(v).strip() for k, v in block.items()}
            for block in payload
            if isinstance(block, Message)
        ]
    text = _decoded(part)
    return [f for f in (_fields(b) for b in re.split(r"\n\s*\n", text)) if f]


def _address_of(value: str) -> str:
    """The address of a ``Final-Recipient: rfc822; user@example.com`` value."""
    _kind, _sep, rest = value.partition(";")
    address = (rest or value).strip().strip("<>").strip()
    return services.normalize_email(address) if "@" in address else ""


def _classify(status: str, text: str) -> tuple[str, str] | None:
    """(kind, status code) from a status field or text; None when neither says."""
    match = _ENHANCED.search(status) or _ENHANCED.search(text)
    if match:
        code = ".".join(match.groups())
        return (BounceKind.HARD if match.group(1) == "5" else BounceKind.SOFT), code
    match = _SMTP_CODE.search(text)
    if match:
        kind = BounceKind.HARD if match.group(1) == "5" else BounceKind.SOFT
        return kind, ("5.0.0" if kind == BounceKind.HARD else "4.0.0")
    if _TEMPORARY.search(text):
        return BounceKind.SOFT, "4.0.0"
    if _PERMANENT.search(text):
        return BounceKind.HARD, "5.0.0"
    return None


def _reason(*parts: str) -> str:
    text = " ".join(" ".join(p.split()) for p in parts if p and p.strip())
    return text[:MAX_REASON]


def _is_bounce(msg: Message) -> bool:
    if msg.get_content_type() == "multipart/report":
        return True
    if msg.get("X-Failed-Recipients"):
        return True
    sender = getaddresses([str(msg.get("From", ""))])
    if any(_BOUNCE_SENDER.match(addr) for _n, addr in sender):
        return True
    return bool(_BOUNCE_SUBJECT.search(str(msg.get("Subject", ""))))


def _original_to(msg: Message) -> list[str]:
    """``To`` of the quoted original message (an attached message or headers part)."""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(first, Message) and first.get("To"):
                return [a for _n, a in getaddresses([str(first["To"])]) if "@" in a]
        elif kind == "text/rfc822-headers":
            to = _fields(_decoded(part)).get("to", "")
            if to:
                return [a for _n, a in getaddresses([to]) if "@" in a]
    return []


def _failed_addresses(msg: Message, notice: str) -> list[str]:
    """The failed addresses a non-standard bounce names."""
    header = str(msg.get("X-Failed-Recipients", ""))
    if header:
        return [a for _n, a in getaddresses([header]) if "@" in a]
    # qmail: "<user@example.com>:" at the start of a line
    found = re.findall(r"^<([^<>\s]+@[^<>\s]+)>:", notice, re.M)
    if found:
        return found
    # old Exim / Sendmail / providers: the addresses listed after "…failed:" or the like
    block = re.search(
        r"(address(es)? failed|following (address|recipient)s?|recipients?:|"
        r"could not be delivered to|收件人)[^\n]*\n((?:.*\n){1,6})",
        notice,
        re.I,
    )
    if block:
        found = _ADDRESS.findall(block.group(0))
        if found:
            return found
    return _original_to(msg)


def parse_message(msg: Message, raw: bytes = b"") -> list[Report]:
    """The bounce reports of one message of the bounce mailbox; [] when it is not a bounce
    (an auto-reply, a person's answer, a successful-delivery notification)."""
    if not _is_bounce(msg):
        return []
    ident = (
        str(msg.get("Message-ID", "")).strip() or hashlib.sha256(raw or msg.as_bytes()).hexdigest()
    )
    refs = services.read_recipient_refs(_all_text(msg))
    ref = refs[0] if len(refs) == 1 else None  # a campaign mail has one recipient
    notice = _notice_text(msg)
    reports: list[Report] = []
    status_part = next(
        (p for p in msg.walk() if p.get_content_type() == "message/delivery-status"), None
    )
    if status_part is not None:
        for fields in _status_blocks(status_part):  # the per-message group has no recipient
            address = _address_of(fields.get("final-recipient", "")) or _address_of(
                fields.get("original-recipient", "")
            )
            action = fields.get("action", "").lower()
            if not address or action in ("delivered", "relayed", "expanded"):
                continue
            diagnostic = fields.get("diagnostic-code", "")
            status = fields.get("status", "")
            if action == "delayed":
                found: tuple[str, str] | None = (BounceKind.SOFT, _code(status) or "4.0.0")
            else:
                found = _classify(status, diagnostic)
                if found is None and action == "failed":
                    found = (BounceKind.HARD, "5.0.0")
            if found is None:
                continue
            kind, code = found
            detail = re.sub(r"^\s*[\w-]+\s*;\s*", "", diagnostic)  # "smtp; 550 …" -> "550 …"
            reason = _reason(detail if code in detail else f"{code} {detail or action}")
            reports.append(
                Report(address, kind, code, reason, _digest("dsn", ident, address, kind), ref)
            )
        if reports:
            return reports
    found = _classify("", notice)
    if found is None:
        return []
    kind, code = found
    addresses = [services.normalize_email(a) for a in _failed_addresses(msg, notice)]
    addresses = list(dict.fromkeys(a for a in addresses if a))
    if not addresses and ref is None:
        return []
    line = _reason_line(notice, code)
    return [
        Report(address, kind, code, _reason(line), _digest("dsn", ident, address, kind), ref)
        for address in addresses or [""]
    ]


def _code(status: str) -> str:
    match = _ENHANCED.search(status)
    return ".".join(match.groups()) if match else ""


def _reason_line(notice: str, code: str) -> str:
    """The line of a non-standard bounce that gives the error (the one with the code)."""
    lines = [line.strip() for line in notice.splitlines() if line.strip()]
    for line in lines:
        if code in line or _SMTP_CODE.search(line):
            return line
    for line in lines:
        if _PERMANENT.search(line) or _TEMPORARY.search(line):
            return line
    return code


def read_mailbox(path: str | Path) -> Iterator[tuple[Message, bytes]]:
    """Each message of a Maildir, a directory of ``.eml`` files, an mbox file or a single
    message file, with its raw bytes (read only: nothing is moved or deleted)."""
    where = Path(path)
    if where.is_dir():
        if (where / "cur").is_dir() or (where / "new").is_dir():
            box: Any = mailbox.Maildir(str(where), factory=None, create=False)
            for key in sorted(box.keys()):
                raw = box.get_bytes(key)
                yield message_from_bytes(raw, policy=policy.compat32), raw
            return
        for file in sorted(where.glob("*.eml")):
            raw = file.read_bytes()
            yield message_from_bytes(raw, policy=policy.compat32), raw
        return
    with where.open("rb") as fh:
        head = fh.read(5)
    if head != b"From ":
        raw = where.read_bytes()
        yield message_from_bytes(raw, policy=policy.compat32), raw
        return
    box = mailbox.mbox(str(where), create=False)
    try:
        for key in box.iterkeys():
            raw = box.get_bytes(key)
            yield message_from_bytes(raw, policy=policy.compat32), raw
    finally:
        box.close()


# --- applying reports --------------------------------------------------------------------------
def _find_recipient(
    report: Report, *, org_id: int | None, campaign_id: int | None
) -> Recipient | None:
    """The recipient a report is about. A verified reference names it; else the latest mail
    sent to the address (within ``org_id``, and ``campaign_id`` when given). Bounce reports
    come without a user (the bounce mailbox) or from an organisation's token: the lookup is
    by signed reference or restricted to the organisation, never by a caller's scope."""
    if report.ref is not None:
        ref_org, ref_campaign, ref_pk = report.ref
        if org_id is not None and ref_org != org_id:
            return None
        found = Recipient.objects.filter(
            org_id=ref_org, email_campaign_id=ref_campaign, pk=ref_pk
        ).first()
        if found is not None:
            return found
    if not report.email:
        return None
    qs = Recipient.objects.filter(
        email=report.email, status__in=(RecipientStatus.SENT, RecipientStatus.BOUNCED)
    )
    if org_id is not None:
        qs = qs.filter(org_id=org_id)
    if campaign_id is not None:
        qs = qs.filter(email_campaign_id=campaign_id)
    return qs.order_by("-sent_at", "-pk").first()


def apply(
    report: Report,
    *,
    source: str,
    org_id: int | None = None,
    campaign_id: int | None = None,
    actor: User | None = None,
) -> str:
    """Apply one report; returns the outcome: ``hard``, ``soft``, ``duplicate`` (already
    processed) or ``unmatched`` (no recipient, and no organisation to suppress the address in).

    ``org_id`` restricts the lookup to one organisation (the webhook's token; ``--org``); with
    it, a hard bounce suppresses the address even when no mail of the organisation matches
    (the provider said so). Without it the report must name a recipient."""
    recipient = _find_recipient(report, org_id=org_id, campaign_id=campaign_id)
    target_org = recipient.org_id if recipient is not None else org_id
    if target_org is None:
        return "unmatched"
    email = recipient.email if recipient is not None else report.email
    if not email:
        return "unmatched"
    campaign = recipient.email_campaign_id if recipient is not None else None
    if campaign is None and campaign_id is not None:
        campaign = (
            EmailCampaign.objects.filter(org_id=target_org, pk=campaign_id)
            .values_list("pk", flat=True)
            .first()
        )
    with transaction.atomic():
        try:
            with transaction.atomic():
                Bounce.objects.create(
                    org_id=target_org,
                    key=report.key,
                    email=email,
                    kind=report.kind,
                    status=report.status[:16],
                    reason=report.reason[:MAX_REASON],
                    source=source,
                    email_campaign_id=campaign,
                    recipient=recipient,
                )
        except IntegrityError:
            return "duplicate"
        if report.kind == BounceKind.SOFT:
            if recipient is not None:
                Recipient.objects.filter(pk=recipient.pk).update(soft_bounces=F("soft_bounces") + 1)
            return "soft"
        if recipient is not None:
            Recipient.objects.filter(
                pk=recipient.pk,
                status__in=(RecipientStatus.SENT, RecipientStatus.SENDING, RecipientStatus.FAILED),
            ).update(status=RecipientStatus.BOUNCED, error=report.reason[:MAX_REASON])
        services.record_unsubscribe(
            org_id=target_org,
            email=email,
            source=UnsubscribeSource.BOUNCE,
            campaign_id=campaign,
            actor=actor,
            note=report.reason[:200],
        )
    return "hard"


def process_mailbox(path: str | Path, *, org_id: int | None = None) -> Tally:
    """Read every message of the bounce mailbox at ``path`` and apply its reports."""
    tally = Tally()
    for msg, raw in read_mailbox(path):
        tally.messages += 1
        try:
            reports = parse_message(msg, raw)
        except Exception:  # a malformed message must not stop the run
            tally.invalid += 1
            continue
        if not reports:
            tally.not_bounce += 1
            continue
        for report in reports:
            tally.add(apply(report, source=BounceSource.MAILBOX, org_id=org_id))
    return tally


def webhook_report(
    *, email: str, kind: str, reason: str = "", event_id: str = "", campaign_id: int | None = None
) -> Report | None:
    """A report from one provider event; None when the address is not valid."""
    address = services.normalize_email(email)
    if not services.is_valid_email(address) or kind not in BounceKind.values:
        return None
    code = _code(reason) or ("5.0.0" if kind == BounceKind.HARD else "4.0.0")
    parts = ["webhook", event_id] if event_id else ["webhook", address, kind, reason]
    if not event_id and campaign_id is not None:
        parts.append(str(campaign_id))
    return Report(address, kind, code, _reason(reason) or code, _digest(*parts))


def report_bounces(*, actor: User, events: list[dict[str, Any]]) -> dict[str, int]:
    """A provider's bounce events for the actor's organisation (``marketing:configure``):
    each ``{email, kind: hard|soft, reason, campaign_id?, event_id?}``."""
    org_id = services._require(actor, "configure")
    tally = Tally()
    for event in events:
        report = webhook_report(
            email=event.get("email") or "",
            kind=event.get("kind") or "",
            reason=event.get("reason") or "",
            event_id=event.get("event_id") or "",
            campaign_id=event.get("campaign_id"),
        )
        if report is None:
            tally.invalid += 1
            continue
        tally.add(
            apply(
                report,
                source=BounceSource.WEBHOOK,
                org_id=org_id,
                campaign_id=event.get("campaign_id"),
                actor=actor,
            )
        )
    result = tally.as_dict()
    result.pop("messages")
    result.pop("not_bounce")
    return result


def bounce_counts(campaign: EmailCampaign) -> dict[str, int]:
    """Recipients of the campaign that hard-bounced and that soft-bounced at least once."""
    recipients = Recipient.objects.filter(org_id=campaign.org_id, email_campaign=campaign)
    return {
        "hard": recipients.filter(status=RecipientStatus.BOUNCED).count(),
        "soft": recipients.filter(soft_bounces__gt=0).count(),
    }
