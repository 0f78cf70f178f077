"""Trigram indexes for article search on PostgreSQL (SQLite: nothing to do).

Search matches ``title``/``body_text`` substrings (``UPPER(col) LIKE UPPER('%…%')``: Chinese has
no word boundaries for the ``simple`` full-text configuration) and pinyin of titles; GIN trigram
indexes serve them. ``CREATE EXTENSION`` needs a role allowed to create it (docs/deployment.md).
"""

from django.db import migrations

INDEXES = [
    ("kb_title_trgm", "knowledge_article", "UPPER(title) gin_trgm_ops"),
    ("kb_body_trgm", "knowledge_article", "UPPER(body_text) gin_trgm_ops"),
    ("kb_pinyin_trgm", "knowledge_article", "title_pinyin gin_trgm_ops"),
    ("kb_initials_trgm", "knowledge_article", "title_initials gin_trgm_ops"),
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
    dependencies = [("knowledge", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
