from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class FinanceConfig(AppConfig):
    name = "crm.finance"
    label = "finance"
    verbose_name = pgettext_lazy("module", "Finance")

    def ready(self) -> None:
        from . import wiring

        wiring.register()
