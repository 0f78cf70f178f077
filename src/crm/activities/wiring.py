"""How the follow-up module plugs into the base layer: menu, audit labels, sections, jobs."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

VERBS = {
    "followup.created": _("Follow-up recorded"),
    "followup.updated": _("Follow-up changed"),
    "followup.deleted": _("Follow-up deleted"),
    "visitplan.created": _("Visit planned"),
    "visitplan.updated": _("Visit plan changed"),
    "visitplan.done": _("Visit done"),
    "visitplan.missed": _("Visit missed"),
    "visitplan.cancelled": _("Visit cancelled"),
    "reminderrule.saved": _("Reminder rule saved"),
    "reminderrule.deleted": _("Reminder rule deleted"),
}


def register() -> None:
    from crm.core.audit import register_verbs
    from crm.core.registry import register_org_initializer, register_ownership_transfer
    from crm.customers import services as customer_services

    from . import services

    register_verbs(VERBS)
    register_org_initializer(services.install_default_rules)
    register_ownership_transfer("visit_plans", services.transfer_all_of, label=_("planned visits"))
    if services.move_to_customer not in customer_services.merge_handlers:
        customer_services.merge_handlers.append(services.move_to_customer)

    # Demo data: after the customers' builder (this app is installed after customers); the
    # cleaner runs first, since follow-ups and opportunities protect customers and users.
    from crm.org.demo import DEMO_CLEANERS, demo_builder

    from .demo import build as build_demo
    from .demo import clean as clean_demo

    demo_builder(build_demo)
    if clean_demo not in DEMO_CLEANERS:
        DEMO_CLEANERS.insert(0, clean_demo)
    from . import menu, sections  # noqa: F401 - menu entries and record-page sections
