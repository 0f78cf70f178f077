"""The main menu (DESIGN.md, information architecture). Later modules fill in their entries by
registering items; a section shows only when the user may view its module."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _


@dataclass
class MenuItem:
    key: str
    label: Any
    icon: str
    module: str | None = None  # permission module needed to see it (view)
    action: str = "view"
    url_name: str | None = None
    children: list[MenuItem] = field(default_factory=list)


MENU: list[MenuItem] = [
    MenuItem("home", _("Home"), "ti-home", url_name="core:home"),
    MenuItem("leads", _("Leads"), "ti-filter", module="leads"),
    MenuItem("customers", _("Customers"), "ti-building", module="customers"),
    MenuItem("opportunities", _("Opportunities"), "ti-target-arrow", module="opportunities"),
    MenuItem("activities", _("Follow-ups"), "ti-phone-call", module="activities"),
    MenuItem("sales", _("Sales"), "ti-file-certificate", module="sales"),
    MenuItem("finance", _("Finance"), "ti-coin-yuan", module="finance"),
    MenuItem("service", _("Service"), "ti-headset", module="service"),
    MenuItem("analytics", _("Reports"), "ti-chart-bar", module="analytics"),
    MenuItem("knowledge", _("Knowledge"), "ti-book", module="knowledge"),
    MenuItem(
        "settings",
        _("Settings"),
        "ti-settings",
        module="settings",
        action="configure",
        children=[
            MenuItem(
                "organization",
                _("Organisation"),
                "ti-building-community",
                url_name="org:organization",
            ),
            MenuItem("departments", _("Departments"), "ti-sitemap", url_name="org:department_list"),
            MenuItem("users", _("Users"), "ti-users", url_name="org:user_list"),
            MenuItem(
                "roles", _("Roles and data scopes"), "ti-shield-lock", url_name="org:role_list"
            ),
            MenuItem("audit", _("Audit trail"), "ti-history", url_name="core:audit_trail"),
            MenuItem("jobs", _("Jobs"), "ti-clock-play", url_name="core:jobs"),
        ],
    ),
]


def register_menu_item(section: str, item: MenuItem) -> None:
    """Add ``item`` under the top-level ``section`` (used by later modules)."""
    for top in MENU:
        if top.key == section:
            top.children = [c for c in top.children if c.key != item.key] + [item]
            return


def _url(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def menu_for(user: Any, path: str) -> list[dict[str, Any]]:
    """The menu entries ``user`` may see, with their URLs and the active one marked."""
    result = []
    for item in MENU:
        if item.module and not user.can(item.module, item.action):
            continue
        children = []
        for child in item.children:
            if child.module and not user.can(child.module, child.action):
                continue
            url = _url(child.url_name)
            if url:
                children.append(
                    {
                        "key": child.key,
                        "label": child.label,
                        "icon": child.icon,
                        "url": url,
                        "active": False,
                    }
                )
        # Only the most specific entry is active (/customers/pools/ is not "My customers").
        matching = [c for c in children if path.startswith(c["url"])]
        if matching:
            max(matching, key=lambda c: len(c["url"]))["active"] = True
        url = _url(item.url_name)
        if not url and not children:
            continue
        active = (url == path) if url == "/" else bool(url and path.startswith(url))
        result.append(
            {
                "key": item.key,
                "label": item.label,
                "icon": item.icon,
                "url": url,
                "children": children,
                "active": active or any(c["active"] for c in children),
            }
        )
    return result
