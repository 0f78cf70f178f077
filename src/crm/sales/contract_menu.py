"""The contract, order, return and approval entries of the Sales menu (销售). Imported once by
``wiring.register``. (The menu has no count badges; the pending count shows on the inbox page
and on My day.)"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MenuItem, register_menu_item

from . import menu  # noqa: F401  (quotes and products come first in the Sales menu)

ITEMS = [
    MenuItem(
        "contracts",
        _("Contracts"),
        "ti-file-certificate",
        module="sales",
        url_name="sales:contract_list",
    ),
    MenuItem(
        "orders", _("Orders"), "ti-truck-delivery", module="sales", url_name="sales:order_list"
    ),
    MenuItem(
        "returns",
        _("Returns and refunds"),
        "ti-receipt-refund",
        module="sales",
        url_name="sales:return_list",
    ),
    MenuItem(
        "approvals",
        _("Waiting for my approval"),
        "ti-checkbox",
        url_name="sales:approval_inbox",
    ),
    MenuItem(
        "approval_flows",
        _("Approval flows"),
        "ti-route",
        module="sales",
        action="configure",
        url_name="sales:flow_list",
    ),
]

for _item in ITEMS:
    register_menu_item("sales", _item)
