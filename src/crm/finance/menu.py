"""The finance entries of the main menu (财务): receipts, invoices, receivables and the
collection board. Imported once by ``wiring.register``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MenuItem, register_menu_item

ITEMS = [
    MenuItem(
        "receipts", _("Receipts"), "ti-cash", module="finance", url_name="finance:receipt_list"
    ),
    MenuItem(
        "invoices",
        _("Invoices"),
        "ti-file-invoice",
        module="finance",
        url_name="finance:invoice_list",
    ),
    MenuItem(
        "receivables",
        _("Receivables"),
        "ti-calendar-dollar",
        module="finance",
        url_name="finance:plan_list",
    ),
    MenuItem(
        "collection_board",
        _("Collection board"),
        "ti-layout-dashboard",
        module="finance",
        url_name="finance:collection_board",
    ),
]

for _item in ITEMS:
    register_menu_item("finance", _item)
