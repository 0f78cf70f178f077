"""The win-probability entry of the Reports menu (报表)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MenuItem, register_menu_item

register_menu_item(
    "analytics",
    MenuItem(
        "win_model",
        _("Win probability model"),
        "ti-percentage",
        module="analytics",
        url_name="scoring:model",
    ),
)
