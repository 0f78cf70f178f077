"""The filter vocabulary of the customer and contact lists, shared by the API, the pages and the
export: ``CustomerFilter.from_query(request.GET).apply(qs, user)`` on an already scoped queryset.

Sort keys (``?sort=name,-created``) are in ``CUSTOMER_SORTS`` / ``CONTACT_SORTS`` for
``crm.core.api.apply_sort``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, Self

from django.db.models import Q, QuerySet
from django.utils import timezone
from ninja import Field, FilterSchema
from pydantic import ValidationError

from crm.core.api import FilterDate, FilterId
from crm.core.errors import ValidationFailed
from crm.org.models import Department

from .models import Contact, Customer
from .normalize import normalize_email, phone_digits
from .selectors import search_q

#: public sort key -> model field ("name" sorts by pinyin, the order Chinese users expect)
CUSTOMER_SORTS = {
    "name": "name_pinyin",
    "created": "created_at",
    "updated": "updated_at",
    "last_followup": "last_followup_at",
    "grade": "grade",
    "signed_amount_12m": "signed_amount_12m",
}
CUSTOMER_DEFAULT_SORT = ["-updated_at", "-pk"]

CONTACT_SORTS = {"name": "name", "created": "created_at", "updated": "updated_at"}
CONTACT_DEFAULT_SORT = ["-is_primary", "name", "pk"]


def _day_start(day: date) -> datetime:
    """Midnight of ``day`` in the current (organisation) time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


class _QueryParsing:
    """Build a filter from a query string (``request.GET``): empty values are ignored, and a
    bad value raises ValidationFailed with the field's message (shown like any form error)."""

    @classmethod
    def from_query(cls, data: Mapping[str, Any]) -> Self:
        values = {
            key: data.get(key)
            for key in cls.model_fields  # type: ignore[attr-defined]
            if data.get(key) not in (None, "")
        }
        try:
            return cls(**values)
        except ValidationError as exc:
            errors: dict[str, list[str]] = {}
            for err in exc.errors():
                field = ".".join(str(p) for p in err.get("loc", ())) or "__all__"
                errors.setdefault(field, []).append(str(err.get("msg", "")))
            raise ValidationFailed(field_errors=errors) from None


class CustomerFilter(_QueryParsing, FilterSchema):
    """Filters of the customer lists (my customers, all customers, a pool's customers)."""

    q: str | None = Field(
        None,
        max_length=100,
        description="Name fragment, pinyin or initials (zgyd → 中国移动), phone (also a "
        "contact's mobile) or e-mail",
    )
    owner_id: FilterId | None = None
    mine: bool | None = Field(None, description="true: only customers you own")
    department_id: FilterId | None = Field(
        None, description="Owner in this department or one below it"
    )
    grade: Literal["A", "B", "C"] | None = None
    customer_type: str | None = Field(None, max_length=60)
    category: str | None = Field(None, max_length=60)
    industry: str | None = Field(None, max_length=60)
    source: str | None = Field(None, max_length=60)
    region: str | None = Field(None, max_length=100, description="Region starts with")
    tag_id: FilterId | None = None
    in_pool: bool | None = Field(None, description="true: waiting in a pool; false: owned")
    pool_id: FilterId | None = None
    is_new: bool | None = None
    created_from: FilterDate | None = Field(None, description="Created on or after (YYYY-MM-DD)")
    created_to: FilterDate | None = Field(None, description="Created on or before (YYYY-MM-DD)")
    last_followup_before: FilterDate | None = Field(
        None, description="Last follow-up before this day, or never followed up"
    )
    last_followup_after: FilterDate | None = Field(None, description="Last follow-up on or after")

    def apply(self, qs: QuerySet[Customer], user: Any) -> QuerySet[Customer]:
        """Narrow an already scoped queryset of customers."""
        if self.q and self.q.strip():
            qs = qs.filter(search_q(self.q, user.org_id))
        if self.owner_id is not None:
            qs = qs.filter(owner_id=self.owner_id)
        if self.mine:
            qs = qs.filter(owner_id=user.pk)
        if self.department_id is not None:
            path = (
                Department.objects.visible_to(user)
                .filter(pk=self.department_id)
                .values_list("path", flat=True)
                .first()
            )
            qs = qs.filter(owner__department__path__startswith=path) if path else qs.none()
        for field in ("grade", "customer_type", "category", "industry", "source"):
            value = getattr(self, field)
            if value:
                qs = qs.filter(**{field: value})
        if self.region:
            qs = qs.filter(region__startswith=self.region.strip())
        if self.tag_id is not None:
            qs = qs.filter(tags=self.tag_id)
        if self.in_pool is not None:
            qs = qs.filter(owner__isnull=self.in_pool)
        if self.pool_id is not None:
            qs = qs.filter(pool_id=self.pool_id)
        if self.is_new is not None:
            qs = qs.filter(is_new=self.is_new)
        if self.created_from:
            qs = qs.filter(created_at__gte=_day_start(self.created_from))
        if self.created_to:
            qs = qs.filter(created_at__lt=_day_start(self.created_to + timedelta(days=1)))
        if self.last_followup_before:
            qs = qs.filter(
                Q(last_followup_at__lt=_day_start(self.last_followup_before))
                | Q(last_followup_at__isnull=True)
            )
        if self.last_followup_after:
            qs = qs.filter(last_followup_at__gte=_day_start(self.last_followup_after))
        return qs


class ContactFilter(_QueryParsing, FilterSchema):
    """Filters of the contact list."""

    q: str | None = Field(
        None, max_length=100, description="Name, title, mobile or office phone, e-mail"
    )
    customer_id: FilterId | None = None

    def apply(self, qs: QuerySet[Contact], user: Any) -> QuerySet[Contact]:
        """Narrow an already scoped queryset of contacts."""
        if self.customer_id is not None:
            qs = qs.filter(customer_id=self.customer_id)
        text = (self.q or "").strip()
        if text:
            cond = Q(name__icontains=text) | Q(title__icontains=text)
            digits = phone_digits(text)
            if len(digits) >= 4 and len(digits) >= len(re.sub(r"[\s\-+()]", "", text)) - 1:
                cond |= Q(mobile_digits__contains=digits) | Q(office_phone__contains=digits)
            if "@" in text:
                cond |= Q(email=normalize_email(text))
            qs = qs.filter(cond)
        return qs
