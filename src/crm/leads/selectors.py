"""Reads of the leads module that are more than a filter: who may do what with which pool,
the lists behind the pages and the API, duplicate candidates for conversion, search."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet

from .choices import OPEN_STATUSES, PoolKind
from .models import Lead, LeadPool


@dataclass(frozen=True)
class PoolAccess:
    """The pools a user works with: ``managed`` (sub-pool manager: sees and assigns every lead
    of the pool), ``member`` (sees and claims its unassigned leads) and ``total`` (the total
    pool's id when the user runs it, i.e. holds ``leads:configure``; else None)."""

    managed: list[int] = field(default_factory=list)
    member: list[int] = field(default_factory=list)
    total: int | None = None
    configure: bool = False

    def can_manage(self, pool_id: int | None) -> bool:
        """May the user assign, distribute and invalidate the unassigned leads of this pool?"""
        return self.configure or pool_id in self.managed

    def can_claim(self, pool_id: int | None) -> bool:
        return pool_id in self.member or pool_id in self.managed


_NO_ACCESS = PoolAccess()


def pool_access(user: Any) -> PoolAccess:
    """What ``user`` may do through the lead pools (memoised on the user for the request).
    Needs ``leads:view``; inactive users and users of no organisation get nothing."""
    if user is None or not getattr(user, "is_authenticated", False):
        return _NO_ACCESS
    cache = user.__dict__.setdefault("_scope_cache", {})
    if "lead_pools" in cache:
        return cache["lead_pools"]
    access = _NO_ACCESS
    if user.is_active and user.org_id and user.can("leads", "view"):
        pools = LeadPool.objects.filter(org_id=user.org_id, is_active=True)
        configure = user.can("leads", "configure")
        access = PoolAccess(
            managed=sorted(set(pools.filter(managers=user).values_list("pk", flat=True))),
            member=sorted(set(pools.filter(members=user).values_list("pk", flat=True))),
            total=(
                pools.filter(kind=PoolKind.TOTAL).values_list("pk", flat=True).first()
                if configure
                else None
            ),
            configure=configure,
        )
    cache["lead_pools"] = access
    return access


def pools_for(user: Any) -> QuerySet[LeadPool]:
    """The pools ``user`` works with: all of them for marketing (``leads:configure``), else the
    ones they manage or belong to. Annotated with ``open_unassigned`` (leads waiting)."""
    qs = LeadPool.objects.visible_to(user)
    access = pool_access(user)
    if not access.configure:
        qs = qs.filter(pk__in=[*access.managed, *access.member])
    return qs.annotate(
        open_unassigned=Count(
            "leads",
            filter=Q(leads__owner__isnull=True, leads__status__in=OPEN_STATUSES),
        )
    ).order_by("kind", "name")


def open_loads(org_id: int, user_ids: list[int]) -> dict[int, int]:
    """Open leads (new, contacted, qualified) owned by each of ``user_ids``: one query."""
    rows = (
        Lead.objects.filter(org_id=org_id, owner_id__in=user_ids, status__in=OPEN_STATUSES)
        .order_by()
        .values("owner_id")
        .annotate(n=Count("pk"))
    )
    loads = dict.fromkeys(user_ids, 0)
    loads.update({r["owner_id"]: r["n"] for r in rows})
    return loads


def conversion_candidates(user: Any, lead: Lead) -> list[dict[str, Any]]:
    """Existing customers that look like the lead's company (name, phones, e-mail), as
    ``user`` may see them (masked when out of scope): shown before converting."""
    from crm.customers.services import check_duplicates

    return check_duplicates(
        user,
        name=lead.company or lead.contact_name,
        phones=[lead.mobile, lead.phone],
        emails=[lead.email],
    )


def search_q(text: str) -> Q:
    """Company, contact name, mobile digits or e-mail contains ``text``."""
    from crm.customers.normalize import phone_digits

    text = (text or "").strip()
    if not text:
        return Q()
    q = Q(company__icontains=text) | Q(contact_name__icontains=text) | Q(email__icontains=text)
    digits = phone_digits(text)
    if len(digits) >= 4:
        q |= Q(mobile_digits__contains=digits)
    return q


def search_leads(user: Any, text: str) -> QuerySet[Lead]:
    if not text.strip():
        return Lead.objects.none()
    return Lead.objects.visible_to(user).filter(search_q(text)).order_by("-created_at", "-pk")
