"""How the pipeline module plugs into the base layer: organisation defaults (dictionaries and
template pipelines), the Settings menu entries and the audit labels."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MenuItem, register_menu_item

MENU_ITEMS = [
    MenuItem(
        "pipelines",
        _("Pipelines and stages"),
        "ti-git-branch",
        module="settings",
        action="configure",
        url_name="pipeline:pipeline_list",
    ),
    MenuItem(
        "dictionaries",
        _("Dictionaries"),
        "ti-list-details",
        module="settings",
        action="configure",
        url_name="pipeline:dictionary_list",
    ),
]

VERBS = {
    "pipeline.created": _("Pipeline created"),
    "pipeline.updated": _("Pipeline changed"),
    "pipeline.copied": _("Pipeline created as a copy"),
    "stage.created": _("Stage added"),
    "stage.updated": _("Stage changed"),
    "stage.reordered": _("Stages reordered"),
    "stage.retired": _("Stage retired"),
    "stage.restored": _("Stage restored"),
    "stage.deleted": _("Stage deleted"),
    "node.created": _("Node added"),
    "node.updated": _("Node changed"),
    "node.reordered": _("Nodes reordered"),
    "node.retired": _("Node retired"),
    "node.restored": _("Node restored"),
    "node.deleted": _("Node deleted"),
    "dictionary.item_added": _("Dictionary item added"),
    "dictionary.item_renamed": _("Dictionary item renamed"),
    "dictionary.item_moved": _("Dictionary item moved"),
    "dictionary.item_deactivated": _("Dictionary item deactivated"),
    "dictionary.item_reactivated": _("Dictionary item reactivated"),
    "opportunity.created": _("Opportunity created"),
    "opportunity.updated": _("Opportunity changed"),
    "opportunity.stage_changed": _("Stage changed"),
    "opportunity.node_changed": _("Node changed"),
    "opportunity.won": _("Opportunity won"),
    "opportunity.lost": _("Opportunity lost"),
    "opportunity.abandoned": _("Opportunity abandoned"),
    "opportunity.reopened": _("Opportunity reopened"),
    "opportunity.paused": _("Opportunity paused"),
    "opportunity.resumed": _("Opportunity resumed"),
    "opportunity.transferred": _("Opportunity transferred"),
    "opportunity.deleted": _("Opportunity deleted"),
    "opportunity.stalled": _("Stalled in its stage"),
    "savedquery.saved": _("Saved query saved"),
    "savedquery.deleted": _("Saved query deleted"),
}


def register() -> None:
    from crm.core.audit import register_verbs
    from crm.core.registry import register_org_initializer

    from .services import initialize_org

    register_org_initializer(initialize_org)
    register_verbs(VERBS)

    from crm.core.registry import register_ownership_transfer
    from crm.customers import services as customer_services
    from crm.leads.services import register_conversion_hook

    from . import opportunities
    from .services import register_stage_in_use

    register_stage_in_use(opportunities.stage_is_used)
    from . import dictionaries
    from .models import DictionaryKind

    dictionaries.register_history_labels(
        "pipeline.opportunity",
        {**opportunities.DICTIONARY_FIELDS, "loss_reason": DictionaryKind.LOSS_REASON},
    )
    dictionaries.register_history_labels("customers.customer", customer_services.DICTIONARY_FIELDS)
    dictionaries.register_history_labels(
        "leads.lead",
        {
            "source": DictionaryKind.SOURCE,
            "industry": DictionaryKind.INDUSTRY,
            "invalid_reason": DictionaryKind.INVALID_REASON,
        },
    )
    register_conversion_hook(opportunities.create_from_lead)
    # Grades count signed contracts (crm.finance registers that provider); a signed contract
    # also wins its opportunity, so won opportunities are not added again here.
    if opportunities.move_to_customer not in customer_services.merge_handlers:
        customer_services.merge_handlers.append(opportunities.move_to_customer)
    register_ownership_transfer(
        "opportunities", opportunities.transfer_all_of, label=_("opportunities")
    )
    from . import menu  # noqa: F401 - the opportunities menu entries (list, board)

    for item in MENU_ITEMS:
        register_menu_item("settings", item)
    from . import sections  # noqa: F401 - registers the record-page sections
