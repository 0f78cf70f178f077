"""The customers entries of the main menu (客户): my customers, public pools, contacts,
duplicates and merge. Imported once by ``wiring.register``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MenuItem, register_menu_item

ITEMS = [
    MenuItem(
        "my_customers",
        _("My customers"),
        "ti-building",
        module="customers",
        url_name="customers:list",
    ),
    MenuItem(
        "public_pools",
        _("Public pools"),
        "ti-lifebuoy",
        module="customers",
        url_name="customers:pool_list",
    ),
    MenuItem(
        "contacts",
        _("Contacts"),
        "ti-address-book",
        module="customers",
        url_name="customers:contact_list",
    ),
    MenuItem(
        "customer_merge",
        _("Duplicates and merge"),
        "ti-arrow-merge",
        module="customers",
        action="delete",
        url_name="customers:merge",
    ),
]

for _item in ITEMS:
    register_menu_item("customers", _item)
