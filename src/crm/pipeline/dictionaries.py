"""Default dictionary entries of a new organisation, and lookups by kind.

The lookups read all the lists of an organisation in one query, once per request (see
``crm.core.context.request_memo``); a change of an entry drops what the request has read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.core.context import forget_request_memo, request_memo

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
    # Seed 001: 成交概率 极高、高、中、低.
    DictionaryKind.PROBABILITY_LEVEL: [
        ("very_high", pgettext_lazy("probability", "Very high")),
        ("high", pgettext_lazy("probability", "High")),
        ("medium", pgettext_lazy("probability", "Medium")),
        ("low", pgettext_lazy("probability", "Low")),
    ],
    # Seed 001: 行动原则 确保、极力争取、争取、跟踪、放弃.
    DictionaryKind.ACTION_PRINCIPLE: [
        ("ensure", pgettext_lazy("action principle", "Ensure")),
        ("strive_hard", pgettext_lazy("action principle", "Strive hard")),
        ("strive", pgettext_lazy("action principle", "Strive")),
        ("track", pgettext_lazy("action principle", "Track")),
        ("abandon", pgettext_lazy("action principle", "Abandon")),
    ],
    # The value is the number of days followed by "d" (see feedback_cycle_days).
    DictionaryKind.FEEDBACK_CYCLE: [
        ("1d", _("Daily")),
        ("3d", _("Every 3 days")),
        ("7d", _("Weekly")),
        ("14d", _("Every 2 weeks")),
        ("30d", _("Monthly")),
    ],
    DictionaryKind.LOSS_REASON: [
        ("price", _("Price too high")),
        ("competitor", _("Lost to a competitor")),
        ("no_budget", _("No budget")),
        ("project_cancelled", _("Project cancelled")),
        ("requirements", _("Requirements not met")),
        ("relationship", _("Relationship not strong enough")),
        ("other", _("Other")),
    ],
    # Until the product catalogue lands, opportunity product lines pick from this list.
    DictionaryKind.PRODUCT: [
        ("hardware", _("Hardware")),
        ("software", _("Software licences")),
        ("implementation", _("Implementation services")),
        ("maintenance", _("Maintenance and support")),
        ("training", _("Training")),
    ],
}

#: A feedback-cycle value is a number of days (1–999) followed by "d": 1d, 7d, 30d.
FEEDBACK_CYCLE_PATTERN = re.compile(r"^([1-9][0-9]{0,2})d$")


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
    forget(org_id)


#: (kind, value, label, is_active) of every entry of an organisation, in list order
Entries = dict[str, list[tuple[str, str, bool]]]


def _memo_key(org_id: int) -> tuple[str, int]:
    return ("pipeline.dictionaries", org_id)


def _entries(org_id: int) -> Entries:
    """Every list of the organisation, read in one query and once per request (R11.2): a page
    shows the labels of several lists (6 on the customer 360 page, 9 on the customer list)."""

    def load() -> Entries:
        entries: Entries = {}
        rows = (
            DictionaryItem.objects.filter(org_id=org_id)
            .order_by("kind", "sort_order", "pk")
            .values_list("kind", "value", "label", "is_active")
        )
        for kind, value, label, active in rows:
            entries.setdefault(kind, []).append((value, label, active))
        return entries

    return request_memo(_memo_key(org_id), load)


def forget(org_id: int | None = None) -> None:
    """Drop what this request has read of the lists (of ``org_id``, or all) after a change."""
    forget_request_memo(
        lambda key: (
            isinstance(key, tuple)
            and key[:1] == ("pipeline.dictionaries",)
            and (org_id is None or key[1] == org_id)
        )
    )


def _forget_changed(sender: Any, instance: DictionaryItem, **kwargs: Any) -> None:
    """A request that changes an entry and then shows a list again shows the change."""
    forget(instance.org_id)


post_save.connect(_forget_changed, sender=DictionaryItem, dispatch_uid="dictionaries-forget-save")
post_delete.connect(
    _forget_changed, sender=DictionaryItem, dispatch_uid="dictionaries-forget-delete"
)


def choices(org_id: int, kind: str, *, include_inactive: bool = False) -> list[tuple[str, str]]:
    """(value, label) of one list in order, active entries only unless ``include_inactive``."""
    return [
        (value, label)
        for value, label, active in _entries(org_id).get(kind, [])
        if active or include_inactive
    ]


def is_valid(org_id: int, kind: str, value: str) -> bool:
    return (
        not value or DictionaryItem.objects.filter(org_id=org_id, kind=kind, value=value).exists()
    )


def label(org_id: int, kind: str, value: str) -> str:
    if not value:
        return ""
    for known, text, _active in _entries(org_id).get(kind, []):
        if known == value:
            return text
    return value


def feedback_cycle_days(value: str) -> int | None:
    """The number of days of a feedback-cycle value (``"7d"`` → 7); None when it is not one."""
    match = FEEDBACK_CYCLE_PATTERN.match(value or "")
    return int(match.group(1)) if match else None


def labeler(kind: str) -> Any:
    """``fn(org_id, value) -> label`` of one list, for the audit history."""
    return lambda org_id, value: label(org_id, kind, value) if isinstance(value, str) else value


def register_history_labels(object_type: str, fields: Mapping[str, str]) -> None:
    """Show the recorded values of the dictionary ``fields`` (field -> kind) of ``object_type`` by
    their labels on history pages and in edit conflicts."""
    from crm.core.audit import register_value_labeler

    for field, kind in fields.items():
        register_value_labeler(object_type, [field], labeler(kind))
