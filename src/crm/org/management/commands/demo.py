"""``crm demo [--if-empty]``: (re)create the demo organisation 演示科技有限公司."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from crm.org.demo import DEMO_PASSWORD, PEOPLE, reset_demo
from crm.org.models import Organization


class Command(BaseCommand):
    """Delete the previous demo organisation (and all of its data) and build a fresh one."""

    help = (
        "(Re)create the demo organisation with its department tree and a user in every role. "
        "The previous demo organisation and everything in it is deleted first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when any organisation already exists (used by `make run`)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and Organization.objects.exists():
            self.stdout.write("crm demo: organisations already exist; demo data left as it is.")
            return
        result = reset_demo()
        self.stdout.write(
            self.style.SUCCESS(
                f"crm demo: created the demo organisation {result.org.name} "
                f"with {len(result.departments)} departments and {len(result.users)} users."
            )
        )
        self.stdout.write(f"Password for every demo login: {DEMO_PASSWORD}")
        for person in PEOPLE:
            self.stdout.write(f"  {person.username:<10} {person.email:<28} {person.role}")
