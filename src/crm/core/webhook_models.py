"""Webhook subscriptions and their deliveries (issue 7, R10.1/R10.2).

An administrator subscribes a URL to event types; the fan-out turns events of the outbox
(:class:`crm.core.models.Event`) into one :class:`WebhookDelivery` per (endpoint, event), which
the sender posts, signs and retries (``crm.core.webhooks``).
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .models import TenantModel
from .scoping import ScopedQuerySet, ScopeFields


class WebhookEndpoint(TenantModel):
    """A URL that receives the organisation's events of the chosen types, signed with ``secret``.

    ``cursor`` is the id of the last event the fan-out has looked at; ``start_after`` the last
    event id when the endpoint was created (older events are never sent to it).
    """

    name = models.CharField(_("name"), max_length=100)
    url = models.CharField(_("URL"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=100)
    event_types = models.JSONField(_("event types"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    allowed_private_host = models.BooleanField(
        _("allow a private or loopback host"),
        default=False,
        help_text=_(
            "Lets the URL point at an address inside your network. Only for hosts you trust."
        ),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    start_after = models.BigIntegerField(default=0)
    cursor = models.BigIntegerField(default=0)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "settings"

    class Meta:
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        ordering = ["name", "pk"]
        indexes = [models.Index(fields=["org", "is_active"], name="webhook_active_idx")]

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed, will retry")
    DEAD = "dead", _("Given up")


class WebhookDelivery(TenantModel):
    """One logical delivery of one event to one endpoint, with its retries.

    ``next_attempt_at`` is when the sender may (re)try it; a sender claims a delivery by moving
    it forward with a conditional UPDATE, so two senders never post the same delivery at once.
    """

    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("webhook"),
    )
    event = models.ForeignKey(
        "core.Event", on_delete=models.CASCADE, related_name="+", verbose_name=_("event")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_response_code = models.PositiveIntegerField(_("response code"), null=True, blank=True)
    last_error = models.CharField(_("error"), max_length=300, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "settings"

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "endpoint", "event"], name="webhook_delivery_once"
            )
        ]
        indexes = [
            models.Index(fields=["org", "status", "next_attempt_at"], name="webhook_due_idx"),
            models.Index(
                fields=["org", "endpoint", "-created_at"], name="webhook_delivery_list_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_id}/{self.event_id}"
