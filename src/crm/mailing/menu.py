"""The entries of the e-mail campaign module under the "Marketing" (营销) menu section."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MENU, MenuItem, register_menu_item

ITEMS = [
    MenuItem(
        "mailing_campaigns",
        _("E-mail campaigns"),
        "ti-mail-forward",
        module="marketing",
        url_name="mailing:campaign_list",
    ),
    MenuItem(
        "mailing_unsubscribes",
        _("Unsubscribed addresses"),
        "ti-mail-off",
        module="marketing",
        action="configure",
        url_name="mailing:unsubscribe_list",
    ),
]


def register() -> None:
    # the marketing section is shared with the campaign pages: created by whichever comes first
    if not any(top.key == "marketing" for top in MENU):
        at = next((i for i, top in enumerate(MENU) if top.key == "service"), len(MENU))
        MENU.insert(
            at, MenuItem("marketing", _("Marketing"), "ti-speakerphone", module="marketing")
        )
    for item in ITEMS:
        register_menu_item("marketing", item)


register()
