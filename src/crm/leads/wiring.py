"""How the leads module plugs into the base layer: the total pool of new organisations, lead
transfer on deactivation, global search, audit labels and the menu."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


def search_leads(user: Any, text: str, limit: int) -> list[dict[str, Any]]:
    from .selectors import search_leads as search

    return [
        {
            "kind": _("Lead"),
            "title": lead.display_name,
            "subtitle": lead.get_status_display(),
            "url": f"/leads/{lead.pk}/",
        }
        for lead in search(user, text)[:limit]
    ]


def register() -> None:
    from crm.core.audit import register_verbs
    from crm.core.navigation import MenuItem, register_menu_item
    from crm.core.registry import (
        register_org_initializer,
        register_ownership_transfer,
        register_search,
    )

    from . import services

    register_org_initializer(services.install_total_pool)
    register_ownership_transfer("leads", services.transfer_all_of, label=_("leads"))
    register_search(search_leads)
    register_verbs(
        {
            "lead.created": _("Lead created"),
            "lead.updated": _("Lead changed"),
            "lead.deleted": _("Lead deleted"),
            "lead.assigned": _("Lead assigned"),
            "lead.pooled": _("Lead left in the pool"),
            "lead.distributed": _("Lead moved to a pool"),
            "lead.claimed": _("Lead claimed"),
            "lead.released": _("Lead released to its pool"),
            "lead.transferred": _("Lead transferred"),
            "lead.contacted": _("Lead contacted"),
            "lead.qualified": _("Lead qualified"),
            "lead.invalidated": _("Lead marked invalid"),
            "lead.reopened": _("Lead reopened"),
            "lead.converted": _("Lead converted"),
            "customer.created_from_lead": _("Customer created from a lead"),
            "leadpool.created": _("Lead pool created"),
            "leadpool.saved": _("Lead pool changed"),
            "leadpool.members": _("Lead pool members changed"),
            "leadpool.form_token": _("Web form address renewed"),
            "leadrule.created": _("Assignment rule created"),
            "leadrule.saved": _("Assignment rule changed"),
            "leadrule.deleted": _("Assignment rule deleted"),
            # H-LSCORE: lead scoring (crm.leads.scoring)
            "lead.followup": _("Follow-up logged"),
            "leadscoring.created": _("Scoring rule created"),
            "leadscoring.saved": _("Scoring rule changed"),
            "leadscoring.deleted": _("Scoring rule deleted"),
        }
    )
    for item in (
        MenuItem(
            "lead_total",
            _("Total pool"),
            "ti-inbox",
            module="leads",
            action="configure",
            url_name="leads:total_pool",
        ),
        MenuItem(
            "lead_pools", _("Sub-pools"), "ti-stack-2", module="leads", url_name="leads:pool_list"
        ),
        MenuItem(
            "lead_mine", _("My leads"), "ti-user-check", module="leads", url_name="leads:my_leads"
        ),
        MenuItem(
            "lead_forms",
            _("Web forms"),
            "ti-forms",
            module="leads",
            action="configure",
            url_name="leads:webforms",
        ),
        MenuItem(
            "lead_rules",
            _("Assignment rules"),
            "ti-arrows-split",
            module="leads",
            action="configure",
            url_name="leads:rule_list",
        ),
        MenuItem(  # H-LSCORE
            "lead_scoring",
            _("Lead scoring"),
            "ti-star",
            module="leads",
            action="configure",
            url_name="leads:scoring_rules",
        ),
    ):
        register_menu_item("leads", item)

    from crm.org.demo import DEMO_CLEANERS, demo_builder

    from . import scoring_tasks  # noqa: F401  (H-LSCORE: registers the rescoring job)
    from .demo import build as build_demo
    from .demo import clean as clean_demo

    demo_builder(build_demo)
    if clean_demo not in DEMO_CLEANERS:
        DEMO_CLEANERS.append(clean_demo)
