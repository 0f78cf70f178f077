"""The opportunities entries of the main menu (商机): the list with saved queries and the pipeline
board. Imported once by ``wiring.register``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MenuItem, register_menu_item

ITEMS = [
    MenuItem(
        "opportunity_list",
        _("Opportunities"),
        "ti-target-arrow",
        module="opportunities",
        url_name="opportunities:list",
    ),
    MenuItem(
        "opportunity_board",
        _("Pipeline board"),
        "ti-layout-kanban",
        module="opportunities",
        url_name="opportunities:board",
    ),
]

for _item in ITEMS:
    register_menu_item("opportunities", _item)
