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
}


def register() -> None:
    from crm.core.audit import register_verbs
    from crm.core.registry import register_org_initializer

    from .services import initialize_org

    register_org_initializer(initialize_org)
    register_verbs(VERBS)
    for item in MENU_ITEMS:
        register_menu_item("settings", item)
