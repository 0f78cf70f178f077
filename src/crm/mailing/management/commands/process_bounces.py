"""``crm process-bounces PATH [--org ID|NAME]``: read the bounce mailbox and apply its delivery
status notifications to the e-mail campaigns (R9.3, see :mod:`crm.mailing.bounces`).

PATH is a Maildir, a directory of ``.eml`` files, an mbox file or one message. Nothing in the
mailbox is moved or deleted: running the command again over the same messages changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Apply the bounces (delivery status notifications) of a mailbox to e-mail campaigns."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="Maildir, directory of .eml files, mbox file or message")
        parser.add_argument(
            "--org",
            default=None,
            help="Only this organisation (id or exact name); also suppresses hard-bounced "
            "addresses that match no mail of it",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.db.models import Q

        from crm.mailing.bounces import process_mailbox
        from crm.org.models import Organization

        path = Path(options["path"])
        if not path.exists():
            raise CommandError(f"No mailbox at {path}.")
        org_id = None
        if options["org"]:
            key = str(options["org"])
            match = Q(name=key) | (Q(pk=int(key)) if key.isdigit() else Q(pk__in=[]))
            ids = list(Organization.objects.filter(match).values_list("pk", flat=True))
            if len(ids) != 1:
                raise CommandError(f"No organisation {key!r}.")
            org_id = ids[0]
        try:
            tally = process_mailbox(path, org_id=org_id)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        self.stdout.write(
            f"messages={tally.messages} hard={tally.hard} soft={tally.soft} "
            f"already_processed={tally.duplicate} unmatched={tally.unmatched} "
            f"not_bounces={tally.not_bounce} unreadable={tally.invalid}"
        )
