from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "crm.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from . import bigrams, wiring  # noqa: F401  (bigrams registers the has_pair lookup)

        wiring.register()
