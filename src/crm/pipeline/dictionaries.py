"""Default dictionary entries of a new organisation, and lookups by kind."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .models import DictionaryItem, DictionaryKind

DEFAULTS: dict[str, list[tuple[str, Any]]] = {
    DictionaryKind.CUSTOMER_TYPE: [
        ("enterprise", _("Enterprise")),
        ("government", _("Government")),
        ("institution", _("Public institution")),
        ("individual", _("Individual")),
    ],
    DictionaryKind.CUSTOMER_CATEGORY: [
        ("prospect", _("Prospect")),
        ("customer", _("Customer")),
        ("partner", _("Partner")),
        ("channel", _("Channel")),
    ],
    DictionaryKind.BUSINESS_CATEGORY: [
        ("product", _("Product sales")),
        ("project", _("Project")),
        ("service", _("Service")),
    ],
    DictionaryKind.INDUSTRY: [
        ("it", _("Information technology")),
        ("manufacturing", _("Manufacturing")),
        ("finance", pgettext_lazy("industry", "Finance")),
        ("government", _("Government and public sector")),
        ("education", _("Education")),
        ("healthcare", _("Healthcare")),
        ("energy", _("Energy")),
        ("telecom", _("Telecommunications")),
        ("retail", _("Retail and wholesale")),
        ("construction", _("Construction and real estate")),
        ("logistics", _("Transport and logistics")),
        ("other", _("Other")),
    ],
    DictionaryKind.SOURCE: [
        ("web_form", _("Web form")),
        ("import", _("Import")),
        ("api", _("API")),
        ("referral", _("Referral")),
        ("exhibition", _("Exhibition")),
        ("cold_call", _("Cold call")),
        ("wechat", _("WeChat official account")),
        ("mini_program", _("Mini-program")),
        ("other", _("Other")),
    ],
    DictionaryKind.RELEASE_REASON: [
        ("no_need", _("No current need")),
        ("cannot_reach", _("Cannot reach the contact")),
        ("competitor", _("Chose a competitor")),
        ("other", _("Other")),
    ],
    DictionaryKind.INVALID_REASON: [
        ("duplicate", _("Duplicate")),
        ("wrong_contact", _("Wrong contact details")),
        ("no_need", _("No need")),
        ("spam", _("Spam")),
        ("other", _("Other")),
    ],
}


def install_defaults(org_id: int) -> None:
    """Create the default entries the organisation does not have yet (labels in CRM_LANGUAGE)."""
    existing = set(DictionaryItem.objects.filter(org_id=org_id).values_list("kind", "value"))
    rows = []
    with translation.override(settings.LANGUAGE_CODE):
        for kind, items in DEFAULTS.items():
            for order, (value, label) in enumerate(items):
                if (kind, value) not in existing:
                    rows.append(
                        DictionaryItem(
                            org_id=org_id,
                            kind=kind,
                            value=value,
                            label=str(label),
                            sort_order=order,
                        )
                    )
    DictionaryItem.objects.bulk_create(rows)


def choices(org_id: int, kind: str, *, include_inactive: bool = False) -> list[tuple[str, str]]:
    qs = DictionaryItem.objects.filter(org_id=org_id, kind=kind)
    if not include_inactive:
        qs = qs.filter(is_active=True)
    return list(qs.order_by("sort_order", "pk").values_list("value", "label"))


def is_valid(org_id: int, kind: str, value: str) -> bool:
    return (
        not value or DictionaryItem.objects.filter(org_id=org_id, kind=kind, value=value).exists()
    )


def label(org_id: int, kind: str, value: str) -> str:
    if not value:
        return ""
    item = DictionaryItem.objects.filter(org_id=org_id, kind=kind, value=value).first()
    return item.label if item else value
