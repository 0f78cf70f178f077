from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PipelineConfig(AppConfig):
    name = "crm.pipeline"
    label = "pipeline"
    verbose_name = _("Opportunities")

    def ready(self) -> None:
        from crm.core.registry import register_org_initializer

        from .dictionaries import install_defaults

        register_org_initializer(lambda org, admin: install_defaults(org.pk))
