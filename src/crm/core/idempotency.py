"""``Idempotency-Key`` on API writes (R10.1): a client that retries a POST (a timeout, a lost
answer) with the same key gets the first answer again instead of a second record.

- Same caller, same key, same request (method, path, query, body) → the stored answer, with
  ``Idempotent-Replayed: true``; nothing runs twice.
- Same key with a different request → 422 ``idempotency_key_reused``.
- Same key while the first request is still running → 409 ``idempotency_in_progress``.
- Keys belong to the caller (the API token, or the logged-in user), so one caller can never
  replay another's answer; they are kept for 24 hours.
- Server errors (5xx) are not stored: the client may retry them with the same key.

It applies to POST, PUT, PATCH and DELETE under ``/api/`` that send the header; requests
without it work as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, models, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .api import error_body

HEADER = "HTTP_IDEMPOTENCY_KEY"
METHODS = {"POST", "PUT", "PATCH", "DELETE"}
KEEP = timedelta(hours=24)
MAX_KEY = 200
MAX_STORED_BODY = 1_000_000


class IdempotencyRecord(models.Model):
    """The first answer to one caller's request under one key."""

    principal = models.CharField(gettext_lazy("caller"), max_length=80)
    key = models.CharField(gettext_lazy("key"), max_length=MAX_KEY)
    fingerprint = models.CharField(gettext_lazy("request fingerprint"), max_length=64)
    status_code = models.PositiveSmallIntegerField(gettext_lazy("status"), null=True)
    content_type = models.CharField(gettext_lazy("content type"), max_length=100, blank=True)
    body = models.BinaryField(gettext_lazy("body"), default=b"")
    created_at = models.DateTimeField(gettext_lazy("created at"), default=timezone.now)

    class Meta:
        app_label = "core"
        verbose_name = gettext_lazy("idempotency key")
        verbose_name_plural = gettext_lazy("idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotency_unique"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_age_idx")]

    def __str__(self) -> str:
        return self.key


def _principal(request: HttpRequest) -> str | None:
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if auth.lower().startswith("bearer "):
        return "token:" + hashlib.sha256(auth[7:].strip().encode()).hexdigest()
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    for part in (request.method or "", request.path, request.META.get("QUERY_STRING", "")):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(request.body)
    return digest.hexdigest()


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.body),
        status=record.status_code or 200,
        content_type=record.content_type or "application/json",
    )
    response["Idempotent-Replayed"] = "true"
    return response


def purge_expired(now: Any = None) -> int:
    """Forget keys older than 24 hours (the daily job)."""
    cutoff = (now or timezone.now()) - KEEP
    deleted, _detail = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.META.get(HEADER)
        if key is None or request.method not in METHODS or not request.path.startswith("/api/"):
            return self.get_response(request)
        if not key or len(key) > MAX_KEY or not key.isascii() or not key.isprintable():
            return _error(
                400,
                "invalid_idempotency_key",
                _("Idempotency-Key must be 1 to %(max)s printable ASCII characters.")
                % {"max": MAX_KEY},
            )
        principal = _principal(request)
        if principal is None:
            return self.get_response(request)  # the API answers 401 itself
        fingerprint = _fingerprint(request)
        record = self._claim(principal, key, fingerprint)
        if isinstance(record, HttpResponse):
            return record
        try:
            response = self.get_response(request)
        except BaseException:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            raise
        if (
            response.status_code >= 500
            or response.streaming
            or len(response.content) > MAX_STORED_BODY
        ):
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            status_code=response.status_code,
            content_type=response.get("Content-Type", "")[:100],
            body=response.content,
        )
        return response

    def _claim(
        self, principal: str, key: str, fingerprint: str
    ) -> IdempotencyRecord | HttpResponse:
        """Insert the key (this request runs) or answer from the earlier request."""
        for _attempt in range(2):
            try:
                with transaction.atomic():
                    return IdempotencyRecord.objects.create(
                        principal=principal, key=key, fingerprint=fingerprint
                    )
            except IntegrityError:
                pass
            earlier = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
            if earlier is None:
                continue  # deleted meanwhile (a failed first try): claim it now
            if earlier.created_at < timezone.now() - KEEP:
                IdempotencyRecord.objects.filter(pk=earlier.pk).delete()
                continue
            if earlier.fingerprint != fingerprint:
                return _error(
                    422,
                    "idempotency_key_reused",
                    _(
                        "This Idempotency-Key was used for a different request. Use a new key "
                        "for a new request."
                    ),
                )
            if earlier.status_code is None:
                return _error(
                    409,
                    "idempotency_in_progress",
                    _("A request with this Idempotency-Key is still running; retry shortly."),
                )
            return _replay(earlier)
        return _error(
            409,
            "idempotency_in_progress",
            _("A request with this Idempotency-Key is still running; retry shortly."),
        )
