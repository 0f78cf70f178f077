from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class MarketingConfig(AppConfig):
    name = "crm.marketing"
    label = "marketing"
    verbose_name = pgettext_lazy("module", "Marketing campaigns")

    def ready(self) -> None:
        from . import wiring

        wiring.register()
