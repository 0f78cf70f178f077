"""The "Marketing" (市场) menu section and its campaign entries. The section is added to the main
menu after "Leads" when no module added it yet (the e-mail campaigns module registers its own
entries under the same section key, ``marketing``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MENU, MenuItem, register_menu_item

SECTION = MenuItem("marketing", _("Marketing"), "ti-speakerphone", module="marketing")
ITEMS = [
    MenuItem(
        "marketing_campaigns",
        _("Campaigns"),
        "ti-flag",
        module="marketing",
        url_name="marketing:list",
    ),
    MenuItem(
        "marketing_attribution",
        _("Campaign attribution"),
        "ti-chart-arrows",
        module="marketing",
        url_name="marketing:compare",
    ),
]


def ensure_section() -> None:
    """Insert the section after "Leads" once (idempotent)."""
    if any(item.key == SECTION.key for item in MENU):
        return
    keys = [item.key for item in MENU]
    MENU.insert(keys.index("leads") + 1 if "leads" in keys else len(MENU) - 1, SECTION)


def register() -> None:
    ensure_section()
    for item in ITEMS:
        register_menu_item("marketing", item)
