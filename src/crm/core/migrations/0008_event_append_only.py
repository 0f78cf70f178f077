"""The audit trail (``core_event``) is append-only in PostgreSQL itself (SQLite: nothing to do).

Release gate "Database role" (issue 9; RELIABILITY B3, G3; R1.5): past audit rows cannot be
altered, not even by the role that owns the table.

Who writes ``core_event`` and how (checked when this migration was written):

* services append rows (``crm.core.audit.record`` / ``Event.objects.bulk_create``) — INSERT only;
  ``Event.save()`` already refuses to save an existing row;
* the webhook outbox never marks events: the fan-out keeps its position in
  ``core_webhookendpoint.cursor`` and each delivery's state in ``core_webhookdelivery``, so the
  table has **no dispatch-state columns** and no column may change after the INSERT;
* ``crm restore`` inserts rows (explicit ids) into an empty database;
* users are never deleted by the application (they are deactivated), so the ``actor`` foreign
  key's SET NULL never runs on a live organisation;
* the one legitimate removal is deleting a whole organisation (``crm.org.demo.
  delete_organization``: the demo reset, tests). It goes through
  ``crm.core.dbroles.erase_audit_trail``, which sets the transaction-local switch
  ``crm.audit_erase_org`` to the organisation's id and deletes that organisation's events only.
  Any role may set a ``crm.*`` setting, so the switch is not the permission: the runtime role
  has no DELETE privilege on the table at all (revoked below), which leaves erasure to the
  owner role (and superusers), and for them the switch is a deliberate "I mean it", scoped to
  one organisation. A future retention purge (RELIABILITY G8) must go the same way.
* Django's ``flush`` (tests) empties tables with TRUNCATE, which fires no row trigger; the
  runtime role has no TRUNCATE privilege.

The trigger raises SQLSTATE 23001 (restrict_violation, Django's IntegrityError) on any UPDATE
that changes a column and on any DELETE without the switch. The migration also revokes UPDATE,
DELETE and TRUNCATE on the table from every role but its owner (``scripts/pg-roles.sql``'s
default privileges grant the runtime role DML on every new table, this one included).
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION crm_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- Erasing one whole organisation (crm.core.dbroles.erase_audit_trail; owner role only,
        -- since no other role holds DELETE on this table).
        IF current_setting('crm.audit_erase_org', true) = OLD.org_id::text THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'core_event is append-only: event % cannot be deleted', OLD.id
            USING ERRCODE = 'restrict_violation',
                  HINT = 'Audit rows are removed only with their organisation.';
    END IF;
    -- UPDATE: every column is audit content (there are no dispatch-state columns), so no
    -- change is allowed. A column that must change after the INSERT would be excluded here.
    IF NEW IS DISTINCT FROM OLD THEN
        RAISE EXCEPTION 'core_event is append-only: event % cannot be changed', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS core_event_append_only ON core_event;
CREATE TRIGGER core_event_append_only
    BEFORE UPDATE OR DELETE ON core_event
    FOR EACH ROW EXECUTE FUNCTION crm_event_append_only();

-- No role but the table's owner may UPDATE, DELETE or TRUNCATE audit rows.
DO $$
DECLARE
    grantee_name text;
BEGIN
    REVOKE UPDATE, DELETE, TRUNCATE ON core_event FROM PUBLIC;
    FOR grantee_name IN
        SELECT DISTINCT r.rolname
        FROM pg_class AS c
        CROSS JOIN LATERAL aclexplode(c.relacl) AS a
        JOIN pg_roles AS r ON r.oid = a.grantee
        WHERE c.oid = 'core_event'::regclass
          AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
          AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON core_event FROM %I', grantee_name);
    END LOOP;
END
$$;
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS core_event_append_only ON core_event;
DROP FUNCTION IF EXISTS crm_event_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FORWARD, params=None)


def backwards(apps, schema_editor):
    # Revoked privileges are not granted back: re-run scripts/pg-roles.sql for the grants.
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("core", "0007_custom_fields")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
