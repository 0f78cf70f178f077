"""``crm backup [--org ID|NAME] [--output PATH]``: write a consistent archive (crm.core.backup)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.core.backup import BackupError, create_backup, rotate


class Command(BaseCommand):
    help = "Back up the whole database, or one organisation, to a zip archive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", help="Only this organisation (its id or exact name)")
        parser.add_argument(
            "--output",
            default=getattr(settings, "CRM_BACKUP_DIR", "") or ".",
            help="A file name, or a directory for a dated file (default: CRM_BACKUP_DIR or .)",
        )
        parser.add_argument(
            "--keep", type=int, default=0, help="Then keep only the newest N archives there"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = create_backup(options["output"], org=options.get("org"))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{summary.path}: {summary.rows} rows in {len(summary.tables)} tables, "
            f"{summary.files} files"
        )
        if options["keep"]:
            for old in rotate(summary.path.parent, options["keep"]):
                self.stdout.write(f"removed {old.name}")
