"""The SQL shape of the scope rules, which decides whether a rule can use an index (R11.2, R1.3).

The results are proven against the oracle in ``test_scoping.py`` and the scope oracle of the
security suite; these tests pin down how the rules are written, because the equivalent rule
``owner = me OR id IN (collaborators)`` made PostgreSQL filter every row of the organisation
(589 ms for a rep's 50 opportunities of 1,000,000), and the department-tree rule joined every
row to its owner and department before filtering.
"""

from __future__ import annotations

import pytest
from django.db import connection

from crm.core.scoping import scope_q
from crm.core.testing.world import World
from crm.org.models import User
from tests.scopeapp.models import Memo, MemoLine


def _sql(qs: object) -> str:
    return str(qs.query)  # type: ignore[attr-defined]


def _fresh(user: User) -> User:
    return User.objects.select_related("org", "department").get(pk=user.pk)


def test_a_self_scope_rule_is_one_list_of_ids_found_by_index(world: World) -> None:
    # R11.2: own rows UNION ALL shared rows, as one subquery the planner runs once
    rep = _fresh(world.users["rep_east"])
    sql = _sql(Memo.objects.visible_to(rep))
    assert "UNION ALL" in sql
    assert " OR " not in sql.split("WHERE", 1)[1].split("(SELECT", 1)[0]
    if connection.vendor == "postgresql":
        assert "= ANY(ARRAY(" in sql
    # a child row reaches it through its parent's key, without joining the parent
    line_sql = _sql(MemoLine.objects.visible_to(rep))
    assert "memo_id" in line_sql and "UNION ALL" in line_sql


def test_the_self_rule_is_read_when_the_query_runs_not_when_it_was_compiled(world: World) -> None:
    # R1.3: the rule is memoised per request; a collaborator added afterwards is still seen
    rep = _fresh(world.users["rep_east"])
    other = world.users["rep_sales2"]
    memo = Memo.objects.create(org=world.org, title="later", owner=other)
    assert not Memo.objects.visible_to(rep).filter(pk=memo.pk).exists()
    memo.collaborators.add(rep)
    assert Memo.objects.visible_to(rep).filter(pk=memo.pk).exists()
    memo.collaborators.remove(rep)
    assert not Memo.objects.visible_to(rep).filter(pk=memo.pk).exists()


@pytest.mark.parametrize("key", ["dept_east", "manager1", "custom"])
def test_department_rules_filter_the_owner_column_without_joining_departments(
    world: World, key: str
) -> None:
    # R11.2: owner_id IN (people of the departments): no join of every row to its owner
    # and as two id lists, owners and rows shared with the user, each found by its index
    # (opp_owner_idx and the primary key, bitmap-ORed), not a filter over every row
    from crm.pipeline.models import Opportunity

    user = _fresh(world.users[key])
    sql = _sql(Memo.objects.visible_to(user))
    outer = sql.split("WHERE", 1)[0]
    assert "org_department" not in outer and "JOIN" not in outer, outer
    opp_sql = _sql(Opportunity.objects.visible_to(user))
    if connection.vendor == "postgresql":
        assert '"owner_id" = ANY(ARRAY(SELECT' in sql
        assert '"owner_id" = ANY(ARRAY(SELECT' in opp_sql
        assert '"id" = ANY(ARRAY(' in opp_sql  # collaborators UNION ALL named viewers
    else:
        assert '"owner_id" IN (SELECT' in sql
    assert "UNION ALL" in opp_sql


def test_a_rep_with_several_roles_combines_them(world: World) -> None:
    # R1.3: a SELF role beside a department one takes the team rule (owners: the rep and the
    # department's people), and sees exactly what the oracle says
    from crm.core.testing.world import make_role
    from tests.core.test_scoping import expected, seed_memos

    memos = seed_memos(world)
    user = world.users["rep_east"]
    user.roles.add(make_role(world.admin, "dept-too", "dept", ["customers:view"]))
    user = _fresh(user)
    rule = scope_q(user, Memo, "view")
    assert "owner_id" in str(Memo.objects.filter(rule).query)  # type: ignore[arg-type]
    got = set(Memo.objects.visible_to(user).values_list("pk", flat=True))
    assert got == expected(user, memos, "view")
    assert len(got) > 1  # the department colleague's memo, not only the rep's own


def test_one_named_row_checks_the_id_list_as_a_filter(world: World) -> None:
    # R11.2: for a page of one record (pk = 42) the id list only filters that row; as an index
    # key PostgreSQL probed the primary key once per listed id (0.5 s for a rep's opportunity)
    rep = _fresh(world.users["rep_east"])
    mine = Memo.objects.create(org=world.org, title="mine", owner=rep)
    theirs = Memo.objects.create(org=world.org, title="theirs", owner=world.users["rep_south"])
    one = Memo.objects.visible_to(rep).filter(pk=mine.pk)
    listed = Memo.objects.visible_to(rep).filter(title__startswith="m")
    if connection.vendor == "postgresql":
        assert '"id" + 0) = ANY(ARRAY(' in _sql(one)
        assert "+ 0)" not in _sql(listed) and "= ANY(ARRAY(" in _sql(listed)
    assert list(one) == [mine]
    assert not Memo.objects.visible_to(rep).filter(pk=theirs.pk).exists()
    assert list(listed) == [mine]


def test_a_record_fetched_from_a_scoped_query_applies_the_rule_once(world: World) -> None:
    # R11.2: get_scoped_or_404 on a query already scoped for the same user and action does not
    # add the rule a second time (each copy of a SELF rule is another id-list subquery)
    from django.test.utils import CaptureQueriesContext

    from crm.core.errors import NotFound
    from crm.core.scoping import get_scoped_or_404

    rep = _fresh(world.users["rep_east"])
    memo = Memo.objects.create(org=world.org, title="mine", owner=rep)
    with CaptureQueriesContext(connection) as once:
        assert get_scoped_or_404(Memo, rep, memo.pk) == memo
    with CaptureQueriesContext(connection) as scoped:
        assert get_scoped_or_404(Memo.objects.visible_to(rep).order_by(), rep, memo.pk) == memo
    assert scoped[-1]["sql"].count("UNION ALL") == once[-1]["sql"].count("UNION ALL") == 1
    # another user is still checked, whoever the query was scoped for
    viewer = _fresh(world.users["rep_sales2"])
    shared = Memo.objects.visible_to(viewer)
    with pytest.raises(NotFound):
        get_scoped_or_404(shared, viewer, memo.pk)
    with pytest.raises(NotFound):
        get_scoped_or_404(Memo.objects.visible_to(rep), viewer, memo.pk)


def test_a_self_rule_with_pool_rows_is_the_id_list_or_the_pool(world: World) -> None:
    # R11.2 R3.3: a rep's customers are their id list OR the unowned customers of the pools
    # they may see: two index scans (pk, cust_pool_idx), not a filter over every customer
    from crm.customers.models import Customer

    rep = _fresh(world.users["rep_east"])
    sql = _sql(Customer.objects.visible_to(rep))
    where = sql.split("WHERE", 1)[1]
    assert "UNION ALL" in where and "pool_id" in where and "owner_id" in where
    if connection.vendor == "postgresql":
        assert "= ANY(ARRAY(" in where
