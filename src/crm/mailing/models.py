"""E-mail campaigns to a segment of contacts (R9.3).

An :class:`EmailCampaign` is written by a marketing user (its ``owner``, whose data scope decides
which contacts the segment reaches). Sending it materialises one :class:`Recipient` per distinct
address (``unique (org, email_campaign, email)``), skipping invalid and unsubscribed addresses
with the reason recorded. :class:`Unsubscribe` holds the organisation's suppression list by
normalised address: it is honoured by every later campaign, whatever happens to the contact.
A hard :class:`Bounce` (the receiving server said the address does not exist) adds the address
to the same list with the source ``bounce``, so the sending code excludes it in one place.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.core.models import ScopedModel, TenantModel
from crm.core.scoping import ScopedQuerySet, ScopeFields


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    CANCELLED = "cancelled", _("Cancelled")


class RecipientStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Being sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    BOUNCED = "bounced", _("Bounced")
    SKIPPED_UNSUBSCRIBED = "skipped_unsubscribed", _("Skipped: unsubscribed")
    SKIPPED_INVALID = "skipped_invalid", _("Skipped: invalid address")


class UnsubscribeSource(models.TextChoices):
    LINK = "link", _("Unsubscribe link")
    ONE_CLICK = "one_click", _("One-click (mail client)")
    MANUAL = "manual", _("Added by hand")
    BOUNCE = "bounce", _("Hard bounce")


class BounceKind(models.TextChoices):
    HARD = "hard", _("Hard bounce (permanent)")
    SOFT = "soft", _("Soft bounce (temporary)")


class BounceSource(models.TextChoices):
    MAILBOX = "mailbox", _("Bounce mailbox")
    WEBHOOK = "webhook", _("Provider webhook")


class EmailCampaign(ScopedModel):
    """One mailing: subject, text and sanitised HTML body, the segment filters, and its state.
    Seen by its owner and the marketing users whose data scope covers the owner."""

    campaign = models.ForeignKey(
        "marketing.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="email_campaigns",
        verbose_name=_("marketing campaign"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("sender"),
    )
    subject = models.CharField(_("subject"), max_length=200)
    from_name = models.CharField(_("from name"), max_length=100, blank=True)
    body_text = models.TextField(_("text body"), blank=True)
    body_html = models.TextField(_("HTML body"), blank=True)
    segment = models.JSONField(_("segment filters"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    rate_per_minute = models.PositiveIntegerField(_("mails per minute"), default=60)

    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner")
    scope_module: ClassVar[str] = "marketing"

    class Meta:
        verbose_name = _("e-mail campaign")
        verbose_name_plural = _("e-mail campaigns")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "-created_at"], name="mailcamp_recent_idx"),
            models.Index(fields=["org", "owner", "-created_at"], name="mailcamp_owner_idx"),
            models.Index(fields=["org", "status", "scheduled_at"], name="mailcamp_due_idx"),
        ]

    def __str__(self) -> str:
        return self.subject


class Recipient(TenantModel):
    """One address of a campaign, with its delivery status. ``email`` is the normalised
    snapshot taken when the campaign was sent (the contact may change or go later)."""

    email_campaign = models.ForeignKey(
        EmailCampaign,
        on_delete=models.CASCADE,
        related_name="recipients",
        verbose_name=_("e-mail campaign"),
    )
    contact = models.ForeignKey(
        "customers.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("contact"),
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    email = models.CharField(_("e-mail"), max_length=254)
    status = models.CharField(
        _("status"),
        max_length=24,
        choices=RecipientStatus.choices,
        default=RecipientStatus.QUEUED,
    )
    error = models.CharField(_("error"), max_length=500, blank=True)
    soft_bounces = models.PositiveIntegerField(_("soft bounces"), default=0)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, via="email_campaign")
    scope_module: ClassVar[str] = "marketing"

    class Meta:
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["org", "email_campaign", "status"], name="mailrcpt_status_idx"),
            models.Index(fields=["org", "status", "sent_at"], name="mailrcpt_sent_idx"),
            models.Index(fields=["org", "email"], name="mailrcpt_email_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "email_campaign", "email"], name="mailrcpt_unique_email"
            ),
        ]

    def __str__(self) -> str:
        return self.email


class Unsubscribe(TenantModel):
    """An address that asked not to be mailed again (normalised: trimmed, lower case).
    Honoured by every later campaign of the organisation, forever."""

    email = models.CharField(_("e-mail"), max_length=254)
    source = models.CharField(_("source"), max_length=20, choices=UnsubscribeSource.choices)
    email_campaign = models.ForeignKey(
        EmailCampaign,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("from campaign"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("added by"),
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "marketing"

    class Meta:
        verbose_name = _("unsubscribed address")
        verbose_name_plural = _("unsubscribed addresses")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["org", "-created_at"], name="mailunsub_recent_idx")]
        constraints = [
            models.UniqueConstraint(fields=["org", "email"], name="mailunsub_unique_email"),
        ]

    def __str__(self) -> str:
        return self.email


class Bounce(TenantModel):
    """One delivery failure reported after a mail left: a delivery status notification read
    from the bounce mailbox, or an event of the mail provider's webhook. ``key`` identifies the
    report (unique per organisation), so processing the same report twice changes nothing."""

    key = models.CharField(max_length=64, editable=False)
    email = models.CharField(_("e-mail"), max_length=254)
    kind = models.CharField(_("kind"), max_length=10, choices=BounceKind.choices)
    status = models.CharField(_("status code"), max_length=16, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    source = models.CharField(_("source"), max_length=10, choices=BounceSource.choices)
    email_campaign = models.ForeignKey(
        EmailCampaign,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("e-mail campaign"),
    )
    recipient = models.ForeignKey(
        Recipient,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bounces",
        verbose_name=_("recipient"),
    )

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "marketing"

    class Meta:
        verbose_name = _("bounce")
        verbose_name_plural = _("bounces")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "email_campaign", "kind"], name="mailbounce_campaign_idx"),
            models.Index(fields=["org", "email"], name="mailbounce_email_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["org", "key"], name="mailbounce_unique_key"),
        ]

    def __str__(self) -> str:
        return self.email
