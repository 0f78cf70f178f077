"""``crm train-win-model [--org ID|NAME]``: train the win-probability model now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Train the win-probability model of every active organisation (or of --org)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--org", default=None, help="Organisation id or exact name (default: all)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.db.models import Q

        from crm.org.models import Organization
        from crm.scoring import services

        ids = None
        if options["org"]:
            key = str(options["org"])
            match = Q(name=key) | (Q(pk=int(key)) if key.isdigit() else Q(pk__in=[]))
            ids = list(Organization.objects.filter(match).values_list("pk", flat=True))
            if not ids:
                raise CommandError(f"No organisation {key!r}.")
        for run in services.train_all(ids):
            if run.is_usable:
                self.stdout.write(
                    f"org {run.org_id}: v{run.version} closed={run.n_closed} "
                    f"train={run.n_train} test={run.n_test} auc={run.auc:.3f} "
                    f"brier={run.brier:.3f} seconds={run.seconds:.2f}"
                )
            else:
                self.stdout.write(f"org {run.org_id}: v{run.version} {run.reason}")
