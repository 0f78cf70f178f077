"""The knowledge base entries of the main menu (知识库)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MenuItem, register_menu_item

ITEMS = [
    MenuItem(
        "knowledge_articles",
        _("Articles"),
        "ti-book-2",
        module="knowledge",
        url_name="knowledge:list",
    ),
    MenuItem(
        "knowledge_new",
        _("New article"),
        "ti-pencil-plus",
        module="knowledge",
        action="create",
        url_name="knowledge:create",
    ),
]

#: under Settings: the organisation's article categories (knowledge:configure)
SETTINGS_ITEM = MenuItem(
    "knowledge_categories",
    _("Knowledge categories"),
    "ti-category",
    module="knowledge",
    action="configure",
    url_name="knowledge:categories",
)


def register() -> None:
    for item in ITEMS:
        register_menu_item("knowledge", item)
    register_menu_item("settings", SETTINGS_ITEM)
