"""The funnel and forecast entries of the Reports menu (报表). Imported once by
``wiring.register``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MenuItem, register_menu_item

ITEMS = [
    MenuItem(
        "funnel", _("Sales funnel"), "ti-filter", module="analytics", url_name="analytics:funnel"
    ),
    MenuItem(
        "forecast",
        _("Forecast"),
        "ti-crystal-ball",
        module="analytics",
        url_name="analytics:forecast",
    ),
]

for _item in ITEMS:
    register_menu_item("analytics", _item)
