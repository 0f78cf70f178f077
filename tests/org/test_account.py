"""The user's own account: profile, password change and personal API tokens.

Requirement R1.1 (users work in the CRM from any browser) and R1.4 (sensitive data protected);
RELIABILITY section C (authentication and session).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.test import Client
from django.utils import timezone

from crm.core.models import Event
from crm.org import services
from crm.org.models import ApiToken

NEW_PASSWORD = "Brand-new-pass-2027"


def log_in(client: Client, login: str, password: str):
    return client.post("/login/", {"login": login, "password": password})


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/login/")


# --- Pages need a login ---------------------------------------------------------------------------
def test_account_pages_need_login(db):
    # R1.4: anonymous visitors are sent to the login page.
    for url in ("/account/", "/account/password/", "/account/2fa/", "/account/tokens/"):
        response = Client().get(url)
        assert is_login_redirect(response), url
        assert "next=" in response["Location"]


def test_account_pages_render(world, client_for):
    # R1.1: every account page renders for a logged-in user.
    client = client_for(world.users["rep_east"])
    for url in ("/account/", "/account/password/", "/account/2fa/", "/account/tokens/"):
        assert client.get(url).status_code == 200, url


# --- Profile ------------------------------------------------------------------------------------
def test_profile_update_saves_audits_and_switches_language(world, client_for):
    # R1.1: the user edits name, mobile and language; the change is audited (R1.5).
    user = world.users["rep_east"]
    client = client_for(user)
    response = client.post(
        "/account/", {"name": "华东销售甲（新）", "mobile": "+86 138 0013 8000", "language": "en"}
    )
    assert response.status_code == 302 and response["Location"] == "/account/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    user.refresh_from_db()
    assert user.name == "华东销售甲（新）"
    assert (user.mobile, user.language) == ("+86 138 0013 8000", "en")
    event = Event.objects.get(verb="user.profile_updated", object_id=str(user.pk))
    assert event.actor_id == user.pk and event.changes["language"] == ["", "en"]
    # Back to the organisation's default language.
    client.post("/account/", {"name": user.name, "mobile": "", "language": ""})
    user.refresh_from_db()
    assert user.language == "" and user.mobile == ""


def test_profile_rejects_bad_input(world, client_for):
    # R1.1: a blank name, a malformed mobile or an unknown language is refused, nothing saved.
    user = world.users["rep_east"]
    client = client_for(user)
    for data, field in (
        ({"name": " ", "mobile": "", "language": ""}, "name"),
        ({"name": "甲", "mobile": "call me", "language": ""}, "mobile"),
        ({"name": "甲", "mobile": "", "language": "fr"}, "language"),
    ):
        response = client.post("/account/", data)
        assert response.status_code == 200 and field in response.context["form"].errors
    user.refresh_from_db()
    assert user.name == "华东销售甲" and user.language == ""


def test_profile_form_needs_csrf(world, password):
    # C6: the account form is CSRF protected.
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["rep_east"], backend="crm.org.backends.LoginBackend")
    assert client.post("/account/", {"name": "x"}).status_code == 403


# --- Password change ----------------------------------------------------------------------------
def test_password_change_keeps_this_session_and_ends_the_others(world, password):
    # R1.4, C4: changing the password ends every other session of the user, not this one.
    user = world.users["rep_east"]
    here, elsewhere = Client(), Client()
    assert log_in(here, user.username, password).status_code == 302
    assert log_in(elsewhere, user.email, password).status_code == 302
    response = here.post(
        "/account/password/",
        {"old_password": password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == "/account/"
    assert here.get("/account/").status_code == 200
    assert is_login_redirect(elsewhere.get("/account/"))
    assert log_in(Client(), user.username, password).status_code == 200
    assert log_in(Client(), user.username, NEW_PASSWORD).status_code == 302
    assert Event.objects.filter(verb="user.password_changed", object_id=str(user.pk)).exists()


def test_password_change_refuses_wrong_old_or_weak_new(world, password, client_for):
    # R1.4, C8: the current password is checked and the policy applies; nothing changes.
    user = world.users["rep_east"]
    client = client_for(user)
    cases = (
        (
            {
                "old_password": "Wrong-password-1",
                "new_password1": NEW_PASSWORD,
                "new_password2": NEW_PASSWORD,
            },
            "old_password",
        ),
        (
            {"old_password": password, "new_password1": "short1", "new_password2": "short1"},
            "new_password1",
        ),
        (
            {
                "old_password": password,
                "new_password1": NEW_PASSWORD,
                "new_password2": NEW_PASSWORD + "x",
            },
            "new_password2",
        ),
    )
    for data, field in cases:
        response = client.post("/account/password/", data)
        assert response.status_code == 200 and field in response.context["form"].errors
    user.refresh_from_db()
    assert user.check_password(password)


# --- API tokens ---------------------------------------------------------------------------------
def test_token_create_shows_it_once_and_it_authenticates(world, client_for):
    # R1.4: a token is shown once (only its hash is stored) and works on the API.
    user = world.users["rep_east"]
    client = client_for(user)
    response = client.post("/account/tokens/", {"name": "ERP sync", "expires_on": ""})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw_token = response.context["raw_token"]
    assert raw_token.startswith(settings.CRM_API_TOKEN_PREFIX)
    assert f'value="{raw_token}"'.encode() in response.content
    token = ApiToken.objects.get(user=user, name="ERP sync")
    assert token.prefix == raw_token[:12] and raw_token not in token.key_hash
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    me = api.get("/api/v1/org/me")
    assert me.status_code == 200 and me.json()["id"] == user.pk
    listing = client.get("/account/tokens/")
    assert raw_token.encode() not in listing.content
    assert f'id="token-{token.pk}"'.encode() in listing.content


def test_token_with_expiry_date(world, client_for):
    # R1.4: an optional expiry date; a date in the past is refused.
    user = world.users["rep_east"]
    client = client_for(user)
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert (
        client.post(
            "/account/tokens/", {"name": "short-lived", "expires_on": tomorrow.isoformat()}
        ).status_code
        == 200
    )
    token = ApiToken.objects.get(user=user, name="short-lived")
    assert token.expires_at is not None and token.expires_at > timezone.now() + timedelta(days=1)
    yesterday = timezone.localdate() - timedelta(days=1)
    response = client.post(
        "/account/tokens/", {"name": "stale", "expires_on": yesterday.isoformat()}
    )
    assert response.status_code == 400 and "expires_on" in response.context["form"].errors
    assert not ApiToken.objects.filter(name="stale").exists()


def test_token_list_shows_only_my_tokens(world, client_for):
    # R1.4: even an administrator sees only their own tokens here.
    mine = services.create_token(actor=world.admin, name="admin-token")[0]
    theirs = services.create_token(actor=world.users["rep_east"], name="rep-token")[0]
    content = client_for(world.admin).get("/account/tokens/").content
    assert f'id="token-{mine.pk}"'.encode() in content
    assert f'id="token-{theirs.pk}"'.encode() not in content


def test_token_revoke_and_foreign_token_is_404(world, other_world, client_for):
    # R1.4, A1: revoke my token (it stops working); another user's token id is a 404.
    user = world.users["rep_east"]
    token, raw = services.create_token(actor=user, name="to-revoke")
    colleague_token = services.create_token(actor=world.users["rep_east2"], name="colleague")[0]
    foreign_token = services.create_token(actor=other_world.admin, name="foreign")[0]
    client = client_for(user)
    assert client.get(f"/account/tokens/{token.pk}/revoke/").status_code == 405
    for other in (colleague_token, foreign_token):
        assert client.post(f"/account/tokens/{other.pk}/revoke/").status_code == 404
        other.refresh_from_db()
        assert other.revoked_at is None
    # Not even an administrator revokes a colleague's token from the personal page.
    assert client_for(world.admin).post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    response = client.post(f"/account/tokens/{token.pk}/revoke/")
    assert response.status_code == 302 and response["Location"] == "/account/tokens/"
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/org/me").status_code == 401
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 302  # idempotent


def test_token_needs_a_name(world, client_for):
    # R1.4: the form refuses an unnamed token.
    client = client_for(world.users["rep_east"])
    response = client.post("/account/tokens/", {"name": ""})
    assert response.status_code == 400 and "name" in response.context["form"].errors
