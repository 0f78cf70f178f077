"""The custom-report entry of the Reports menu (报表, H-REPORTS). Imported once by
``crm.analytics.wiring.register``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MenuItem, register_menu_item

register_menu_item(
    "analytics",
    MenuItem(
        "analytics_reports",
        _("Custom reports"),
        "ti-table-options",
        module="analytics",
        url_name="analytics:reports",
    ),
)
