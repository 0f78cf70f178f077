"""Customer and contact services (R3.1, R3.2, R3.3, R1.5): validation, optimistic locking,
transfer, merge, deactivation hand-over."""

from __future__ import annotations

import pytest

from crm.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from crm.core.models import Event
from crm.core.testing.world import World, make_user, role
from crm.customers import services
from crm.customers.models import Contact, Customer, OwnershipMove
from crm.org import services as org_services


def test_create_validates_and_derives_search_keys(world: World) -> None:
    # R3.1
    rep = world.users["rep_east"]
    with pytest.raises(ValidationFailed) as exc:
        services.create_customer(actor=rep, data={"name": " ", "email": "nope", "industry": "xx"})
    assert set(exc.value.field_errors) == {"name", "email", "industry"}
    assert not Customer.objects.filter(org=world.org).exists()
    c = services.create_customer(
        actor=rep,
        data={
            "name": "中国移动通信集团有限公司",
            "industry": "telecom",
            "phone": "+86 10 5268 6688",
        },
    )
    assert (c.normalized_name, c.name_initials[:4], c.phone_digits) == (
        "中国移动通信",
        "zgyd",
        "01052686688",
    )
    assert c.pool.is_default and c.owner_id == rep.pk
    assert Event.objects.filter(object_id=str(c.pk), verb="customer.created").count() == 1


def test_edit_with_a_stale_version_is_refused(world: World) -> None:
    # R3.1 H1: two people editing the same customer cannot overwrite each other silently
    rep = world.users["rep_east"]
    c = services.create_customer(actor=rep, data={"name": "版本测试"})
    first = Customer.objects.get(pk=c.pk)
    second = Customer.objects.get(pk=c.pk)
    services.update_customer(actor=rep, customer=first, data={"region": "浙江"}, version=1)
    with pytest.raises(Conflict):
        services.update_customer(actor=rep, customer=second, data={"region": "江苏"}, version=1)
    c.refresh_from_db()
    assert (c.region, c.version) == ("浙江", 2)
    event = Event.objects.filter(object_id=str(c.pk), verb="customer.updated").get()
    assert event.changes["region"] == ["", "浙江"]


def test_out_of_scope_edit_is_not_found(world: World) -> None:
    # R1.3
    c = services.create_customer(actor=world.users["rep_east"], data={"name": "别人的客户"})
    with pytest.raises(NotFound):
        services.update_customer(actor=world.users["rep_east2"], customer=c, data={"region": "x"})
    assert Customer.objects.get(pk=c.pk).region == ""


def test_transfer_needs_the_permission_and_moves_contacts(world: World) -> None:
    # R3.3: transfer of owned customers by a manager
    rep = world.users["rep_east"]
    c = services.create_customer(actor=rep, data={"name": "转移客户"}, contacts=[{"name": "张三"}])
    with pytest.raises(PermissionDenied):
        services.transfer_customers(actor=rep, customers=[c], to_user=world.users["rep_south"])
    manager = make_user(
        world.admin, "内置经理", world.depts["sales1"], [role(world.org, "manager")]
    )
    assert (
        services.transfer_customers(
            actor=manager, customers=[c], to_user=world.users["rep_south"], reason="调整区域"
        )
        == 1
    )
    assert Customer.objects.get(pk=c.pk).owner_id == world.users["rep_south"].pk
    assert Contact.objects.get(customer=c).owner_id == world.users["rep_south"].pk
    assert OwnershipMove.objects.filter(customer=c, kind="transfer").get().reason == "调整区域"


def test_merge_moves_everything_and_keeps_history(world: World) -> None:
    # R3.3: merging two customers moves contacts, fills gaps, audits, and leaves a tombstone
    rep = world.users["rep_east"]
    target = services.create_customer(actor=rep, data={"name": "浙江吉利控股集团"})
    source = services.create_customer(
        actor=rep,
        data={"name": "吉利汽车", "website": "geely.example"},
        contacts=[{"name": "李书福"}],
    )
    plain_rep = make_user(world.admin, "内置销售", world.depts["east"], [role(world.org, "rep")])
    with pytest.raises(PermissionDenied):  # the built-in rep may not delete, so may not merge
        services.merge_customers(actor=plain_rep, source=source, target=target)
    merged = services.merge_customers(actor=world.users["director"], source=source, target=target)
    assert merged.website == "geely.example"
    assert list(Contact.objects.filter(customer=target).values_list("name", flat=True)) == [
        "李书福"
    ]
    source.refresh_from_db()
    assert source.merged_into_id == target.pk and source.owner_id is None
    assert (
        Event.objects.filter(object_id=str(target.pk), verb="customer.merged").get().data["source"]
        == source.pk
    )
    assert Event.objects.filter(object_id=str(source.pk)).count() >= 2  # its history stays


def test_deactivating_a_rep_hands_customers_to_a_colleague(world: World) -> None:
    # R1.2 R3.3: the org's deactivation moves customers and their contacts in one step
    rep, heir = world.users["rep_east"], world.users["rep_east2"]
    c = services.create_customer(actor=rep, data={"name": "交接客户"}, contacts=[{"name": "赵六"}])
    moved = org_services.deactivate_user(actor=world.admin, user=rep, transfer_to=heir)
    assert moved["customers"] == 1
    assert Customer.objects.get(pk=c.pk).owner_id == heir.pk
    assert Contact.objects.get(customer=c).owner_id == heir.pk
    assert OwnershipMove.objects.filter(customer=c, kind="transfer", to_user=heir).exists()


def test_contacts_validate_and_detect_duplicates(world: World) -> None:
    # R3.2
    rep = world.users["rep_east"]
    a = services.create_customer(
        actor=rep, data={"name": "甲"}, contacts=[{"name": "张", "mobile": "13800000001"}]
    )
    b = services.create_customer(actor=rep, data={"name": "乙"})
    with pytest.raises(ValidationFailed):
        services.create_contact(actor=rep, customer=b, data={"name": "", "mobile": "12"})
    with pytest.raises(services.DuplicateCustomer):
        services.create_contact(
            actor=rep, customer=b, data={"name": "张", "mobile": "138 0000 0001"}
        )
    assert Contact.objects.filter(customer=b).count() == 0
    assert Contact.objects.filter(customer=a).count() == 1


@pytest.mark.postgres
def test_search_has_trigram_indexes_on_postgresql(db: None) -> None:
    # R3.3 R11.2: substring and pinyin search are index-backed on PostgreSQL
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%%_trgm'")
        names = {row[0] for row in cursor.fetchall()}
    assert {
        "cust_name_trgm",
        "cust_pinyin_trgm",
        "cust_initials_trgm",
        "cust_phone_trgm",
        "contact_mobile_trgm",
    } <= names
