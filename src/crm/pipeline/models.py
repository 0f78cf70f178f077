"""Pipelines and opportunities (arriving with the opportunities module) and the dictionaries
admins edit: customer types, categories, industries, sources, and later stages' lists."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.core.models import TenantModel
from crm.core.scoping import ScopedQuerySet, ScopeFields


class DictionaryKind(models.TextChoices):
    """The lists an organisation edits. Code branches on the kind, never on an item's value."""

    CUSTOMER_TYPE = "customer_type", _("Customer type")
    CUSTOMER_CATEGORY = "customer_category", _("Customer category")
    BUSINESS_CATEGORY = "business_category", _("Business category")
    INDUSTRY = "industry", _("Industry")
    SOURCE = "source", _("Source")
    RELEASE_REASON = "release_reason", _("Reason for releasing to the pool")
    INVALID_REASON = "invalid_reason", _("Reason a lead is invalid")


class DictionaryItem(TenantModel):
    """One entry of an organisation's list (``kind``): a stable ``value`` and an editable label."""

    kind = models.CharField(_("list"), max_length=40, choices=DictionaryKind.choices)
    value = models.CharField(_("value"), max_length=60)
    label = models.CharField(_("label"), max_length=100)
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "directory"

    class Meta:
        verbose_name = _("dictionary item")
        verbose_name_plural = _("dictionary items")
        ordering = ["kind", "sort_order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["org", "kind", "value"], name="dict_unique_value"),
        ]

    def __str__(self) -> str:
        return self.label
