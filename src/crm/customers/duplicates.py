"""Duplicate detection (查重): candidates for a name, phones and e-mails, within one organisation.

Candidates are found regardless of who owns them (so 撞单 is caught), but what the asking user
is shown of a candidate they may not see is masked (see :func:`describe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _

from .models import Contact, Customer
from .normalize import mask_email, mask_phone, normalize_email, normalize_name, phone_digits


@dataclass
class Candidate:
    customer: Customer
    reasons: list[str]


def find_duplicates(
    org_id: int,
    *,
    name: str = "",
    phones: list[str] | None = None,
    emails: list[str] | None = None,
    exclude_id: int | None = None,
    limit: int = 10,
) -> list[Candidate]:
    """Customers of ``org_id`` that look like the same company: same normalised name, or a
    customer or contact phone/e-mail in common. Merged customers are ignored."""
    q = Q()
    key = normalize_name(name) if name else ""
    if key:
        q |= Q(normalized_name=key)
    digits = [d for d in (phone_digits(p) for p in phones or []) if len(d) >= 7]
    mails = [m for m in (normalize_email(e) for e in emails or []) if "@" in m]
    contact_ids: set[int] = set()
    if digits:
        q |= Q(phone_digits__in=digits)
        contact_ids |= set(
            Contact.objects.filter(org_id=org_id, mobile_digits__in=digits).values_list(
                "customer_id", flat=True
            )
        )
    if mails:
        q |= Q(email__in=mails)
        contact_ids |= set(
            Contact.objects.filter(org_id=org_id, email__in=mails).values_list(
                "customer_id", flat=True
            )
        )
    if contact_ids:
        q |= Q(pk__in=contact_ids)
    if not q:
        return []
    qs = Customer.objects.filter(org_id=org_id, merged_into__isnull=True).filter(q)
    if exclude_id:
        qs = qs.exclude(pk=exclude_id)
    result = []
    for customer in qs.select_related("owner")[:limit]:
        reasons = []
        if key and customer.normalized_name == key:
            reasons.append("name")
        if digits and (customer.phone_digits in digits or customer.pk in contact_ids):
            reasons.append("phone")
        if mails and (customer.email in mails or customer.pk in contact_ids):
            reasons.append("email")
        result.append(Candidate(customer=customer, reasons=reasons or ["contact"]))
    return result


def describe(candidate: Candidate, user: Any) -> dict[str, Any]:
    """What ``user`` may be shown of a candidate: everything if they can see it; otherwise the
    name, who owns it (so the rep knows whom to talk to) and masked phone and e-mail."""
    c = candidate.customer
    visible = Customer.objects.visible_to(user).filter(pk=c.pk).exists()
    if not visible and c.is_confidential:
        # R1.4: a confidential customer is never described to those outside its circle.
        return {
            "id": None,
            "name": str(_("A confidential customer (ask an administrator)")),
            "visible": False,
            "in_pool": False,
            "owner": "",
            "phone": "",
            "email": "",
            "reasons": candidate.reasons,
            "confidential": True,
        }
    return {
        "id": c.pk if visible else None,
        "name": c.name,
        "visible": visible,
        "in_pool": c.owner_id is None,
        "owner": c.owner.display_name if c.owner else "",
        "phone": c.phone if visible else mask_phone(c.phone) if c.phone else "",
        "email": c.email if visible else mask_email(c.email) if c.email else "",
        "reasons": candidate.reasons,
    }
