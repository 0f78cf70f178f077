"""``crm.core.bulk_copy.insert_rows``: bulk_create's effect, by COPY on PostgreSQL (issue 8,
R10.3). The same rows written both ways read back the same, every object gets its key."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.core import audit
from crm.core.bulk_copy import COPY_FROM, insert_rows
from crm.core.models import Event
from crm.core.testing.world import World
from crm.customers.models import Customer

FIELDS = ("org_id", "actor_id", "verb", "object_type", "object_id", "object_repr", "changes")


def _events(world: World, customers: list[Customer], tag: str) -> list[Event]:
    actor = world.users["rep_east"]
    return [
        audit.event_for(
            actor=actor,
            obj=c,
            verb=f"customer.{tag}",
            changes={
                "name": [None, f"{c.name} «引号» 'x' \\ tab\there"],
                "amount": [None, str(Decimal("1234.50"))],
                "tags": [[], ["甲", "乙"]],
            },
        )
        for c in customers
    ]


def _read(tag: str) -> list[tuple[Any, ...]]:
    """The events of one way, without their verb (which names the way)."""
    rows = Event.objects.filter(verb=f"customer.{tag}").order_by("object_id").values_list(*FIELDS)
    return [row[:2] + row[3:] for row in rows]


@pytest.mark.parametrize("count", [3, COPY_FROM + 7])
def test_rows_read_back_as_bulk_create_wrote_them(world: World, count: int) -> None:
    customers = [
        Customer.objects.create(org=world.org, name=f"测试客户{i}", owner=world.users["rep_east"])
        for i in range(count)
    ]
    copied = _events(world, customers, "copied")
    with CaptureQueriesContext(connection) as queries:
        insert_rows(Event, copied)
    created = _events(world, customers, "created")
    Event.objects.bulk_create(created)
    assert all(e.pk is not None and not e._state.adding for e in copied)
    assert len({e.pk for e in copied}) == count
    assert _read("copied") == _read("created")
    assert [row[0] for row in _read("copied")] == [world.org.pk] * count
    # the objects' keys are the rows' keys
    by_key = dict(Event.objects.filter(pk__in=[e.pk for e in copied]).values_list("pk", "verb"))
    assert set(by_key) == {e.pk for e in copied}
    if connection.vendor == "postgresql" and count >= COPY_FROM:
        assert any("nextval" in q["sql"] for q in queries.captured_queries)
    else:
        assert any(q["sql"].startswith("INSERT") for q in queries.captured_queries)


def test_nothing_to_insert_issues_no_query(world: World) -> None:
    with CaptureQueriesContext(connection) as queries:
        insert_rows(Event, [])
    assert len(queries) == 0
