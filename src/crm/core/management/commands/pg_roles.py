"""``crm pg_roles [--owner crm_owner] [--app crm_app] [--apply]``: the two PostgreSQL roles.

Prints the idempotent grants script (``scripts/pg-roles.sql`` is its output with the default
names), or runs it on the database with ``--apply`` — which needs a superuser connection
(e.g. ``DATABASE_URL=postgres://postgres@db/crm crm pg_roles --apply``). See
docs/deployment.md §2; release gate "Database role" (RELIABILITY B3, G3).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from crm.core.dbroles import APP_ROLE, OWNER_ROLE, roles_sql


class Command(BaseCommand):
    help = "Print (or --apply) the SQL creating the owner and runtime PostgreSQL roles."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--owner", default=OWNER_ROLE, help="Owner role (migrations)")
        parser.add_argument("--app", default=APP_ROLE, help="Runtime role (app and workers)")
        parser.add_argument(
            "--apply", action="store_true", help="Run it on the database (as a superuser)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sql = roles_sql(owner=options["owner"], app=options["app"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not options["apply"]:
            self.stdout.write(sql, ending="")
            return
        if connection.vendor != "postgresql":
            raise CommandError("pg_roles --apply needs a PostgreSQL database.")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
        self.stdout.write(
            f"Roles {options['owner']} (owner) and {options['app']} (runtime) are set up on "
            f"{connection.settings_dict['NAME']}. Set their passwords with ALTER ROLE … PASSWORD."
        )
