"""How the finance module plugs into the base layer (menu, audit labels, sections, hooks)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

VERBS = {
    "receivable.planned": _("Receivable plan saved"),
    "receipt.created": _("Receipt recorded"),
    "receipt.confirmed": _("Receipt confirmed"),
    "receipt.rejected": _("Receipt rejected"),
    "receipt.withdrawn": _("Receipt withdrawn"),
    "receipt.voided": _("Receipt voided"),
    "writeoff.created": _("Write-off requested"),
    "writeoff.applied": _("Bad debt written off"),
    "writeoff.rejected": _("Write-off rejected"),
    "writeoff.withdrawn": _("Write-off withdrawn"),
    "invoice.requested": _("Invoice requested"),
    "invoice.issued": _("Invoice issued"),
    "invoice.mailed": _("Invoice mailed"),
    "invoice.cancelled": _("Invoice cancelled"),
}


def register() -> None:
    from crm.core.audit import register_verbs
    from crm.core.registry import register_ownership_transfer
    from crm.customers import grading
    from crm.customers import services as customer_services

    from . import receipt_services, selectors

    register_verbs(VERBS)
    receipt_services.register()
    # The customers' A/B/C grade counts signed contract amounts (R7: "the grade now uses signed
    # contract amounts").
    grading.register_amount_provider(selectors.signed_contract_amounts)
    if receipt_services.move_to_customer not in customer_services.merge_handlers:
        customer_services.merge_handlers.append(receipt_services.move_to_customer)
    register_ownership_transfer(
        "finance", receipt_services.transfer_all_of, label=_("receipts and invoices")
    )

    # Demo data after the sales demo (this app is installed after sales); the cleaner runs
    # first, since receipts and invoices protect contracts, customers and users.
    from crm.org.demo import DEMO_CLEANERS, demo_builder

    from .demo import build as build_demo
    from .demo import clean as clean_demo

    demo_builder(build_demo)
    if clean_demo not in DEMO_CLEANERS:
        DEMO_CLEANERS.insert(0, clean_demo)
    from . import menu, sections  # noqa: F401 - menu entries and record-page sections
