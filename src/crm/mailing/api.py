"""/api/v1/mailing/: e-mail campaigns (compose, preview, send, cancel), their recipients with
delivery status, the unsubscribe (suppression) list, and the bounce webhook of mail providers
(R9.3).

Thin handlers: check the function permission, look records up through the scoped layer (another
tenant's and out-of-scope ids answer 404), call one service, serialise.
"""

from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from crm.core.api import Paginated, scoped, scoped_get
from crm.core.errors import PermissionDenied
from crm.marketing.models import Campaign
from crm.org.models import User

from . import bounces, services
from .models import EmailCampaign, Recipient, Unsubscribe, UnsubscribeSource
from .schemas import (
    MailBounceBatch,
    MailBounceResult,
    MailCampaignDetail,
    MailCampaignRead,
    MailCampaignWrite,
    MailPreview,
    MailRecipientRead,
    MailSegment,
    MailSendIn,
    MailUnsubscribeIn,
    MailUnsubscribeRead,
    MailUnsubscribeRemoveIn,
)

router = Router()


class MailListFilter(Schema):
    status: str | None = None
    q: str | None = None


class MailRecipientFilter(Schema):
    status: str | None = None
    soft_bounced: bool | None = Field(None, description="Only mails that soft-bounced (or not)")


class MailUnsubscribeFilter(Schema):
    q: str | None = None
    source: UnsubscribeSource | None = None


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require(request: HttpRequest, action: str) -> None:
    if not _me(request).can("marketing", action):
        raise PermissionDenied()


def _campaign(request: HttpRequest, pk: int, action: str = "view") -> EmailCampaign:
    found: EmailCampaign = scoped_get(request, scoped(request, EmailCampaign, action), pk, action)
    return found


def _data(request: HttpRequest, payload: MailCampaignWrite) -> dict[str, Any]:
    data = payload.dict(exclude={"campaign_id", "version"})
    data["campaign"] = (
        None if payload.campaign_id is None else scoped_get(request, Campaign, payload.campaign_id)
    )
    return data


def _detail(campaign: EmailCampaign) -> dict[str, Any]:
    row = MailCampaignRead.model_validate(campaign).model_dump()
    row["counts"] = services.status_counts(campaign)
    row["bounces"] = bounces.bounce_counts(campaign)
    return row


@router.get("/campaigns", response=list[MailCampaignRead], summary="E-mail campaigns you may see")
@paginate(Paginated)
def list_email_campaigns(request: HttpRequest, filters: Query[MailListFilter]) -> Any:
    qs = scoped(request, EmailCampaign)
    if filters.status:
        qs = qs.filter(status=filters.status[:20])
    if filters.q:
        qs = qs.filter(subject__icontains=filters.q[:100])
    return qs.order_by("-created_at", "-pk")


@router.post("/campaigns", response={201: MailCampaignDetail}, summary="Compose a campaign")
def create_email_campaign(request: HttpRequest, payload: MailCampaignWrite) -> Any:
    _require(request, "create")
    campaign = services.create_campaign(actor=_me(request), data=_data(request, payload))
    return Status(201, _detail(campaign))


@router.post("/preview", response=MailPreview, summary="Who a segment reaches now")
def preview_segment(request: HttpRequest, payload: MailSegment) -> Any:
    _require(request, "create")
    me = _me(request)
    return services.preview(me, services.clean_segment(me, payload.dict()))


@router.get("/campaigns/{email_campaign_id}", response=MailCampaignDetail, summary="A campaign")
def get_email_campaign(request: HttpRequest, email_campaign_id: int) -> Any:
    _require(request, "view")
    return _detail(_campaign(request, email_campaign_id))


@router.put("/campaigns/{email_campaign_id}", response=MailCampaignDetail, summary="Change a draft")
def update_email_campaign(
    request: HttpRequest, email_campaign_id: int, payload: MailCampaignWrite
) -> Any:
    _require(request, "edit")
    campaign = _campaign(request, email_campaign_id, "edit")
    campaign = services.update_campaign(
        actor=_me(request), campaign=campaign, data=_data(request, payload), version=payload.version
    )
    return _detail(campaign)


@router.delete("/campaigns/{email_campaign_id}", response={204: None}, summary="Delete a draft")
def delete_email_campaign(request: HttpRequest, email_campaign_id: int) -> Any:
    _require(request, "delete")
    services.delete_campaign(
        actor=_me(request), campaign=_campaign(request, email_campaign_id, "delete")
    )
    return Status(204, None)


@router.post(
    "/campaigns/{email_campaign_id}/send",
    response=MailCampaignDetail,
    summary="Send a draft now or schedule it",
)
def send_email_campaign(request: HttpRequest, email_campaign_id: int, payload: MailSendIn) -> Any:
    _require(request, "edit")
    campaign = services.send_campaign(
        actor=_me(request),
        campaign=_campaign(request, email_campaign_id, "edit"),
        when=payload.scheduled_at,
    )
    return _detail(campaign)


@router.post(
    "/campaigns/{email_campaign_id}/cancel",
    response=MailCampaignDetail,
    summary="Cancel a campaign",
)
def cancel_email_campaign(request: HttpRequest, email_campaign_id: int) -> Any:
    _require(request, "edit")
    campaign = services.cancel_campaign(
        actor=_me(request), campaign=_campaign(request, email_campaign_id, "edit")
    )
    return _detail(campaign)


@router.get(
    "/campaigns/{email_campaign_id}/recipients",
    response=list[MailRecipientRead],
    summary="A campaign's recipients with their delivery status",
)
@paginate(Paginated)
def list_email_recipients(
    request: HttpRequest, email_campaign_id: int, filters: Query[MailRecipientFilter]
) -> Any:
    _require(request, "view")
    campaign = _campaign(request, email_campaign_id)
    qs = scoped(request, Recipient).filter(email_campaign=campaign)
    if filters.status:
        qs = qs.filter(status=filters.status[:24])
    if filters.soft_bounced is not None:
        qs = qs.filter(soft_bounces__gt=0) if filters.soft_bounced else qs.filter(soft_bounces=0)
    return qs.order_by("pk")


@router.get("/unsubscribes", response=list[MailUnsubscribeRead], summary="The unsubscribe list")
@paginate(Paginated)
def list_unsubscribes(request: HttpRequest, filters: Query[MailUnsubscribeFilter]) -> Any:
    if not _me(request).can("marketing", "configure"):
        return scoped(request, Unsubscribe).none()
    qs = scoped(request, Unsubscribe)
    if filters.q:
        qs = qs.filter(email__icontains=filters.q.strip().lower()[:254])
    if filters.source:
        qs = qs.filter(source=filters.source)
    return qs.order_by("-created_at", "-pk")


@router.post(
    "/unsubscribes",
    response={201: MailUnsubscribeRead},
    summary="Add an address to the unsubscribe list",
)
def add_unsubscribe(request: HttpRequest, payload: MailUnsubscribeIn) -> Any:
    _require(request, "configure")
    row = services.add_unsubscribe(actor=_me(request), email=payload.email, note=payload.note)
    return Status(201, row)


@router.delete(
    "/unsubscribes/{unsubscribe_id}",
    response={204: None},
    summary="Remove an address from the unsubscribe list (it may be mailed again)",
)
def remove_unsubscribe(
    request: HttpRequest, unsubscribe_id: int, params: Query[MailUnsubscribeRemoveIn]
) -> Any:
    _require(request, "configure")
    row = scoped_get(request, Unsubscribe, unsubscribe_id, "configure")
    services.remove_unsubscribe(actor=_me(request), row=row, reason=params.reason)
    return Status(204, None)


@router.post(
    "/bounces",
    response=MailBounceResult,
    summary="Report bounces (webhook of the mail provider)",
    description="``bounces``: a list of at most 1000 events. Hard bounces mark the latest mail "
    "to the address bounced and add it to the unsubscribe list; soft bounces are only counted. "
    "The same event sent twice changes nothing.",
)
def report_bounces(request: HttpRequest, payload: MailBounceBatch) -> Any:
    _require(request, "configure")
    return bounces.report_bounces(actor=_me(request), events=[e.dict() for e in payload.bounces])
