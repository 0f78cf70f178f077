"""How the customers module plugs into the base layer: org defaults, record transfer on
deactivation, global search, audit labels."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


def search_customers(user: Any, text: str, limit: int) -> list[dict[str, Any]]:
    from .selectors import search_customers as search

    return [
        {
            "kind": _("Customer"),
            "title": c.name,
            "subtitle": c.region or "",
            "url": f"/customers/{c.pk}/",
        }
        for c in search(user, text)[:limit]
    ]


def register() -> None:
    from crm.core.audit import register_verbs
    from crm.core.registry import (
        register_org_initializer,
        register_ownership_transfer,
        register_search,
    )

    from . import pool_services, services

    register_org_initializer(pool_services.install_default_pool)
    register_ownership_transfer("customers", services.transfer_all_of, label=_("customers"))
    register_search(search_customers)

    from crm.org.demo import DEMO_CLEANERS, demo_builder

    from .demo import build as build_demo
    from .demo import clean as clean_demo

    demo_builder(build_demo)
    if clean_demo not in DEMO_CLEANERS:
        DEMO_CLEANERS.append(clean_demo)
    register_verbs(
        {
            "customer.created": _("Customer created"),
            "customer.updated": _("Customer changed"),
            "customer.transferred": _("Customer transferred"),
            "customer.claimed": _("Claimed from the pool"),
            "customer.released": _("Released to the pool"),
            "customer.assigned": _("Assigned from the pool"),
            "customer.returned": _("Returned to the pool by rule"),
            "customer.merged": _("Customers merged"),
            "customer.merged_away": _("Merged into another customer"),
            "customer.tagged": _("Tagged"),
            "customer.untagged": _("Tag removed"),
            "customer.collaborators": _("Collaborators changed"),
            "contact.created": _("Contact created"),
            "contact.updated": _("Contact changed"),
            "contact.deleted": _("Contact deleted"),
            "pool.created": _("Public pool created"),
            "pool.saved": _("Public pool changed"),
        }
    )
    from . import menu, sections  # noqa: F401 - menu entries and 360-page sections
