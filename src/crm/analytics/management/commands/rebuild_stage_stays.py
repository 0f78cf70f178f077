"""``crm rebuild-stage-stays [--org ID|NAME]``: rebuild the funnel's stays from stage history."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Rebuild the funnel's stays per stage from the stage history of every organisation "
        "(or of --org). The opportunity services keep them up to date; run this after loading "
        "stage history by other means."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--org", default=None, help="Organisation id or exact name (default: all)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.db.models import Q

        from crm.analytics import stays
        from crm.org.models import Organization

        orgs = Organization.objects.order_by("pk")
        if options["org"]:
            key = str(options["org"])
            match = Q(name=key) | (Q(pk=int(key)) if key.isdigit() else Q(pk__in=[]))
            orgs = orgs.filter(match)
            if not orgs.exists():
                raise CommandError(f"No organisation {key!r}.")
        for org_id in orgs.values_list("pk", flat=True):
            started = time.perf_counter()
            count = stays.rebuild(org_id)
            self.stdout.write(
                f"org {org_id}: {count} stays in {time.perf_counter() - started:.1f} s"
            )
