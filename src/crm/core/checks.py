"""System checks of the deployment (``crm check --deploy``).

Release gate "Database role" (issue 9; RELIABILITY B3, G3): on PostgreSQL the runtime role must
not be a superuser (``COPY … TO PROGRAM`` turns any SQL injection into code execution), should
hold no other power it does not need, and must not be able to change or remove audit rows.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register
from django.db import DatabaseError, connections

from .dbroles import AUDIT_TABLE, role_facts

DOCS = "See docs/deployment.md §2 (two PostgreSQL roles) and scripts/pg-roles.sql."


# Not tagged "database": Django would then skip it unless --database is given, and a plain
# `crm check --deploy` must flag a superuser connection. It runs only with --deploy.
@register(Tags.security, deploy=True)
def check_database_role(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """W001: the runtime role is a superuser; W002: it has other powers it does not need;
    W003: it may UPDATE, DELETE or TRUNCATE the audit table (e.g. it owns the tables)."""
    aliases = list(databases) if databases is not None else list(settings.DATABASES)
    messages: list[CheckMessage] = []
    for alias in aliases:
        if alias not in settings.DATABASES:
            continue
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        try:
            facts = role_facts(alias)
        except DatabaseError:
            continue  # unreachable: the deployment checks cannot judge the role (not a pass)
        where = f"database '{alias}', role '{facts.name}'"
        if facts.superuser:
            messages.append(
                Warning(
                    f"The application connects to PostgreSQL as a superuser ({where}).",
                    hint="Connect as a runtime role that is NOSUPERUSER and does not own the "
                    "tables (crm_app), and run migrations as the owner role. " + DOCS,
                    id="crm.core.W001",
                )
            )
        elif facts.excess:
            messages.append(
                Warning(
                    f"The application's PostgreSQL role has powers it does not need ({where}):"
                    f" {', '.join(facts.excess)}.",
                    hint="Re-run scripts/pg-roles.sql, or ALTER ROLE … NOCREATEDB NOCREATEROLE "
                    "NOBYPASSRLS NOREPLICATION and revoke the memberships. " + DOCS,
                    id="crm.core.W002",
                )
            )
        if facts.audit_writable and not facts.superuser:
            messages.append(
                Warning(
                    f"The application's PostgreSQL role may {'/'.join(facts.audit_writable)} "
                    f"the audit table {AUDIT_TABLE} ({where}); it should only read and append.",
                    hint="Use two roles: the owner for migrations, a runtime role with SELECT "
                    "and INSERT only on the audit table. " + DOCS,
                    id="crm.core.W003",
                )
            )
    return messages
