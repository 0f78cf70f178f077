"""The entries of the "Service" (服务) menu section and the SLA settings under Settings."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MenuItem, register_menu_item

ITEMS = [
    MenuItem(
        "service_tickets",
        _("Service tickets"),
        "ti-ticket",
        module="service",
        url_name="service:ticket_list",
    ),
    MenuItem(
        "service_visits",
        _("Return visits"),
        "ti-phone-call",
        module="service",
        url_name="service:visit_list",
    ),
    MenuItem(
        "service_analysis",
        _("Service analysis"),
        "ti-chart-pie",
        module="service",
        url_name="service:analysis",
    ),
]

SETTINGS_ITEM = MenuItem(
    "service_sla",
    _("Service levels"),
    "ti-clock-cog",
    module="settings",
    action="configure",
    url_name="service:settings",
)


def register() -> None:
    for item in ITEMS:
        register_menu_item("service", item)
    register_menu_item("settings", SETTINGS_ITEM)


register()
