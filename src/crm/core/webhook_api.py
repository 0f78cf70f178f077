"""/api/v1/webhooks/: subscriptions, their delivery log and redelivery (H-HOOKS; issue 7, R10.2).

Administrators only (``settings:configure``): others get 403 on writes and an empty list or 404
on reads. The signing secret is in the answer of create and rotate only.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from .api import Paginated, scoped, scoped_get
from .errors import PermissionDenied
from .webhook_models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from .webhooks import (
    create_endpoint,
    delete_endpoint,
    event_type_choices,
    redeliver,
    rotate_secret,
    update_endpoint,
)

router = Router()

ADMIN = ("settings", "configure")


class EndpointRead(Schema):
    id: int
    name: str
    url: str
    event_types: list[str]
    is_active: bool
    allowed_private_host: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class EndpointCreated(EndpointRead):
    secret: str = Field(description="The signing secret: shown only in this answer")


class SecretOut(Schema):
    secret: str = Field(description="The new signing secret: shown only in this answer")


class EndpointCreate(Schema):
    name: str = Field(max_length=100)
    url: str = Field(max_length=500, description="https:// (or http://) URL receiving the POSTs")
    event_types: list[str] = Field(
        max_length=100, description='"*", "customer.*" or "opportunity.stage_changed"…'
    )
    is_active: bool = True
    allowed_private_host: bool = Field(
        False,
        description="Allow a private or loopback address (an administrator's explicit choice)",
    )


class EndpointUpdate(Schema):
    name: str | None = Field(None, max_length=100)
    url: str | None = Field(None, max_length=500)
    event_types: list[str] | None = Field(None, max_length=100)
    is_active: bool | None = None
    allowed_private_host: bool | None = None


class EventTypeOut(Schema):
    value: str
    label: str


class DeliveryRead(Schema):
    id: int
    endpoint_id: int
    event_id: int
    event_type: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_attempt_at: dt.datetime | None
    last_response_code: int | None
    last_error: str
    delivered_at: dt.datetime | None
    created_at: dt.datetime

    @staticmethod
    def resolve_event_type(obj: WebhookDelivery) -> str:
        return obj.event.verb


class DeliveryFilter(Schema):
    status: DeliveryStatus | None = Field(None, description="pending, sent, failed or dead")


def _require_admin(request: HttpRequest) -> None:
    if not request.user.can(*ADMIN):  # type: ignore[union-attr]
        raise PermissionDenied()


def _endpoint(request: HttpRequest, endpoint_id: int) -> WebhookEndpoint:
    return scoped_get(request, WebhookEndpoint, endpoint_id, "configure")


def _endpoint_out(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.pk,
        "name": endpoint.name,
        "url": endpoint.url,
        "event_types": endpoint.event_types,
        "is_active": endpoint.is_active,
        "allowed_private_host": endpoint.allowed_private_host,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }


@router.get("/event-types", response=list[EventTypeOut], summary="Event types one can subscribe to")
def list_event_types(request: HttpRequest) -> Any:
    _require_admin(request)
    return [{"value": v, "label": label} for v, label in event_type_choices()]


@router.get("/endpoints", response=list[EndpointRead], summary="The organisation's webhooks")
@paginate(Paginated)
def list_endpoints(request: HttpRequest) -> Any:
    return scoped(request, WebhookEndpoint, "configure").order_by("name", "pk")


@router.post(
    "/endpoints",
    response={201: EndpointCreated},
    summary="Subscribe a URL to event types (the answer holds the signing secret, once)",
)
def create_webhook(request: HttpRequest, payload: EndpointCreate) -> Any:
    _require_admin(request)
    endpoint, secret = create_endpoint(actor=request.user, data=payload.dict())
    return Status(201, {**_endpoint_out(endpoint), "secret": secret})


@router.get("/endpoints/{endpoint_id}", response=EndpointRead, summary="A webhook")
def get_webhook(request: HttpRequest, endpoint_id: int) -> Any:
    return _endpoint_out(_endpoint(request, endpoint_id))


@router.patch("/endpoints/{endpoint_id}", response=EndpointRead, summary="Change a webhook")
def update_webhook(request: HttpRequest, endpoint_id: int, payload: EndpointUpdate) -> Any:
    _require_admin(request)
    endpoint = _endpoint(request, endpoint_id)
    data = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    return _endpoint_out(update_endpoint(actor=request.user, endpoint=endpoint, data=data))


@router.delete("/endpoints/{endpoint_id}", response={204: None}, summary="Delete a webhook")
def delete_webhook(request: HttpRequest, endpoint_id: int) -> Any:
    _require_admin(request)
    delete_endpoint(actor=request.user, endpoint=_endpoint(request, endpoint_id))
    return Status(204, None)


@router.post(
    "/endpoints/{endpoint_id}/rotate-secret",
    response=SecretOut,
    summary="Replace the signing secret (the old one stops working at once)",
)
def rotate_webhook_secret(request: HttpRequest, endpoint_id: int) -> Any:
    _require_admin(request)
    endpoint = _endpoint(request, endpoint_id)
    return {"secret": rotate_secret(actor=request.user, endpoint=endpoint)}


@router.get(
    "/endpoints/{endpoint_id}/deliveries",
    response=list[DeliveryRead],
    summary="A webhook's deliveries, newest first, with response codes",
)
@paginate(Paginated)
def list_deliveries(request: HttpRequest, endpoint_id: int, filters: Query[DeliveryFilter]) -> Any:
    endpoint = _endpoint(request, endpoint_id)
    qs = scoped(request, WebhookDelivery, "configure").filter(endpoint=endpoint)
    if filters.status:
        qs = qs.filter(status=filters.status)
    return qs.select_related("event").order_by("-created_at", "-pk")


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    response=DeliveryRead,
    summary="Send a delivery again (same event id, a fresh series of attempts)",
)
def redeliver_delivery(request: HttpRequest, delivery_id: int) -> Any:
    _require_admin(request)
    delivery = scoped_get(
        request,
        scoped(request, WebhookDelivery, "configure").select_related("event", "endpoint"),
        delivery_id,
        "configure",
    )
    delivery = redeliver(actor=request.user, delivery=delivery)
    return WebhookDelivery.objects.select_related("event").get(pk=delivery.pk)
