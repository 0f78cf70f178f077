from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class ServiceConfig(AppConfig):
    name = "crm.service"
    label = "service"
    verbose_name = pgettext_lazy("module", "Customer service")

    def ready(self) -> None:
        from . import wiring

        wiring.register()
