"""Settings menu entry for webhooks (H-HOOKS), the audit labels of their events, and the Huey
jobs (importing the task module registers the on-commit trigger and the sweep)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from . import webhook_tasks  # noqa: F401 - the sweep, the on-commit trigger
from .audit import register_verbs
from .navigation import MenuItem, register_menu_item

register_menu_item(
    "settings",
    MenuItem(
        "webhooks",
        _("Webhooks"),
        "ti-webhook",
        module="settings",
        action="configure",
        url_name="webhooks:list",
    ),
)

register_verbs(
    {
        "webhook.created": _("Webhook created"),
        "webhook.updated": _("Webhook changed"),
        "webhook.deleted": _("Webhook deleted"),
        "webhook.secret_rotated": _("Webhook secret rotated"),
        "webhook.redelivered": _("Webhook delivery sent again"),
    }
)
