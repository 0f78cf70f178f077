"""``crm token create --user LOGIN [--name NAME]``: create a personal API token.

Prints only the new token on stdout (so scripts can capture it); it is shown once, because
only its hash is stored.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.core.errors import ValidationFailed
from crm.org import services
from crm.org.backends import find_login

from .createorg import describe


class Command(BaseCommand):
    help = "Manage personal API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = sub.add_parser("create", help="create a token and print it")
        create.add_argument("--user", required=True, help="the user's username or e-mail")
        create.add_argument("--name", default="cli", help="what the token is for (default: cli)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "create":
            self.create(options["user"], options["name"])

    def create(self, login: str, name: str) -> None:
        user = find_login(login)
        if user is None:
            raise CommandError(f"No user with the login {login!r}.")
        if not user.is_active:
            raise CommandError(f"The user {login!r} is deactivated.")
        if user.org_id is None:
            raise CommandError(f"The user {login!r} does not belong to an organisation.")
        try:
            _token, raw = services.create_token(actor=user, name=name)
        except ValidationFailed as exc:
            raise CommandError(describe(exc)) from None
        self.stdout.write(raw)
