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
    user = _fresh(world.users[key])
    sql = _sql(Memo.objects.visible_to(user))
    outer = sql.split("WHERE", 1)[0]
    assert "org_department" not in outer and "JOIN" not in outer, outer
    assert '"owner_id" IN (SELECT' in sql


def test_a_rep_with_several_roles_keeps_the_general_rule(world: World) -> None:
    # R1.3: a SELF role beside a department one takes the general ORed rule (the compact one
    # is for SELF-only users), and sees exactly what the oracle says
    from crm.core.testing.world import make_role
    from tests.core.test_scoping import expected, seed_memos

    memos = seed_memos(world)
    user = world.users["rep_east"]
    user.roles.add(make_role(world.admin, "dept-too", "dept", ["customers:view"]))
    user = _fresh(user)
    rule = scope_q(user, Memo, "view")
    assert "UNION ALL" not in str(Memo.objects.filter(rule).query)  # type: ignore[arg-type]
    got = set(Memo.objects.visible_to(user).values_list("pk", flat=True))
    assert got == expected(user, memos, "view")
    assert len(got) > 1  # the department colleague's memo, not only the rep's own
