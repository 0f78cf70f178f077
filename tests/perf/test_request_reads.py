"""What the query budget (R11.2) rests on: reads shared within one request, and the viewer's
rights read with a record. Each must answer exactly what the reads it replaces answered."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.core.context import request_memo_scope
from crm.core.rights import may, with_rights
from crm.core.testing.world import World
from crm.customers import services as customer_services
from crm.customers.models import Customer
from crm.org.models import User
from crm.pipeline import dictionaries
from crm.pipeline import services as pipeline_services
from crm.pipeline.models import DictionaryKind


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def test_a_request_reads_the_lists_once_and_sees_its_own_changes(world: World) -> None:
    """R11.2: every list of the organisation in one query per request; an entry added during
    the request is offered at once."""
    org_id = world.org.pk
    with request_memo_scope():
        with CaptureQueriesContext(connection) as first:
            sources = dictionaries.choices(org_id, DictionaryKind.SOURCE)
            dictionaries.choices(org_id, DictionaryKind.INDUSTRY, include_inactive=True)
            assert dictionaries.label(org_id, DictionaryKind.SOURCE, "referral") != "referral"
        assert len(first.captured_queries) == 1
        item = pipeline_services.add_dictionary_item(
            actor=fresh(world.admin), kind=DictionaryKind.SOURCE, label="展会邀约"
        )
        after = dictionaries.choices(org_id, DictionaryKind.SOURCE)
        assert after == [*sources, (item.value, "展会邀约")]
        assert dictionaries.label(org_id, DictionaryKind.SOURCE, item.value) == "展会邀约"


def test_outside_a_request_every_lookup_reads_the_lists(world: World) -> None:
    """Jobs and services see every change: nothing is kept between two lookups."""
    with CaptureQueriesContext(connection) as captured:
        dictionaries.choices(world.org.pk, DictionaryKind.SOURCE)
        dictionaries.choices(world.org.pk, DictionaryKind.SOURCE)
    assert len(captured.captured_queries) == 2


def test_rights_read_with_a_record_answer_as_the_scoped_queries(world: World) -> None:
    """R11.2, R1.3: the rights a page reads with a record are those of ``visible_to``, asked
    per record, for a viewer in scope, one out of it and one without the permission."""
    own = customer_services.create_customer(
        actor=fresh(world.users["rep_east"]), data={"name": "权限测试有限公司"}
    )
    other = customer_services.create_customer(
        actor=fresh(world.users["rep_south"]), data={"name": "别人的客户有限公司"}
    )
    for key in ("rep_east", "manager1", "director", "custom", "nobody"):
        viewer = fresh(world.users[key])
        expected = {
            (c.pk, action): Customer.objects.visible_to(viewer, action).filter(pk=c.pk).exists()
            for c in (own, other)
            for action in ("view", "edit", "delete")
        }
        rows = with_rights(
            Customer.objects.filter(pk__in=[own.pk, other.pk]), viewer, ("view", "edit", "delete")
        )
        with CaptureQueriesContext(connection) as captured:
            records = list(rows)
            answers = {
                (c.pk, action): may(viewer, c, action)
                for c in records
                for action in ("view", "edit", "delete")
            }
        assert answers == expected, key
        assert len(captured.captured_queries) == 1, key
        # a record read without them is asked on its own
        plain = Customer.objects.get(pk=own.pk)
        assert may(viewer, plain, "edit") == expected[(own.pk, "edit")]
        # and the answers belong to the viewer they were read for
        assert may(fresh(world.users["nobody"]), records[0], "view") is False
