"""The win/loss entry of the Reports menu (报表). Imported once by ``wiring.register``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MenuItem, register_menu_item

register_menu_item(
    "analytics",
    MenuItem(
        "winloss",
        _("Win/loss analysis"),
        "ti-trophy",
        module="analytics",
        url_name="analytics:winloss",
    ),
)
