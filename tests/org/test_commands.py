"""Console commands ``crm createorg`` and ``crm token create``.

Requirement R1.1 (a company signs up; one deployment serves many companies) and R1.4 (API
access only with a valid personal token).
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from crm.org import services
from crm.org.models import Organization, Role, User
from crm.org.permissions import BUILTIN_ROLES

PASSWORD = "Console-pass-2026"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_createorg_creates_org_admin_and_roles(db):
    # R1.1: the console sign-up does what the sign-up page does.
    out = run(
        "createorg",
        "远航贸易",
        "--admin-email",
        "Boss@Example.com",
        "--admin-password",
        PASSWORD,
        "--admin-name",
        "王五",
        "--admin-username",
        "boss",
        "--time-zone",
        "Asia/Urumqi",
    )
    org = Organization.objects.get(name="远航贸易")
    admin = User.objects.get(username="boss")
    assert f"Organisation {org.pk} created" in out and "Administrator login: boss" in out
    assert org.time_zone == "Asia/Urumqi"
    assert admin.org == org and admin.email == "boss@example.com" and admin.name == "王五"
    assert admin.is_org_admin
    assert Role.objects.filter(org=org, is_builtin=True).count() == len(BUILTIN_ROLES)
    assert Client().post("/login/", {"login": "boss", "password": PASSWORD}).status_code == 302


def test_createorg_defaults_username_to_email(db):
    # R1.1: without --admin-username the e-mail is the login.
    out = run(
        "createorg", "小店", "--admin-email", "shop@example.com", "--admin-password", PASSWORD
    )
    assert "Administrator login: shop@example.com" in out


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["  ", "--admin-email", "a@example.com", "--admin-password", PASSWORD], "name"),
        (["公司", "--admin-email", "not-an-email", "--admin-password", PASSWORD], "admin_email"),
        (["公司", "--admin-email", "a@example.com", "--admin-password", "weak"], "password"),
        (
            [
                "公司",
                "--admin-email",
                "a@example.com",
                "--admin-password",
                PASSWORD,
                "--time-zone",
                "Mars/Olympus",
            ],
            "time zone",
        ),
    ],
)
def test_createorg_bad_input_is_a_clear_error_and_keeps_nothing(db, args, fragment):
    # R1.1: bad input is a CommandError naming the problem; nothing is created.
    with pytest.raises(CommandError, match=fragment):
        run("createorg", *args)
    assert Organization.objects.count() == 0


def test_createorg_refuses_taken_email(world):
    # R1.1: e-mails are unique across the deployment (they are logins).
    count = Organization.objects.count()
    with pytest.raises(CommandError, match="email"):
        run("createorg", "重复", "--admin-email", world.admin.email, "--admin-password", PASSWORD)
    assert Organization.objects.count() == count


def test_createorg_requires_email_and_password(db):
    # R1.1: the admin's e-mail and password are required options.
    with pytest.raises(CommandError):
        run("createorg", "公司")


@pytest.mark.parametrize("by", ["username", "email"])
def test_token_create_prints_only_a_working_token(world, by):
    # R1.4: the printed token (and nothing else) authenticates on the API.
    user = world.users["rep_east"]
    login = user.username if by == "username" else user.email.upper()
    out = run("token", "create", "--user", login, "--name", "etl")
    raw = out.strip()
    assert "\n" not in raw and " " not in raw
    assert user.api_tokens.get(name="etl").prefix == raw[:12]
    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/org/me")
    assert response.status_code == 200 and response.json()["id"] == user.pk


def test_token_create_refuses_unknown_and_inactive_users(world):
    # R1.4: no token for a login that does not exist or is deactivated.
    with pytest.raises(CommandError, match="No user"):
        run("token", "create", "--user", "ghost@example.com")
    user = world.users["rep_east"]
    services.deactivate_user(actor=world.admin, user=user, transfer_to=world.users["rep_east2"])
    with pytest.raises(CommandError, match="deactivated"):
        run("token", "create", "--user", user.username)
    assert not user.api_tokens.filter(revoked_at__isnull=True).exists()


def test_token_needs_an_action(db):
    # R1.4: "crm token" alone is a usage error.
    with pytest.raises(CommandError):
        run("token")
