"""How the marketing module plugs into the base layer (H-CAMP): menu, audit labels, demo data
and its cleaner."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

VERBS = {
    "campaign.created": _("Campaign planned"),
    "campaign.updated": _("Campaign changed"),
    "campaign.planned": _("Campaign back to planned"),
    "campaign.active": _("Campaign started"),
    "campaign.completed": _("Campaign completed"),
    "campaign.cancelled": _("Campaign cancelled"),
    "campaign.form_token": _("Campaign form address renewed"),
    "campaign.deleted": _("Campaign deleted"),
}


def register() -> None:
    from crm.core.audit import register_verbs
    from crm.org.demo import DEMO_CLEANERS, demo_builder

    from . import demo, menu

    menu.register()
    register_verbs(VERBS)
    if clean_demo not in DEMO_CLEANERS:
        DEMO_CLEANERS.insert(0, clean_demo)
    demo_builder(demo.build)


def clean_demo(org: Any) -> None:
    """Campaigns protect their owners: a demo reset deletes the demo organisation's campaigns."""
    from .models import Campaign

    Campaign.objects.for_org(org.pk).delete()
