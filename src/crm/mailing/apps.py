from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class MailingConfig(AppConfig):
    name = "crm.mailing"
    label = "mailing"
    verbose_name = pgettext_lazy("module", "E-mail campaigns")

    def ready(self) -> None:
        from . import wiring

        wiring.register()
