"""Reads of the customers module that are more than a filter: search and the lists."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Q, QuerySet

from .models import Contact, Customer
from .normalize import normalize_email, phone_digits


def active_customers(user: Any, action: str = "view") -> QuerySet[Customer]:
    """Customers ``user`` may ``action``, without merged tombstones."""
    return Customer.objects.visible_to(user, action).filter(merged_into__isnull=True)


def search_q(text: str, org_id: int) -> Q:
    """Match a name fragment, pinyin (full or initials, e.g. ``zgyd`` → 中国移动), a phone
    number (of the customer or a contact) or an e-mail."""
    text = (text or "").strip()
    if not text:
        return Q()
    q = Q(name__icontains=text) | Q(short_name__icontains=text)
    latin = re.sub(r"[^a-z0-9]", "", text.lower())
    if latin and latin == text.lower().replace(" ", ""):
        q |= Q(name_initials__startswith=latin) | Q(name_pinyin__startswith=latin)
        if len(latin) >= 3:
            q |= Q(name_initials__contains=latin) | Q(name_pinyin__contains=latin)
    digits = phone_digits(text)
    if len(digits) >= 4 and len(digits) >= len(re.sub(r"[\s\-+()]", "", text)) - 1:
        q |= Q(phone_digits__contains=digits)
        q |= Q(
            pk__in=Contact.objects.filter(org_id=org_id, mobile_digits__contains=digits).values(
                "customer_id"
            )
        )
    if "@" in text:
        mail = normalize_email(text)
        q |= Q(email=mail) | Q(
            pk__in=Contact.objects.filter(org_id=org_id, email=mail).values("customer_id")
        )
    return q


def search_customers(user: Any, text: str) -> QuerySet[Customer]:
    if not text.strip():
        return Customer.objects.none()
    return active_customers(user).filter(search_q(text, user.org_id)).order_by("-updated_at", "-pk")
