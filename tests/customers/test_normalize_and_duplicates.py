"""Duplicate detection (R3.3): names compared after normalising, phones and e-mails, in
Chinese and English; candidates masked for people who may not see them."""

from __future__ import annotations

import pytest

from crm.core.testing.world import World
from crm.customers import services
from crm.customers.normalize import mask_phone, normalize_name, phone_digits, pinyin_of


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("华为技术有限公司", "华为技术（深圳）有限公司"),
        ("华为技术有限公司", "华为技术 有限责任公司"),
        ("ＡＢＣ科技股份有限公司", "abc科技有限公司"),
        ("西门子(中国)有限公司", "西门子有限公司"),
        ("北京字节跳动科技有限公司", "北京字节跳动科技有限公司 "),
        ("阿里巴巴（中国）网络技术有限公司", "阿里巴巴网络技术有限公司"),
        ("Acme Co., Ltd.", "ACME Corporation"),
        ("Tencent Holdings Limited", "tencent holdings ltd"),
        ("Foo Inc.", "FOO, INC"),
    ],
)
def test_same_company_written_differently_normalises_alike(a: str, b: str) -> None:
    # R3.3: full/half width, spaces, punctuation, legal suffixes, bracketed place names
    assert normalize_name(a) == normalize_name(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("华为技术有限公司", "华为终端有限公司"),
        ("中国移动通信集团有限公司", "中国联合网络通信集团有限公司"),
        ("Acme Co., Ltd.", "Acme Robotics Co., Ltd."),
        ("上海分公司", "北京分公司"),
    ],
)
def test_different_companies_stay_different(a: str, b: str) -> None:
    # R3.3
    assert normalize_name(a) != normalize_name(b)


def test_pinyin_and_initials() -> None:
    # R3.3 (search): zgyd finds 中国移动
    assert pinyin_of("中国移动") == ("zhongguoyidong", "zgyd")
    assert pinyin_of("重庆银行")[1] == "cqyh"


def test_phone_digits_and_masks() -> None:
    # R3.4 (masking)
    assert phone_digits("+86 138-0013-8000") == "13800138000"
    assert phone_digits("0086 13800138000") == "13800138000"
    assert phone_digits("010-6552 9988") == "01065529988"
    assert phone_digits("+86 10 6552 9988") == "01065529988"
    assert phone_digits("(0571) 8888-1234") == "057188881234"
    assert mask_phone("13800138000") == "138****8000"


def test_create_refuses_a_duplicate_owned_by_someone_else_and_masks_it(world: World) -> None:
    # R3.3 撞单: rep_east2 cannot create a second copy of rep_east's customer; sees it masked
    rep, other = world.users["rep_east"], world.users["rep_east2"]
    services.create_customer(actor=rep, data={"name": "华为技术有限公司", "phone": "0755-28780808"})
    with pytest.raises(services.DuplicateCustomer) as exc:
        services.create_customer(
            actor=other, data={"name": "华为技术（深圳）有限公司"}, allow_duplicate=True
        )
    [candidate] = exc.value.candidates
    assert candidate["visible"] is False and candidate["id"] is None
    assert candidate["owner"] == "华东销售甲"
    assert candidate["phone"] == "075*****0808"
    assert candidate["reasons"] == ["name"]
    from crm.customers.models import Customer

    assert Customer.objects.filter(org=world.org).count() == 1


def test_duplicates_by_contact_phone_and_email(world: World) -> None:
    # R3.3: a contact's mobile or e-mail identifies the company too
    rep = world.users["rep_east"]
    services.create_customer(
        actor=rep,
        data={"name": "宁波海天塑机"},
        contacts=[{"name": "王经理", "mobile": "139 0574 1234", "email": "Wang@HaiTian.example"}],
    )
    by_phone = services.check_duplicates(rep, name="", phones=["+86 13905741234"], emails=[])
    by_mail = services.check_duplicates(rep, name="", phones=[], emails=["wang@haitian.example"])
    assert [c["name"] for c in by_phone] == ["宁波海天塑机"] == [c["name"] for c in by_mail]
    assert by_phone[0]["visible"] is True and by_phone[0]["reasons"] == ["phone"]


def test_own_possible_duplicate_can_be_created_on_purpose(world: World) -> None:
    # R3.3: a rep may knowingly create a same-name customer only when no one else owns the match
    rep = world.users["rep_east"]
    services.create_customer(actor=rep, data={"name": "华为技术有限公司"})
    with pytest.raises(services.DuplicateCustomer):
        services.create_customer(actor=rep, data={"name": "华为技术有限公司"})
    second = services.create_customer(
        actor=rep, data={"name": "华为技术有限公司"}, allow_duplicate=True
    )
    assert second.owner_id == rep.pk


def test_duplicates_never_cross_tenants(world: World, other_world: World) -> None:
    # R1.1: another organisation's customer is not a duplicate and is never shown
    services.create_customer(actor=other_world.admin, data={"name": "华为技术有限公司"})
    created = services.create_customer(
        actor=world.users["rep_east"], data={"name": "华为技术有限公司"}
    )
    assert created.org_id == world.org.pk
