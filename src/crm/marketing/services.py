"""Every write of marketing campaigns (R9.3): create, update, change status, delete when unused,
and how a new lead gets its campaign.

Services take ``actor`` first (keyword-only), check ``marketing:<action>``, validate, write and
record an event in one transaction. Campaigns are organisation-wide (everyone with
``marketing:view`` sees them all); ``owner`` is who runs the campaign.

A lead gets its campaign in one place, :func:`campaign_for_new_lead`, called by
``crm.leads.services.create_lead`` for every channel (page, API, import, web forms):

1. a campaign given explicitly (API ``campaign_id``, import column, campaign form), else
2. the campaign whose web-form marker (``campaign_form`` = its form token) the lead carries, while
   that campaign's form is enabled, else
3. the campaign whose tracking parameters match the lead's ``utm_campaign`` (and
   ``utm_source``, when the campaign sets one): an exact pair first, then a campaign that sets only
   ``utm_campaign``. Cancelled campaigns never match. Matching ignores case and surrounding blanks.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from crm.core.locking import check_version
from crm.core.money import parse_money
from crm.core.scoping import get_scoped_or_404
from crm.org.models import User

from .choices import CampaignStatus, CampaignType
from .models import Campaign, new_campaign_token

#: the fields a client may set (besides owner and form_pool, which are records)
CAMPAIGN_FIELDS = [
    "name",
    "code",
    "campaign_type",
    "channel",
    "start_date",
    "end_date",
    "budget",
    "actual_cost",
    "target_segment",
    "description",
    "utm_source",
    "utm_campaign",
    "form_enabled",
]
TEXT_LIMITS = {
    "name": 120,
    "code": 60,
    "channel": 100,
    "target_segment": 300,
    "description": 10000,
    "utm_source": 100,
    "utm_campaign": 100,
}
#: the key of a lead's ``extra`` that the campaign form link carries (the campaign's token)
FORM_MARKER = "campaign_form"
#: status moves a campaign's life cycle allows
TRANSITIONS: dict[str, set[str]] = {
    CampaignStatus.PLANNED: {CampaignStatus.ACTIVE, CampaignStatus.CANCELLED},
    CampaignStatus.ACTIVE: {CampaignStatus.COMPLETED, CampaignStatus.CANCELLED},
    CampaignStatus.COMPLETED: {CampaignStatus.ACTIVE},
    CampaignStatus.CANCELLED: {CampaignStatus.PLANNED},
}


def _require(actor: User, action: str) -> None:
    if not actor.org_id or not actor.can("marketing", action):
        raise PermissionDenied()


def _text(value: Any) -> str:
    return " ".join(str(value or "").split()) if value is not None else ""


def _day(value: Any, field: str, errors: dict[str, list[str]]) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    parsed = parse_date(str(value)) if isinstance(value, str) else None
    if parsed is None:
        errors[field] = [_("Enter a valid date.")]
    return parsed


def _amount(value: Any, field: str, errors: dict[str, list[str]]) -> Decimal:
    try:
        amount = parse_money(value)
    except ValueError:
        errors[field] = [_("Enter an amount of zero or more.")]
        return Decimal("0.00")
    return amount if amount is not None else Decimal("0.00")


def _clean(org_id: int, data: dict[str, Any], campaign: Campaign | None) -> dict[str, Any]:
    """The validated values of ``data`` (only the keys given, when editing)."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    creating = campaign is None
    for key in CAMPAIGN_FIELDS:
        if key not in data and not (creating and key == "name"):
            continue
        value = data.get(key)
        if key in TEXT_LIMITS:
            text = str(value or "").strip() if key == "description" else _text(value)
            if len(text) > TEXT_LIMITS[key]:
                errors[key] = [_("At most %(n)s characters.") % {"n": TEXT_LIMITS[key]}]
            clean[key] = text
        elif key == "campaign_type":
            if value not in CampaignType.values:
                errors[key] = [_("Choose a type from the list.")]
            clean[key] = value
        elif key in ("start_date", "end_date"):
            clean[key] = _day(value, key, errors)
        elif key in ("budget", "actual_cost"):
            clean[key] = _amount(value, key, errors)
        elif key == "form_enabled":
            clean[key] = bool(value)
    if "name" in clean and not clean["name"]:
        errors["name"] = [_("Enter the campaign's name.")]
    start = clean.get("start_date", campaign.start_date if campaign else None)
    end = clean.get("end_date", campaign.end_date if campaign else None)
    if start and end and end < start and "end_date" not in errors:
        errors["end_date"] = [_("The end date is before the start date.")]
    others = Campaign.objects.filter(org_id=org_id)
    if campaign is not None:
        others = others.exclude(pk=campaign.pk)
    if clean.get("name") and others.filter(name__iexact=clean["name"]).exists():
        errors["name"] = [_("Another campaign has this name.")]
    if clean.get("code") and others.filter(code__iexact=clean["code"]).exists():
        errors["code"] = [_("Another campaign has this code.")]
    source = clean.get("utm_source", campaign.utm_source if campaign else "")
    tag = clean.get("utm_campaign", campaign.utm_campaign if campaign else "")
    if source and not tag and "utm_campaign" not in errors:
        errors["utm_campaign"] = [_("Set utm_campaign too: utm_source alone matches no lead.")]
    if (
        tag
        and ("utm_source" in clean or "utm_campaign" in clean)
        and others.filter(utm_campaign__iexact=tag, utm_source__iexact=source).exists()
    ):
        errors["utm_campaign"] = [_("Another campaign has the same tracking parameters.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _check_owner(actor: User, owner: Any) -> None:
    if not isinstance(owner, User) or owner.org_id != actor.org_id or not owner.is_active:
        raise ValidationFailed(field_errors={"owner": [_("Choose an active colleague.")]})


def _check_pool(actor: User, pool: Any, enabled: bool) -> None:
    """The pool web-form leads land in: of the organisation, active; with the campaign form
    switched on, the pool's own web form must be on (the campaign form is that form)."""
    from crm.leads.services import total_pool

    if pool is not None and (pool.org_id != actor.org_id or not pool.is_active):
        raise ValidationFailed(field_errors={"form_pool": [_("Choose an active lead pool.")]})
    if enabled:
        target = pool or total_pool(actor.org_id)  # type: ignore[arg-type]
        if not target.form_enabled:
            raise ValidationFailed(
                field_errors={
                    "form_enabled": [
                        _(
                            "The web form of pool “%(pool)s” is switched off: switch it on "
                            "under Leads › Web forms first."
                        )
                        % {"pool": target.name}
                    ]
                }
            )


@transaction.atomic
def create_campaign(
    *, actor: User, data: dict[str, Any], owner: User | None = None, form_pool: Any = None
) -> Campaign:
    """A new campaign (``marketing:create``), planned; run by ``owner`` (default: the actor)."""
    _require(actor, "create")
    org_id: int = actor.org_id  # type: ignore[assignment]  # checked by _require
    clean = _clean(org_id, data, None)
    owner = owner or actor
    _check_owner(actor, owner)
    _check_pool(actor, form_pool, bool(clean.get("form_enabled")))
    campaign = Campaign(org_id=org_id, created_by=actor, owner=owner, form_pool=form_pool, **clean)
    campaign.save()
    audit.record_created(actor=actor, obj=campaign, verb="campaign.created")
    return campaign


def _locked(actor: User, campaign: Campaign, action: str, version: int | None) -> Campaign:
    _require(actor, action)
    locked: Campaign = get_scoped_or_404(
        Campaign.objects.select_for_update(), actor, campaign.pk, action
    )
    check_version(locked, version)
    return locked


@transaction.atomic
def update_campaign(
    *,
    actor: User,
    campaign: Campaign,
    data: dict[str, Any],
    version: int | None = None,
    owner: User | None = None,
    form_pool: Any = ...,
) -> Campaign:
    """Change the fields given (``marketing:edit``). A stale ``version`` is refused (409)."""
    campaign = _locked(actor, campaign, "edit", version)
    clean = _clean(campaign.org_id, data, campaign)
    if owner is not None:
        _check_owner(actor, owner)
        clean["owner"] = owner
    if form_pool is not ...:
        clean["form_pool"] = form_pool
    _check_pool(
        actor,
        clean.get("form_pool", campaign.form_pool),
        clean.get("form_enabled", campaign.form_enabled),
    )
    before = audit.snapshot(campaign)
    for key, value in clean.items():
        setattr(campaign, key, value)
    campaign.version += 1
    campaign.save()
    audit.record(
        actor=actor,
        obj=campaign,
        verb="campaign.updated",
        changes=audit.diff(before, audit.snapshot(campaign)),
    )
    return campaign


@transaction.atomic
def set_status(
    *, actor: User, campaign: Campaign, status: str, version: int | None = None
) -> Campaign:
    """Move a campaign along planned → active → completed (or cancelled; reopened back)."""
    campaign = _locked(actor, campaign, "edit", version)
    if status not in CampaignStatus.values:
        raise ValidationFailed(field_errors={"status": [_("Choose a status from the list.")]})
    if status not in TRANSITIONS[campaign.status]:
        raise InvalidTransition(
            _("A %(current)s campaign cannot become %(new)s.")
            % {
                "current": CampaignStatus(campaign.status).label,
                "new": CampaignStatus(status).label,
            }
        )
    before = campaign.status
    campaign.status = status
    campaign.version += 1
    campaign.save(update_fields=["status", "version", "updated_at"])
    audit.record(
        actor=actor,
        obj=campaign,
        verb=f"campaign.{status}",
        changes={"status": [before, status]},
    )
    return campaign


@transaction.atomic
def regenerate_form_token(*, actor: User, campaign: Campaign) -> Campaign:
    """A new address for the campaign form; the old link stops working at once."""
    campaign = _locked(actor, campaign, "edit", None)
    campaign.form_token = new_campaign_token()
    campaign.version += 1
    campaign.save(update_fields=["form_token", "version", "updated_at"])
    audit.record(actor=actor, obj=campaign, verb="campaign.form_token")
    return campaign


def usage(campaign: Campaign) -> int:
    """How many leads of any owner carry the campaign (unscoped: it decides deletion)."""
    from crm.leads.models import Lead

    return Lead.objects.filter(org_id=campaign.org_id, campaign_id=campaign.pk).count()


@transaction.atomic
def delete_campaign(*, actor: User, campaign: Campaign) -> None:
    """Delete a campaign no lead carries (``marketing:delete``); else cancel it instead."""
    campaign = _locked(actor, campaign, "delete", None)
    if usage(campaign):
        raise InvalidTransition(
            _("Leads came from this campaign: it cannot be deleted. Cancel or complete it.")
        )
    audit.record(
        actor=actor,
        obj=campaign,
        verb="campaign.deleted",
        changes=audit.diff(audit.snapshot(campaign), {}),
    )
    campaign.delete()


# --- leads --------------------------------------------------------------------------------------
def campaign_for_new_lead(org_id: int, given: Any, extra: dict[str, Any]) -> Campaign | None:
    """The campaign a new lead of ``org_id`` carries (see the module docstring).

    ``given`` is a Campaign chosen by the caller (already checked to be visible to them); one
    of another organisation is refused. ``extra`` holds the lead's other attributes (the
    tracking parameters and the campaign form marker)."""
    if given is not None:
        if not isinstance(given, Campaign) or given.org_id != org_id:
            raise ValidationFailed(field_errors={"campaign": [_("Choose a campaign.")]})
        return given
    extra = extra or {}
    marker = str(extra.get(FORM_MARKER) or "").strip()
    if marker:
        found = Campaign.objects.filter(org_id=org_id, form_token=marker, form_enabled=True).first()
        if found is not None:
            return found
    tag = str(extra.get("utm_campaign") or "").strip()
    if not tag:
        return None
    source = str(extra.get("utm_source") or "").strip()
    candidates = (
        Campaign.objects.filter(org_id=org_id, utm_campaign__iexact=tag)
        .exclude(status=CampaignStatus.CANCELLED)
        .filter(Q(utm_source="") | Q(utm_source__iexact=source) if source else Q(utm_source=""))
    )
    matches = list(candidates.order_by("pk")[:20])
    exact = [c for c in matches if c.utm_source]
    best = exact or matches
    return best[0] if best else None


def campaign_for_lead_edit(lead: Any, campaign: Any) -> Campaign | None:
    """The campaign an edit sets on ``lead`` (None clears it); one of another organisation is
    refused."""
    if campaign is None:
        return None
    if not isinstance(campaign, Campaign) or campaign.org_id != lead.org_id:
        raise ValidationFailed(field_errors={"campaign": [_("Choose a campaign.")]})
    return campaign


def find_for_import(actor: User, text: str) -> Campaign:
    """The campaign an import row names, by name or code (ignoring case), among those the
    importer sees; a clear error otherwise."""
    value = _text(text)
    found = (
        Campaign.objects.visible_to(actor)
        .filter(Q(name__iexact=value) | Q(code__iexact=value))
        .order_by("pk")
        .first()
        if value
        else None
    )
    if found is None:
        raise ValidationFailed(
            field_errors={
                "campaign": [_("No campaign is named or coded “%(value)s”.") % {"value": value}]
            }
        )
    return found


def campaign_for_form_token(token: str) -> Campaign:
    """The campaign whose public form link carries ``token``; NotFound otherwise. The one
    unscoped read of the module: the public link has no user, the random token is the
    credential."""
    campaign = Campaign.objects.filter(form_token=token).first() if token else None
    if campaign is None:
        raise NotFound()
    return campaign


def form_target(campaign: Campaign) -> Any:
    """The lead pool whose web form serves the campaign form (its pool, or the total pool);
    NotFound when the campaign form or that pool's form is off."""
    from crm.leads.models import LeadPool
    from crm.leads.services import total_pool

    if not campaign.form_enabled or campaign.status == CampaignStatus.CANCELLED:
        raise NotFound()
    pool = (
        LeadPool.objects.filter(pk=campaign.form_pool_id).first()
        if campaign.form_pool_id
        else total_pool(campaign.org_id)
    )
    if pool is None or not pool.is_active or not pool.form_enabled:
        raise NotFound()
    return pool
