"""Release gate "Database role" (issue 9): the runtime PostgreSQL role is not a superuser and
cannot alter the audit table's past rows.

RELIABILITY B3 (least-privilege DB role: no superuser, CREATEDB, CREATEROLE, server-file or
program roles, owns no table), G3 (audit log append-only: UPDATE/DELETE by the app role fail),
A5 in part (no BYPASSRLS; row-level security itself is not part of this gate); R1.5 (every
change traceable: the trail cannot be rewritten afterwards).

How: inside the test's transaction, as the superuser the tests connect with, create a runtime
role and an owner role with names unique to this process (so parallel xdist workers and other
test runs on the same cluster never meet), apply the grants script (``crm.core.dbroles.
roles_sql``, i.e. ``scripts/pg-roles.sql``), then ``SET LOCAL ROLE`` to them. Roles, grants and
ownership changes are transactional in PostgreSQL: the test's rollback drops them again, also
when the process dies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, ProgrammingError, connection, transaction

from crm.core import audit, dbroles
from crm.core.checks import check_database_role
from crm.core.models import Event
from crm.core.testing.world import World, build_world
from crm.customers import services as customer_services
from crm.customers.models import Customer

ROOT = Path(__file__).resolve().parents[2]
on_pg = os.environ.get("CRM_TEST_DB") == "postgres"


def _suffix() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{worker}_{os.getpid()}".lower()


APP = f"crm_t_app_{_suffix()}"
OWNER = f"crm_t_owner_{_suffix()}"


# --- helpers -------------------------------------------------------------------------------------


def sql(statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


@contextmanager
def as_role(name: str) -> Iterator[None]:
    """Run the block as ``name`` (``SET LOCAL ROLE``; back to the test's superuser after)."""
    sql(f"SET LOCAL ROLE {name}")
    try:
        yield
    finally:
        sql("RESET ROLE")


def refused(fn: Any, *errors: type[Exception]) -> Exception:
    """Run ``fn`` in a savepoint; it must fail with one of ``errors``. Returns the error."""
    try:
        with transaction.atomic():
            fn()
    except errors as exc:
        return exc
    raise AssertionError(f"{fn} was not refused")


def own_everything(role: str) -> None:
    """Hand every table of the test database to ``role``, as if migrations had run as it."""
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses tables with pending FK checks
    sql(
        f"""
        DO $own$
        DECLARE t text;
        BEGIN
            FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
                EXECUTE format('ALTER TABLE public.%I OWNER TO {role}', t);
            END LOOP;
        END
        $own$
        """
    )
    sql("SET CONSTRAINTS ALL DEFERRED")


def event_row(pk: int) -> dict[str, Any]:
    return Event.objects.filter(pk=pk).values().get()


@pytest.fixture
def roles(db: None) -> dict[str, str]:
    """The two roles with the grants script applied (``crm pg_roles --apply``), inside the
    test's transaction."""
    assert connection.vendor == "postgresql"
    out = StringIO()
    call_command("pg_roles", owner=OWNER, app=APP, apply=True, stdout=out)
    assert f"Roles {OWNER} (owner) and {APP} (runtime)" in out.getvalue()
    return {"owner": OWNER, "app": APP}


@pytest.fixture
def audited(roles: dict[str, str]) -> dict[str, Any]:
    """A world with a customer and one old audit row, written before any role switch."""
    world = build_world()
    customer = customer_services.create_customer(
        actor=world.users["rep_east"], data={"name": "审计客户"}
    )
    old = Event.objects.filter(org=world.org).for_object(customer).latest("pk")
    return {"world": world, "customer": customer, "old": old}


# --- the script ----------------------------------------------------------------------------------


def test_scripts_pg_roles_sql_is_the_generated_script() -> None:
    # gate "Database role": the shipped script is exactly what `crm pg_roles` prints
    assert (ROOT / "scripts" / "pg-roles.sql").read_text() == dbroles.roles_sql()
    out = StringIO()
    call_command("pg_roles", stdout=out)
    assert out.getvalue() == dbroles.roles_sql()
    with pytest.raises(ValueError, match="role name"):
        dbroles.roles_sql(owner="crm_owner; DROP TABLE x", app="crm_app")
    with pytest.raises(ValueError, match="differ"):
        dbroles.roles_sql(owner="crm", app="crm")


def test_owner_settings_swaps_only_the_user_and_refuses_another_database() -> None:
    # gate "Database role": MIGRATE_DATABASE_URL names the owner role of the same database
    current = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "crm",
        "USER": "crm_app",
        "PASSWORD": "app-secret",
        "HOST": "db.internal",
        "PORT": 5432,
        "CONN_MAX_AGE": 60,
        "OPTIONS": {},
    }
    updated = dbroles.owner_settings("postgres://crm_owner:s3cret@db.internal:5432/crm", current)
    assert updated == {**current, "USER": "crm_owner", "PASSWORD": "s3cret"}
    assert current["USER"] == "crm_app"  # not changed in place
    with pytest.raises(ValueError, match="another name"):
        dbroles.owner_settings("postgres://crm_owner@db.internal:5432/other", current)
    with pytest.raises(ValueError, match="another host"):
        dbroles.owner_settings("postgres://crm_owner@elsewhere:5432/crm", current)
    with pytest.raises(ValueError, match="PostgreSQL"):
        dbroles.owner_settings("sqlite:////tmp/x.sqlite3", current)


@pytest.mark.django_db
def test_migrate_refuses_a_migrate_url_for_another_database(settings: Any) -> None:
    # gate "Database role": `crm migrate` connects as MIGRATE_DATABASE_URL's role, and only to
    # the application's own database
    settings.MIGRATE_DATABASE_URL = "postgres://crm_owner@127.0.0.1:5432/not_the_crm_db"
    with pytest.raises(CommandError, match="MIGRATE_DATABASE_URL"):
        call_command("migrate", "--check", verbosity=0)


# --- the runtime role ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_runtime_role_is_least_privilege(roles: dict[str, str]) -> None:
    # RELIABILITY B3 (+ A5: no BYPASSRLS): not a superuser, no CREATEDB/CREATEROLE/REPLICATION,
    # no server-file or program roles, owns nothing, creates nothing; G3: audit table read and
    # append only
    with as_role(APP):
        facts = dbroles.role_facts()
        assert facts.name == APP
        assert not facts.superuser
        assert facts.excess == []
        assert facts.audit_writable == ()
        privileges = dict(
            sql(
                "SELECT p, has_table_privilege('core_event', p) FROM unnest(ARRAY['SELECT',"
                " 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p"
            )
        )
        assert privileges == {
            "SELECT": True,
            "INSERT": True,
            "UPDATE": False,
            "DELETE": False,
            "TRUNCATE": False,
            "REFERENCES": False,
            "TRIGGER": False,
        }
        # ordinary tables: row access, no TRUNCATE
        assert sql(
            "SELECT has_table_privilege('customers_customer', 'SELECT, INSERT, UPDATE, DELETE'),"
            " has_table_privilege('customers_customer', 'TRUNCATE'),"
            " has_table_privilege('django_migrations', 'INSERT')"
        ) == [(True, False, False)]
        refused(lambda: sql("CREATE TABLE crm_t_sneaky (id int)"), ProgrammingError)
        # no way up: no member of the owner or of any superuser (SET ROLE itself cannot be
        # tried here: the tests' session user is a superuser, who may take any role)
        assert sql(
            "SELECT count(*) FROM pg_roles WHERE (rolsuper OR rolname = %s)"
            " AND pg_has_role(current_user, oid, 'MEMBER')",
            [OWNER],
        ) == [(0,)]
        refused(lambda: sql("COPY (SELECT 1) TO PROGRAM 'true'"), ProgrammingError)
    owned = sql(
        "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE"
        " rolname = %s)",
        [APP],
    )
    assert owned == [(0,)]


@pytest.mark.postgres
def test_runtime_role_appends_audit_rows_but_cannot_change_or_delete_them(
    audited: dict[str, Any],
) -> None:
    # RELIABILITY G3 / gate "Database role"; R1.5: the past of the audit trail stays as written
    old: Event = audited["old"]
    before = event_row(old.pk)
    with as_role(APP):
        new = audit.record(
            actor=audited["world"].admin, obj=audited["customer"], verb="customer.noted"
        )
        assert Event.objects.filter(pk=new.pk).exists()  # INSERT works
        attempts = {
            "update content": lambda: Event.objects.filter(pk=old.pk).update(verb="forged"),
            "update changes": lambda: sql(
                "UPDATE core_event SET changes = '{}'::jsonb WHERE id = %s", [old.pk]
            ),
            "update actor": lambda: Event.objects.filter(pk=old.pk).update(actor=None),
            "delete one": lambda: Event.objects.filter(pk=old.pk).delete(),
            "delete all": lambda: sql("DELETE FROM core_event"),
            "truncate": lambda: sql("TRUNCATE core_event CASCADE"),
            "lock for update": lambda: list(Event.objects.select_for_update().filter(pk=old.pk)),
            "drop trigger": lambda: sql("ALTER TABLE core_event DISABLE TRIGGER ALL"),
            "erase switch": lambda: dbroles.erase_audit_trail(audited["world"].org),
        }
        for name, attempt in attempts.items():
            error = refused(attempt, DatabaseError)
            assert "permission denied" in str(error) or "must be owner" in str(error), name
    assert event_row(old.pk) == before
    assert Event.objects.filter(pk=new.pk).exists()


@pytest.mark.postgres
def test_runtime_role_runs_ordinary_writes_through_the_services(audited: dict[str, Any]) -> None:
    # gate "Database role": least privilege does not break the application (R3.1 edit, R1.5
    # audited in the same transaction)
    world: World = audited["world"]
    customer: Customer = audited["customer"]
    events = Event.objects.filter(org=world.org).count()
    with as_role(APP):
        updated = customer_services.update_customer(
            actor=world.users["rep_east"],
            customer=customer,
            data={"name": "审计客户（改名）"},
            version=customer.version,
        )
        created = customer_services.create_customer(
            actor=world.users["rep_east"], data={"name": "新客户乙"}
        )
    assert Customer.objects.get(pk=updated.pk).name == "审计客户（改名）"
    assert Customer.objects.filter(pk=created.pk).exists()
    assert Event.objects.filter(org=world.org).count() > events
    latest = Event.objects.filter(org=world.org).for_object(customer).latest("pk")
    assert latest.changes["name"] == ["审计客户", "审计客户（改名）"]


@pytest.mark.postgres
def test_future_tables_of_the_owner_are_granted_to_the_runtime_role(
    roles: dict[str, str],
) -> None:
    # gate "Database role": default privileges cover tables that later migrations create
    with as_role(OWNER):
        sql("CREATE TABLE crm_t_future (id bigint GENERATED BY DEFAULT AS IDENTITY, v text)")
    with as_role(APP):
        sql("INSERT INTO crm_t_future (v) VALUES ('a')")
        sql("UPDATE crm_t_future SET v = 'b'")
        assert sql("SELECT v FROM crm_t_future") == [("b",)]
        sql("DELETE FROM crm_t_future")
        refused(lambda: sql("TRUNCATE crm_t_future"), ProgrammingError)
        refused(lambda: sql("DROP TABLE crm_t_future"), ProgrammingError)


# --- the trigger: the owner cannot rewrite the past either ---------------------------------------


@pytest.mark.postgres
def test_trigger_blocks_the_owner_from_rewriting_audit_content(audited: dict[str, Any]) -> None:
    # RELIABILITY G3 / gate "Database role": even the table's owner cannot change or delete audit
    # rows by DML; only erasing a whole organisation passes, through the explicit switch
    old: Event = audited["old"]
    own_everything(OWNER)
    other = build_world("另一家公司")
    other_events = Event.objects.filter(org=other.org).count()
    assert other_events > 0
    before = event_row(old.pk)
    with as_role(OWNER):
        assert dbroles.role_facts().audit_writable == ("UPDATE", "DELETE", "TRUNCATE")
        attempts = {
            "update content": lambda: Event.objects.filter(pk=old.pk).update(verb="forged"),
            "update object": lambda: sql(
                "UPDATE core_event SET object_id = '0', data = '{}'::jsonb WHERE id = %s",
                [old.pk],
            ),
            "update actor": lambda: Event.objects.filter(pk=old.pk).update(actor=None),
            "delete": lambda: Event.objects.filter(pk=old.pk).delete(),
            "delete all": lambda: sql("DELETE FROM core_event"),
            # the switch names another organisation: no effect on this one
            "delete with another org's switch": lambda: (
                sql("SELECT set_config('crm.audit_erase_org', %s, true)", [str(other.org.pk)]),
                sql("DELETE FROM core_event WHERE id = %s", [old.pk]),
            ),
            # the switch never opens UPDATE
            "update with the switch": lambda: (
                sql("SELECT set_config('crm.audit_erase_org', %s, true)", [str(old.org_id)]),
                Event.objects.filter(pk=old.pk).update(verb="forged"),
            ),
        }
        for name, attempt in attempts.items():
            error = refused(attempt, IntegrityError)
            assert "core_event is append-only" in str(error), name
        sql("UPDATE core_event SET verb = verb WHERE id = %s", [old.pk])  # no change: allowed
        assert event_row(old.pk) == before

        # deleting the organisation (crm.org.demo.delete_organization) erases its trail only
        erased = dbroles.erase_audit_trail(audited["world"].org)
        assert erased > 0
        assert not Event.objects.filter(org=audited["world"].org).exists()
        assert Event.objects.filter(org=other.org).count() == other_events
        # and the switch is closed again afterwards
        assert sql("SELECT current_setting('crm.audit_erase_org', true)") == [("",)]


@pytest.mark.postgres
def test_migration_0008_is_reversible_and_revokes_stray_grants(audited: dict[str, Any]) -> None:
    # gate "Database role": the PostgreSQL-only migration can be unapplied and re-applied; on
    # re-apply it takes UPDATE/DELETE/TRUNCATE on the audit table from every role but the owner
    from importlib import import_module

    migration = import_module("crm.core.migrations.0008_event_append_only")
    old: Event = audited["old"]
    sql(migration.BACKWARD)
    Event.objects.filter(pk=old.pk).update(verb="changed-while-unguarded")
    sql(f"GRANT UPDATE, DELETE, TRUNCATE ON core_event TO {APP}")
    sql(migration.FORWARD)
    with as_role(APP):
        assert dbroles.role_facts().audit_writable == ()
    error = refused(lambda: Event.objects.filter(pk=old.pk).update(verb="x"), IntegrityError)
    assert "append-only" in str(error)


# --- the deploy check ----------------------------------------------------------------------------


def _ids(messages: list[checks.CheckMessage]) -> set[str]:
    return {m.id for m in messages if m.id and m.id.startswith("crm.core.W00")}


@pytest.mark.postgres
def test_check_deploy_flags_a_superuser_and_an_audit_writer(roles: dict[str, str]) -> None:
    # RELIABILITY B3 / gate "Database role": `crm check --deploy` warns when the runtime
    # connection is a superuser (W001), has other powers (W002) or may rewrite the audit (W003)
    assert sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == [(True,)]
    found = checks.run_checks(include_deployment_checks=True)
    assert "crm.core.W001" in _ids(found)
    assert "crm.core.W001" not in _ids(checks.run_checks())  # deploy checks only

    with as_role(APP):
        assert _ids(check_database_role(databases=["default"])) == set()

    sql(f"ALTER ROLE {APP} CREATEDB")
    sql(f"GRANT pg_read_server_files TO {APP}")
    with as_role(APP):
        (warning,) = check_database_role(databases=["default"])
    assert warning.id == "crm.core.W002"
    assert "CREATEDB" in warning.msg and "pg_read_server_files" in warning.msg

    own_everything(OWNER)  # a single-role deployment: the application connects as the owner
    with as_role(OWNER):
        assert _ids(check_database_role(databases=["default"])) == {"crm.core.W003"}


@pytest.mark.skipif(
    on_pg, reason="checks the SQLite default (no roles to inspect); the PostgreSQL cases run above"
)
def test_check_deploy_is_silent_on_sqlite() -> None:
    # gate "Database role": the embedded default (SQLite) gets no role warnings
    assert _ids(check_database_role(databases=["default"])) == set()
