"""Custom fields (H-CF, R10.5): the settings menu entry, the audit labels of their events and the
"Custom fields" section of the customer and opportunity pages. Imported in ``CoreConfig.ready``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from . import custom_fields as cf
from .audit import register_verbs
from .navigation import MenuItem, register_menu_item
from .registry import Section, register_section

register_menu_item(
    "settings",
    MenuItem(
        "custom_fields",
        _("Custom fields"),
        "ti-forms",
        module="settings",
        action="configure",
        url_name="customfields:list",
    ),
)

register_verbs(
    {
        "custom_field.created": _("Custom field created"),
        "custom_field.updated": _("Custom field changed"),
        "custom_field.retired": _("Custom field retired"),
        "custom_field.restored": _("Custom field restored"),
        "custom_field.reordered": _("Custom fields reordered"),
    }
)


def _section(target: str) -> Any:
    def context(request: HttpRequest, record: Any) -> dict[str, Any] | None:
        rows = cf.rows_for(request.user, target, record)
        return {"rows": rows} if rows else None

    return context


register_section(
    "customers.customer",
    Section(
        15,
        "custom_fields",
        _("Custom fields"),
        "core/custom_fields/section.html",
        _section("customer"),
    ),
)
register_section(
    "pipeline.opportunity",
    Section(
        15,
        "custom_fields",
        _("Custom fields"),
        "core/custom_fields/section.html",
        _section("opportunity"),
    ),
)
