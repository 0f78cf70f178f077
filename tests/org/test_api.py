"""/api/v1/org/: departments, users, roles, tokens (R1.1, R1.2, R1.3, R1.5)."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from crm.core.models import Event
from crm.core.testing.world import World
from crm.org.models import ApiToken, Department, Role, User
from tests.scopeapp.models import Memo


def post(client: Client, url: str, payload: dict[str, Any]) -> Any:
    return client.post(url, data=json.dumps(payload), content_type="application/json")


def patch(client: Client, url: str, payload: dict[str, Any]) -> Any:
    return client.patch(url, data=json.dumps(payload), content_type="application/json")


def test_me_describes_the_user_roles_and_permissions(world: World, api_client) -> None:
    # R1.1 R1.3
    body = api_client(world.users["manager1"]).get("/api/v1/org/me").json()
    assert body["organization"]["id"] == world.org.pk
    assert body["department"]["name"] == "销售一部"
    assert "customers:view" in body["permissions"]
    assert "settings:configure" not in body["permissions"]


def test_admin_builds_and_moves_the_department_tree(world: World, api_client) -> None:
    # R1.2: add, rename, move (subtree paths rewritten), disable
    client = api_client(world.admin)
    r = post(
        client, "/api/v1/org/departments", {"name": "华北组", "parent_id": world.depts["sales2"].pk}
    )
    assert r.status_code == 201, r.content
    north = Department.objects.get(pk=r.json()["id"])
    assert north.path == f"{world.depts['sales2'].path}{north.pk}/"
    r = post(
        client,
        f"/api/v1/org/departments/{world.depts['sales1'].pk}/move",
        {"parent_id": world.depts["sales2"].pk},
    )
    assert r.status_code == 200, r.content
    east = Department.objects.get(pk=world.depts["east"].pk)
    assert east.path == f"{world.depts['sales2'].path}{world.depts['sales1'].pk}/{east.pk}/"
    # moving under its own child is refused and changes nothing
    r = post(
        client, f"/api/v1/org/departments/{world.depts['sales2'].pk}/move", {"parent_id": east.pk}
    )
    assert r.status_code == 400
    assert Department.objects.get(pk=world.depts["sales2"].pk).parent_id == world.depts["root"].pk
    r = patch(
        client, f"/api/v1/org/departments/{north.pk}", {"name": "华北大区", "is_active": False}
    )
    assert r.status_code == 200 and r.json()["is_active"] is False
    verbs = list(Event.objects.filter(object_type="org.department").values_list("verb", flat=True))
    assert {"department.created", "department.moved", "department.updated"} <= set(verbs)


def test_disabling_a_department_with_people_is_refused(world: World, api_client) -> None:
    # R1.2
    r = patch(
        api_client(world.admin),
        f"/api/v1/org/departments/{world.depts['east'].pk}",
        {"is_active": False},
    )
    assert r.status_code == 400
    assert Department.objects.get(pk=world.depts["east"].pk).is_active


def test_non_admin_cannot_change_the_organisation(world: World, api_client) -> None:
    # R1.3: reading the directory is allowed, changing it is not
    client = api_client(world.users["director"])
    assert client.get("/api/v1/org/departments").status_code == 200
    assert client.get("/api/v1/org/users").status_code == 200
    r = post(client, "/api/v1/org/departments", {"name": "私设部门"})
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    r = patch(client, f"/api/v1/org/users/{world.users['rep_east'].pk}", {"name": "改名"})
    assert r.status_code == 403
    assert not Department.objects.filter(name="私设部门").exists()
    assert User.objects.get(pk=world.users["rep_east"].pk).name == "华东销售甲"


def test_other_tenant_cannot_read_or_change_people(
    world: World, other_world: World, api_client
) -> None:
    # R1.1 A2: ids of another organisation answer 404, lists never show them, nothing changes
    client = api_client(other_world.admin)
    rep = world.users["rep_east"]
    assert client.get(f"/api/v1/org/users/{rep.pk}").status_code == 404
    assert client.get(f"/api/v1/org/departments/{world.depts['east'].pk}").status_code == 404
    role = Role.objects.filter(org=world.org).first()
    assert client.get(f"/api/v1/org/roles/{role.pk}").status_code == 404
    assert patch(client, f"/api/v1/org/users/{rep.pk}", {"name": "入侵"}).status_code == 404
    assert post(client, f"/api/v1/org/users/{rep.pk}/deactivate", {}).status_code == 404
    assert (
        post(
            client,
            f"/api/v1/org/departments/{world.depts['east'].pk}/move",
            {"parent_id": other_world.depts["root"].pk},
        ).status_code
        == 404
    )
    # a foreign department id in a payload is refused too
    r = post(
        client,
        "/api/v1/org/users",
        {"email": "x@example.com", "name": "X", "department_id": world.depts["east"].pk},
    )
    assert r.status_code == 404
    ids = {u["id"] for u in client.get("/api/v1/org/users?page_size=200").json()["items"]}
    assert ids.isdisjoint({u.pk for u in world.users.values()})
    assert (
        User.objects.get(pk=rep.pk).name == "华东销售甲" and User.objects.get(pk=rep.pk).is_active
    )


def test_create_user_with_password_and_by_invitation(world: World, api_client, mailoutbox) -> None:
    # R1.2: create with a password, or invite (one-time link by e-mail)
    client = api_client(world.admin)
    rep_role = Role.objects.get(org=world.org, code="rep")
    r = post(
        client,
        "/api/v1/org/users",
        {
            "email": "Li.Na@Example.com",
            "name": "李娜",
            "department_id": world.depts["south"].pk,
            "role_ids": [rep_role.pk],
            "password": "Strong-pass-2026",
        },
    )
    assert r.status_code == 201, r.content
    user = User.objects.get(pk=r.json()["id"])
    assert (user.email, user.username) == ("li.na@example.com", "li.na@example.com")
    assert user.check_password("Strong-pass-2026")
    r = post(
        client,
        "/api/v1/org/users",
        {"email": "wang@example.com", "name": "王强", "department_id": world.depts["south"].pk},
    )
    assert r.status_code == 201
    assert not User.objects.get(email="wang@example.com").has_usable_password()
    assert len(mailoutbox) == 1 and "/reset/" in mailoutbox[0].body


def test_create_user_rejects_bad_input_and_writes_nothing(world: World, api_client) -> None:
    # R1.2: duplicate e-mail, weak password, missing name → 4xx, no row
    client = api_client(world.admin)
    count = User.objects.count()
    dup = post(
        client,
        "/api/v1/org/users",
        {
            "email": world.users["rep_east"].email.upper(),
            "name": "重",
            "department_id": world.depts["east"].pk,
        },
    )
    assert dup.status_code == 400 and dup.json()["errors"][0]["field"] == "email"
    weak = post(
        client,
        "/api/v1/org/users",
        {
            "email": "weak@example.com",
            "name": "弱",
            "department_id": world.depts["east"].pk,
            "password": "123",
        },
    )
    assert weak.status_code == 400 and weak.json()["errors"][0]["field"] == "password"
    assert (
        post(
            client,
            "/api/v1/org/users",
            {"email": "n@example.com", "department_id": world.depts["east"].pk},
        ).status_code
        == 422
    )
    assert User.objects.count() == count


def test_deactivation_moves_records_and_stops_tokens(world: World, api_client) -> None:
    # R1.2: records move to the chosen colleague in one step; the user's token stops at once
    rep, heir = world.users["rep_east"], world.users["rep_east2"]
    memo = Memo.objects.create(org=world.org, title="客户跟进", owner=rep)
    rep_client = api_client(rep)
    assert rep_client.get("/api/v1/org/me").status_code == 200
    r = post(
        api_client(world.admin),
        f"/api/v1/org/users/{rep.pk}/deactivate",
        {"transfer_to_id": heir.pk},
    )
    assert r.status_code == 200, r.content
    moved = r.json()["moved"]
    assert moved["memos"] == 1 and {"customers", "leads", "opportunities"} <= set(moved)
    assert not any(n for key, n in moved.items() if key != "memos")  # nothing else was theirs
    assert Memo.objects.get(pk=memo.pk).owner_id == heir.pk
    assert rep_client.get("/api/v1/org/me").status_code == 401
    assert not ApiToken.objects.filter(user=rep, revoked_at__isnull=True).exists()
    event = Event.objects.filter(verb="user.deactivated", object_id=str(rep.pk)).get()
    assert event.actor_id == world.admin.pk and event.changes == {"is_active": [True, False]}


def test_deactivation_needs_a_colleague_to_take_over(world: World, api_client) -> None:
    # R1.2
    rep = world.users["rep_east"]
    r = post(api_client(world.admin), f"/api/v1/org/users/{rep.pk}/deactivate", {})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "transfer_to"
    assert User.objects.get(pk=rep.pk).is_active


def test_roles_copy_edit_and_scope(world: World, api_client) -> None:
    # R1.2 R1.3: built-in roles can be copied and edited; custom scope needs departments
    client = api_client(world.admin)
    manager = Role.objects.get(org=world.org, code="manager")
    r = post(client, f"/api/v1/org/roles/{manager.pk}/copy", {"name": "华东经理"})
    assert r.status_code == 201
    copy_id = r.json()["id"]
    assert r.json()["permissions"] == manager.permissions and r.json()["is_builtin"] is False
    body = {
        "name": "华东经理",
        "permissions": ["customers:view"],
        "data_scope": "custom",
        "scope_department_ids": [],
    }
    assert (
        client.put(
            f"/api/v1/org/roles/{copy_id}", data=json.dumps(body), content_type="application/json"
        ).status_code
        == 400
    )
    body["scope_department_ids"] = [world.depts["east"].pk]
    r = client.put(
        f"/api/v1/org/roles/{copy_id}", data=json.dumps(body), content_type="application/json"
    )
    assert r.status_code == 200 and r.json()["scope_department_ids"] == [world.depts["east"].pk]
    body["permissions"] = ["customers:fly"]
    assert (
        client.put(
            f"/api/v1/org/roles/{copy_id}", data=json.dumps(body), content_type="application/json"
        ).status_code
        == 400
    )
    assert client.delete(f"/api/v1/org/roles/{manager.pk}").status_code == 400
    assert client.delete(f"/api/v1/org/roles/{copy_id}").status_code == 204


def test_tokens_are_personal(world: World, api_client) -> None:
    # R1.1: a user lists and revokes only their own tokens; the raw token is shown once
    mine = api_client(world.users["rep_east"])
    r = post(mine, "/api/v1/org/tokens", {"name": "脚本"})
    assert r.status_code == 201 and r.json()["token"].startswith("crm_")
    token_id = r.json()["id"]
    assert "token" not in mine.get("/api/v1/org/tokens").json()[0]
    other = api_client(world.users["rep_east2"])
    assert post(other, f"/api/v1/org/tokens/{token_id}/revoke", {}).status_code == 404
    assert token_id not in {t["id"] for t in other.get("/api/v1/org/tokens").json()}
    assert post(mine, f"/api/v1/org/tokens/{token_id}/revoke", {}).json()["revoked_at"] is not None
    raw = r.json()["token"]
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/org/me").status_code == 401


def test_expired_token_is_refused(world: World) -> None:
    # R1.1
    import datetime as dt

    from django.utils import timezone

    from crm.org.services import create_token

    token, raw = create_token(
        actor=world.admin, name="short", expires_at=timezone.now() + dt.timedelta(minutes=1)
    )
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/org/me").status_code == 401


def test_audit_trail_api_is_for_admins_and_scoped_to_the_org(
    world: World, other_world: World, api_client
) -> None:
    # R1.5: who, when, old → new; only the organisation's own events; only for admins
    post(api_client(world.admin), "/api/v1/org/departments", {"name": "审计部"})
    body = (
        api_client(world.admin)
        .get("/api/v1/core/events?verb=department.created&page_size=200")
        .json()
    )
    created = [e for e in body["items"] if e["changes"].get("name", [None, None])[1] == "审计部"]
    assert len(created) == 1 and created[0]["actor"]["id"] == world.admin.pk
    assert api_client(world.users["rep_east"]).get("/api/v1/core/events").json()["count"] == 0
    foreign = api_client(other_world.admin).get("/api/v1/core/events?page_size=200").json()["items"]
    assert all(e["object_repr"] != "审计部" for e in foreign)
