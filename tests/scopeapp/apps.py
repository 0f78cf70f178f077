from django.apps import AppConfig


class ScopeAppConfig(AppConfig):
    name = "tests.scopeapp"
    label = "scopeapp"

    def ready(self) -> None:
        from crm.core.registry import register_ownership_transfer

        from .services import transfer_memos

        register_ownership_transfer("memos", transfer_memos, label="memos")
