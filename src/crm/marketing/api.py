"""/api/v1/marketing/: campaigns (CRUD, status) and their attribution figures (R9.3).

Thin handlers: check the function permission, look records up through the scoped layer (another
tenant's ids answer 404, ids in the body too), call one service, serialise.
"""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from ninja.pagination import paginate

from crm.core.api import Paginated, apply_sort, scoped, scoped_get
from crm.core.errors import PermissionDenied, ValidationFailed
from crm.org.models import User

from . import selectors, services
from .models import Campaign
from .schemas import (
    CampaignAttribution,
    CampaignCreate,
    CampaignFilterIn,
    CampaignRead,
    CampaignStatusIn,
    CampaignUpdate,
)

router = Router()

SORTS = {
    "name": "name",
    "start_date": "start_date",
    "end_date": "end_date",
    "status": "status",
    "budget": "budget",
    "actual_cost": "actual_cost",
    "created": "created_at",
    "updated": "updated_at",
}


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require(request: HttpRequest, action: str) -> None:
    if not _me(request).can("marketing", action):
        raise PermissionDenied()


def _read(qs: QuerySet[Campaign]) -> QuerySet[Campaign]:
    return qs.select_related("owner", "form_pool")


def _campaign(request: HttpRequest, pk: int, action: str = "view") -> Campaign:
    _require(request, "view")
    campaign: Campaign = scoped_get(request, _read(scoped(request, Campaign)), pk, action)
    return campaign


def _owner(request: HttpRequest, pk: int | None) -> User | None:
    if pk is None:
        return None
    owner = User.objects.visible_to(_me(request)).filter(pk=pk, is_active=True).first()
    if owner is None:
        raise ValidationFailed(field_errors={"owner_id": [_("Choose an active colleague.")]})
    return owner


def _pool(request: HttpRequest, pk: int | None) -> Any:
    if pk is None:
        return None
    from crm.leads.models import LeadPool

    return scoped_get(request, LeadPool, pk)


def _filter(filters: CampaignFilterIn) -> selectors.CampaignFilter:
    return selectors.CampaignFilter(
        q=filters.q or "",
        campaign_type=filters.campaign_type or "",
        status=filters.status or "",
        owner_id=filters.owner_id,
        start=filters.start,
        end=filters.end,
    )


@router.get("/campaigns", response=list[CampaignRead], summary="Campaigns (filter, sort, page)")
@paginate(Paginated)
def list_campaigns(
    request: HttpRequest, filters: Query[CampaignFilterIn], sort: str | None = None
) -> Any:
    _require(request, "view")
    qs = selectors.apply_filter(selectors.campaigns(_me(request)), _filter(filters))
    return apply_sort(qs, sort, SORTS, ["-start_date", "-pk"])


@router.post("/campaigns", response={201: CampaignRead}, summary="Plan a campaign")
def create_campaign(request: HttpRequest, payload: CampaignCreate) -> Any:
    _require(request, "create")
    campaign = services.create_campaign(
        actor=_me(request),
        data=payload.dict(exclude={"owner_id", "form_pool_id"}),
        owner=_owner(request, payload.owner_id),
        form_pool=_pool(request, payload.form_pool_id),
    )
    return Status(201, _campaign(request, campaign.pk))


@router.get(
    "/campaigns/attribution",
    response=list[CampaignAttribution],
    summary="Attribution figures of the campaigns (your leads and opportunities only)",
)
@paginate(Paginated)
def list_attribution(request: HttpRequest, filters: Query[CampaignFilterIn]) -> Any:
    _require(request, "view")
    qs = selectors.apply_filter(selectors.campaigns(_me(request)), _filter(filters))
    return selectors.attribution(_me(request), qs)


@router.get("/campaigns/{campaign_id}", response=CampaignRead, summary="A campaign")
def get_campaign(request: HttpRequest, campaign_id: int) -> Any:
    return _campaign(request, campaign_id)


@router.get(
    "/campaigns/{campaign_id}/attribution",
    response=CampaignAttribution,
    summary="A campaign's attribution figures (your leads and opportunities only)",
)
def get_attribution(request: HttpRequest, campaign_id: int) -> Any:
    campaign = _campaign(request, campaign_id)
    return selectors.attribution(
        _me(request), selectors.campaigns(_me(request)).filter(pk=campaign.pk)
    )[0]


@router.patch("/campaigns/{campaign_id}", response=CampaignRead, summary="Change a campaign")
def update_campaign(request: HttpRequest, campaign_id: int, payload: CampaignUpdate) -> Any:
    campaign = _campaign(request, campaign_id)
    _require(request, "edit")
    sent = payload.dict(exclude_unset=True)
    kwargs: dict[str, Any] = {}
    if sent.get("owner_id") is not None:
        kwargs["owner"] = _owner(request, sent["owner_id"])
    if "form_pool_id" in sent:
        kwargs["form_pool"] = _pool(request, sent["form_pool_id"])
    data = {
        k: v
        for k, v in sent.items()
        if k in services.CAMPAIGN_FIELDS and (v is not None or k in ("start_date", "end_date"))
    }
    services.update_campaign(
        actor=_me(request), campaign=campaign, data=data, version=payload.version, **kwargs
    )
    return _campaign(request, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/status",
    response=CampaignRead,
    summary="Move a campaign: planned → active → completed, or cancelled",
)
def set_campaign_status(request: HttpRequest, campaign_id: int, payload: CampaignStatusIn) -> Any:
    campaign = _campaign(request, campaign_id)
    _require(request, "edit")
    services.set_status(
        actor=_me(request), campaign=campaign, status=payload.status, version=payload.version
    )
    return _campaign(request, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/form-token",
    response=CampaignRead,
    summary="Give the campaign form a new address (the old link stops working at once)",
)
def regenerate_form_token(request: HttpRequest, campaign_id: int) -> Any:
    # R10.1 (api-gaps): the campaign page's "new form address", through the same service
    _require(request, "edit")
    campaign = _campaign(request, campaign_id, "edit")
    services.regenerate_form_token(actor=_me(request), campaign=campaign)
    return _campaign(request, campaign_id)


@router.delete(
    "/campaigns/{campaign_id}", response={204: None}, summary="Delete a campaign no lead carries"
)
def delete_campaign(request: HttpRequest, campaign_id: int) -> Any:
    campaign = _campaign(request, campaign_id)
    _require(request, "delete")
    services.delete_campaign(actor=_me(request), campaign=campaign)
    return Status(204, None)
