"""Planning a wide fetch of rows named by primary key (issue 8, R11.2).

An opportunity read with its owner, customer, contact, pipeline, stage, node and the people
and contacts of its last and next follow-ups joins thirteen tables. PostgreSQL's planner then
searches join orders (up to ``join_collapse_limit``, 8, at a time) for every statement: 6-10 ms
of planning for 0.5-1.4 ms of execution at the small bench scale, on every opportunity page
and API read. When the rows are already named by their primary keys (one record, or the ids
of a page), the order the ORM writes the joins in is the best one there is: those rows first,
then one index probe per related row. :func:`joins_as_written` tells PostgreSQL to keep that
order for the statements it wraps (``join_collapse_limit = 1``): planning falls to about 1.6 ms
and execution is unchanged. Other databases are left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet

#: A query joining at least this many tables is planned with its joins as written.
WIDE_JOINS = 6
#: the two statements :func:`joins_as_written` adds around a wide read
SETTING_STATEMENTS = (
    "SET LOCAL join_collapse_limit = 1",
    "SET LOCAL join_collapse_limit TO DEFAULT",
)


def _is_wide(queryset: QuerySet) -> bool:
    select_related = queryset.query.select_related
    if not select_related:
        return False
    if select_related is True:
        return True
    count, stack = 0, [select_related]
    while stack:
        level = stack.pop()
        count += len(level)
        stack.extend(v for v in level.values() if v)
    return count >= WIDE_JOINS


@contextmanager
def joins_as_written(queryset: QuerySet) -> Iterator[None]:
    """Run the statements inside with ``join_collapse_limit = 1`` when ``queryset`` is a wide
    ``select_related`` read on PostgreSQL; use it only where the rows are named by primary
    key. The setting is ``SET LOCAL``: it ends with the transaction, so a connection pooler in
    transaction mode never carries it to another client. Outside a transaction the read gets
    one of its own; inside one, the setting goes back to the session's value after the read
    (or with the rollback, when the read failed)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql" or not _is_wide(queryset):
        yield
        return
    if not connection.in_atomic_block:
        with transaction.atomic(using=queryset.db):
            _execute(connection, SETTING_STATEMENTS[0])
            yield
        return
    _execute(connection, SETTING_STATEMENTS[0])
    try:
        yield
    except BaseException:
        # a statement that failed aborted the transaction, and this one fails too: the
        # rollback undoes the SET with everything else
        with suppress(DatabaseError):
            _execute(connection, SETTING_STATEMENTS[1])
        raise
    _execute(connection, SETTING_STATEMENTS[1])


def _execute(connection: BaseDatabaseWrapper, sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)


def data_statements(statements: list[str]) -> list[str]:
    """``statements`` without the planner settings of :func:`joins_as_written`: the query
    budget (R11.2, RELIABILITY L4) counts the statements that read or write rows."""
    return [sql for sql in statements if sql not in SETTING_STATEMENTS]
