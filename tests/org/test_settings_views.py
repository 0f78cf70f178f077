"""Organisation-settings pages: organisation, departments, users, roles (R1.1, R1.2, R1.3, R1.5).

Every page: the admin sees it and the action takes effect with an Event written; a rep without
``settings:configure`` gets 403 and nothing changes; another organisation's admin gets 404 on
this organisation's records and nothing changes; bad input re-renders the form with an error
and writes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.urls import reverse

from crm.core.models import Event
from crm.core.scoping import DataScope
from crm.core.testing.world import PASSWORD, World, make_department, make_role, make_user, role
from crm.org import services
from crm.org.models import Department, Organization, Role, User
from crm.org.permissions import ALL_PERMISSIONS, BuiltinRole
from tests.scopeapp.models import Memo

# --- helpers -------------------------------------------------------------------------------------


def english(client: Client) -> Client:
    """Switch a client to English so error messages can be asserted verbatim."""
    client.cookies["crm_language"] = "en"
    return client


@pytest.fixture
def admin(world: World, client_for: Any) -> Client:
    return english(client_for(world.admin))


def db_state(org: Organization) -> tuple[Any, ...]:
    """Everything the settings pages can change in one organisation."""
    return (
        list(Organization.objects.filter(pk=org.pk).values()),
        list(Department.objects.filter(org=org).order_by("pk").values()),
        list(User.objects.filter(org=org).order_by("pk").values()),
        list(Role.objects.filter(org=org).order_by("pk").values()),
        sorted(
            Role.scope_departments.through.objects.filter(role__org=org).values_list(
                "role_id", "department_id"
            )
        ),
        sorted(User.roles.through.objects.filter(user__org=org).values_list("user_id", "role_id")),
        list(Memo.objects.filter(org=org).order_by("pk").values("pk", "owner_id")),
        Event.objects.filter(org=org).count(),
    )


def events(org: Organization, verb: str, obj: Any = None) -> list[Event]:
    qs = Event.objects.filter(org=org, verb=verb)
    if obj is not None:
        qs = qs.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))
    return list(qs)


def flashes(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def form_errors(response: Any) -> dict[str, list[str]]:
    return {k: [str(e) for e in v] for k, v in response.context["form"].errors.items()}


def spare_role(world: World) -> Role:
    """A custom role nobody holds (so deleting it would succeed if the permission check failed)."""
    return make_role(world.admin, "备用角色", DataScope.SELF, ["customers:view"])


# --- who may open what ---------------------------------------------------------------------------

LIST_PAGES = [
    "org:organization",
    "org:department_list",
    "org:department_create",
    "org:user_list",
    "org:user_create",
    "org:role_list",
    "org:role_create",
]
OBJECT_PAGES = [
    ("org:department_detail", "dept"),
    ("org:department_edit", "dept"),
    ("org:department_move", "dept"),
    ("org:user_detail", "user"),
    ("org:user_edit", "user"),
    ("org:user_deactivate", "user"),
    ("org:role_detail", "role"),
    ("org:role_edit", "role"),
    ("org:role_copy", "role"),
]


def object_ids(world: World) -> dict[str, int]:
    return {
        "dept": world.depts["south"].pk,
        "user": world.users["rep_east"].pk,
        "role": role(world.org, BuiltinRole.REP).pk,
    }


def post_cases(world: World) -> list[tuple[str, list[int], dict[str, Any]]]:
    """One valid POST per state-changing page (each would change this world if allowed)."""
    w, spare = world, spare_role(world)
    return [
        ("org:organization", [], {"name": "改名公司", "time_zone": "Europe/Berlin"}),
        ("org:department_create", [], {"name": "新部门", "parent": w.depts["sales2"].pk}),
        ("org:department_edit", [w.depts["south"].pk], {"name": "改名组", "is_active": "on"}),
        ("org:department_move", [w.depts["south"].pk], {"parent": w.depts["sales2"].pk}),
        (
            "org:user_create",
            [],
            {
                "email": "new@example.com",
                "name": "新人",
                "department": w.depts["east"].pk,
                "password": PASSWORD,
            },
        ),
        (
            "org:user_edit",
            [w.users["rep_east"].pk],
            {
                "name": "改名",
                "email": w.users["rep_east"].email,
                "department": w.depts["sales2"].pk,
            },
        ),
        ("org:user_deactivate", [w.users["rep_east"].pk], {"transfer_to": w.users["rep_east2"].pk}),
        ("org:user_reactivate", [w.users["rep_east"].pk], {}),
        (
            "org:role_create",
            [],
            {"name": "新角色", "data_scope": "self", "perm": ["customers:view"]},
        ),
        (
            "org:role_edit",
            [spare.pk],
            {"name": "改名角色", "data_scope": "all", "perm": ["leads:view"]},
        ),
        ("org:role_copy", [spare.pk], {"name": "副本角色"}),
        ("org:role_delete", [spare.pk], {}),
    ]


@pytest.mark.parametrize("name", LIST_PAGES)
def test_admin_opens_every_list_page(name: str, admin: Client) -> None:
    # R1.2 R1.3
    assert admin.get(reverse(name)).status_code == 200


@pytest.mark.parametrize(("name", "kind"), OBJECT_PAGES)
def test_admin_opens_every_record_page(name: str, kind: str, world: World, admin: Client) -> None:
    # R1.2 R1.3
    assert admin.get(reverse(name, args=[object_ids(world)[kind]])).status_code == 200


def test_anonymous_is_sent_to_login(world: World, client: Client) -> None:
    # R1.1
    response = client.get(reverse("org:user_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("org:login"))


@pytest.mark.parametrize("name", LIST_PAGES)
def test_rep_gets_403_on_list_pages(name: str, world: World, client_for: Any) -> None:
    # R1.3: settings need settings:configure
    assert client_for(world.users["rep_east"]).get(reverse(name)).status_code == 403


@pytest.mark.parametrize(("name", "kind"), OBJECT_PAGES)
def test_rep_gets_403_on_record_pages(name: str, kind: str, world: World, client_for: Any) -> None:
    # R1.3
    url = reverse(name, args=[object_ids(world)[kind]])
    response = client_for(world.users["rep_east"]).get(url)
    assert response.status_code == 403


def test_rep_posts_change_nothing(world: World, client_for: Any) -> None:
    # R1.3: every state change answers 403 and the database is untouched
    cases = post_cases(world)
    rep = client_for(world.users["rep_east2"])
    before = db_state(world.org)
    for name, args, data in cases:
        response = rep.post(reverse(name, args=args), data)
        assert response.status_code == 403, name
    assert db_state(world.org) == before


@pytest.mark.parametrize(("name", "kind"), OBJECT_PAGES)
def test_other_org_admin_gets_404_on_record_pages(
    name: str, kind: str, world: World, other_world: World, client_for: Any
) -> None:
    # R1.1: another tenant's ids do not exist
    other = client_for(other_world.admin)
    assert other.get(reverse(name, args=[object_ids(world)[kind]])).status_code == 404


def test_other_org_admin_posts_change_nothing(
    world: World, other_world: World, client_for: Any
) -> None:
    # R1.1
    cases = [c for c in post_cases(world) if c[1]]
    other = client_for(other_world.admin)
    before, before_other = db_state(world.org), db_state(other_world.org)
    for name, args, data in cases:
        assert other.post(reverse(name, args=args), data).status_code == 404, name
    assert db_state(world.org) == before
    assert db_state(other_world.org) == before_other


def test_foreign_ids_in_forms_are_refused(
    world: World, other_world: World, client_for: Any
) -> None:
    # R1.1: choices come from the admin's own organisation only
    other = english(client_for(other_world.admin))
    before, before_other = db_state(world.org), db_state(other_world.org)
    response = other.post(
        reverse("org:department_create"), {"name": "渗透", "parent": world.depts["sales1"].pk}
    )
    assert response.status_code == 200
    assert "parent" in form_errors(response)
    response = other.post(
        reverse("org:user_create"),
        {
            "email": "x@example.com",
            "name": "X",
            "department": world.depts["east"].pk,
            "roles": [role(world.org, BuiltinRole.ADMIN).pk],
            "password": PASSWORD,
        },
    )
    assert set(form_errors(response)) == {"department", "roles"}
    response = other.post(
        reverse("org:user_deactivate", args=[other_world.users["rep_east"].pk]),
        {"transfer_to": world.users["rep_east2"].pk},
    )
    assert "transfer_to" in form_errors(response)
    response = other.post(
        reverse("org:role_create"),
        {"name": "跨租户", "data_scope": "custom", "scope_departments": [world.depts["east"].pk]},
    )
    assert "scope_departments" in form_errors(response)
    assert db_state(world.org) == before
    assert db_state(other_world.org) == before_other


# --- organisation --------------------------------------------------------------------------------


def test_organization_page_shows_time_zone_select(world: World, admin: Client) -> None:
    # R1.2
    response = admin.get(reverse("org:organization"))
    assert world.org.time_zone == "Asia/Shanghai"
    assert b'<option value="Asia/Shanghai" selected>' in response.content
    assert b'<option value="Europe/Berlin">' in response.content


def test_admin_updates_organization(world: World, admin: Client) -> None:
    # R1.2 R1.5
    response = admin.post(
        reverse("org:organization"), {"name": "新公司名", "time_zone": "Europe/Berlin"}
    )
    assert response.status_code == 302
    world.org.refresh_from_db()
    assert (world.org.name, world.org.time_zone) == ("新公司名", "Europe/Berlin")
    [event] = events(world.org, "org.updated", world.org)
    assert event.actor == world.admin
    assert event.changes["time_zone"] == ["Asia/Shanghai", "Europe/Berlin"]
    assert flashes(response) == ["The organisation's settings were saved."]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "  ", "time_zone": "Asia/Shanghai"}, "name"),
        ({"name": "X", "time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
def test_organization_bad_input_writes_nothing(
    data: dict[str, str], field: str, world: World, admin: Client
) -> None:
    # R1.2
    before = db_state(world.org)
    response = admin.post(reverse("org:organization"), data)
    assert response.status_code == 200
    assert list(form_errors(response)) == [field]
    assert db_state(world.org) == before


# --- departments ---------------------------------------------------------------------------------


def test_department_list_is_the_tree(world: World, admin: Client) -> None:
    # R1.2
    response = admin.get(reverse("org:department_list"))
    rows = list(response.context["departments"])
    assert [d.path for d in rows] == sorted(d.path for d in rows)
    assert {d.name: d.member_count for d in rows} == {
        world.org.name: 2,
        "销售一部": 2,
        "华东组": 4,
        "华南组": 1,
        "销售二部": 1,
    }
    assert {d.name: d.depth for d in rows}["华东组"] == 2


def test_admin_creates_department(world: World, admin: Client) -> None:
    # R1.2 R1.5
    response = admin.post(
        reverse("org:department_create"),
        {
            "name": "华北组",
            "parent": world.depts["sales2"].pk,
            "head": world.users["rep_sales2"].pk,
        },
    )
    assert response.status_code == 302
    dept = Department.objects.get(org=world.org, name="华北组")
    assert dept.parent == world.depts["sales2"]
    assert dept.path == f"{world.depts['sales2'].path}{dept.pk}/"
    assert dept.head == world.users["rep_sales2"]
    [event] = events(world.org, "department.created", dept)
    assert event.changes["name"] == [None, "华北组"]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "This field is required."),
        ("华东组", "A department with this name already exists here."),
    ],
)
def test_department_create_bad_name_writes_nothing(
    name: str, error: str, world: World, admin: Client
) -> None:
    # R1.2
    before = db_state(world.org)
    response = admin.post(
        reverse("org:department_create"), {"name": name, "parent": world.depts["sales1"].pk}
    )
    assert response.status_code == 200
    assert form_errors(response) == {"name": [error]}
    assert error.encode() in response.content
    assert db_state(world.org) == before


def test_admin_edits_department(world: World, admin: Client) -> None:
    # R1.2 R1.5
    dept = make_department(world.admin, "空部门", world.depts["sales2"])
    response = admin.post(
        reverse("org:department_edit", args=[dept.pk]),
        {"name": "已撤销部门", "head": world.users["rep_sales2"].pk},
    )
    assert response.status_code == 302
    dept.refresh_from_db()
    assert (dept.name, dept.head, dept.is_active) == (
        "已撤销部门",
        world.users["rep_sales2"],
        False,
    )
    [event] = events(world.org, "department.updated", dept)
    assert event.changes == {
        "head": [None, world.users["rep_sales2"].pk],
        "is_active": [True, False],
        "name": ["空部门", "已撤销部门"],
    }


def test_disabling_department_with_members_is_refused(world: World, admin: Client) -> None:
    # R1.2
    before = db_state(world.org)
    response = admin.post(
        reverse("org:department_edit", args=[world.depts["east"].pk]), {"name": "华东组"}
    )
    assert response.status_code == 200
    assert form_errors(response) == {
        "__all__": ["Move or deactivate the department's active users first."]
    }
    assert db_state(world.org) == before


def test_admin_moves_department(world: World, admin: Client) -> None:
    # R1.2 R1.5
    south, sales2 = world.depts["south"], world.depts["sales2"]
    response = admin.post(reverse("org:department_move", args=[south.pk]), {"parent": sales2.pk})
    assert response.status_code == 302
    south.refresh_from_db()
    assert south.parent == sales2
    assert south.path == f"{sales2.path}{south.pk}/"
    [event] = events(world.org, "department.moved", south)
    assert event.changes["parent"] == [world.depts["sales1"].pk, sales2.pk]


def test_moving_department_under_its_own_child_is_refused(world: World, admin: Client) -> None:
    # R1.2
    before = db_state(world.org)
    response = admin.post(
        reverse("org:department_move", args=[world.depts["sales1"].pk]),
        {"parent": world.depts["east"].pk},
    )
    assert response.status_code == 200
    assert form_errors(response) == {
        "parent": ["A department cannot be moved under itself or its own sub-department."]
    }
    assert db_state(world.org) == before


def test_department_detail_lists_members_and_history(world: World, admin: Client) -> None:
    # R1.2 R1.5
    response = admin.get(reverse("org:department_detail", args=[world.depts["east"].pk]))
    assert {m.pk for m in response.context["members"]} == {
        world.users[k].pk for k in ("rep_east", "rep_east2", "dept_east", "nobody")
    }
    assert [e.verb for e in response.context["history"]] == ["department.created"]
    assert "Department created" in response.content.decode()


# --- users ---------------------------------------------------------------------------------------


def test_user_list_filters(world: World, admin: Client) -> None:
    # R1.2
    url = reverse("org:user_list")

    def names(params: dict[str, Any]) -> set[str]:
        return {u.name for u in admin.get(url, params).context["page"]}

    assert len(names({})) == 10
    assert names({"q": "华东"}) == {"华东销售甲", "华东销售乙", "华东组长"}
    assert names({"department": world.depts["sales1"].pk}) == {
        "华东销售甲",
        "华东销售乙",
        "华南销售",
        "华东组长",
        "一部经理",
        "跨部门专员",
        "无权限",
    }
    assert names({"role": role(world.org, BuiltinRole.ADMIN).pk}) == {world.admin.name}
    services.deactivate_user(
        actor=world.admin, user=world.users["nobody"], transfer_to=world.users["rep_east"]
    )
    assert names({"status": "inactive"}) == {"无权限"}
    assert "无权限" not in names({"status": "active"})


def test_user_list_sorts_and_paginates(world: World, admin: Client) -> None:
    # R1.2
    for i in range(45):
        make_user(world.admin, f"员工{i:02d}", world.depts["sales2"], [])
    url = reverse("org:user_list")
    first = admin.get(url, {"sort": "-username"}).context["page"]
    assert first.paginator.count == 55
    assert len(first.object_list) == 50
    usernames = [u.username for u in first.object_list]
    assert usernames == sorted(usernames, reverse=True)
    second = admin.get(url, {"sort": "-username", "page": 2}).context["page"]
    assert len(second.object_list) == 5


def test_admin_creates_user_with_password(world: World, admin: Client) -> None:
    # R1.2 R1.5
    manager_role = role(world.org, BuiltinRole.MANAGER)
    response = admin.post(
        reverse("org:user_create"),
        {
            "username": "zhang",
            "email": "Zhang@Example.com",
            "name": "张三",
            "mobile": "13800000000",
            "department": world.depts["east"].pk,
            "roles": [manager_role.pk],
            "manager": world.users["manager1"].pk,
            "password": PASSWORD,
        },
    )
    user = User.objects.get(username="zhang")
    assert response.status_code == 302
    assert response["Location"] == reverse("org:user_detail", args=[user.pk])
    assert (user.org, user.email, user.name, user.mobile, user.department, user.manager) == (
        world.org,
        "zhang@example.com",
        "张三",
        "13800000000",
        world.depts["east"],
        world.users["manager1"],
    )
    assert list(user.roles.all()) == [manager_role]
    assert user.check_password(PASSWORD)
    assert len(events(world.org, "user.created", user)) == 1
    assert mail.outbox == []


def test_user_without_password_is_invited(
    world: World, admin: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R1.2: no password → the service e-mails an invitation, the page says so
    monkeypatch.setattr("crm.org.auth.one_time_path", lambda user: "/invite/test/")
    response = admin.post(
        reverse("org:user_create"),
        {"email": "li@example.com", "name": "李四", "department": world.depts["east"].pk},
    )
    user = User.objects.get(email="li@example.com")
    assert user.username == "li@example.com"
    assert not user.has_usable_password()
    assert [m.to for m in mail.outbox] == [["li@example.com"]]
    assert flashes(response) == [
        "李四 was added.",
        "An invitation e-mail was sent to li@example.com with a link to set a password.",
    ]
    assert len(events(world.org, "user.created", user)) == 1


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        (
            {"password": "123"},
            "password",
            "This password is too short. It must contain at least 10 characters.",
        ),
        ({"name": ""}, "name", "This field is required."),
        ({"email": "u1@example.com"}, "email", "A user with this e-mail already exists."),
    ],
)
def test_user_create_bad_input_writes_nothing(
    data: dict[str, str], field: str, error: str, world: World, admin: Client
) -> None:
    # R1.2: weak password, missing name, taken e-mail
    User.objects.filter(pk=world.users["rep_east"].pk).update(email="u1@example.com")
    before = db_state(world.org)
    payload = {
        "email": "wang@example.com",
        "name": "王五",
        "department": world.depts["east"].pk,
        "password": PASSWORD,
        **data,
    }
    response = admin.post(reverse("org:user_create"), payload)
    assert response.status_code == 200
    errors = form_errors(response)
    assert list(errors) == [field]
    assert error in errors[field]
    assert error.encode() in response.content
    assert db_state(world.org) == before
    assert mail.outbox == []


def test_admin_edits_user(world: World, admin: Client) -> None:
    # R1.2 R1.5
    rep = world.users["rep_east"]
    manager_role = role(world.org, BuiltinRole.MANAGER)
    response = admin.post(
        reverse("org:user_edit", args=[rep.pk]),
        {
            "name": "华东销售甲改",
            "email": "new-mail@example.com",
            "mobile": "139",
            "department": world.depts["sales2"].pk,
            "roles": [manager_role.pk],
            "manager": world.users["manager1"].pk,
        },
    )
    assert response.status_code == 302
    rep.refresh_from_db()
    assert (rep.name, rep.email, rep.mobile, rep.department, rep.manager) == (
        "华东销售甲改",
        "new-mail@example.com",
        "139",
        world.depts["sales2"],
        world.users["manager1"],
    )
    assert list(rep.roles.all()) == [manager_role]
    [event] = events(world.org, "user.updated", rep)
    assert event.changes["department"] == [world.depts["east"].pk, world.depts["sales2"].pk]
    assert event.changes["roles"][1] == [manager_role.pk]


def test_admin_cannot_remove_own_admin_role(world: World, admin: Client) -> None:
    # R1.3
    before = db_state(world.org)
    response = admin.post(
        reverse("org:user_edit", args=[world.admin.pk]),
        {
            "name": world.admin.name,
            "email": world.admin.email,
            "department": world.depts["root"].pk,
            "roles": [],
        },
    )
    assert response.status_code == 200
    assert form_errors(response) == {"roles": ["You cannot remove your own administrator rights."]}
    assert db_state(world.org) == before


def test_user_detail_shows_roles_and_history(world: World, admin: Client) -> None:
    # R1.2 R1.5
    rep = world.users["rep_east"]
    response = admin.get(reverse("org:user_detail", args=[rep.pk]))
    assert [r.name for r in response.context["roles"]] == ["scope-self"]
    assert [e.verb for e in response.context["history"]] == ["user.created"]
    assert b'id="tab-history"' in response.content


def test_deactivate_page_explains_what_happens(world: World, admin: Client) -> None:
    # R1.2
    response = admin.get(reverse("org:user_deactivate", args=[world.users["rep_east"].pk]))
    content = response.content.decode()
    assert "Their sessions end and their API tokens are revoked at once" in content
    assert 'name="transfer_to"' in content


def test_admin_deactivates_user_and_records_move(
    world: World,
    admin: Client,
    client_for: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # R1.2 R1.5: records move to the colleague, sessions and tokens end at once
    rep, colleague = world.users["rep_east"], world.users["rep_east2"]
    memo = Memo.objects.create(org=world.org, title="客户备忘", owner=rep)
    token, _raw = services.create_token(actor=rep, name="phone")
    client_for(rep)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            reverse("org:user_deactivate", args=[rep.pk]), {"transfer_to": colleague.pk}
        )
    assert response.status_code == 302
    rep.refresh_from_db()
    memo.refresh_from_db()
    token.refresh_from_db()
    assert (rep.is_active, memo.owner) == (False, colleague)
    assert rep.deactivated_at is not None
    assert token.revoked_at is not None
    assert not [
        s for s in Session.objects.all() if str(s.get_decoded().get("_auth_user_id")) == str(rep.pk)
    ]
    [event] = events(world.org, "user.deactivated", rep)
    assert event.data["transfer_to"] == colleague.pk
    assert event.data["moved"]["memos"] == 1
    assert not any(n for key, n in event.data["moved"].items() if key != "memos")
    assert flashes(response) == [
        "华东销售甲 was deactivated. Records moved to 华东销售乙: memos: 1."
    ]


def test_deactivate_without_transfer_target_writes_nothing(world: World, admin: Client) -> None:
    # R1.2
    rep = world.users["rep_east"]
    Memo.objects.create(org=world.org, title="客户备忘", owner=rep)
    before = db_state(world.org)
    response = admin.post(reverse("org:user_deactivate", args=[rep.pk]), {"transfer_to": ""})
    assert response.status_code == 200
    assert form_errors(response) == {
        "transfer_to": ["Choose a colleague to take over the records."]
    }
    assert db_state(world.org) == before


def test_admin_cannot_deactivate_self(world: World, admin: Client) -> None:
    # R1.2
    before = db_state(world.org)
    response = admin.post(
        reverse("org:user_deactivate", args=[world.admin.pk]),
        {"transfer_to": world.users["director"].pk},
    )
    assert response.status_code == 200
    assert form_errors(response) == {"__all__": ["You cannot deactivate yourself."]}
    assert db_state(world.org) == before


def test_admin_reactivates_user(world: World, admin: Client) -> None:
    # R1.2 R1.5
    rep = world.users["rep_east"]
    services.deactivate_user(actor=world.admin, user=rep, transfer_to=world.users["rep_east2"])
    assert admin.get(reverse("org:user_reactivate", args=[rep.pk])).status_code == 405
    response = admin.post(reverse("org:user_reactivate", args=[rep.pk]))
    assert response.status_code == 302
    rep.refresh_from_db()
    assert (rep.is_active, rep.deactivated_at) == (True, None)
    assert len(events(world.org, "user.reactivated", rep)) == 1


# --- roles ---------------------------------------------------------------------------------------


def test_role_list_shows_scope_builtin_and_counts(world: World, admin: Client) -> None:
    # R1.3
    response = admin.get(reverse("org:role_list"))
    rows = {
        r.name: (str(label), r.is_builtin, r.user_count) for r, label in response.context["rows"]
    }
    assert rows["scope-self"] == ("Own records", False, 4)
    assert rows["scope-custom"] == ("Chosen departments", False, 1)
    admin_role = role(world.org, BuiltinRole.ADMIN)
    assert rows[admin_role.name] == ("Whole organisation", True, 1)
    assert b"Built-in" in response.content


def test_role_form_has_the_permission_matrix(admin: Client) -> None:
    # R1.3
    content = admin.get(reverse("org:role_create")).content.decode()
    assert content.count('name="perm"') == len(ALL_PERMISSIONS)
    assert 'value="finance:approve"' in content
    assert content.count('name="data_scope"') == len(DataScope.values)


def test_admin_creates_role(world: World, admin: Client) -> None:
    # R1.3 R1.5
    response = admin.post(
        reverse("org:role_create"),
        {
            "name": "区域经理",
            "description": "管华东",
            "perm": ["leads:view", "customers:view"],
            "data_scope": "custom",
            "scope_departments": [world.depts["east"].pk],
            "require_2fa": "on",
        },
    )
    assert response.status_code == 302
    new = Role.objects.get(org=world.org, name="区域经理")
    assert (new.description, new.permissions, new.data_scope, new.require_2fa, new.is_builtin) == (
        "管华东",
        ["customers:view", "leads:view"],
        DataScope.CUSTOM,
        True,
        False,
    )
    assert list(new.scope_departments.all()) == [world.depts["east"]]
    [event] = events(world.org, "role.created", new)
    assert event.changes["permissions"] == [None, ["customers:view", "leads:view"]]


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"name": ""}, {"name": ["This field is required."]}),
        ({"name": "scope-self"}, {"name": ["A role with this name already exists."]}),
        ({"data_scope": "custom"}, {"scope_departments": ["Choose at least one department."]}),
        (
            {"perm": ["nope:view"]},
            {"perm": ["Select a valid choice. nope:view is not one of the available choices."]},
        ),
    ],
)
def test_role_bad_input_writes_nothing(
    data: dict[str, Any], errors: dict[str, list[str]], world: World, admin: Client
) -> None:
    # R1.3
    before = db_state(world.org)
    payload = {"name": "新角色", "data_scope": "self", "perm": ["customers:view"], **data}
    response = admin.post(reverse("org:role_create"), payload)
    assert response.status_code == 200
    assert form_errors(response) == errors
    assert db_state(world.org) == before


def test_admin_edits_role(world: World, admin: Client) -> None:
    # R1.3 R1.5
    spare = spare_role(world)
    response = admin.post(
        reverse("org:role_edit", args=[spare.pk]),
        {
            "name": "备用角色",
            "perm": ["customers:view", "customers:export"],
            "data_scope": "dept_tree",
        },
    )
    assert response.status_code == 302
    spare.refresh_from_db()
    assert (spare.permissions, spare.data_scope) == (
        ["customers:export", "customers:view"],
        DataScope.DEPT_TREE,
    )
    [event] = events(world.org, "role.saved", spare)
    assert event.changes["data_scope"] == ["self", "dept_tree"]


def test_admin_role_must_keep_settings_permission(world: World, admin: Client) -> None:
    # R1.3
    admin_role = role(world.org, BuiltinRole.ADMIN)
    before = db_state(world.org)
    response = admin.post(
        reverse("org:role_edit", args=[admin_role.pk]),
        {"name": admin_role.name, "perm": ["customers:view"], "data_scope": "all"},
    )
    assert response.status_code == 200
    assert form_errors(response) == {
        "perm": ["The administrator role must keep the settings permission."]
    }
    assert db_state(world.org) == before


def test_admin_copies_role(world: World, admin: Client) -> None:
    # R1.3 R1.5
    source = Role.objects.get(org=world.org, name="scope-custom")
    response = admin.post(reverse("org:role_copy", args=[source.pk]), {"name": "自定义副本"})
    copy = Role.objects.get(org=world.org, name="自定义副本")
    assert response["Location"] == reverse("org:role_edit", args=[copy.pk])
    assert (copy.permissions, copy.data_scope, copy.is_builtin) == (
        source.permissions,
        DataScope.CUSTOM,
        False,
    )
    assert set(copy.scope_departments.all()) == {world.depts["south"], world.depts["sales2"]}
    assert len(events(world.org, "role.created", copy)) == 1


def test_role_copy_with_taken_name_writes_nothing(world: World, admin: Client) -> None:
    # R1.3
    before = db_state(world.org)
    source = Role.objects.get(org=world.org, name="scope-custom")
    response = admin.post(reverse("org:role_copy", args=[source.pk]), {"name": "scope-self"})
    assert response.status_code == 200
    assert form_errors(response) == {"name": ["A role with this name already exists."]}
    assert db_state(world.org) == before


def test_admin_deletes_custom_role(world: World, admin: Client) -> None:
    # R1.3 R1.5
    spare = spare_role(world)
    assert admin.get(reverse("org:role_delete", args=[spare.pk])).status_code == 405
    response = admin.post(reverse("org:role_delete", args=[spare.pk]))
    assert response["Location"] == reverse("org:role_list")
    assert not Role.objects.filter(pk=spare.pk).exists()
    [event] = events(world.org, "role.deleted")
    assert (event.object_id, event.changes) == (str(spare.pk), {"name": ["备用角色", None]})


def test_builtin_role_cannot_be_deleted(world: World, admin: Client) -> None:
    # R1.3
    rep_role = role(world.org, BuiltinRole.REP)
    before = db_state(world.org)
    response = admin.post(reverse("org:role_delete", args=[rep_role.pk]))
    assert response.status_code == 302
    assert flashes(response) == ["Built-in roles cannot be deleted; copy and edit them instead."]
    assert db_state(world.org) == before


def test_role_detail_shows_matrix_and_history(world: World, admin: Client) -> None:
    # R1.3 R1.5
    source = Role.objects.get(org=world.org, name="scope-custom")
    response = admin.get(reverse("org:role_detail", args=[source.pk]))
    ticked = {
        c["value"] for row in response.context["matrix"] for c in row["cells"] if c["checked"]
    }
    assert ticked == set(source.permissions)
    assert [e.verb for e in response.context["history"]] == ["role.created"]
    assert {d.name for d in response.context["departments"]} == {"华南组", "销售二部"}
