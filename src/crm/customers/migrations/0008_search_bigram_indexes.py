"""Two-character name search by index on PostgreSQL (SQLite: nothing to do).

Chinese brand names are mostly two characters (华信, 永诚), and a trigram index cannot serve a
two-character ``LIKE '%华信%'``: it has no complete trigram, so each such search read every
customer of the organisation (0.7–0.9 s at 300,000). ``crm_bigrams(text)`` is the set of the
text's two-character substrings; a GIN index over it finds every name holding a given pair,
which is exactly the names matching ``'%pair%'``. See ``crm.customers.bigrams``.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION crm_bigrams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
  SELECT coalesce(array_agg(DISTINCT substr(t, i, 2)), '{}')
  FROM generate_series(1, length(t) - 1) AS i
$$
"""

INDEXES = [
    ("cust_name_bigram", "customers_customer", "crm_bigrams(UPPER(name))"),
    ("cust_short_bigram", "customers_customer", "crm_bigrams(UPPER(short_name))"),
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    for name, table, expr in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expr})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _expr in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    schema_editor.execute("DROP FUNCTION IF EXISTS crm_bigrams(text)")


class Migration(migrations.Migration):
    dependencies = [("customers", "0007_updated_idx")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
