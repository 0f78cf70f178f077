"""The scoped query layer: tenant isolation and the data-scope matrix (R1.1, R1.3).

Every user of a seeded world is checked against an independent oracle (crm.core.testing.oracle)
for every record, for view and edit: exactly the expected records, nothing of another tenant.
"""

from __future__ import annotations

import pytest

from crm.core.errors import NotFound
from crm.core.scoping import DataScope, assert_in_scope, get_scoped_or_404
from crm.core.testing.oracle import sees
from crm.core.testing.world import World, make_user, role
from crm.org import services
from crm.org.models import User
from tests.scopeapp.models import Memo, MemoLine


def seed_memos(world: World) -> list[Memo]:
    """One memo per person, plus one in the pool (no owner) and one shared with a collaborator."""
    memos = [
        Memo.objects.create(org=world.org, title=f"memo of {key}", owner=user)
        for key, user in world.users.items()
    ]
    memos.append(Memo.objects.create(org=world.org, title="unowned", owner=None))
    shared = Memo.objects.create(org=world.org, title="shared", owner=world.users["rep_sales2"])
    shared.collaborators.add(world.users["rep_east"])
    memos.append(shared)
    return memos


def expected(user: User, memos: list[Memo], action: str) -> set[int]:
    return {
        m.pk
        for m in memos
        if sees(
            user,
            m.owner,
            module="customers",
            action=action,
            org_id=m.org_id,
            collaborators=list(m.collaborators.all()),
        )
    }


@pytest.mark.parametrize("action", ["view", "edit"])
def test_every_user_sees_exactly_the_oracle_set(
    world: World, other_world: World, action: str
) -> None:
    # R1.3 R1.1 A3: the five data scopes, collaborators and tenant isolation against the oracle
    memos = seed_memos(world)
    foreign = seed_memos(other_world)
    for user in [*world.users.values(), world.admin, *other_world.users.values()]:
        user = User.objects.get(pk=user.pk)
        got = set(Memo.objects.visible_to(user, action).values_list("pk", flat=True))
        want = expected(user, memos + foreign, action)
        assert got == want, (user.name, sorted(got ^ want))


def test_the_matrix_gives_each_scope_its_own_answer(world: World) -> None:
    # R1.3: spell out what each scope sees, so the oracle itself is pinned down
    seed_memos(world)

    def owners(key: str) -> set[str]:
        user = User.objects.get(pk=world.users[key].pk)
        return {m.title.removeprefix("memo of ") for m in Memo.objects.visible_to(user)}

    assert owners("rep_east") == {"rep_east", "shared"}  # SELF + collaborator
    assert owners("dept_east") == {"rep_east", "rep_east2", "dept_east", "nobody"}  # DEPT
    assert owners("manager1") == {
        "rep_east",
        "rep_east2",
        "rep_south",
        "dept_east",
        "manager1",
        "custom",
        "nobody",
    }  # DEPT_TREE
    assert owners("custom") == {"custom", "rep_south", "rep_sales2", "shared"}  # CUSTOM (+ own)
    assert len(owners("director")) == len(world.users) + 2  # ALL incl. unowned
    assert owners("nobody") == set()  # no permission


def test_department_tree_scope_follows_a_move(world: World) -> None:
    # R1.2 R1.3: moving 华南组 under 销售二部 moves its records out of the 销售一部 manager's scope
    seed_memos(world)
    manager = User.objects.get(pk=world.users["manager1"].pk)
    before = set(Memo.objects.visible_to(manager).values_list("title", flat=True))
    services.move_department(
        actor=world.admin, department=world.depts["south"], new_parent=world.depts["sales2"]
    )
    manager = User.objects.get(pk=manager.pk)
    after = set(Memo.objects.visible_to(manager).values_list("title", flat=True))
    assert before - after == {"memo of rep_south"}


def test_child_rows_delegate_to_their_parent(world: World, other_world: World) -> None:
    # R1.3: a line is visible exactly when its memo is
    memos = seed_memos(world)
    for memo in memos:
        MemoLine.objects.create(org=world.org, memo=memo, text="line")
    for key in ("rep_east", "manager1", "custom", "nobody"):
        user = User.objects.get(pk=world.users[key].pk)
        lines = set(MemoLine.objects.visible_to(user).values_list("memo_id", flat=True))
        assert lines == set(Memo.objects.visible_to(user).values_list("pk", flat=True))
    assert not MemoLine.objects.visible_to(other_world.users["director"]).exists()


def test_several_roles_combine_with_or(world: World) -> None:
    # R1.3: a rep who is also given the custom-scope role sees the union of both
    seed_memos(world)
    rep = world.users["rep_east2"]
    custom_role = world.users["custom"].roles.get()
    rep.roles.add(custom_role)
    rep = User.objects.get(pk=rep.pk)
    titles = {m.title for m in Memo.objects.visible_to(rep)}
    assert titles == {"memo of rep_east2", "memo of rep_south", "memo of rep_sales2", "shared"}


def test_inactive_and_anonymous_users_see_nothing(world: World) -> None:
    # R1.1: a deactivated user's queries return nothing at once
    from django.contrib.auth.models import AnonymousUser

    seed_memos(world)
    director = User.objects.get(pk=world.users["director"].pk)
    assert Memo.objects.visible_to(director).exists()
    User.objects.filter(pk=director.pk).update(is_active=False)
    director.refresh_from_db()
    assert not Memo.objects.visible_to(director).exists()
    assert not Memo.objects.visible_to(AnonymousUser()).exists()
    assert not Memo.objects.visible_to(None).exists()


def test_get_scoped_or_404_does_not_distinguish_missing_from_forbidden(
    world: World, other_world: World
) -> None:
    # R1.1 A1: out of scope, other tenant and missing all raise the same NotFound
    memo = Memo.objects.create(org=world.org, title="x", owner=world.users["rep_east"])
    for user, pk in [
        (world.users["rep_east2"], memo.pk),
        (other_world.admin, memo.pk),
        (world.users["rep_east"], 999_999),
        (world.users["rep_east"], "abc"),
    ]:
        with pytest.raises(NotFound) as exc:
            get_scoped_or_404(Memo, user, pk)
        assert exc.value.status == 404
    assert get_scoped_or_404(Memo, world.users["rep_east"], memo.pk) == memo


def test_assert_in_scope_catches_a_write_that_leaves_the_scope(world: World) -> None:
    # R1.3 (STYLE rule 2): a rep handing a record to someone else can no longer see it
    memo = Memo.objects.create(org=world.org, title="x", owner=world.users["rep_east"])
    assert_in_scope(world.users["rep_east"], memo)
    memo.owner = world.users["rep_south"]
    memo.save()
    with pytest.raises(NotFound):
        assert_in_scope(User.objects.get(pk=world.users["rep_east"].pk), memo)


def test_builtin_roles_have_their_documented_scopes(world: World) -> None:
    # R1.2: the six built-in roles exist in every organisation with their data scopes
    scopes = {
        code: role(world.org, code).data_scope
        for code in ("rep", "manager", "director", "marketing", "finance", "admin")
    }
    assert scopes == {
        "rep": DataScope.SELF,
        "manager": DataScope.DEPT_TREE,
        "director": DataScope.ALL,
        "marketing": DataScope.ALL,
        "finance": DataScope.ALL,
        "admin": DataScope.ALL,
    }


def test_builtin_rep_and_manager_roles_in_practice(world: World) -> None:
    # R1.3: the built-in roles behave like the custom ones of the same scope
    rep = make_user(world.admin, "内置销售", world.depts["south"], [role(world.org, "rep")])
    mgr = make_user(world.admin, "内置经理", world.depts["sales1"], [role(world.org, "manager")])
    mine = Memo.objects.create(org=world.org, title="mine", owner=rep)
    other = Memo.objects.create(org=world.org, title="other", owner=world.users["rep_sales2"])
    assert set(Memo.objects.visible_to(rep)) == {mine}
    assert mine in Memo.objects.visible_to(mgr) and other not in Memo.objects.visible_to(mgr)
