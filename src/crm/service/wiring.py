"""How the service module plugs into the base layer (H-SVC): menu, audit labels, comments and
attachments on tickets, the customer 360 "Service" section, the My day block, the contract
signing hook, deactivation hand-over, customer merge and periodic jobs."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

VERBS = {
    "ticket.created": _("Ticket opened"),
    "ticket.updated": _("Ticket changed"),
    "ticket.in_progress": _("Ticket in progress"),
    "ticket.waiting_customer": _("Ticket waiting for the customer"),
    "ticket.resolved": _("Ticket resolved"),
    "ticket.closed": _("Ticket closed"),
    "ticket.transferred": _("Ticket reassigned"),
    "ticket.deleted": _("Ticket deleted"),
    "ticket.response_overdue": _("Ticket response overdue"),
    "ticket.resolution_overdue": _("Ticket resolution overdue"),
    "returnvisit.scheduled": _("Return visit planned"),
    "returnvisit.done": _("Return visit done"),
    "returnvisit.cancelled": _("Return visit cancelled"),
    "returnvisit.rescheduled": _("Return visit rescheduled"),
    "service.settings_saved": _("Service levels saved"),
}


def register() -> None:
    from django.db.models.signals import post_save

    from crm.core import collab
    from crm.core.audit import register_verbs
    from crm.core.models import Event
    from crm.core.registry import register_ownership_transfer
    from crm.customers import services as customer_services

    from . import services

    register_verbs(VERBS)
    collab.register_target("ticket", "service.Ticket", services.ticket_url)
    register_ownership_transfer(
        "service_tickets", services.transfer_all_of, label=_("service tickets and return visits")
    )
    if services.move_to_customer not in customer_services.merge_handlers:
        customer_services.merge_handlers.append(services.move_to_customer)
    post_save.connect(
        services.on_event_saved, sender=Event, dispatch_uid="crm.service.contract_signed"
    )
    from crm.org.demo import DEMO_CLEANERS

    if clean_demo not in DEMO_CLEANERS:
        DEMO_CLEANERS.insert(0, clean_demo)
    from . import menu, sections, tasks  # noqa: F401 - menu entries, sections, periodic jobs


def clean_demo(org: object) -> None:
    """Tickets and return visits protect customers, contracts and users: a demo reset deletes
    the demo organisation's service rows first."""
    from .models import ReturnVisit, Ticket

    ReturnVisit.objects.for_org(org.pk).delete()  # type: ignore[attr-defined]
    Ticket.objects.for_org(org.pk).delete()  # type: ignore[attr-defined]
