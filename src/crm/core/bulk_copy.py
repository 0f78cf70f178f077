"""Inserting many new rows at once: ``bulk_create``'s effect, by PostgreSQL's ``COPY`` when the
rows are many (issue 8, R10.3: imports of 100,000 customers).

``bulk_create`` writes one ``INSERT … VALUES (…), (…) RETURNING id`` per thousand rows; Django
and psycopg spend most of its time building and quoting that statement (half of an import's
write time in the profile of 2026-11-25). ``COPY`` streams the values instead. The ids are drawn
from the table's own sequence first (``nextval`` once per row, in one query), so every object has
its primary key afterwards, as after ``bulk_create``. SQLite, fewer than ``COPY_FROM`` rows, a
model whose key is not drawn from a sequence, or a value the database computes (a database
default) take ``bulk_create``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router
from django.db.models.fields import AutoFieldMixin

#: from this many rows on, COPY (below it, one INSERT is as quick)
COPY_FROM = 50


def insert_rows(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert ``objs`` (new instances of ``model``, without primary keys) and give each its
    primary key, like ``model.objects.bulk_create(objs)``. No signals are sent."""
    if not objs:
        return
    using = router.db_for_write(model)
    connection = connections[using]
    opts = model._meta
    pk = opts.pk
    if (
        connection.vendor != "postgresql"
        or len(objs) < COPY_FROM
        or not isinstance(pk, AutoFieldMixin)
        or any(obj.pk is not None for obj in objs)
    ):
        model._default_manager.db_manager(using).bulk_create(objs)
        return
    fields = [f for f in opts.concrete_fields if not f.generated]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [quote(opts.db_table), pk.column, len(objs)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    rows: list[list[Any]] = []
    for obj, new_id in zip(objs, ids, strict=True):
        setattr(obj, pk.attname, new_id)
        row = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
        if any(hasattr(value, "resolve_expression") for value in row):
            # a value the database computes: give the ids back to bulk_create's own insert
            for o in objs:
                setattr(o, pk.attname, None)
            model._default_manager.db_manager(using).bulk_create(objs)
            return
        rows.append(row)
    columns = ", ".join(quote(f.column) for f in fields)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor (Django's wrapper has no copy); table and
        # column names come from the model
        with raw.copy(f"COPY {quote(opts.db_table)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using
