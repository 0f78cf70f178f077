"""How the sales module plugs into the base layer (menu, audit labels, sections, hooks)."""

from __future__ import annotations


def register() -> None:
    from django.utils.translation import gettext_lazy as _

    from crm.core.audit import register_verbs
    from crm.core.registry import Section, register_my_day_block

    from . import approvals

    register_verbs(
        {
            "approval.submitted": _("Submitted for approval"),
            "approval.approved": _("Approved"),
            "approval.rejected": _("Rejected"),
            "approval.withdrawn": _("Approval withdrawn"),
        }
    )
    register_my_day_block(
        Section(
            10,
            "approvals",
            _("Waiting for my approval"),
            "sales/approvals/_my_day.html",
            approvals.my_day_context,
        )
    )
    # contracts, orders, returns, approval pages and flows (H-CONTRACTS)
    from . import contract_menu, contract_services, contract_views, return_services  # noqa: F401

    contract_services.register()
    return_services.register()
    contract_views.wire()
    # products, price lists, quotes and documents (H-QUOTES)
    register_quotes()


def register_quotes() -> None:
    """Quotes: menu entries, audit labels, the quote approval's outcomes, record-page sections,
    the expiry job, ownership transfer and customer merges, demo data (after the opportunities'
    builder: this app is installed after the follow-ups module)."""
    from django.utils.translation import gettext_lazy as _

    from crm.core.audit import register_verbs
    from crm.core.registry import register_ownership_transfer
    from crm.customers import services as customer_services
    from crm.org.demo import DEMO_CLEANERS, demo_builder

    from . import demo, menu, quote_sections, quote_services, quote_tasks  # noqa: F401

    register_verbs(
        {
            "product.created": _("Product created"),
            "product.updated": _("Product changed"),
            "product.deactivated": _("Product deactivated"),
            "product.deleted": _("Product deleted"),
            "pricelist.created": _("Price list created"),
            "pricelist.updated": _("Price list changed"),
            "quote.created": _("Quote created"),
            "quote.updated": _("Quote changed"),
            "quote.sent": _("Quote sent"),
            "quote.accepted": _("Quote accepted by the customer"),
            "quote.rejected": _("Quote rejected by the customer"),
            "quote.expired": _("Quote expired"),
            "quote.superseded": _("Quote superseded by a revision"),
            "quote.revised": _("Quote revision created"),
            "quote.restored": _("Revision deleted; quote restored"),
            "quote.deleted": _("Quote deleted"),
            "quote.transferred": _("Quote transferred"),
            "documenttemplate.uploaded": _("Document template uploaded"),
            "documenttemplate.deleted": _("Document template deleted"),
        }
    )
    quote_services.register_approval_outcomes()
    quote_sections.register()
    register_ownership_transfer("quotes", quote_services.transfer_all_of, label=_("quotes"))
    if quote_services.move_to_customer not in customer_services.merge_handlers:
        customer_services.merge_handlers.append(quote_services.move_to_customer)
    demo_builder(demo.build)
    if demo.clean not in DEMO_CLEANERS:
        DEMO_CLEANERS.insert(0, demo.clean)
