"""``crm restore ARCHIVE``: load a backup into a migrated database (crm.core.backup): a
whole-database archive into an empty database, one organisation's into a database that holds
neither that organisation nor any of its ids."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.core.backup import BackupError, restore_backup


class Command(BaseCommand):
    help = (
        "Restore a backup archive (run `crm migrate` first): a whole-database backup into an "
        "empty database; one organisation's backup into a database without that organisation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", help="The .zip written by `crm backup`")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = restore_backup(options["archive"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"restored {summary.rows} rows in {len(summary.tables)} tables, {summary.files} files"
        )
