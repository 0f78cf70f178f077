"""Mass assignment (RELIABILITY A6): write payloads stuffed with protected keys — owner, pool,
organisation, creator, version, grade, signed amount, status, conversion links, superuser and
staff flags, a role's permissions — change nothing they should not. Each probe also makes one
legitimate change, so a refusal of the whole request cannot pass for protection."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Model
from django.urls import reverse

from crm.core.models import Event
from crm.customers.models import Contact, Customer
from crm.leads.models import Lead
from crm.org.models import ApiToken, Organization, Role, User
from crm.org.permissions import ALL_PERMISSIONS
from tests.security.conftest import Tenant, fresh
from tests.security.routes import bearer, login

#: keys no client may set through the generic edit of any record
PROTECTED = {
    "id": 999_999,
    "org": None,
    "org_id": None,
    "organization": None,
    "created_by": None,
    "created_by_id": None,
    "created_at": "2000-01-01T00:00:00+08:00",
    "updated_at": "2000-01-01T00:00:00+08:00",
    "owner": None,
    "owner_id": None,
    "pool": None,
    "pool_id": None,
    "merged_into_id": None,
    "deleted_at": "2000-01-01T00:00:00+08:00",
}


def stuffed(a: Tenant, b: Tenant, **extra: Any) -> dict[str, Any]:
    """PROTECTED with values that would move the record to the other tenant or person."""
    other_customer = b.first("customers.Customer").pk
    values = dict(PROTECTED)
    values.update(
        org=b.world.org.pk,
        org_id=b.world.org.pk,
        organization=b.world.org.pk,
        created_by=b.admin.pk,
        created_by_id=b.admin.pk,
        owner=a.rep.pk,
        owner_id=a.rep.pk,
        pool=a.targets["customers.PublicPool"][0].pk,
        pool_id=a.targets["customers.PublicPool"][0].pk,
        merged_into_id=other_customer,
    )
    values.update(extra)
    return values


def row(obj: Model) -> dict[str, Any]:
    return type(obj)._base_manager.filter(pk=obj.pk).values().first()  # type: ignore[return-value]


def changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {k for k in before if before[k] != after[k]}


def send(client: Any, method: str, url: str, payload: dict[str, Any]) -> Any:
    return getattr(client, method)(url, data=json.dumps(payload), content_type="application/json")


# --- Customers and contacts ----------------------------------------------------------------------
def test_customer_patch_ignores_owner_pool_org_grade_and_amount(
    tenants: tuple[Tenant, Tenant],
) -> None:
    # A6: only notes change (and the version by exactly one); owner moves need their own action
    a, b = tenants
    customer = a.first("customers.Customer")
    before = row(customer)
    payload = stuffed(
        a,
        b,
        version=before["version"],
        notes="只改备注",
        grade="A",
        signed_amount_12m="99999.00",
        is_new=False,
        owner_since="2000-01-01T00:00:00+08:00",
        released_at="2000-01-01T00:00:00+08:00",
        normalized_name="篡改",
        last_won_at="2030-01-01T00:00:00+08:00",
    )
    r = send(bearer(a.owner), "patch", f"/api/v1/customers/customers/{customer.pk}", payload)
    assert r.status_code == 200, r.content
    after = row(customer)
    assert changed(before, after) == {"notes", "version", "updated_at"}
    assert after["version"] == before["version"] + 1


def test_customer_patch_with_a_forged_version_is_refused(tenants: tuple[Tenant, Tenant]) -> None:
    # A6 H1: a version ahead of the stored one is a conflict, not a way to set the version
    a, _b = tenants
    customer = a.first("customers.Customer")
    client = bearer(a.owner)
    before, events = row(customer), Event.objects.count()
    url = f"/api/v1/customers/customers/{customer.pk}"
    for version in (before["version"] + 5, 0, -1, "1; DROP TABLE customers_customer"):
        r = send(client, "patch", url, {"version": version, "notes": "伪造版本"})
        assert r.status_code in (409, 422), (version, r.status_code)
    assert row(customer) == before
    assert Event.objects.count() == events


def test_customer_create_ignores_org_creator_grade_amount_and_version(
    tenants: tuple[Tenant, Tenant],
) -> None:
    # A6: the stuffed create equals a plain create except for its name
    a, b = tenants
    client = bearer(a.owner)
    url = "/api/v1/customers/customers"
    plain = send(client, "post", url, {"name": "对照客户有限公司"})
    assert plain.status_code == 201, plain.content
    extra = stuffed(a, b, grade="A", signed_amount_12m="99999.00", version=7, is_new=False)
    extra.pop("owner_id")  # a documented field of create: tested below
    r = send(client, "post", url, {**extra, "name": "夹带客户有限公司"})
    assert r.status_code == 201, r.content
    ignore = {"id", "name", "normalized_name", "name_pinyin", "name_initials"}
    ignore |= {"created_at", "updated_at", "owner_since"}
    control = Customer.objects.filter(pk=plain.json()["id"]).values().get()
    created = Customer.objects.filter(pk=r.json()["id"]).values().get()
    diff = {k for k in control if k not in ignore and control[k] != created[k]}
    assert diff == set()
    assert created["org_id"] == a.world.org.pk and created["created_by_id"] == a.owner.pk


def test_a_rep_cannot_create_a_customer_owned_by_someone_outside_their_scope(
    tenants: tuple[Tenant, Tenant],
) -> None:
    # A6 A10: owner_id is for who may see the result; the rep's own-records scope refuses it
    a, _b = tenants
    customers = Customer.objects.count()
    r = send(
        bearer(a.rep),
        "post",
        "/api/v1/customers/customers",
        {"name": "替人建的客户", "owner_id": a.owner.pk},
    )
    assert r.status_code in (403, 404), r.content
    assert Customer.objects.count() == customers


def test_contact_patch_cannot_move_the_contact_to_another_customer(
    tenants: tuple[Tenant, Tenant],
) -> None:
    # A6: customer, owner and organisation of a contact stay
    a, b = tenants
    contact = a.first("customers.Contact")
    before = row(contact)
    payload = stuffed(
        a,
        b,
        version=before["version"],
        notes="联系人备注",
        customer=a.targets["customers.Customer"][1].pk,
        customer_id=a.targets["customers.Customer"][1].pk,
    )
    r = send(bearer(a.owner), "patch", f"/api/v1/customers/contacts/{contact.pk}", payload)
    assert r.status_code == 200, r.content
    assert changed(before, row(contact)) == {"notes", "version", "updated_at"}
    assert Contact.objects.get(pk=contact.pk).customer_id == before["customer_id"]


def test_customer_edit_page_ignores_owner_pool_and_grade_fields(
    tenants: tuple[Tenant, Tenant],
) -> None:
    # A6: the page's form knows its fields; extra posted ones are dropped
    a, b = tenants
    customer = a.first("customers.Customer")
    before = row(customer)
    data = {
        "name": before["name"],
        "phone": before["phone"],
        "notes": "页面改备注",
        "version": before["version"],
        **{k: v for k, v in stuffed(a, b, grade="A", signed_amount_12m="99999").items() if v},
    }
    r = login(a.owner).post(reverse("customers:edit", args=[customer.pk]), data)
    assert r.status_code == 302, r.content.decode()[:2000]
    assert changed(before, row(customer)) == {"notes", "version", "updated_at"}


# --- Leads ---------------------------------------------------------------------------------------
LEAD_PROTECTED = {
    "status": "converted",
    "score": 100,
    "converted_customer_id": None,
    "converted_contact_id": None,
    "converted_at": "2030-01-01T00:00:00+08:00",
    "assigned_by_rule_id": None,
    "assigned_at": "2000-01-01T00:00:00+08:00",
    "invalid_reason": "spam",
    "mobile_digits": "0000",
}


def test_lead_patch_ignores_owner_pool_status_score_and_conversion(
    tenants: tuple[Tenant, Tenant],
) -> None:
    # A6: status and owner move through their own actions, never through the generic edit
    a, b = tenants
    lead = a.first("leads.Lead")
    before = row(lead)
    payload = {
        **stuffed(a, b),
        **LEAD_PROTECTED,
        "pool_id": a.own_lead_pool.pk if a.own_lead_pool else None,
        "converted_customer_id": a.first("customers.Customer").pk,
        "assigned_by_rule_id": a.first("leads.AssignmentRule").pk,
        "notes": "线索备注",
        "version": before["version"],
    }
    r = send(bearer(a.owner), "patch", f"/api/v1/leads/leads/{lead.pk}", payload)
    assert r.status_code == 200, r.content
    assert changed(before, row(lead)) == {"notes", "version", "updated_at"}


def test_lead_create_ignores_status_score_conversion_and_org(
    tenants: tuple[Tenant, Tenant],
) -> None:
    # A6: the stuffed create equals a plain create except for its company and mobile
    a, b = tenants
    client = bearer(a.owner)
    url = "/api/v1/leads/leads"
    plain = send(client, "post", url, {"company": "对照线索公司", "mobile": "13911110000"})
    assert plain.status_code == 201, plain.content
    extra = {
        k: v for k, v in stuffed(a, b).items() if k not in {"owner_id", "pool_id"}
    } | LEAD_PROTECTED
    extra["converted_customer_id"] = a.first("customers.Customer").pk
    r = send(client, "post", url, {**extra, "company": "夹带线索公司", "mobile": "13911112222"})
    assert r.status_code == 201, r.content
    control = Lead.objects.filter(pk=plain.json()["id"]).values().get()
    created = Lead.objects.filter(pk=r.json()["id"]).values().get()
    ignore = {"id", "company", "mobile", "mobile_digits", "created_at", "updated_at"}
    ignore |= {"assigned_at"}
    diff = {k for k in control if k not in ignore and control[k] != created[k]}
    assert diff == set()
    assert created["status"] == "new" and created["converted_customer_id"] is None
    assert created["extra"] == {}


# --- People, roles, organisation, tokens ---------------------------------------------------------
USER_PROTECTED = {
    "is_superuser": True,
    "is_staff": True,
    "is_active": False,
    "org_id": None,
    "username": "root",
    "password": "Hacked-password-2026",
    "totp_enabled": True,
    "last_login": "2000-01-01T00:00:00+08:00",
    "date_joined": "2000-01-01T00:00:00+08:00",
}


def test_user_patch_by_the_admin_never_sets_superuser_staff_or_organisation(
    tenants: tuple[Tenant, Tenant],
) -> None:
    # A6: is_superuser, is_staff, org, username, password and 2FA are not editable fields
    a, b = tenants
    target = a.owner
    before = row(target)
    payload = {**USER_PROTECTED, "org_id": b.world.org.pk, "name": "改过名的用户"}
    r = send(bearer(a.admin), "patch", f"/api/v1/org/users/{target.pk}", payload)
    assert r.status_code == 200, r.content
    assert changed(before, row(target)) == {"name"}
    user = fresh(target)
    assert not user.is_superuser and not user.is_staff and user.check_password("x") is False


def test_own_profile_page_ignores_superuser_staff_org_and_roles(
    tenants: tuple[Tenant, Tenant],
) -> None:
    # A6: my account page changes my name, mobile and language only
    a, b = tenants
    me = a.owner
    before = row(me)
    roles = sorted(me.roles.values_list("pk", flat=True))
    admin_role = Role.objects.get(org=a.world.org, code="admin")
    data = {
        "name": "自己改名",
        "mobile": "",
        "language": "",
        **{k: ("on" if v is True else v) for k, v in USER_PROTECTED.items() if v},
        "org": b.world.org.pk,
        "department": a.world.depts["root"].pk,
        "roles": [admin_role.pk],
        "manager": me.pk,
    }
    client = login(me)
    before["last_login"] = row(me)["last_login"]  # logging the test client in sets it
    r = client.post(reverse("org:account"), data)
    assert r.status_code == 302, r.content.decode()[:1500]
    assert changed(before, row(me)) <= {"name", "mobile", "language"}
    assert row(me)["name"] == "自己改名"
    assert sorted(fresh(me).roles.values_list("pk", flat=True)) == roles


def test_only_the_administrator_changes_a_roles_permissions(tenants: tuple[Tenant, Tenant]) -> None:
    # A6 A8: a rep and a manager cannot grant themselves everything, by API or by page
    a, _b = tenants
    rep_role = Role.objects.get(org=a.world.org, code="rep")
    before, roles = row(rep_role), Role.objects.count()
    grab = {"name": "销售", "permissions": ALL_PERMISSIONS, "data_scope": "all"}
    for user in (a.rep, a.manager, a.owner):
        api = bearer(user)
        assert send(api, "put", f"/api/v1/org/roles/{rep_role.pk}", grab).status_code == 403
        assert send(api, "post", "/api/v1/org/roles", grab).status_code == 403
        page = login(user)
        assert page.post(reverse("org:role_edit", args=[rep_role.pk]), grab).status_code == 403
        assert page.post(reverse("org:role_create"), grab).status_code == 403
    assert row(rep_role) == before
    assert Role.objects.count() == roles


def test_role_write_ignores_builtin_flag_code_and_organisation(
    tenants: tuple[Tenant, Tenant],
) -> None:
    # A6: the administrator edits name, permissions and scope; not what makes a role built-in
    a, b = tenants
    custom = a.first("org.Role")
    before = row(custom)
    payload = {
        "name": before["name"],
        "permissions": ["customers:view", "customers:edit"],
        "data_scope": "dept",
        "is_builtin": True,
        "code": "admin",
        "org_id": b.world.org.pk,
        "id": 1,
    }
    r = send(bearer(a.admin), "put", f"/api/v1/org/roles/{custom.pk}", payload)
    assert r.status_code == 200, r.content
    assert changed(before, row(custom)) == {"permissions", "updated_at"}


def test_organisation_patch_changes_only_name_and_time_zone(tenants: tuple[Tenant, Tenant]) -> None:
    # A6: settings, currency, activity and demo flags are not in the write schema
    a, _b = tenants
    org = a.world.org
    before = Organization.objects.filter(pk=org.pk).values().get()
    payload = {
        "name": "改名后的甲方",
        "is_active": False,
        "is_demo": True,
        "currency": "USD",
        "settings": {"require_2fa": []},
        "id": 1,
        "created_at": "2000-01-01T00:00:00+08:00",
    }
    r = send(bearer(a.admin), "patch", "/api/v1/org/organization", payload)
    assert r.status_code == 200, r.content
    after = Organization.objects.filter(pk=org.pk).values().get()
    assert changed(before, after) == {"name"}
    assert send(bearer(a.rep), "patch", "/api/v1/org/organization", payload).status_code == 403


def test_a_token_is_always_made_for_its_caller(tenants: tuple[Tenant, Tenant]) -> None:
    # A6: user, organisation and hash of a new token come from the request, never the body
    a, b = tenants
    payload = {
        "name": "我的令牌",
        "user": a.admin.pk,
        "user_id": b.admin.pk,
        "org_id": b.world.org.pk,
        "key_hash": "0" * 64,
        "prefix": "crm_root",
        "revoked_at": None,
    }
    r = send(bearer(a.owner), "post", "/api/v1/org/tokens", payload)
    assert r.status_code == 201, r.content
    token = ApiToken.objects.get(pk=r.json()["id"])
    assert (token.user_id, token.org_id) == (a.owner.pk, a.world.org.pk)
    assert token.key_hash != "0" * 64 and token.prefix != "crm_root"
    assert User.objects.filter(is_superuser=True).count() == 0
