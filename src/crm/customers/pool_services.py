"""The public pool (公海): claim, release, assign, return by rule, warnings, pool settings.

A claim is one conditional UPDATE (``… WHERE owner IS NULL``): of any number of simultaneous
claims exactly one wins, on SQLite and PostgreSQL. The sweep is set-based: one UPDATE per rule
marks the returned rows with a token, so two sweeps running at once never return a customer twice.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from crm.core.models import Event, Notification
from crm.core.notifications import notification_for, notify
from crm.core.scoping import assert_in_scope
from crm.org.models import User
from crm.org.services import org_id_of

from .choices import Grade, MoveKind, ReturnReason
from .models import Contact, Customer, OwnershipMove, PublicPool
from .pools import visible_pool_ids

POOL_FIELDS = [
    "name",
    "days_without_followup",
    "days_without_deal",
    "grade_rules",
    "exclude_won",
    "exclude_open_opportunities",
    "warning_days",
    "owner_cap",
    "reclaim_cooldown_days",
    "daily_claim_limit",
    "mask_contacts",
    "is_active",
    "is_default",
]


def _local_day_start(now: Any) -> Any:
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def default_pool(org_id: int) -> PublicPool:
    pool = (
        PublicPool.objects.filter(org_id=org_id, is_active=True)
        .order_by("-is_default", "pk")
        .first()
    )
    if pool is None:
        raise ValidationFailed(_("The organisation has no active public pool."))
    return pool


def install_default_pool(org: Any, admin: Any = None) -> PublicPool:
    """Every organisation starts with one 公海 open to everyone, returning after 30 days
    without a follow-up or 90 without a won deal (editable)."""
    pool, _created = PublicPool.objects.get_or_create(
        org_id=org.pk,
        is_default=True,
        defaults={
            "name": str(_("Public pool")),
            "days_without_followup": 30,
            "days_without_deal": 90,
            "warning_days": 3,
            "reclaim_cooldown_days": 7,
            "daily_claim_limit": 20,
            "owner_cap": 200,
        },
    )
    return pool


# --- Claim ---------------------------------------------------------------------------------------
@transaction.atomic
def claim(*, actor: User, customer: Customer) -> Customer:
    """Take a customer from a pool the actor may claim from.

    Idempotent for the owner; refused (with the reason) when another rep won the race, when the
    actor is at the pool's owner cap or daily limit, or within the re-claim cool-down after they
    released it themselves.
    """
    if not actor.can("customers", "edit"):
        raise PermissionDenied()
    if customer.org_id != actor.org_id:
        raise NotFound()
    if customer.owner_id == actor.pk:
        return customer
    if customer.owner_id is not None:
        raise Conflict(_("Someone else has already claimed this customer."))
    pool = customer.pool
    if pool is None or pool.pk not in visible_pool_ids(actor):
        raise NotFound()
    # Serialise claims by the same person so caps cannot be overshot by racing requests
    # (a no-op on SQLite, where IMMEDIATE transactions already serialise writers).
    User.objects.select_for_update().filter(pk=actor.pk).first()
    now = timezone.now()
    if pool.owner_cap is not None:
        owned = Customer.objects.filter(org_id=actor.org_id, owner=actor).count()
        if owned >= pool.owner_cap:
            raise ValidationFailed(
                _("You already own %(n)d customers, the most this pool allows.") % {"n": owned}
            )
    if pool.daily_claim_limit is not None:
        today = OwnershipMove.objects.filter(
            org_id=actor.org_id,
            to_user=actor,
            kind=MoveKind.CLAIM,
            created_at__gte=_local_day_start(now),
        ).count()
        if today >= pool.daily_claim_limit:
            raise ValidationFailed(
                _("You have reached today's limit of %(n)d claims.") % {"n": pool.daily_claim_limit}
            )
    if pool.reclaim_cooldown_days:
        since = now - timedelta(days=pool.reclaim_cooldown_days)
        recent = (
            OwnershipMove.objects.filter(
                org_id=actor.org_id,
                customer=customer,
                from_user=actor,
                kind__in=[MoveKind.RELEASE, MoveKind.RETURN],
                created_at__gte=since,
            )
            .order_by("-created_at")
            .first()
        )
        if recent is not None:
            until = recent.created_at + timedelta(days=pool.reclaim_cooldown_days)
            raise ValidationFailed(
                _("You released this customer recently; you may claim it again from %(date)s.")
                % {"date": timezone.localtime(until).strftime("%Y-%m-%d %H:%M")}
            )
    won = Customer.objects.filter(
        pk=customer.pk, org_id=actor.org_id, owner__isnull=True, pool=pool
    ).update(
        owner=actor,
        owner_since=now,
        pool_entered_at=None,
        return_warned_at=None,
        version=F("version") + 1,
        updated_at=now,
    )
    if not won:
        raise Conflict(_("Someone else has already claimed this customer."))
    Contact.objects.filter(customer_id=customer.pk).update(owner=actor)
    OwnershipMove.objects.create(
        org_id=actor.org_id,
        customer_id=customer.pk,
        kind=MoveKind.CLAIM,
        to_user=actor,
        actor=actor,
        pool=pool,
    )
    customer.refresh_from_db()
    audit.record(
        actor=actor,
        obj=customer,
        verb="customer.claimed",
        changes={"owner": [None, actor.pk]},
        data={"pool": pool.pk},
    )
    return customer


# --- Release -------------------------------------------------------------------------------------
@transaction.atomic
def release(
    *, actor: User, customer: Customer, reason: str, pool: PublicPool | None = None
) -> Customer:
    """Put an owned customer back into a pool (the default one unless given), with a reason."""
    if not actor.can("customers", "edit"):
        raise PermissionDenied()
    assert_in_scope(actor, customer, "edit")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(field_errors={"reason": [_("Say why the customer is released.")]})
    if customer.owner_id is None:
        raise ValidationFailed(_("This customer is already in the public pool."))
    if customer.is_confidential:
        raise ValidationFailed(
            _(
                "A confidential customer cannot be released to the public pool: "
                "transfer it to a colleague, or have its owner or an administrator "
                "clear the confidential mark first."
            )
        )
    target = pool or customer.pool or default_pool(actor.org_id)  # type: ignore[arg-type]
    if target.org_id != actor.org_id or not target.is_active:
        raise NotFound()
    previous = customer.owner_id
    now = timezone.now()
    done = Customer.objects.filter(pk=customer.pk, owner_id=previous).update(
        owner=None,
        pool=target,
        pool_entered_at=now,
        released_by_id=previous,
        released_at=now,
        release_reason=reason[:300],
        return_warned_at=None,
        version=F("version") + 1,
        updated_at=now,
    )
    if not done:
        raise Conflict()
    OwnershipMove.objects.create(
        org_id=actor.org_id,
        customer_id=customer.pk,
        kind=MoveKind.RELEASE,
        from_user_id=previous,
        actor=actor,
        pool=target,
        reason=reason[:300],
    )
    customer.refresh_from_db()
    audit.record(
        actor=actor,
        obj=customer,
        verb="customer.released",
        changes={"owner": [previous, None], "pool": [None, target.pk]},
        data={"reason": reason},
    )
    return customer


# --- Assign --------------------------------------------------------------------------------------
@transaction.atomic
def assign(*, actor: User, customer: Customer, to_user: User) -> Customer:
    """A manager hands a pool customer to a rep (claims limits do not apply; the rep's pool
    visibility does)."""
    if not actor.can("customers", "transfer"):
        raise PermissionDenied()
    if customer.org_id != actor.org_id or customer.pool_id not in visible_pool_ids(actor):
        raise NotFound()
    if to_user.org_id != actor.org_id or not to_user.is_active:
        raise ValidationFailed(field_errors={"to_user": [_("Choose an active colleague.")]})
    now = timezone.now()
    pool_id = customer.pool_id
    done = Customer.objects.filter(pk=customer.pk, owner__isnull=True, pool_id=pool_id).update(
        owner=to_user,
        owner_since=now,
        pool_entered_at=None,
        return_warned_at=None,
        version=F("version") + 1,
        updated_at=now,
    )
    if not done:
        raise Conflict(_("Someone else has already claimed this customer."))
    Contact.objects.filter(customer_id=customer.pk).update(owner=to_user)
    OwnershipMove.objects.create(
        org_id=actor.org_id,
        customer_id=customer.pk,
        kind=MoveKind.ASSIGN,
        to_user=to_user,
        actor=actor,
        pool_id=pool_id,
    )
    customer.refresh_from_db()
    audit.record(
        actor=actor,
        obj=customer,
        verb="customer.assigned",
        changes={"owner": [None, to_user.pk]},
        data={"pool": pool_id},
    )
    notify(
        recipient=to_user,
        actor=actor,
        verb="customer.assigned",
        target=customer,
        url=f"/customers/{customer.pk}/",
        message=_("%(actor)s assigned the customer “%(name)s” to you.")
        % {"actor": actor.display_name, "name": customer.name},
    )
    return customer


# --- Pool settings --------------------------------------------------------------------------------
# Upper bounds keep date arithmetic and the database's integer columns in range.
POOL_LIMITS = {
    "days_without_followup": 36500,
    "days_without_deal": 36500,
    "owner_cap": 1_000_000,
    "daily_claim_limit": 100_000,
    "warning_days": 3650,
    "reclaim_cooldown_days": 36500,
}


def _clean_pool(data: dict[str, Any]) -> dict[str, Any]:
    clean = {k: v for k, v in data.items() if k in POOL_FIELDS}
    errors: dict[str, list[str]] = {}
    if "name" in clean:
        clean["name"] = (clean["name"] or "").strip()
        if not clean["name"]:
            errors["name"] = [_("Enter a name.")]
    for key in ("days_without_followup", "days_without_deal", "owner_cap", "daily_claim_limit"):
        value = clean.get(key)
        if value is not None and (
            not isinstance(value, int) or value < 1 or value > POOL_LIMITS[key]
        ):
            errors[key] = [
                _("Enter a whole number from 1 to %(max)s, or leave it empty.")
                % {"max": POOL_LIMITS[key]}
            ]
    for key in ("warning_days", "reclaim_cooldown_days"):
        value = clean.get(key)
        if value is not None and (
            not isinstance(value, int) or value < 0 or value > POOL_LIMITS[key]
        ):
            errors[key] = [_("Enter a whole number from 0 to %(max)s.") % {"max": POOL_LIMITS[key]}]
    rules = clean.get("grade_rules")
    if rules is not None and (
        not isinstance(rules, dict)
        or any(
            g not in Grade.values
            or not isinstance(r, dict)
            or any(
                k not in ("days_without_followup", "days_without_deal")
                or (v is not None and (not isinstance(v, int) or not 1 <= v <= POOL_LIMITS[k]))
                for k, v in r.items()
            )
            for g, r in rules.items()
        )
    ):
        errors["grade_rules"] = [
            _("Rules per grade must give whole numbers of days for A, B or C.")
        ]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


@transaction.atomic
def save_pool(
    *,
    actor: User,
    pool: PublicPool | None = None,
    data: dict[str, Any],
    departments: list[Any] | None = None,
) -> PublicPool:
    """Create or edit a public pool and its rules (needs customers:configure)."""
    if not actor.can("customers", "configure") and not actor.is_org_admin:
        raise PermissionDenied()
    clean = _clean_pool(data)
    if pool is not None and pool.org_id != actor.org_id:
        raise NotFound()
    name = clean.get("name", pool.name if pool else "")
    if not name:
        raise ValidationFailed(field_errors={"name": [_("Enter a name.")]})
    clash = PublicPool.objects.filter(org_id=actor.org_id, name=name)
    if pool is not None:
        clash = clash.exclude(pk=pool.pk)
    if clash.exists():
        raise ValidationFailed(field_errors={"name": [_("A pool with this name already exists.")]})
    before = audit.snapshot(pool) if pool else {}
    pool = pool or PublicPool(org_id=org_id_of(actor))
    for key, value in clean.items():
        setattr(pool, key, value)
    if pool.is_default:
        PublicPool.objects.filter(org_id=actor.org_id, is_default=True).exclude(pk=pool.pk).update(
            is_default=False
        )
    pool.save()
    if departments is not None:
        for d in departments:
            if d.org_id != actor.org_id:
                raise NotFound()
        pool.departments.set(departments)
    audit.record(
        actor=actor,
        obj=pool,
        verb="pool.saved" if before else "pool.created",
        changes=audit.diff(before, audit.snapshot(pool)),
    )
    return pool


# --- Return by rule (the sweep) -------------------------------------------------------------------
def _due_q(pool: PublicPool, grade: str, now: Any, *, ahead: timedelta = timedelta(0)) -> Q | None:
    """Owned customers of ``grade`` that are due for return to ``pool`` at ``now + ahead``."""
    followup_days, deal_days = pool.rule_for(grade)
    at = now + ahead
    parts = Q()
    if followup_days:
        limit = at - timedelta(days=followup_days)
        parts |= Q(last_followup_at__lt=limit) | Q(
            last_followup_at__isnull=True, owner_since__lt=limit
        )
    if deal_days:
        limit = at - timedelta(days=deal_days)
        parts |= Q(owner_since__lt=limit) & (Q(last_won_at__isnull=True) | Q(last_won_at__lt=limit))
    if not parts:
        return None
    q = Q(grade=grade) & parts
    if pool.exclude_won:
        q &= Q(last_won_at__isnull=True)
    if pool.exclude_open_opportunities:
        q &= Q(open_opportunities=0)
    return q


def sweep_org(org_id: int, *, now: Any = None) -> dict[str, int]:
    """Return every due customer of one organisation to its pool; notify owners and managers.

    Set-based: per pool and grade, one UPDATE marks the rows it returns with a fresh token and
    only those marked rows get events, moves and notifications. A row another sweep already
    returned no longer matches ``owner IS NOT NULL`` and is skipped.
    """
    now = now or timezone.now()
    returned = 0
    for pool in PublicPool.objects.filter(org_id=org_id, is_active=True).order_by(
        "-is_default", "pk"
    ):
        for grade in [*Grade.values, ""]:
            due = _due_q(pool, grade, now)
            if due is None:
                continue
            token = uuid.uuid4().hex
            with transaction.atomic():
                ids = list(
                    Customer.objects.filter(
                        org_id=org_id,
                        owner__isnull=False,
                        merged_into__isnull=True,
                        is_confidential=False,  # confidential customers never return (R1.4)
                    )
                    .filter(pool=pool)
                    .filter(due)
                    .values_list("pk", flat=True)
                )
                if not ids:
                    continue
                Customer.objects.filter(
                    pk__in=ids, owner__isnull=False, is_confidential=False
                ).filter(due).update(
                    released_by=F("owner"),
                    owner=None,
                    pool=pool,
                    pool_entered_at=now,
                    released_at=now,
                    return_warned_at=None,
                    release_reason="",
                    sweep_token=token,
                    version=F("version") + 1,
                    updated_at=now,
                )
                rows = list(
                    Customer.objects.filter(org_id=org_id, sweep_token=token).select_related(
                        "released_by__manager", "released_by__department__head"
                    )
                )
                Contact.objects.filter(customer__in=[c.pk for c in rows]).update(owner=None)
                OwnershipMove.objects.bulk_create(
                    [
                        OwnershipMove(
                            org_id=org_id,
                            customer=c,
                            kind=MoveKind.RETURN,
                            from_user=c.released_by,
                            pool=pool,
                            reason=_reason(pool, c, now),
                        )
                        for c in rows
                    ]
                )
                Event.objects.bulk_create(
                    [
                        audit.event_for(
                            actor=None,
                            obj=c,
                            verb="customer.returned",
                            changes={"owner": [c.released_by_id, None]},
                            data={"rule": _reason(pool, c, now), "pool": pool.pk},
                        )
                        for c in rows
                    ]
                )
                Notification.objects.bulk_create(
                    [note for c in rows for note in _return_notifications(c, pool)]
                )
                returned += len(rows)
    return {"returned": returned}


def _reason(pool: PublicPool, customer: Customer, now: Any) -> str:
    """Which rule returned the customer (the follow-up rule wins when both apply)."""
    followup_days, _deal_days = pool.rule_for(customer.grade)
    if followup_days:
        last = customer.last_followup_at or customer.owner_since or customer.released_at
        if last is None or last < now - timedelta(days=followup_days):
            return ReturnReason.NO_FOLLOWUP
    return ReturnReason.NO_DEAL


def _return_notifications(customer: Customer, pool: PublicPool) -> list[Notification]:
    """Unsaved notifications for the rep who lost ``customer`` and for their manager."""
    loser = customer.released_by
    if loser is None:
        return []
    url = f"/customers/{customer.pk}/"
    notes = [
        notification_for(
            recipient=loser,
            verb="customer.returned",
            target=customer,
            url=url,
            message=_("“%(name)s” went back to the pool “%(pool)s”: no follow-up or deal in time.")
            % {"name": customer.name, "pool": pool.name},
        )
    ]
    manager = loser.manager or (loser.department.head if loser.department else None)
    if manager is not None and manager.pk != loser.pk and manager.is_active:
        notes.append(
            notification_for(
                recipient=manager,
                verb="customer.returned",
                target=customer,
                url=url,
                message=_("%(rep)s's customer “%(name)s” went back to the pool “%(pool)s”.")
                % {"rep": loser.display_name, "name": customer.name, "pool": pool.name},
            )
        )
    return notes


def warn_org(org_id: int, *, now: Any = None) -> int:
    """Tell owners, once per ownership, which customers will return within the warning days."""
    now = now or timezone.now()
    warned = 0
    for pool in PublicPool.objects.filter(org_id=org_id, is_active=True):
        if not pool.warning_days:
            continue
        for grade in [*Grade.values, ""]:
            due_soon = _due_q(pool, grade, now, ahead=timedelta(days=pool.warning_days))
            due_now = _due_q(pool, grade, now)
            if due_soon is None or due_now is None:
                continue
            rows = list(
                Customer.objects.filter(
                    org_id=org_id,
                    owner__isnull=False,
                    return_warned_at__isnull=True,
                    is_confidential=False,
                )
                .filter(pool=pool)
                .filter(due_soon)
                .exclude(due_now)
                .select_related("owner")
            )
            for c in rows:
                if Customer.objects.filter(pk=c.pk, return_warned_at__isnull=True).update(
                    return_warned_at=now
                ):
                    notify(
                        recipient=c.owner,
                        verb="customer.return_warning",
                        target=c,
                        url=f"/customers/{c.pk}/",
                        message=_(
                            "“%(name)s” returns to the public pool within %(days)d days "
                            "unless you follow up."
                        )
                        % {"name": c.name, "days": pool.warning_days},
                    )
                    warned += 1
    return warned
