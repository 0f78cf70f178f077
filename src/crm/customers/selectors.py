"""Reads of the customers module that are more than a filter: search and the lists."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from crm.core.paging import capped_counts

from .models import Contact, Customer
from .normalize import normalize_email, phone_digits


def active_customers(user: Any, action: str = "view") -> QuerySet[Customer]:
    """Customers ``user`` may ``action``, without merged tombstones."""
    return Customer.objects.visible_to(user, action).filter(merged_into__isnull=True)


def tab_conditions(user: Any) -> dict[str, Q]:
    """The condition of each saved view of the customer list, on ``active_customers(user)``:
    mine, shared with me (a collaborator, not the owner), my team (owned by someone else),
    all (owned; customers waiting in a pool are listed on the pool pages)."""
    through = Customer.collaborators.through
    shared_ids = through.objects.filter(user_id=user.pk).values("customer_id")
    return {
        "mine": Q(owner_id=user.pk),
        "shared": Q(pk__in=shared_ids) & ~Q(owner_id=user.pk),
        "team": Q(owner__isnull=False) & ~Q(owner_id=user.pk),
        "all": Q(owner__isnull=False),
    }


def tab_queryset(user: Any, tab: str) -> QuerySet[Customer]:
    """The customers of one saved view (see :func:`tab_conditions`; unknown: all)."""
    conditions = tab_conditions(user)
    return active_customers(user).filter(conditions.get(tab, conditions["all"]))


def tab_counts(user: Any, tabs: list[str]) -> dict[str, tuple[int, bool]]:
    """``tab -> (n, exact)``: the customers of each of ``tabs`` in one statement (R11.2),
    counted up to ``CRM_LIST_COUNT_CAP`` each (issue 8: a director's "All" is 300,000)."""
    conditions = tab_conditions(user)
    base = active_customers(user)
    return capped_counts(
        {tab: base.filter(conditions[tab]) for tab in tabs}, settings.CRM_LIST_COUNT_CAP
    )


def search_q(text: str, org_id: int) -> Q:
    """Match a name fragment, pinyin (full or initials, e.g. ``zgyd`` → 中国移动), a phone
    number (of the customer or a contact) or an e-mail."""
    text = (text or "").strip()
    if not text:
        return Q()
    # a two-character term (most Chinese brand names) by the bigram index, longer ones by the
    # trigram index: every arm of the OR below can use an index, so PostgreSQL ORs bitmaps
    # instead of reading every customer (crm.customers.bigrams)
    contains = "has_pair" if len(text) == 2 else "icontains"
    q = Q(**{f"name__{contains}": text}) | Q(**{f"short_name__{contains}": text})
    latin = re.sub(r"[^a-z0-9]", "", text.lower())
    if latin and latin == text.lower().replace(" ", ""):
        q |= Q(name_initials__startswith=latin) | Q(name_pinyin__startswith=latin)
        if len(latin) >= 3:
            q |= Q(name_initials__contains=latin) | Q(name_pinyin__contains=latin)
    digits = phone_digits(text)
    if len(digits) >= 4 and len(digits) >= len(re.sub(r"[\s\-+()]", "", text)) - 1:
        q |= Q(phone_digits__contains=digits)
        q |= Q(
            pk__any_of=Contact.objects.filter(org_id=org_id, mobile_digits__contains=digits).values(
                "customer_id"
            )
        )
    if "@" in text:
        mail = normalize_email(text)
        q |= Q(email=mail) | Q(
            pk__any_of=Contact.objects.filter(org_id=org_id, email=mail).values("customer_id")
        )
    return q


def search_customers(user: Any, text: str) -> QuerySet[Customer]:
    if not text.strip():
        return Customer.objects.none()
    return active_customers(user).filter(search_q(text, user.org_id)).order_by("-updated_at", "-pk")
