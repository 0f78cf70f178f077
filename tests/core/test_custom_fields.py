"""Custom fields (issue 7, R10.5): validation of every kind, required and default, retired
fields keeping their values, filters on SQLite and PostgreSQL, administration rights, tenant
isolation, and the definitions API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from crm.core import custom_fields as cf
from crm.core.errors import NotFound, PermissionDenied, ValidationFailed
from crm.core.models import CustomField, Event
from crm.core.testing.world import World
from crm.customers import services as customer_services
from crm.customers.models import Customer


def define(world: World, target: str = "customer", **data: Any) -> CustomField:
    return cf.create_field(actor=world.admin, data={"target": target, **data})


def errors_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, Any]:
    return exc.value.field_errors


@pytest.fixture
def kinds(world: World) -> dict[str, CustomField]:
    return {
        "text": define(world, key="nickname", label="简称", kind="text"),
        "long_text": define(world, key="story", label="背景", kind="long_text"),
        "number": define(world, key="staff", label="员工数", kind="number"),
        "money": define(world, key="budget", label="预算", kind="money"),
        "date": define(world, key="founded", label="成立日期", kind="date"),
        "choice": define(
            world, key="tier", label="等级", kind="choice", choices=["金牌", "银牌", "铜牌"]
        ),
        "multi_choice": define(
            world,
            key="channels",
            label="渠道",
            kind="multi_choice",
            choices=["微信", "电话", "邮件"],
        ),
        "user": define(world, key="adviser", label="顾问", kind="user"),
    }


def clean(world: World, data: Any, **kwargs: Any) -> dict[str, Any]:
    return cf.clean_custom(world.org.pk, "customer", data, **kwargs)


@pytest.mark.django_db
def test_every_kind_is_validated_and_stored_in_its_form(world: World, kinds: Any) -> None:
    # R10.5: text, long text, number, money, date, single and multiple choice, user
    rep = world.users["rep_east"]
    stored = clean(
        world,
        {
            "nickname": "  老王  ",
            "story": "第一行\n第二行",
            "staff": "1,200",
            "budget": "¥12,345.5",
            "founded": "2020/03/04",
            "tier": "银牌",
            "channels": ["邮件", "微信", "微信"],
            "adviser": rep.pk,
        },
    )
    assert stored == {
        "nickname": "老王",
        "story": "第一行\n第二行",
        "staff": 1200,
        "budget": "12345.50",
        "founded": "2020-03-04",
        "tier": "银牌",
        "channels": ["微信", "邮件"],  # the field's order, once each
        "adviser": rep.pk,
    }
    assert clean(world, {"staff": 2.5})["staff"] == 2.5
    assert clean(world, {"staff": "-3"})["staff"] == -3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("nickname", "x" * 501),
        ("nickname", ["list"]),
        ("story", "x" * 5001),
        ("staff", "many"),
        ("staff", True),
        ("staff", "2e15"),
        ("budget", "-5"),
        ("budget", "abc"),
        ("founded", "2020-13-01"),
        ("tier", "钻石"),
        ("channels", ["微信", "飞鸽"]),
        ("channels", 5),
        ("adviser", "nobody"),
        ("adviser", 99999999),
    ],
)
def test_bad_values_are_refused_with_the_field_named(
    world: World, kinds: Any, key: str, value: Any
) -> None:
    # R10.5: errors name custom.<key>
    with pytest.raises(ValidationFailed) as exc:
        clean(world, {key: value})
    assert list(errors_of(exc)) == [f"custom.{key}"]
    assert str(errors_of(exc)[f"custom.{key}"][0])


@pytest.mark.django_db
def test_limits_are_inclusive(world: World, kinds: Any) -> None:
    # R10.5: text ≤ 500, long text ≤ 5,000, numbers within ±1e15
    stored = clean(world, {"nickname": "x" * 500, "story": "y" * 5000, "staff": "-1e15"})
    assert len(stored["nickname"]) == 500 and len(stored["story"]) == 5000
    assert stored["staff"] == -(10**15)


@pytest.mark.django_db
def test_unknown_keys_and_non_objects_are_refused(world: World, kinds: Any) -> None:
    # R10.5: unknown keys refused with a clear message
    with pytest.raises(ValidationFailed) as exc:
        clean(world, {"colour": "red"})
    assert "colour" in str(errors_of(exc)["custom.colour"][0])
    with pytest.raises(ValidationFailed) as exc:
        clean(world, ["a"])
    assert "custom" in errors_of(exc)


@pytest.mark.django_db
def test_a_colleague_of_another_organisation_or_inactive_is_refused(
    world: World, other_world: World, kinds: Any
) -> None:
    # R10.5 R1.1: user = an active colleague of the organisation
    with pytest.raises(ValidationFailed):
        clean(world, {"adviser": other_world.users["rep_east"].pk})
    from crm.org import services as org_services

    leaver = world.users["rep_south"]
    org_services.deactivate_user(actor=world.admin, user=leaver, transfer_to=world.admin)
    with pytest.raises(ValidationFailed):
        clean(world, {"adviser": leaver.pk})


@pytest.mark.django_db
def test_required_and_default_on_create_and_edit(world: World) -> None:
    # R10.5: required enforced on create and when cleared; defaults applied on create
    define(world, key="region_code", label="区域编码", kind="text", required=True)
    define(world, key="tier", label="等级", kind="choice", choices=["A", "B"], default="B")
    with pytest.raises(ValidationFailed) as exc:
        clean(world, {})
    assert list(errors_of(exc)) == ["custom.region_code"]
    created = clean(world, {"region_code": "华东"})
    assert created == {"region_code": "华东", "tier": "B"}
    # a default is not forced on a value given explicitly
    assert clean(world, {"region_code": "x", "tier": "A"})["tier"] == "A"
    # editing: keys not sent are kept, a blank clears (refused for a required field)
    edited = clean(world, {"tier": None}, current=created, partial=True)
    assert edited == {"region_code": "华东"}
    with pytest.raises(ValidationFailed) as exc:
        clean(world, {"region_code": ""}, current=created, partial=True)
    assert list(errors_of(exc)) == ["custom.region_code"]
    # a full edit of a record made before the field was required must fill it in
    with pytest.raises(ValidationFailed):
        clean(world, {"tier": "A"}, current={}, partial=False)
    assert clean(world, {"tier": "A"}, current={}, partial=True) == {"tier": "A"}


@pytest.mark.django_db
def test_a_bad_default_or_missing_choices_are_refused(world: World) -> None:
    # R10.5: the default is a value of the field's kind
    with pytest.raises(ValidationFailed) as exc:
        define(world, key="size", label="规模", kind="number", default="big")
    assert "default" in errors_of(exc)
    with pytest.raises(ValidationFailed) as exc:
        define(world, key="tier", label="等级", kind="choice", choices=[])
    assert "choices" in errors_of(exc)
    with pytest.raises(ValidationFailed) as exc:
        define(world, key="9bad", label="x", kind="text")
    assert "key" in errors_of(exc)
    define(world, key="dup", label="x", kind="text")
    with pytest.raises(ValidationFailed) as exc:
        define(world, key="dup", label="y", kind="text")
    assert "key" in errors_of(exc)
    # the same key on another record kind is fine
    define(world, target="lead", key="dup", label="x", kind="text")


@pytest.mark.django_db
def test_key_target_and_kind_never_change(world: World) -> None:
    # R10.5: the key never changes once created
    field = define(world, key="tier", label="等级", kind="choice", choices=["A"])
    with pytest.raises(ValidationFailed) as exc:
        cf.update_field(actor=world.admin, field=field, data={"key": "other", "kind": "text"})
    assert set(errors_of(exc)) == {"key", "kind"}
    updated = cf.update_field(
        actor=world.admin, field=field, data={"label": "客户等级", "choices": ["A", "B"]}
    )
    assert (updated.label, updated.choices, updated.key) == ("客户等级", ["A", "B"], "tier")
    verbs = list(
        Event.objects.filter(object_type="core.customfield", object_id=str(field.pk)).values_list(
            "verb", flat=True
        )
    )
    assert sorted(verbs) == ["custom_field.created", "custom_field.updated"]


@pytest.mark.django_db
def test_retired_fields_keep_their_values(world: World) -> None:
    # R10.5: retired fields keep their stored values and leave forms
    rep = world.users["rep_east"]
    field = define(world, key="legacy", label="旧编号", kind="text")
    define(world, key="tier", label="等级", kind="choice", choices=["A", "B"])
    customer = customer_services.create_customer(
        actor=rep, data={"name": "保留值公司", "custom": {"legacy": "L-1", "tier": "A"}}
    )
    cf.set_active(actor=world.admin, field=field, active=False)
    cf.forget(rep)
    assert [f.key for f in cf.fields_for(rep, "customer")] == ["tier"]
    customer = customer_services.update_customer(
        actor=rep, customer=customer, data={"custom": {"tier": "B"}}
    )
    customer.refresh_from_db()
    assert customer.custom == {"legacy": "L-1", "tier": "B"}
    # sending the retired value back unchanged is harmless; changing it is refused
    customer_services.update_customer(
        actor=rep, customer=customer, data={"custom": {"legacy": "L-1"}}
    )
    with pytest.raises(ValidationFailed) as exc:
        customer_services.update_customer(
            actor=rep, customer=customer, data={"custom": {"legacy": "L-2"}}
        )
    assert list(errors_of(exc)) == ["custom.legacy"]
    rows = cf.rows_for(rep, "customer", customer)
    assert [(r["label"], r["value"], r["retired"]) for r in rows] == [
        ("等级", "B", False),
        ("旧编号", "L-1", True),
    ]
    cf.set_active(actor=world.admin, field=field, active=True)
    assert Customer.objects.get(pk=customer.pk).custom["legacy"] == "L-1"


@pytest.mark.django_db
def test_a_rep_cannot_define_fields(world: World) -> None:
    # R10.5 R1.2: defining fields needs settings:configure
    rep = world.users["rep_east"]
    with pytest.raises(PermissionDenied):
        cf.create_field(
            actor=rep, data={"target": "customer", "key": "x", "label": "x", "kind": "text"}
        )
    field = define(world, key="x", label="x", kind="text")
    with pytest.raises(PermissionDenied):
        cf.update_field(actor=rep, field=field, data={"label": "y"})
    with pytest.raises(PermissionDenied):
        cf.set_active(actor=rep, field=field, active=False)
    # but every member reads the definitions (forms need them)
    assert [f.key for f in cf.fields_for(rep, "customer")] == ["x"]


@pytest.mark.django_db
def test_another_tenants_fields_never_appear_or_validate(world: World, other_world: World) -> None:
    # R1.1 R10.5: definitions are per organisation
    theirs = define(other_world, key="secret_code", label="他们的字段", kind="text")
    define(world, key="mine", label="我的字段", kind="text")
    assert [f.key for f in cf.fields_for(world.users["rep_east"], "customer")] == ["mine"]
    with pytest.raises(ValidationFailed):
        clean(world, {"secret_code": "x"})
    with pytest.raises(NotFound):
        cf.get_field(world.admin, theirs.pk)
    with pytest.raises(NotFound):
        cf.update_field(actor=world.admin, field=theirs, data={"label": "改"})


@pytest.mark.django_db
def test_reorder(world: World) -> None:
    # R10.5: administrators order the fields
    for key in ("a", "b", "c"):
        define(world, key=key, label=key.upper(), kind="text")
    cf.reorder(actor=world.admin, target="customer", keys=["c", "a"])
    assert [f.key for f in cf.definitions(world.org.pk, "customer")] == ["c", "a", "b"]


@pytest.mark.django_db
def test_display_values(world: World, kinds: Any) -> None:
    # R10.5: money as ¥, choices joined, colleagues by name
    rep = world.users["rep_east"]
    customer = customer_services.create_customer(
        actor=rep,
        data={
            "name": "展示公司",
            "custom": {"budget": "1234.5", "channels": ["微信", "电话"], "adviser": rep.pk},
        },
    )
    shown = {r["field"].key: r["value"] for r in cf.rows_for(rep, "customer", customer)}
    assert shown["budget"] == "¥1,234.50"
    assert shown["channels"] == "微信、电话"
    assert shown["adviser"] == rep.display_name
    assert shown["nickname"] == ""


# --- filters, on both databases -------------------------------------------------------------
@pytest.mark.django_db
def test_filters_match_an_independent_computation(world: World, kinds: Any) -> None:
    # R10.5: filters (equality, contains, ranges, multi-choice membership) on SQLite and PG
    rep = world.users["rep_east"]
    rows = [
        {
            "nickname": "Alpha 红",
            "staff": 10,
            "budget": "100.00",
            "founded": "2020-01-05",
            "tier": "金牌",
            "channels": ["微信"],
            "adviser": rep.pk,
        },
        {
            "nickname": "beta",
            "staff": 250,
            "budget": "99.99",
            "founded": "2021-06-30",
            "tier": "银牌",
            "channels": ["电话", "邮件"],
        },
        {
            "nickname": "红色 gamma",
            "staff": 2.5,
            "budget": "100000.00",
            "founded": "2019-12-31",
            "tier": "金牌",
            "channels": ["微信", "邮件"],
        },
        {},
    ]
    made = {}
    for n, custom in enumerate(rows):
        c = customer_services.create_customer(
            actor=rep, data={"name": f"筛选公司{n}", "custom": custom}
        )
        made[c.pk] = c.custom
    qs = Customer.objects.visible_to(rep).filter(pk__in=made)

    def run(key: str, op: str, value: Any) -> set[int]:
        field = next(f for f in kinds.values() if f.key == key)
        return set(qs.filter(cf.filter_q(field, op, value)).values_list("pk", flat=True))

    def expect(pred: Any) -> set[int]:
        return {pk for pk, v in made.items() if pred(v)}

    assert run("tier", "eq", "金牌") == expect(lambda v: v.get("tier") == "金牌")
    assert run("nickname", "contains", "红") == expect(lambda v: "红" in v.get("nickname", ""))
    assert run("nickname", "contains", "ALPHA") == expect(
        lambda v: "alpha" in v.get("nickname", "").lower()
    )
    assert run("channels", "eq", "邮件") == expect(lambda v: "邮件" in v.get("channels", []))
    assert run("channels", "eq", "微信") == expect(lambda v: "微信" in v.get("channels", []))
    assert run("staff", "gte", "10") == expect(lambda v: "staff" in v and v["staff"] >= 10)
    assert run("staff", "lte", "10") == expect(lambda v: "staff" in v and v["staff"] <= 10)
    assert run("staff", "eq", "2.5") == expect(lambda v: v.get("staff") == 2.5)
    assert run("budget", "gte", "100") == expect(
        lambda v: "budget" in v and Decimal(v["budget"]) >= 100
    )
    assert run("founded", "gte", "2020-01-01") == expect(
        lambda v: v.get("founded", "") >= "2020-01-01"
    )
    assert run("founded", "lte", "2020-12-31") == expect(
        lambda v: "founded" in v and v["founded"] <= "2020-12-31"
    )
    assert run("adviser", "eq", rep.pk) == expect(lambda v: v.get("adviser") == rep.pk)
    assert run("tier", "empty", None) == expect(lambda v: "tier" not in v)
    assert run("tier", "set", None) == expect(lambda v: "tier" in v)
