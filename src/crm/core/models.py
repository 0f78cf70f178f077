"""Base models shared by every app, and the cross-cutting records: events, notifications, jobs."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .scoping import ScopedQuerySet, ScopeFields


class TenantModel(models.Model):
    """A row that belongs to one organisation. ``org`` leads every index of a tenant table."""

    org = models.ForeignKey(
        "org.Organization",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("organisation"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class ScopedModel(TenantModel):
    """A business record: tenant row with creator, optimistic-lock version and a data scope.

    Subclasses set ``scope`` (how the row relates to people) and ``scope_module`` (the
    permission module whose actions govern it).
    """

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    version = models.PositiveIntegerField(_("version"), default=1)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields()
    scope_module: ClassVar[str] = ""

    class Meta:
        abstract = True


class EventQuerySet(ScopedQuerySet):
    def for_object(self, obj: models.Model) -> EventQuerySet:
        return self.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))


class Event(TenantModel):
    """The transactional outbox and audit trail: one row per change, written by the service
    in the same transaction as the change. Append-only.

    ``actor`` is the user who acted; for jobs it is null and ``actor_label`` names the job.
    ``changes`` maps field name to ``[old, new]``.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(_("actor label"), max_length=100, blank=True)
    verb = models.CharField(_("verb"), max_length=50)
    object_type = models.CharField(_("object type"), max_length=100)
    object_id = models.CharField(_("object id"), max_length=64)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)

    objects = EventQuerySet.as_manager()
    # The audit trail is read by admins (module "audit"); a record's own history is read
    # through the record's scope (see crm.core.audit.history_for).
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "audit"

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["org", "object_type", "object_id", "-created_at"], name="event_object_idx"
            ),
            models.Index(fields=["org", "-created_at"], name="event_time_idx"),
            models.Index(fields=["org", "actor", "-created_at"], name="event_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.verb} {self.object_type}#{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise RuntimeError("events are append-only")
        super().save(*args, **kwargs)


class Notification(TenantModel):
    """An in-app message to one user (e-mailed too when the user wants)."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    verb = models.CharField(_("verb"), max_length=50)
    message = models.CharField(_("message"), max_length=500)
    url = models.CharField(_("link"), max_length=300, blank=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner="recipient", personal=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["org", "recipient", "read_at"], name="notif_inbox_idx")]

    def __str__(self) -> str:
        return self.message


class JobRun(models.Model):
    """Last run of each periodic job (shown to admins on the jobs page)."""

    name = models.CharField(_("job"), max_length=100, primary_key=True)
    last_started_at = models.DateTimeField(_("last started"), null=True, blank=True)
    last_finished_at = models.DateTimeField(_("last finished"), null=True, blank=True)
    last_status = models.CharField(_("status"), max_length=20, blank=True)
    last_message = models.TextField(_("message"), blank=True)
    runs = models.PositiveIntegerField(_("runs"), default=0)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")

    def __str__(self) -> str:
        return self.name


def _attachment_path(instance: Attachment, filename: str) -> str:
    """``attachments/<org>/<yyyy>/<mm>/<random>.<ext>``: the user's file name is never a path."""
    import secrets
    from pathlib import PurePosixPath

    from django.utils import timezone

    suffix = PurePosixPath(filename).suffix.lower()[:10]
    now = timezone.now()
    return f"attachments/{instance.org_id}/{now:%Y/%m}/{secrets.token_hex(16)}{suffix}"


class Comment(TenantModel):
    """A comment on any record (customer, opportunity, contract…), with @mentions.

    Read and written through the record: whoever may see the record sees its comments
    (``crm.core.collab``). Only the author may edit or delete a comment.
    """

    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=64)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("author"),
    )
    body = models.TextField(_("comment"))
    mentions = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("mentioned")
    )
    edited_at = models.DateTimeField(_("edited at"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner="author", personal=True)

    class Meta:
        verbose_name = _("comment")
        verbose_name_plural = _("comments")
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(
                fields=["org", "target_type", "target_id", "created_at"], name="comment_target_idx"
            )
        ]

    def __str__(self) -> str:
        return self.body[:50]


class Attachment(TenantModel):
    """A file on any record, stored under the media root with a random name and served only
    to users who may see the record (``crm.core.collab``)."""

    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    file = models.FileField(_("file"), upload_to=_attachment_path, max_length=300)
    name = models.CharField(_("file name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size"))
    content_type = models.CharField(_("type"), max_length=100)
    description = models.CharField(_("description"), max_length=300, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner="uploaded_by", personal=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["org", "target_type", "target_id", "-created_at"],
                name="attachment_target_idx",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Sequence(TenantModel):
    """The last number handed out for one kind of document of an organisation (``key``, e.g.
    ``contract-2026``). ``crm.core.numbering`` increments it with a conditional UPDATE inside the
    caller's transaction, so concurrent writers never get the same number."""

    key = models.CharField(max_length=60)
    value = models.PositiveBigIntegerField(default=0)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "settings"

    class Meta:
        verbose_name = _("number sequence")
        verbose_name_plural = _("number sequences")
        constraints = [models.UniqueConstraint(fields=["org", "key"], name="sequence_unique_key")]

    def __str__(self) -> str:
        return f"{self.key}: {self.value}"


from .custom_field_models import CustomField  # noqa: E402,F401
from .idempotency import IdempotencyRecord  # noqa: E402,F401
from .webhook_models import WebhookDelivery, WebhookEndpoint  # noqa: E402,F401
