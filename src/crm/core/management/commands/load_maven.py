"""``crm load-maven PATH`` (``load_maven``): load the Maven Analytics CRM data set.

Builds (or, run again, reuses without duplicating anything) the organisation "Maven Tech" with
its people, customers, products and 8,800 opportunities, then prints what it created and every
quirk of the files with its count. See ``docs/maven.md``.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.core.errors import ValidationFailed


class Command(BaseCommand):
    help = (
        "Load the Maven Analytics CRM data set (sales_teams, accounts, products, sales_pipeline "
        "CSV files of PATH) into an organisation; safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        from crm.analytics.maven import DEFAULT_NAME, DEFAULT_SLUG

        parser.add_argument("path", help="Folder holding the Maven CSV files")
        parser.add_argument(
            "--org", default=DEFAULT_SLUG, help=f"Import slug of the organisation ({DEFAULT_SLUG})"
        )
        parser.add_argument("--name", default=DEFAULT_NAME, help="Name of a new organisation")
        parser.add_argument(
            "--password", default=None, help="Password of the logins created (see docs/maven.md)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from crm.analytics.maven import DEFAULT_PASSWORD, MavenError, load

        started = time.monotonic()
        try:
            report = load(
                options["path"],
                slug=options["org"],
                name=options["name"],
                password=options["password"] or DEFAULT_PASSWORD,
            )
        except MavenError as exc:
            raise CommandError(str(exc)) from None
        except ValidationFailed as exc:
            details = "; ".join(
                f"{k}: {' '.join(str(m) for m in v)}" for k, v in exc.field_errors.items()
            )
            raise CommandError(f"{exc.message} {details}".strip()) from None
        for line in report.lines():
            self.stdout.write(line)
        self.stdout.write(f"Done in {time.monotonic() - started:.1f} s.")
