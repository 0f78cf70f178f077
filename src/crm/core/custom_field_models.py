"""Custom fields (issue 7, R10.5): an organisation's own fields on customers, contacts, leads and
opportunities.

A :class:`CustomField` defines one field of one record kind (``target``); the values live in the
``custom`` JSON column of the records, keyed by the field's ``key`` (which never changes once
created). ``crm.core.custom_fields`` validates, renders, filters, imports and exports them.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from .models import TenantModel
from .scoping import ScopedQuerySet, ScopeFields


class CustomTarget(models.TextChoices):
    CUSTOMER = "customer", _("Customers")
    CONTACT = "contact", _("Contacts")
    LEAD = "lead", _("Leads")
    OPPORTUNITY = "opportunity", _("Opportunities")


class CustomKind(models.TextChoices):
    TEXT = "text", _("Text")
    LONG_TEXT = "long_text", _("Long text")
    NUMBER = "number", _("Number")
    MONEY = "money", _("Amount of money")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Single choice")
    MULTI_CHOICE = "multi_choice", _("Multiple choice")
    USER = "user", _("Colleague")


class CustomField(TenantModel):
    """One field an organisation adds to one kind of record.

    ``default`` is a value of the field's kind (as stored), applied when a record is created
    without one. A retired field (``is_active`` false) leaves forms and lists, but the values
    records hold are kept (and come back if the field is reactivated).
    """

    target = models.CharField(_("record kind"), max_length=20, choices=CustomTarget.choices)
    key = models.SlugField(_("key"), max_length=40)
    label = models.CharField(_("label"), max_length=60)
    kind = models.CharField(_("kind"), max_length=20, choices=CustomKind.choices)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    default = models.JSONField(_("default"), null=True, blank=True)
    help_text = models.CharField(_("help text"), max_length=200, blank=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    show_in_list = models.BooleanField(_("show in lists"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None)
    scope_module: ClassVar[str] = "settings"

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["target", "sort_order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["org", "target", "key"], name="custom_field_unique_key")
        ]
        indexes = [
            models.Index(fields=["org", "target", "sort_order"], name="custom_field_order_idx")
        ]

    def __str__(self) -> str:
        return self.label
