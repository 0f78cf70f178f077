from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class ScoringConfig(AppConfig):
    name = "crm.scoring"
    label = "scoring"
    verbose_name = pgettext_lazy("module", "Win probability")

    def ready(self) -> None:
        from . import wiring

        wiring.register()
