"""Wide reads named by primary key are planned with their joins as written (R11.2, issue 8):
``crm.core.planner.joins_as_written``. On PostgreSQL the setting wraps exactly the read and is
restored after it, also when the read fails, and never outlives a transaction (SET LOCAL: a
pooler in transaction mode cannot hand it to another client); SQLite is left alone."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.core.planner import SETTING_STATEMENTS, data_statements, joins_as_written
from crm.core.scoping import get_scoped_or_404
from crm.core.testing.world import World
from crm.pipeline.models import Opportunity
from tests.pipeline.test_opportunity_api import make_opportunity

WIDE = ("owner", "customer", "contact", "pipeline", "stage", "node")


def _limit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW join_collapse_limit")
        return str(cursor.fetchone()[0])


def test_a_wide_read_by_key_is_wrapped_and_the_setting_restored(world: World) -> None:
    rep = world.users["rep_east"]
    opportunity = make_opportunity(world, rep)
    wide = Opportunity.objects.select_related(*WIDE)
    before = _limit() if connection.vendor == "postgresql" else ""
    with CaptureQueriesContext(connection) as captured:
        found = get_scoped_or_404(wide, rep, opportunity.pk)
    assert found == opportunity
    sql = [q["sql"] for q in captured.captured_queries]
    if connection.vendor == "postgresql":
        start = sql.index(SETTING_STATEMENTS[0])
        assert sql[-1] == SETTING_STATEMENTS[1]
        assert '"pipeline_opportunity"' in sql[start + 1] and "JOIN" in sql[start + 1]
        assert _limit() == before
    else:
        assert not set(sql) & set(SETTING_STATEMENTS)
    assert len(data_statements(sql)) == len(sql) - (2 if connection.vendor == "postgresql" else 0)
    # a narrow read is planned as before
    with CaptureQueriesContext(connection) as captured:
        get_scoped_or_404(Opportunity.objects.select_related("owner"), rep, opportunity.pk)
    assert not {q["sql"] for q in captured.captured_queries} & set(SETTING_STATEMENTS)


@pytest.mark.postgres
def test_the_setting_is_restored_when_the_read_fails(transactional_db: None) -> None:
    wide = Opportunity.objects.select_related(*WIDE)
    before = _limit()
    # outside a transaction the read gets its own, which ends with it
    with joins_as_written(wide):
        assert _limit() == "1" and connection.in_atomic_block
    assert _limit() == before and not connection.in_atomic_block
    with pytest.raises(DatabaseError), joins_as_written(wide), connection.cursor() as cursor:
        cursor.execute("SELECT 1 / 0")
    assert _limit() == before
    # inside one, the rollback undoes the SET with everything else
    with (
        pytest.raises(DatabaseError),
        transaction.atomic(),
        joins_as_written(wide),
        connection.cursor() as cursor,
    ):
        assert _limit() == "1"
        cursor.execute("SELECT 1 / 0")
    assert _limit() == before
    # and a failure that is not the database's leaves the transaction usable and restored
    with transaction.atomic():
        with pytest.raises(ValueError), joins_as_written(wide):
            raise ValueError("not a number")
        assert _limit() == before
