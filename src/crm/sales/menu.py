"""The products and quotes entries of the Sales menu (销售), and its settings entries (price
lists, Word templates). The top-level section is ``crm.core.navigation``'s ``sales``; contracts,
orders, returns and approvals join it from ``contract_menu``. Imported once by ``wiring``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MenuItem, register_menu_item

ITEMS = [
    MenuItem("quotes", _("Quotes"), "ti-file-dollar", module="sales", url_name="sales:quote_list"),
    MenuItem(
        "products", _("Products"), "ti-package", module="sales", url_name="sales:product_list"
    ),
    MenuItem(
        "price_lists",
        _("Price lists"),
        "ti-tags",
        module="sales",
        url_name="sales:pricelist_list",
    ),
    MenuItem(
        "document_templates",
        _("Document templates"),
        "ti-file-type-docx",
        module="sales",
        action="configure",
        url_name="sales:template_list",
    ),
]

for _item in ITEMS:
    register_menu_item("sales", _item)
