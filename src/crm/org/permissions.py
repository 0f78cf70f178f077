"""The permission vocabulary: modules × actions, and the built-in roles.

A role grants strings ``"<module>:<action>"``. Later modules add themselves to MODULES.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.core.scoping import DataScope

MODULES: list[tuple[str, object]] = [
    ("customers", _("Customers")),
    ("leads", _("Leads")),
    ("opportunities", _("Opportunities")),
    ("activities", _("Follow-ups")),
    ("sales", _("Sales")),
    ("finance", _("Finance")),
    ("analytics", _("Reports")),
    ("service", _("Customer service")),
    ("knowledge", _("Knowledge base")),
    ("marketing", _("Marketing")),
    ("settings", _("Settings")),
    ("audit", _("Audit trail")),
]

ACTIONS: list[tuple[str, object]] = [
    ("view", _("View")),
    ("create", _("Create")),
    ("edit", _("Edit")),
    ("delete", _("Delete")),
    ("transfer", _("Transfer")),
    ("export", _("Export")),
    ("approve", _("Approve")),
    ("configure", _("Configure")),
]

MODULE_KEYS = [m for m, _label in MODULES]
ACTION_KEYS = [a for a, _label in ACTIONS]
ALL_PERMISSIONS = [f"{m}:{a}" for m in MODULE_KEYS for a in ACTION_KEYS]
BUSINESS = ["customers", "leads", "opportunities", "activities", "sales", "finance"]


def grant(modules: list[str], actions: list[str]) -> list[str]:
    return [f"{m}:{a}" for m in modules for a in actions]


class BuiltinRole:
    REP = "rep"
    MANAGER = "manager"
    DIRECTOR = "director"
    MARKETING = "marketing"
    FINANCE = "finance"
    ADMIN = "admin"


# code -> (name, description, data scope, permissions)
BUILTIN_ROLES: dict[str, tuple[object, object, str, list[str]]] = {
    BuiltinRole.REP: (
        _("Sales rep"),
        _("Works own leads, customers and opportunities."),
        DataScope.SELF,
        grant(["customers", "leads", "opportunities", "activities"], ["view", "create", "edit"])
        + grant(["sales"], ["view", "create", "edit"])
        + grant(["finance", "analytics"], ["view"])
        + grant(["service"], ["view", "create", "edit"])
        + grant(["knowledge"], ["view"]),
    ),
    BuiltinRole.MANAGER: (
        _("Sales manager"),
        _("Runs a team: sees and assigns the records of the department and below."),
        DataScope.DEPT_TREE,
        grant(
            ["customers", "leads", "opportunities", "activities", "sales"],
            ["view", "create", "edit", "delete", "transfer", "export", "approve"],
        )
        + grant(["finance"], ["view"])
        + grant(["analytics"], ["view", "export"])
        + grant(["marketing"], ["view"])
        + grant(["service"], ["view", "create", "edit", "delete", "transfer", "export"])
        + grant(["knowledge"], ["view", "create", "edit"]),
    ),
    BuiltinRole.DIRECTOR: (
        _("Sales director"),
        _("Sees the whole organisation's sales and approves."),
        DataScope.ALL,
        grant(BUSINESS, ["view", "create", "edit", "delete", "transfer", "export", "approve"])
        + grant(["analytics"], ["view", "export", "configure"])
        + grant(["marketing"], ["view", "export"])
        + grant(["service"], ["view", "create", "edit", "delete", "transfer", "export"])
        + grant(["knowledge"], ["view", "create", "edit", "delete", "configure"]),
    ),
    BuiltinRole.MARKETING: (
        _("Marketing"),
        _("Runs the total lead pool, web forms and campaigns."),
        DataScope.ALL,
        grant(["leads"], ["view", "create", "edit", "delete", "transfer", "export", "configure"])
        + grant(["marketing"], ["view", "create", "edit", "delete", "export", "configure"])
        + grant(["customers"], ["view"])
        + grant(["analytics"], ["view", "export"])
        + grant(["knowledge"], ["view", "create", "edit"]),
    ),
    BuiltinRole.FINANCE: (
        pgettext_lazy("role", "Finance"),
        _("Records receipts and invoices; reads contracts."),
        DataScope.ALL,
        grant(["finance"], ["view", "create", "edit", "delete", "export", "approve"])
        + grant(["sales", "customers"], ["view"])
        + grant(["analytics"], ["view", "export"])
        + grant(["knowledge"], ["view"]),
    ),
    BuiltinRole.ADMIN: (
        _("Administrator"),
        _("Configures the organisation: people, roles, settings."),
        DataScope.ALL,
        list(ALL_PERMISSIONS),
    ),
}
