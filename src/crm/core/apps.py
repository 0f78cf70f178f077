from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "crm.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401 - deploy checks of the PostgreSQL role (release gate B3/G3)
            collab_sections,  # noqa: F401 - comment and attachment targets and sections
            custom_field_menu,  # noqa: F401 - custom fields: menu entry, sections (H-CF)
            webhook_menu,  # noqa: F401 - settings menu entry (and tasks) for webhooks
        )
