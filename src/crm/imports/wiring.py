"""How the import module plugs into the base layer: the importable resources, audit labels
and the menu entries (huey discovers ``tasks``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


def register() -> None:
    from crm.core.audit import register_verbs
    from crm.core.navigation import MenuItem, register_menu_item

    from . import resources

    resources.register()
    register_verbs(
        {
            "import.uploaded": _("File uploaded for import"),
            "import.started": _("Import started"),
            "import.resumed": _("Import resumed"),
            "import.cancelled": _("Import cancelled"),
            "import.finished": _("Import finished"),
            "import.failed": _("Import failed"),
            "customer.imported": _("Customer imported"),
            "export.downloaded": _("List exported"),
        }
    )
    for section, module in (("customers", "customers"), ("leads", "leads")):
        register_menu_item(
            section,
            MenuItem(
                f"{section}_import",
                _("Import"),
                "ti-file-import",
                module=module,
                action="create",
                url_name="imports:list",
            ),
        )
