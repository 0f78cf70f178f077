"""``crm createorg NAME --admin-email E --admin-password P``: sign a company up from the console.

Creates the organisation, its top department, the built-in roles and the first administrator
(the same service as the sign-up page) and prints the organisation's id and the admin's login.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.core.errors import ValidationFailed
from crm.org import services


def describe(exc: ValidationFailed) -> str:
    """One readable line for a service's validation error."""
    parts = [
        f"{field}: {' '.join(str(m) for m in msgs)}" for field, msgs in exc.field_errors.items()
    ]
    return "; ".join(parts) or str(exc.message)


class Command(BaseCommand):
    help = "Create an organisation with its built-in roles and first administrator."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the organisation's name")
        parser.add_argument("--admin-email", required=True, help="the administrator's e-mail")
        parser.add_argument(
            "--admin-password",
            required=True,
            help="the administrator's password (the password policy applies)",
        )
        parser.add_argument("--admin-name", default="", help="the administrator's name")
        parser.add_argument(
            "--admin-username",
            default="",
            help="the administrator's username (default: the e-mail)",
        )
        parser.add_argument(
            "--time-zone",
            default=None,
            help="IANA time zone of the organisation (default: CRM_TIME_ZONE)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tz = options["time_zone"]
        if tz is not None and tz not in zoneinfo.available_timezones():
            raise CommandError(
                f"Unknown time zone: {tz!r} (use an IANA name such as Asia/Shanghai)."
            )
        try:
            org, admin = services.create_organization(
                name=options["name"],
                admin_email=options["admin_email"],
                admin_password=options["admin_password"],
                admin_name=options["admin_name"],
                admin_username=options["admin_username"],
                time_zone=tz,
            )
        except ValidationFailed as exc:
            raise CommandError(describe(exc)) from None
        self.stdout.write(f"Organisation {org.pk} created: {org.name}")
        self.stdout.write(f"Administrator login: {admin.username}")
