"""``crm migrate``: Django's migrate, connected as the owner role when MIGRATE_DATABASE_URL is set.

Two PostgreSQL roles (docs/deployment.md §2; release gate "Database role", RELIABILITY B3): the
application runs as ``crm_app``, which may not create or alter tables; migrations run as
``crm_owner``. Without MIGRATE_DATABASE_URL this is Django's migrate unchanged.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import DEFAULT_DB_ALIAS

from crm.core.dbroles import use_owner_role


class Command(DjangoMigrate):
    help = DjangoMigrate.help + " Connects as MIGRATE_DATABASE_URL's role when that is set."

    def handle(self, *args: Any, **options: Any) -> Any:
        url = getattr(settings, "MIGRATE_DATABASE_URL", "")
        if url and options.get("database", DEFAULT_DB_ALIAS) == DEFAULT_DB_ALIAS:
            try:
                user = use_owner_role(url, DEFAULT_DB_ALIAS)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            if options.get("verbosity", 1) >= 1:
                self.stdout.write(f"Migrating as the owner role {user} (MIGRATE_DATABASE_URL).")
        return super().handle(*args, **options)
