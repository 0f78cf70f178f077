"""Every write on leads, lead pools and assignment rules (R2.1–R2.4).

Services take ``actor`` first (keyword-only), check the ``leads:<action>`` permission, write in
one transaction and record an event. Ownership moves (rules, claim, assign, release) are
conditional UPDATEs, so concurrent moves of one lead have exactly one winner.

Who may do what:

- **create** (``leads:create``): :func:`create_lead` is the one entry for the create page, the
  public web form (``actor=None``: the pool's form token was the credential), the API and the
  import wizard. The lead lands in the total pool (or the given pool) and the assignment rules
  run on it, unless an owner is given.
- **marketing** (``leads:configure``) runs the total pool: distributes leads to sub-pools,
  assigns them, marks them invalid, edits pools, web forms and rules.
- **sub-pool managers** assign, release and invalidate the leads of the pools they manage and
  edit those pools' members.
- **sub-pool members** claim unassigned leads of their pools.
- **owners** (and colleagues whose data scope covers the owner, with ``leads:edit``) work the
  lead: contact, qualify, invalidate, reopen, convert, edit, release.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.core import audit, custom_fields, fieldaccess
from crm.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from crm.core.notifications import notify
from crm.core.scoping import assert_in_scope
from crm.customers.normalize import normalize_email, phone_digits
from crm.org.models import User
from crm.pipeline import dictionaries
from crm.pipeline.models import DictionaryKind

from . import assignment, scoring
from .choices import (
    CONDITION_FIELDS,
    MAX_SCORE,
    MIN_SCORE,
    OPEN_STATUSES,
    SCORE_BOUND,
    SCORE_CONDITIONS,
    LeadStatus,
    PoolKind,
    Strategy,
)
from .models import AssignmentRule, Lead, LeadPool, new_form_token
from .selectors import pool_access

#: the lead fields a channel may set; anything else a channel sends is kept in ``extra``
LEAD_FIELDS = [
    "source",
    "company",
    "contact_name",
    "title",
    "mobile",
    "phone",
    "email",
    "region",
    "industry",
    "product_line",
    "notes",
]
#: keys never stored in ``extra`` (form plumbing)
IGNORED_KEYS = {"csrfmiddlewaretoken", "extra", "pool", "pool_id", "owner", "owner_id", "version"}
IGNORED_KEYS.add("custom")  # custom field values (crm.core.custom_fields), never "extra"
MAX_EXTRA_KEYS = 50
MAX_EXTRA_KEY = 60
MAX_EXTRA_VALUE = 1000

#: Called after a lead was converted, inside the conversion's transaction, when the user asked
#: for an opportunity (``convert_lead(create_opportunity=True)``):
#: ``fn(actor, lead, customer, contact) -> None`` (``contact`` may be None). The opportunities
#: module registers its "create an opportunity from this lead" step here; an exception it raises
#: rolls the whole conversion back and is shown to the user. With no hook registered,
#: ``create_opportunity=True`` is refused.
ConversionHook = Callable[[User, Lead, Any, Any], None]
conversion_hooks: list[ConversionHook] = []


def register_conversion_hook(fn: ConversionHook) -> None:
    """Register a conversion step (see :data:`conversion_hooks`)."""
    if fn not in conversion_hooks:
        conversion_hooks.append(fn)


# --- helpers ------------------------------------------------------------------------------------
def _org(actor: User) -> int:
    if actor is None or actor.org_id is None:
        raise PermissionDenied()
    return actor.org_id


def _require(actor: User, action: str) -> None:
    if actor is None or not actor.org_id or not actor.can("leads", action):
        raise PermissionDenied()


def _require_configure(actor: User) -> None:
    if actor is None or not actor.org_id or not actor.can("leads", "configure"):
        raise PermissionDenied()


def _same_org(actor: User, obj: Any) -> None:
    if obj is None or obj.org_id != actor.org_id:
        raise NotFound()


def _colleague(actor_org_id: int, user: User | None, field: str) -> User:
    if user is None or user.org_id != actor_org_id or not user.is_active:
        raise ValidationFailed(field_errors={field: [_("Choose an active colleague.")]})
    return user


def _visible(actor: User, lead: Lead, action: str = "view") -> None:
    """404 unless ``actor`` may ``action`` the lead (tenant, data scope, pools)."""
    if lead.org_id != actor.org_id:
        raise NotFound()
    assert_in_scope(actor, lead, action)


def _writable(actor: User, lead: Lead) -> None:
    """The actor may work this lead: ``leads:edit`` and the lead in their edit scope; an
    unassigned lead only by who runs its pool (members claim it first)."""
    _visible(actor, lead)
    _require(actor, "edit")
    _visible(actor, lead, "edit")
    if lead.owner_id is None and not pool_access(actor).can_manage(lead.pool_id):
        raise PermissionDenied(_("Claim the lead from its pool first."))


def _default_language_text(fn: Callable[[], str]) -> str:
    """Stored notes are written in the organisation's default language."""
    with translation.override(settings.LANGUAGE_CODE):
        return fn()


def total_pool(org_id: int) -> LeadPool:
    """The organisation's total pool (created on first use for organisations that predate the
    leads module; the unique constraint keeps it single)."""
    pool = LeadPool.objects.filter(org_id=org_id, kind=PoolKind.TOTAL).first()
    if pool is not None:
        return pool
    name = _default_language_text(lambda: str(_("Total lead pool")))
    try:
        with transaction.atomic():
            return LeadPool.objects.create(org_id=org_id, kind=PoolKind.TOTAL, name=name)
    except IntegrityError:
        return LeadPool.objects.get(org_id=org_id, kind=PoolKind.TOTAL)


def install_total_pool(org: Any, admin: Any = None) -> None:
    """Organisation initializer: every organisation starts with its one total lead pool."""
    total_pool(org.pk)


# --- validation ---------------------------------------------------------------------------------
def _valid_mobile(value: str) -> bool:
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


def _clean_extra(values: dict[str, Any]) -> dict[str, str]:
    extra: dict[str, str] = {}
    for key, value in values.items():
        key = str(key).strip()[:MAX_EXTRA_KEY]
        if not key or key in IGNORED_KEYS or value is None:
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        text = value if isinstance(value, str) else str(value)
        text = text.strip()[:MAX_EXTRA_VALUE]
        if text and len(extra) < MAX_EXTRA_KEYS:
            extra[key] = text
    return extra


def clean_lead_data(org_id: int, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Split ``data`` into lead fields (validated) and extra attributes (every other key, plus
    an ``extra`` mapping if given). Raises ValidationFailed with field errors."""
    clean: dict[str, Any] = {}
    rest: dict[str, Any] = dict(data.get("extra") or {})
    for key, value in data.items():
        if key in LEAD_FIELDS:
            clean[key] = (value or "").strip() if isinstance(value, str | type(None)) else value
        elif key not in IGNORED_KEYS:
            rest[key] = value
    errors: dict[str, list[str]] = {}
    for key, value in clean.items():
        if not isinstance(value, str):
            errors[key] = [_("Enter text.")]
            continue
        limit = getattr(Lead._meta.get_field(key), "max_length", None)
        if limit and len(value) > limit:
            errors[key] = [_("Too long (at most %(n)s characters).") % {"n": limit}]
    if errors:
        raise ValidationFailed(field_errors=errors)
    if clean.get("email"):
        clean["email"] = normalize_email(clean["email"])
        try:
            validate_email(clean["email"])
        except ValidationError:
            errors["email"] = [_("Enter a valid e-mail address.")]
    if clean.get("mobile") and not _valid_mobile(clean["mobile"]):
        errors["mobile"] = [_("Enter a valid mobile number.")]
    if clean.get("phone"):
        digits = phone_digits(clean["phone"])
        allowed = set("0123456789+-() #转ext.,")
        if len(digits) < 7 or any(ch.lower() not in allowed for ch in clean["phone"]):
            errors["phone"] = [_("Enter a valid phone number.")]
    if clean.get("source") and not dictionaries.is_valid(
        org_id, DictionaryKind.SOURCE, clean["source"]
    ):
        errors["source"] = [_("Choose a value from the list.")]
    if clean.get("industry") and not dictionaries.is_valid(
        org_id, DictionaryKind.INDUSTRY, clean["industry"]
    ):
        errors["industry"] = [_("Choose a value from the list.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean, _clean_extra(rest)


def _check_complete(lead: Lead) -> None:
    errors: dict[str, list[str]] = {}
    if not lead.company and not lead.contact_name:
        errors["company"] = [_("Enter the company or the contact's name.")]
    if not lead.mobile and not lead.phone and not lead.email:
        errors["mobile"] = [_("Enter a mobile number, a phone number or an e-mail address.")]
    if errors:
        raise ValidationFailed(field_errors=errors)


# --- create and edit ----------------------------------------------------------------------------
@transaction.atomic
def create_lead(
    *,
    actor: User | None,
    data: dict[str, Any],
    pool: LeadPool | None = None,
    source: str | None = None,
    owner: User | None = None,
    apply_rules: bool = True,
    campaign: Any = None,
) -> Lead:
    """Create a lead from any channel and run the assignment rules on it.

    ``data`` holds the lead fields (company, contact_name, title, mobile, phone, email, region,
    industry, product_line, notes, source) and any other attribute, which is kept in ``extra``.
    A company or contact name and a mobile, phone or e-mail are required; e-mail and phone
    numbers must be valid; source and industry are dictionary values. ``source`` overrides
    the one in ``data`` (``web_form``, ``api``, ``import``…).

    The lead lands in ``pool`` (default: the total pool). With ``owner`` it is assigned to them
    at once (the actor themself, or anyone with ``leads:transfer``); otherwise the assignment
    rules decide (``apply_rules``). ``actor=None`` is the public web form: ``pool`` is then
    required and gives the organisation.
    """
    if actor is None:
        if pool is None or not pool.is_active or not pool.form_enabled:
            raise NotFound()
        org_id = pool.org_id
    else:
        _require(actor, "create")
        org_id = actor.org_id  # type: ignore[assignment]
        if pool is not None:
            _same_org(actor, pool)
    pool = pool or total_pool(org_id)
    if not pool.is_active:
        raise ValidationFailed(field_errors={"pool": [_("This pool is disabled.")]})
    clean, extra = clean_lead_data(org_id, data)
    # The public web form (no actor) takes no custom values; defaults still apply.
    clean["custom"] = custom_fields.clean_custom(
        org_id, "lead", data.get("custom") if actor else None, enforce_required=actor is not None
    )
    if source is not None:
        clean["source"] = ""
        clean.update(clean_lead_data(org_id, {"source": source})[0])
    now = timezone.now()
    note = ""
    if owner is not None:
        assert actor is not None
        _colleague(org_id, owner, "owner")
        if owner.pk != actor.pk and not actor.can("leads", "transfer"):
            raise PermissionDenied()
        note = _default_language_text(
            lambda: (
                _("Created by %(actor)s for %(owner)s")
                % {"actor": actor.display_name, "owner": owner.display_name}
            )
        )
    lead = Lead(
        org_id=org_id,
        created_by=actor,
        pool=pool,
        owner=owner,
        assigned_at=now if owner else None,
        assignment_note=note,
        extra=extra,
        **clean,
    )
    _check_complete(lead)
    # H-CAMP: the campaign given (API, import, campaign form) or matched by utm_* parameters
    from crm.marketing.services import campaign_for_new_lead

    lead.campaign = campaign_for_new_lead(org_id, campaign, extra)
    lead.mobile_digits = phone_digits(lead.mobile)
    lead.save()
    audit.record_created(actor=actor, obj=lead, verb="lead.created")
    scoring.score_new_lead(lead, form_submission=actor is None)  # H-LSCORE, before the rules
    if owner is None and apply_rules:
        assignment.apply_rules(lead, actor=actor)
    elif owner is not None and actor is not None:
        assert_in_scope(actor, lead, "view")
    return lead


@transaction.atomic
def update_lead(
    *,
    actor: User,
    lead: Lead,
    data: dict[str, Any],
    version: int | None = None,
    campaign: Any = ...,
) -> Lead:
    """Edit a lead's fields (never owner, pool or status: those move through their own
    services). ``extra`` given replaces the extra attributes. A stale ``version`` raises
    Conflict and writes nothing."""
    _writable(actor, lead)
    if lead.status == LeadStatus.CONVERTED:
        raise InvalidTransition(_("A converted lead cannot be edited."))
    fields = {k: v for k, v in data.items() if k in LEAD_FIELDS}
    fieldaccess.guard_write(actor, lead, fields)  # H-FIELD: field-level permissions
    clean, _rest = clean_lead_data(actor.org_id, fields)  # type: ignore[arg-type]
    if "extra" in data:
        clean["extra"] = _clean_extra(dict(data.get("extra") or {}))
    if "custom" in data:
        clean["custom"] = custom_fields.clean_custom(
            lead.org_id, "lead", data["custom"], current=lead.custom, partial=True
        )
    if campaign is not ...:  # H-CAMP: set or clear the lead's campaign
        from crm.marketing.services import campaign_for_lead_edit

        clean["campaign"] = campaign_for_lead_edit(lead, campaign)
    before = audit.snapshot(lead)
    for key, value in clean.items():
        setattr(lead, key, value)
    _check_complete(lead)
    lead.mobile_digits = phone_digits(lead.mobile)
    expected = lead.version if version is None else version
    updated = Lead.objects.filter(pk=lead.pk, version=expected).update(
        **{k: getattr(lead, k) for k in [*clean.keys(), "mobile_digits"]},
        version=expected + 1,
        updated_at=timezone.now(),
    )
    if not updated:
        raise Conflict(
            _(
                "This record was changed by someone else since you opened it. "
                "Reload it to see their changes, then make yours again."
            )
        )
    lead.refresh_from_db()
    audit.record(
        actor=actor, obj=lead, verb="lead.updated", changes=audit.diff(before, audit.snapshot(lead))
    )
    scoring.rescore_lead(lead)  # H-LSCORE
    return lead


@transaction.atomic
def delete_lead(*, actor: User, lead: Lead) -> None:
    """Delete a lead that was not converted (``leads:delete`` and delete scope)."""
    _visible(actor, lead)
    _require(actor, "delete")
    _visible(actor, lead, "delete")
    if lead.owner_id is None and not pool_access(actor).can_manage(lead.pool_id):
        raise PermissionDenied()
    if lead.status == LeadStatus.CONVERTED:
        raise InvalidTransition(_("A converted lead cannot be deleted."))
    audit.record(
        actor=actor, obj=lead, verb="lead.deleted", changes=audit.diff(audit.snapshot(lead), {})
    )
    lead.delete()


# --- pools: distribute, assign, claim, release --------------------------------------------------
def _open_or_refuse(lead: Lead) -> None:
    if lead.status not in OPEN_STATUSES:
        raise InvalidTransition(
            _("“%(name)s” is %(status)s: only open leads can change hands.")
            % {"name": lead.display_name, "status": lead.get_status_display()}
        )


@transaction.atomic
def distribute_to_subpool(*, actor: User, leads: list[Lead], pool: LeadPool) -> int:
    """Marketing moves unassigned open leads into a pool (usually a sub-pool), in bulk.
    All or nothing: one lead that cannot move refuses the whole batch. Returns how many moved."""
    _require_configure(actor)
    _same_org(actor, pool)
    if not pool.is_active:
        raise ValidationFailed(field_errors={"pool": [_("This pool is disabled.")]})
    moved = 0
    for lead in leads:
        _visible(actor, lead)
        _open_or_refuse(lead)
        if lead.owner_id is not None:
            raise ValidationFailed(
                _("“%(name)s” is already assigned; only unassigned leads are distributed.")
                % {"name": lead.display_name}
            )
        if lead.pool_id == pool.pk:
            continue
        previous = lead.pool_id
        done = Lead.objects.filter(pk=lead.pk, owner__isnull=True, pool_id=previous).update(
            pool=pool, version=F("version") + 1, updated_at=timezone.now()
        )
        if not done:
            raise Conflict(_("“%(name)s” was changed meanwhile.") % {"name": lead.display_name})
        lead.refresh_from_db()
        audit.record(
            actor=actor,
            obj=lead,
            verb="lead.distributed",
            changes={"pool": [previous, pool.pk]},
        )
        moved += 1
    return moved


@transaction.atomic
def assign_leads(*, actor: User, leads: list[Lead], to_user: User) -> int:
    """Give leads to a rep. Allowed to marketing (``leads:configure``) for any lead, to a pool's
    managers for the leads of their pool (the rep must be a member or manager of it), and to
    holders of ``leads:transfer`` for assigned leads in their transfer scope."""
    _require(actor, "edit")
    _colleague(actor.org_id, to_user, "to_user")  # type: ignore[arg-type]
    if not to_user.can("leads", "view"):
        raise ValidationFailed(
            field_errors={"to_user": [_("This colleague has no access to leads.")]}
        )
    access = pool_access(actor)
    moved = 0
    now = timezone.now()
    for lead in leads:
        _visible(actor, lead)
        _open_or_refuse(lead)
        if lead.owner_id == to_user.pk:
            continue
        manages = access.can_manage(lead.pool_id)
        transfers = (
            lead.owner_id is not None
            and actor.can("leads", "transfer")
            and Lead.objects.visible_to(actor, "transfer").filter(pk=lead.pk).exists()
        )
        if not manages and not transfers:
            raise PermissionDenied()
        if manages and not access.configure and not transfers:
            pool = lead.pool
            in_pool = (
                pool.members.filter(pk=to_user.pk).exists()
                or pool.managers.filter(pk=to_user.pk).exists()
            )
            if not in_pool:
                raise ValidationFailed(
                    field_errors={
                        "to_user": [
                            _("%(user)s is not a member of the pool “%(pool)s”.")
                            % {"user": to_user.display_name, "pool": pool.name}
                        ]
                    }
                )
        previous = lead.owner_id
        note = _default_language_text(
            lambda: _("Assigned by %(actor)s") % {"actor": actor.display_name}
        )
        done = Lead.objects.filter(pk=lead.pk, owner_id=previous).update(
            owner=to_user,
            assigned_at=now,
            assigned_by_rule=None,
            assignment_note=note,
            version=F("version") + 1,
            updated_at=now,
        )
        if not done:
            raise Conflict(_("“%(name)s” was changed meanwhile.") % {"name": lead.display_name})
        lead.refresh_from_db()
        audit.record(
            actor=actor,
            obj=lead,
            verb="lead.assigned",
            changes={"owner": [previous, to_user.pk]},
            data={"note": note},
        )
        notify(
            recipient=to_user,
            actor=actor,
            verb="lead.assigned",
            target=lead,
            url=f"/leads/{lead.pk}/",
            message=_("%(actor)s assigned the lead “%(name)s” to you.")
            % {"actor": actor.display_name, "name": lead.display_name},
        )
        moved += 1
    return moved


@transaction.atomic
def claim_lead(*, actor: User, lead: Lead) -> Lead:
    """A member (or manager) of the lead's pool takes an unassigned open lead.

    One conditional UPDATE (``… WHERE owner IS NULL``): of any number of simultaneous claims
    exactly one wins; the others get Conflict. Claiming a lead you own is a no-op.
    """
    _require(actor, "edit")
    if lead.org_id != actor.org_id:
        raise NotFound()
    if lead.owner_id == actor.pk:
        return lead
    access = pool_access(actor)
    if not access.can_claim(lead.pool_id):
        _visible(actor, lead)  # 404 when the lead is not even visible
        raise PermissionDenied(_("Only members of the lead's pool may claim it."))
    if lead.owner_id is not None:
        raise Conflict(_("Someone else has already claimed this lead."))
    _open_or_refuse(lead)
    now = timezone.now()
    note = _default_language_text(lambda: _("Claimed by %(user)s") % {"user": actor.display_name})
    won = Lead.objects.filter(
        pk=lead.pk,
        org_id=actor.org_id,
        owner__isnull=True,
        pool_id=lead.pool_id,
        status__in=OPEN_STATUSES,
    ).update(
        owner=actor,
        assigned_at=now,
        assigned_by_rule=None,
        assignment_note=note,
        version=F("version") + 1,
        updated_at=now,
    )
    if not won:
        raise Conflict(_("Someone else has already claimed this lead."))
    lead.refresh_from_db()
    audit.record(
        actor=actor,
        obj=lead,
        verb="lead.claimed",
        changes={"owner": [None, actor.pk]},
        data={"pool": lead.pool_id},
    )
    return lead


@transaction.atomic
def release_lead(*, actor: User, lead: Lead, reason: str = "") -> Lead:
    """Put an assigned open lead back into its pool, unassigned (by its owner, a colleague
    whose scope covers it, or who runs the pool)."""
    _visible(actor, lead)
    _require(actor, "edit")
    _visible(actor, lead, "edit")
    if lead.owner_id is None:
        raise ValidationFailed(_("This lead is not assigned to anyone."))
    _open_or_refuse(lead)
    reason = (reason or "").strip()[:200]
    previous = lead.owner_id
    note = _default_language_text(
        lambda: (
            _("Released by %(user)s: %(reason)s") % {"user": actor.display_name, "reason": reason}
            if reason
            else _("Released by %(user)s") % {"user": actor.display_name}
        )
    )
    done = Lead.objects.filter(pk=lead.pk, owner_id=previous).update(
        owner=None,
        assigned_at=None,
        assigned_by_rule=None,
        assignment_note=note,
        version=F("version") + 1,
        updated_at=timezone.now(),
    )
    if not done:
        raise Conflict()
    lead.refresh_from_db()
    audit.record(
        actor=actor,
        obj=lead,
        verb="lead.released",
        changes={"owner": [previous, None]},
        data={"reason": reason},
    )
    return lead


def transfer_all_of(*, actor: User, from_user: User, to_user: User) -> int:
    """Ownership transfer for a deactivated user (registered with the org app): their open
    leads go to ``to_user``."""
    ids = list(
        Lead.objects.filter(
            org_id=from_user.org_id, owner=from_user, status__in=OPEN_STATUSES
        ).values_list("pk", flat=True)
    )
    now = timezone.now()
    Lead.objects.filter(pk__in=ids, owner=from_user).update(
        owner=to_user, assigned_at=now, version=F("version") + 1, updated_at=now
    )
    for pk in ids:
        audit.record(
            actor=actor,
            obj=Lead(pk=pk, org_id=_org(from_user)),
            verb="lead.transferred",
            changes={"owner": [from_user.pk, to_user.pk]},
            data={"reason": "deactivated"},
        )
    return len(ids)


# --- status ---------------------------------------------------------------------------------------
def _move(
    actor: User,
    lead: Lead,
    *,
    allowed_from: list[str],
    to: str,
    verb: str,
    extra: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> Lead:
    """One status change as a conditional UPDATE on the current status."""
    if lead.status not in allowed_from:
        raise InvalidTransition(
            _("A lead that is %(status)s cannot become %(target)s.")
            % {"status": lead.get_status_display(), "target": LeadStatus(to).label}
        )
    previous = lead.status
    before = audit.snapshot(lead)
    done = Lead.objects.filter(pk=lead.pk, status=previous).update(
        status=to, version=F("version") + 1, updated_at=timezone.now(), **(extra or {})
    )
    if not done:
        raise Conflict()
    lead.refresh_from_db()
    audit.record(
        actor=actor,
        obj=lead,
        verb=verb,
        changes=audit.diff(before, audit.snapshot(lead)),
        data=data,
    )
    return lead


@transaction.atomic
def mark_contacted(*, actor: User, lead: Lead) -> Lead:
    """new → contacted."""
    _writable(actor, lead)
    return _move(
        actor, lead, allowed_from=[LeadStatus.NEW], to=LeadStatus.CONTACTED, verb="lead.contacted"
    )


@transaction.atomic
def mark_qualified(*, actor: User, lead: Lead) -> Lead:
    """new or contacted → qualified."""
    _writable(actor, lead)
    return _move(
        actor,
        lead,
        allowed_from=[LeadStatus.NEW, LeadStatus.CONTACTED],
        to=LeadStatus.QUALIFIED,
        verb="lead.qualified",
    )


@transaction.atomic
def mark_invalid(*, actor: User, lead: Lead, reason: str, note: str = "") -> Lead:
    """Any open status → invalid. ``reason`` is a value of the invalid-reason dictionary
    (required); ``note`` adds details."""
    _writable(actor, lead)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(field_errors={"reason": [_("Choose why the lead is invalid.")]})
    if not dictionaries.is_valid(lead.org_id, DictionaryKind.INVALID_REASON, reason):
        raise ValidationFailed(field_errors={"reason": [_("Choose a value from the list.")]})
    note = (note or "").strip()[:300]
    return _move(
        actor,
        lead,
        allowed_from=list(OPEN_STATUSES),
        to=LeadStatus.INVALID,
        verb="lead.invalidated",
        extra={"invalid_reason": reason, "invalid_note": note},
    )


@transaction.atomic
def bulk_mark_invalid(*, actor: User, leads: list[Lead], reason: str, note: str = "") -> int:
    """:func:`mark_invalid` for several leads, all or nothing."""
    for lead in leads:
        mark_invalid(actor=actor, lead=lead, reason=reason, note=note)
    return len(leads)


@transaction.atomic
def reopen_lead(*, actor: User, lead: Lead) -> Lead:
    """invalid → new (the invalid reason is cleared; the history keeps it)."""
    _writable(actor, lead)
    return _move(
        actor,
        lead,
        allowed_from=[LeadStatus.INVALID],
        to=LeadStatus.NEW,
        verb="lead.reopened",
        extra={"invalid_reason": "", "invalid_note": ""},
    )


# --- conversion -----------------------------------------------------------------------------------
def _contact_data(lead: Lead) -> dict[str, Any] | None:
    if not lead.contact_name:
        return None
    return {
        "name": lead.contact_name,
        "title": lead.title,
        "mobile": lead.mobile,
        "email": lead.email,
        "office_phone": lead.phone,
    }


def _existing_contact(customer: Any, lead: Lead) -> Any:
    """A contact of ``customer`` with the lead's mobile or e-mail, if there is one."""
    from crm.customers.models import Contact

    digits = phone_digits(lead.mobile)
    if len(digits) >= 7:
        found = Contact.objects.filter(customer=customer, mobile_digits=digits).first()
        if found is not None:
            return found
    if lead.email:
        return Contact.objects.filter(customer=customer, email=lead.email).first()
    return None


@transaction.atomic
def convert_lead(
    *,
    actor: User,
    lead: Lead,
    customer: Any = None,
    create_opportunity: bool = False,
    allow_duplicate: bool = False,
) -> Lead:
    """Convert a qualified lead into a customer and a contact (R2.3).

    With ``customer`` (an existing customer the actor may edit, usually a duplicate candidate
    the user chose) the lead is linked to it and its contact added (or an existing contact with
    the same mobile or e-mail reused). Otherwise a customer is created, owned by the lead's
    owner, with the lead's contact — after the duplicate check of
    :func:`crm.customers.services.create_customer`: any candidate refuses the conversion
    (``DuplicateCustomer`` lists them) unless ``allow_duplicate``, and a candidate owned by
    someone else always does (撞单). Then the lead becomes ``converted`` and the conversion
    hooks run when ``create_opportunity`` (see :data:`conversion_hooks`).
    """
    from crm.customers import services as customer_services

    _writable(actor, lead)
    if lead.status != LeadStatus.QUALIFIED:
        raise InvalidTransition(_("Only a qualified lead can be converted."))
    if lead.owner is None:
        raise ValidationFailed(_("Assign the lead to someone before converting it."))
    if create_opportunity and not conversion_hooks:
        raise ValidationFailed(_("Opportunities cannot be created yet."))
    contact_data = _contact_data(lead)
    contact = None
    if customer is not None:
        _same_org(actor, customer)
        if customer.merged_into_id:
            raise NotFound()
        assert_in_scope(actor, customer, "edit")
        if contact_data is not None:
            contact = _existing_contact(customer, lead) or customer_services.create_contact(
                actor=actor, customer=customer, data=contact_data
            )
    else:
        customer_data = {
            "name": lead.company or lead.contact_name,
            "industry": lead.industry,
            "source": lead.source,
            "region": lead.region,
            "phone": lead.phone if contact_data else (lead.phone or lead.mobile),
            "email": "" if contact_data else lead.email,
            "custom": custom_fields.carry_over(lead.org_id, "lead", lead.custom, "customer"),
        }
        customer = customer_services.create_customer(
            actor=actor,
            data=customer_data,
            owner=lead.owner,
            contacts=[contact_data] if contact_data else [],
            allow_duplicate=allow_duplicate,
            source_event="customer.created_from_lead",
        )
        contact = customer.contacts.first() if contact_data else None
    now = timezone.now()
    lead = _move(
        actor,
        lead,
        allowed_from=[LeadStatus.QUALIFIED],
        to=LeadStatus.CONVERTED,
        verb="lead.converted",
        extra={
            "converted_customer": customer,
            "converted_contact": contact,
            "converted_at": now,
            "converted_by": actor,
        },
        data={"customer": customer.pk, "contact": contact.pk if contact else None},
    )
    if create_opportunity:
        for hook in conversion_hooks:
            hook(actor, lead, customer, contact)
    return lead


# --- pools ------------------------------------------------------------------------------------
POOL_FIELDS = ["name", "region", "product_line", "description", "is_active", "form_enabled"]


def _same_org_users(actor: User, users: list[User] | None, field: str) -> list[User] | None:
    if users is None:
        return None
    for user in users:
        if user.org_id != actor.org_id:
            raise ValidationFailed(field_errors={field: [_("Choose colleagues.")]})
    return users


@transaction.atomic
def save_pool(
    *,
    actor: User,
    pool: LeadPool | None = None,
    data: dict[str, Any],
    managers: list[User] | None = None,
    members: list[User] | None = None,
) -> LeadPool:
    """Create a sub-pool or edit a pool (``leads:configure``). The total pool cannot be
    disabled; a pool with unassigned open leads cannot be disabled either (move them first)."""
    _require_configure(actor)
    if pool is not None:
        _same_org(actor, pool)
    clean = {k: v for k, v in data.items() if k in POOL_FIELDS}
    for key in ("name", "region", "product_line", "description"):
        if key in clean:
            clean[key] = (clean[key] or "").strip()
    errors: dict[str, list[str]] = {}
    name = clean.get("name", pool.name if pool else "")
    if not name:
        errors["name"] = [_("Enter a name.")]
    elif (
        LeadPool.objects.filter(org_id=_org(actor), name=name)
        .exclude(pk=pool.pk if pool else 0)
        .exists()
    ):
        errors["name"] = [_("A pool with this name already exists.")]
    if clean.get("is_active") is False and pool is not None:
        if pool.is_total:
            errors["is_active"] = [_("The total pool cannot be disabled.")]
        elif Lead.objects.filter(pool=pool, owner__isnull=True, status__in=OPEN_STATUSES).exists():
            errors["is_active"] = [_("Move the pool's unassigned leads elsewhere first.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    _same_org_users(actor, managers, "managers")
    _same_org_users(actor, members, "members")
    before = audit.snapshot(pool) if pool else {}
    if pool is not None:
        before["managers"] = sorted(pool.managers.values_list("pk", flat=True))
        before["members"] = sorted(pool.members.values_list("pk", flat=True))
    pool = pool or LeadPool(org_id=_org(actor), kind=PoolKind.SUB)
    for key, value in clean.items():
        setattr(pool, key, value)
    pool.save()
    if managers is not None:
        pool.managers.set(managers)
    if members is not None:
        pool.members.set(members)
    after = {
        **audit.snapshot(pool),
        "managers": sorted(pool.managers.values_list("pk", flat=True)),
        "members": sorted(pool.members.values_list("pk", flat=True)),
    }
    audit.record(
        actor=actor,
        obj=pool,
        verb="leadpool.saved" if before else "leadpool.created",
        changes=audit.diff(before, after),
    )
    actor.__dict__.get("_scope_cache", {}).pop("lead_pools", None)
    return pool


@transaction.atomic
def set_pool_members(*, actor: User, pool: LeadPool, members: list[User]) -> LeadPool:
    """The pool's managers (or marketing) choose who works the pool."""
    _require(actor, "edit")
    _same_org(actor, pool)
    if not pool_access(actor).can_manage(pool.pk):
        raise PermissionDenied()
    _same_org_users(actor, members, "members")
    before = sorted(pool.members.values_list("pk", flat=True))
    pool.members.set(members)
    audit.record(
        actor=actor,
        obj=pool,
        verb="leadpool.members",
        changes={"members": [before, sorted(u.pk for u in members)]},
    )
    return pool


@transaction.atomic
def regenerate_form_token(*, actor: User, pool: LeadPool) -> LeadPool:
    """Give the pool's web form a new address; embeds of the old one stop working."""
    _require_configure(actor)
    _same_org(actor, pool)
    LeadPool.objects.filter(pk=pool.pk).update(form_token=new_form_token())
    pool.refresh_from_db()
    audit.record(actor=actor, obj=pool, verb="leadpool.form_token")
    return pool


# --- assignment rules ---------------------------------------------------------------------------
RULE_FIELDS = ["name", "order", "is_active", "conditions", "strategy", "cap"]


def _score_bounds(conditions: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, int]:
    """Take ``min_score`` / ``max_score`` out of ``conditions`` (H-LSCORE, lead scoring)."""
    bounds: dict[str, int] = {}
    for key in SCORE_CONDITIONS:
        value = conditions.pop(key, None)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > SCORE_BOUND:
            errors[key] = [
                _("Enter a whole number from -%(max)s to %(max)s, or leave it empty.")
                % {"max": SCORE_BOUND}
            ]
        else:
            bounds[key] = value
    if len(bounds) == 2 and bounds[MIN_SCORE] > bounds[MAX_SCORE]:
        errors[MAX_SCORE] = [_("The highest score must not be below the lowest.")]
    return bounds


def _clean_rule(data: dict[str, Any]) -> dict[str, Any]:
    clean = {k: v for k, v in data.items() if k in RULE_FIELDS}
    errors: dict[str, list[str]] = {}
    if "name" in clean:
        clean["name"] = (clean["name"] or "").strip()
        if not clean["name"]:
            errors["name"] = [_("Enter a name.")]
    if "order" in clean and (
        not isinstance(clean["order"], int) or not 0 <= clean["order"] <= 1_000_000
    ):
        errors["order"] = [_("Enter a whole number from 0 to %(max)s.") % {"max": 1_000_000}]
    if (
        "cap" in clean
        and clean["cap"] is not None
        and (not isinstance(clean["cap"], int) or not 1 <= clean["cap"] <= 1_000_000)
    ):
        errors["cap"] = [
            _("Enter a whole number from 1 to %(max)s, or leave it empty.") % {"max": 1_000_000}
        ]
    if "strategy" in clean and clean["strategy"] not in Strategy.values:
        errors["strategy"] = [_("Choose a value from the list.")]
    if "conditions" in clean:
        raw = clean["conditions"] or {}
        conditions = dict(raw) if isinstance(raw, dict) else {}
        bounds = _score_bounds(conditions, errors)  # H-LSCORE: min_score / max_score
        if not isinstance(raw, dict) or any(
            key not in CONDITION_FIELDS or not isinstance(values, list)
            for key, values in conditions.items()
        ):
            errors["conditions"] = [
                _("Conditions are lists of values for region, industry, source or product line.")
            ]
        else:
            clean["conditions"] = {
                key: [str(v).strip() for v in values if str(v).strip()]
                for key, values in conditions.items()
                if any(str(v).strip() for v in values)
            }
            clean["conditions"].update(bounds)
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


@transaction.atomic
def save_rule(
    *,
    actor: User,
    rule: AssignmentRule | None = None,
    data: dict[str, Any],
    eligible_users: list[User] | None = None,
    fixed_user: User | Any | None = ...,
    target_pool: LeadPool | Any | None = ...,
) -> AssignmentRule:
    """Create or edit an assignment rule (``leads:configure``). A fixed-person rule needs its
    person; the target pool must be an active sub-pool of the organisation."""
    _require_configure(actor)
    if rule is not None:
        _same_org(actor, rule)
    clean = _clean_rule(data)
    name = clean.get("name", rule.name if rule else "")
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Enter a name.")]
    elif (
        AssignmentRule.objects.filter(org_id=_org(actor), name=name)
        .exclude(pk=rule.pk if rule else 0)
        .exists()
    ):
        errors["name"] = [_("A rule with this name already exists.")]
    if fixed_user is not ... and fixed_user is not None and fixed_user.org_id != actor.org_id:
        errors["fixed_user"] = [_("Choose an active colleague.")]
    if target_pool is not ... and target_pool is not None:
        if target_pool.org_id != actor.org_id:
            raise NotFound()
        if target_pool.is_total or not target_pool.is_active:
            errors["target_pool"] = [_("Choose an active sub-pool.")]
    _same_org_users(actor, eligible_users, "eligible_users")
    strategy = clean.get("strategy", rule.strategy if rule else Strategy.ROUND_ROBIN)
    person = fixed_user if fixed_user is not ... else (rule.fixed_user if rule else None)
    if strategy == Strategy.FIXED_USER and person is None:
        errors["fixed_user"] = [_("Choose the person who gets the leads.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    before: dict[str, Any] = {}
    if rule is not None:
        before = {
            **audit.snapshot(rule, [*RULE_FIELDS, "fixed_user", "target_pool"]),
            "eligible_users": sorted(rule.eligible_users.values_list("pk", flat=True)),
        }
    rule = rule or AssignmentRule(org_id=_org(actor))
    for key, value in clean.items():
        setattr(rule, key, value)
    if fixed_user is not ...:
        rule.fixed_user = fixed_user
    if target_pool is not ...:
        rule.target_pool = target_pool
    rule.save()
    if eligible_users is not None:
        rule.eligible_users.set(eligible_users)
    after = {
        **audit.snapshot(rule, [*RULE_FIELDS, "fixed_user", "target_pool"]),
        "eligible_users": sorted(rule.eligible_users.values_list("pk", flat=True)),
    }
    audit.record(
        actor=actor,
        obj=rule,
        verb="leadrule.saved" if before else "leadrule.created",
        changes=audit.diff(before, after),
    )
    return rule


@transaction.atomic
def delete_rule(*, actor: User, rule: AssignmentRule) -> None:
    """Delete an assignment rule (leads it assigned keep their note)."""
    _require_configure(actor)
    _same_org(actor, rule)
    audit.record(
        actor=actor,
        obj=rule,
        verb="leadrule.deleted",
        changes=audit.diff(audit.snapshot(rule, RULE_FIELDS), {}),
    )
    rule.delete()


@transaction.atomic
def reapply_rules(*, actor: User, leads: list[Lead]) -> int:
    """Marketing runs the assignment rules again on unassigned open leads (e.g. after adding a
    rule). Returns how many were assigned."""
    _require_configure(actor)
    assigned = 0
    for lead in leads:
        _visible(actor, lead)
        if lead.owner_id is not None or lead.status not in OPEN_STATUSES:
            continue
        if assignment.apply_rules(lead, actor=actor).user is not None:
            assigned += 1
    return assigned
