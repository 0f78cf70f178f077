"""Trigram indexes for substring and pinyin search on PostgreSQL (SQLite: nothing to do).

Customer search uses ``name__icontains`` (``UPPER(name) LIKE UPPER('%…%')``), pinyin and
initials prefixes and phone-digit substrings; GIN trigram indexes serve all of them at a million
rows. ``CREATE EXTENSION`` needs a role allowed to create it (see docs/deployment.md).
"""

from django.db import migrations

INDEXES = [
    ("cust_name_trgm", "customers_customer", "UPPER(name) gin_trgm_ops"),
    ("cust_short_trgm", "customers_customer", "UPPER(short_name) gin_trgm_ops"),
    ("cust_pinyin_trgm", "customers_customer", "name_pinyin gin_trgm_ops"),
    ("cust_initials_trgm", "customers_customer", "name_initials gin_trgm_ops"),
    ("cust_phone_trgm", "customers_customer", "phone_digits gin_trgm_ops"),
    ("contact_mobile_trgm", "customers_contact", "mobile_digits gin_trgm_ops"),
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, expr in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expr})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _expr in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
