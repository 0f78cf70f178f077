"""Read-side helpers of the customers API: the read queryset (no query per row), the pool
countdown, days since the last follow-up, and contact masking for customers waiting in a pool.

Pure computations on loaded rows, plus the annotations the lists need; no writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Contact, Customer, PublicPool
from .normalize import mask_email, mask_phone


def customer_read_queryset(qs: QuerySet[Customer], user: Any) -> QuerySet[Customer]:
    """``qs`` (already scoped) with everything ``CustomerRead`` shows: owner, pool, parent,
    tags, collaborators and the number of contacts, in a fixed number of queries."""
    contacts = (
        Contact.objects.visible_to(user)
        .filter(customer=OuterRef("pk"))
        .order_by()
        .values("customer")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        qs.select_related("owner", "pool", "parent")
        .prefetch_related("tags", "collaborators", "confidential_viewers")
        .annotate(
            contacts_count=Coalesce(
                Subquery(contacts, output_field=IntegerField()),
                Value(0),
                output_field=IntegerField(),
            )
        )
    )


def contact_read_queryset(qs: QuerySet[Contact]) -> QuerySet[Contact]:
    """``qs`` (already scoped) with the customer, its pool and the owner joined."""
    return qs.select_related("customer", "customer__pool", "owner")


def pool_read_queryset(qs: QuerySet[PublicPool]) -> QuerySet[PublicPool]:
    """Pools with their departments and the number of customers waiting in each."""
    from django.db.models import Q

    return qs.prefetch_related("departments").annotate(
        waiting=Count(
            "customers",
            filter=Q(customers__owner__isnull=True, customers__merged_into__isnull=True),
        )
    )


# --- Masking --------------------------------------------------------------------------------------
def is_masked(customer: Customer) -> bool:
    """Phones and e-mails are masked while the customer waits (no owner) in a pool that masks."""
    if customer.owner_id is not None or customer.pool_id is None:
        return False
    return bool(customer.pool and customer.pool.mask_contacts)


def masked_phone(customer: Customer, phone: str) -> str:
    return mask_phone(phone) if phone and is_masked(customer) else phone


def masked_email(customer: Customer, email: str) -> str:
    return mask_email(email) if email and is_masked(customer) else email


# --- Figures of the header ------------------------------------------------------------------------
def days_since_followup(customer: Customer, now: datetime | None = None) -> int | None:
    """Whole calendar days (org time zone) since the last follow-up; None if there was none."""
    if customer.last_followup_at is None:
        return None
    today = timezone.localtime(now or timezone.now()).date()
    return max((today - timezone.localtime(customer.last_followup_at).date()).days, 0)


def pool_return_at(customer: Customer) -> datetime | None:
    """When the pool's rules will return this owned customer to its pool, as the sweep
    (``pool_services.sweep_org``) decides it: the earlier of *last follow-up (or owned since)
    + days without follow-up* and *the later of owned since and last won deal + days without a
    won deal*, with the per-grade overrides. None when the customer is in a pool, merged, has no
    active pool, is excluded (won deal / open opportunities) or no rule applies."""
    if customer.owner_id is None or customer.merged_into_id is not None:
        return None
    pool = customer.pool if customer.pool_id else None
    if pool is None or not pool.is_active:
        return None
    if pool.exclude_won and customer.last_won_at is not None:
        return None
    if pool.exclude_open_opportunities and customer.open_opportunities:
        return None
    followup_days, deal_days = pool.rule_for(customer.grade)
    due: list[datetime] = []
    if followup_days:
        base = customer.last_followup_at or customer.owner_since
        if base is not None:
            due.append(base + timedelta(days=followup_days))
    if deal_days and customer.owner_since is not None:
        base = max(d for d in (customer.owner_since, customer.last_won_at) if d is not None)
        due.append(base + timedelta(days=deal_days))
    return min(due) if due else None
