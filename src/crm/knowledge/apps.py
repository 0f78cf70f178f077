from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class KnowledgeConfig(AppConfig):
    name = "crm.knowledge"
    label = "knowledge"
    verbose_name = pgettext_lazy("module", "Knowledge base")

    def ready(self) -> None:
        from . import wiring

        wiring.register()
