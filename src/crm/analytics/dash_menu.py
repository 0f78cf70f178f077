"""The Reports menu entries of the dashboards and targets (H-DASH). Imported once by
``crm.analytics.wiring.register``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MenuItem, register_menu_item

ITEMS = [
    MenuItem(
        "analytics_dashboard",
        _("Executive dashboard"),
        "ti-dashboard",
        module="analytics",
        url_name="analytics:dashboard",
    ),
    MenuItem(
        "analytics_targets",
        _("Targets"),
        "ti-target",
        module="analytics",
        url_name="analytics:targets",
    ),
    MenuItem(
        "analytics_key_customers",
        _("Key customers"),
        "ti-star",
        module="analytics",
        url_name="analytics:key_customers",
    ),
    MenuItem(
        "analytics_stages",
        _("Customers by stage"),
        "ti-layout-columns",
        module="analytics",
        url_name="analytics:stages_by_rep",
    ),
    MenuItem(
        "analytics_behaviour",
        _("Sales behaviour"),
        "ti-activity",
        module="analytics",
        url_name="analytics:behaviour",
    ),
]

for _item in ITEMS:
    register_menu_item("analytics", _item)
