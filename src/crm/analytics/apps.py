from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class AnalyticsConfig(AppConfig):
    name = "crm.analytics"
    label = "analytics"
    verbose_name = pgettext_lazy("module", "Reports")

    def ready(self) -> None:
        from . import wiring

        wiring.register()
