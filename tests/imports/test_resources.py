"""Each importable resource goes through its module's real services (R10.3): customers with a
first contact, contacts of a customer found by name, leads with the assignment rules, opportunities
with customer, stage and owner found by name, follow-ups with the method by its label; and
duplicates by each module's rules: skip, update or create anyway."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils import timezone, translation

from crm.activities.models import FollowUp
from crm.core.models import Event
from crm.core.testing.world import World
from crm.customers import services as customer_services
from crm.customers.models import Contact, Customer
from crm.imports.models import ImportRowError
from crm.leads import services as lead_services
from crm.leads.models import Lead
from crm.pipeline.models import Opportunity, Pipeline, Stage
from tests.imports.conftest import fresh, new_job


def errors(job: Any) -> list[tuple[int, str]]:
    return list(ImportRowError.objects.filter(job=job).values_list("line", "message"))


def customer(world: World, owner_key: str, name: str, **data: Any) -> Customer:
    return customer_services.create_customer(
        actor=fresh(world.users[owner_key]), data={"name": name, **data}
    )


def test_customers_with_a_first_contact_and_list_labels(iw: World, run: Any) -> None:
    # R10.3: customers through create_customer (events, owner, duplicate rules) + first contact
    rep = iw.users["rep_east"]
    job = new_job(
        rep,
        "customers",
        [
            ["客户名称", "行业", "客户类型", "电话", "地区", "联系人", "手机", "职务", "标签"],
            [
                "杭州一号科技有限公司",
                "制造业",
                "企业",
                "0571-88886666",
                "浙江杭州",
                "张伟",
                "13800138001",
                "采购经理",
                "重点，老客户",
            ],
            ["宁波二号贸易有限公司", "", "", "", "浙江宁波", "", "", "", ""],
        ],
    )
    assert job.mapping == [
        "name",
        "industry",
        "customer_type",
        "phone",
        "region",
        "contact_name",
        "contact_mobile",
        "contact_title",
        "tags",
    ]
    job = run(job)
    assert (job.status, job.created_count, job.failed_count) == ("done", 2, 0)
    first = Customer.objects.get(name="杭州一号科技有限公司")
    assert (first.owner_id, first.industry, first.customer_type) == (
        rep.pk,
        "manufacturing",
        "enterprise",
    )
    assert first.region == "浙江杭州" and first.phone_digits == "057188886666"
    assert sorted(first.tags.values_list("name", flat=True)) == ["老客户", "重点"]
    contact = Contact.objects.get(customer=first)
    assert (contact.name, contact.mobile, contact.title, contact.is_primary) == (
        "张伟",
        "13800138001",
        "采购经理",
        True,
    )
    created = Event.objects.get(object_type="customers.customer", object_id=str(first.pk))
    assert created.verb == "customer.imported" and created.actor_id == rep.pk
    assert created.actor_label == f"import:{job.pk}"
    assert Customer.objects.get(name="宁波二号贸易有限公司").contacts.count() == 0


def test_a_value_not_in_the_list_is_refused_with_the_choices(iw: World, run: Any) -> None:
    # R10.3: list fields take the organisation's labels (or codes); anything else is refused
    rep = iw.users["rep_east"]
    job = run(
        new_job(rep, "customers", [["客户名称", "行业"], ["甲公司", "造船业"], ["乙公司", "it"]])
    )
    assert (job.created_count, job.failed_count) == (1, 1)
    ((line, message),) = errors(job)
    assert line == 2 and "造船业" in message and "制造业" in message
    assert Customer.objects.get(name="乙公司").industry == "it"


def test_contacts_find_their_customer_by_name_within_scope(iw: World, run: Any) -> None:
    # R10.3: contacts through create_contact; the customer must be one the importer may edit
    mine = customer(iw, "rep_east", "杭州三号网络有限公司")
    customer(iw, "rep_east2", "别人的客户有限公司")
    rep = iw.users["rep_east"]
    job = run(
        new_job(
            rep,
            "contacts",
            [
                ["客户名称", "姓名", "手机", "生日", "主联系人"],
                ["杭州三号网络有限公司", "王芳", "13900139001", "1990/5/6", "是"],
                ["别人的客户有限公司", "赵六", "13900139002", "", ""],
                ["不存在的公司", "钱七", "13900139003", "", ""],
            ],
        )
    )
    assert (job.created_count, job.failed_count) == (1, 2)
    contact = Contact.objects.get(name="王芳")
    assert contact.customer_id == mine.pk and contact.is_primary
    assert contact.birthday.isoformat() == "1990-05-06"
    assert [line for line, _m in errors(job)] == [3, 4]
    assert all(
        "may work with" in m or "找到" in m or "别人" in m or "不存在" in m for _l, m in errors(job)
    )
    assert not Contact.objects.filter(name="赵六").exists()


def test_leads_get_their_owner_from_the_assignment_rules(iw: World, run: Any) -> None:
    # R10.3 + R2.4: imported leads go through create_lead; the assignment rules apply
    admin = iw.admin
    rep = iw.users["rep_east"]
    rule = lead_services.save_rule(
        actor=admin,
        data={
            "name": "华东",
            "order": 1,
            "strategy": "round_robin",
            "conditions": {"region": ["华东"]},
        },
        eligible_users=[rep],
    )
    director = iw.users["director"]
    job = run(
        new_job(
            director,
            "leads",
            [
                ["公司", "姓名", "手机", "地区", "来源"],
                ["杭州四号有限公司", "孙八", "13700137001", "华东", ""],
                ["广州五号有限公司", "周九", "13700137002", "华南", "展会"],
                ["", "", "", "华东", ""],
            ],
        )
    )
    assert (job.created_count, job.failed_count) == (2, 1)
    east = Lead.objects.get(company="杭州四号有限公司")
    assert east.owner_id == rep.pk and east.assigned_by_rule_id == rule.pk
    assert east.source == "import"  # no source column value: the channel is "import"
    south = Lead.objects.get(company="广州五号有限公司")
    assert south.owner_id is None and south.source == "exhibition"
    assert south.pool_id == lead_services.total_pool(iw.org.pk).pk


def test_opportunities_find_customer_stage_and_owner_by_name(iw: World, run: Any) -> None:
    # R10.3: opportunities through create_opportunity; stage and owner by name
    buyer = customer(iw, "manager1", "杭州六号电子有限公司")
    pipeline = Pipeline.objects.get(org=iw.org, is_default=True)
    stages = list(
        Stage.objects.filter(pipeline=pipeline, parent__isnull=True, kind="open").order_by(
            "sort_order"
        )
    )
    rep = iw.users["rep_east"]
    job = run(
        new_job(
            iw.users["manager1"],
            "opportunities",
            [
                [
                    "商机名称",
                    "客户名称",
                    "销售阶段",
                    "负责人",
                    "预计金额",
                    "预计成交日期",
                    "重点商机",
                ],
                [
                    "产线改造",
                    "杭州六号电子有限公司",
                    stages[1].name,
                    rep.username,
                    "¥120,000.50",
                    "2026/12/31",
                    "是",
                ],
                ["二期", "杭州六号电子有限公司", "不存在的阶段", "", "1000", "", ""],
                ["三期", "杭州六号电子有限公司", "", "查无此人", "", "", ""],
            ],
        )
    )
    assert (job.created_count, job.failed_count) == (1, 2)
    o = Opportunity.objects.get(name="产线改造")
    assert (o.customer_id, o.stage_id, o.owner_id) == (buyer.pk, stages[1].pk, rep.pk)
    assert o.expected_amount == Decimal("120000.50") and o.is_key
    assert o.expected_close_date.isoformat() == "2026-12-31"
    (l2, m2), (l3, m3) = errors(job)
    assert (l2, l3) == (3, 4)
    assert "不存在的阶段" in m2 and stages[0].name in m2
    assert "查无此人" in m3


def test_a_rep_may_not_import_opportunities_for_someone_else(iw: World, run: Any) -> None:
    # R10.3: the owner column needs the transfer right (else only one's own records)
    buyer = customer(iw, "rep_east", "杭州七号有限公司")
    rep = iw.users["rep_east"]
    job = run(
        new_job(
            rep,
            "opportunities",
            [
                ["商机名称", "客户名称", "负责人"],
                ["甲", buyer.name, iw.users["rep_east2"].username],
                ["乙", buyer.name, rep.name],
            ],
        )
    )
    assert (job.created_count, job.failed_count) == (1, 1)
    assert Opportunity.objects.get(name="乙").owner_id == rep.pk


def test_followups_with_method_by_label_and_links(iw: World, run: Any) -> None:
    # R10.3: follow-ups through record_followup; method by its label; opportunity and contact
    rep = iw.users["rep_east"]
    buyer = customer_services.create_customer(
        actor=fresh(rep),
        data={"name": "杭州八号有限公司"},
        contacts=[{"name": "吴十", "mobile": "13600136001"}],
    )
    from crm.pipeline import opportunities

    deal = opportunities.create_opportunity(
        actor=fresh(rep), customer=buyer, data={"name": "年度采购"}
    )
    job = run(
        new_job(
            rep,
            "followups",
            [
                ["客户名称", "跟进方式", "跟进内容", "跟进时间", "商机", "联系人"],
                [buyer.name, "电话", "沟通采购计划", "2026-03-05 10:30", "年度采购", "吴十"],
                [buyer.name, "visit", "上门拜访", "2026年3月6日", "", ""],
                [buyer.name, "飞鸽传书", "无效方式", "", "", ""],
            ],
        )
    )
    assert (job.created_count, job.failed_count) == (2, 1)
    call = FollowUp.objects.get(content="沟通采购计划")
    assert (call.method, call.opportunity_id, call.owner_id) == ("call", deal.pk, rep.pk)
    assert call.contact.name == "吴十"
    local = timezone.localtime(call.happened_at)
    assert (local.date().isoformat(), local.hour, local.minute) == ("2026-03-05", 10, 30)
    assert FollowUp.objects.get(content="上门拜访").method == "visit"
    ((line, message),) = errors(job)
    assert line == 4 and "飞鸽传书" in message
    buyer.refresh_from_db()
    assert buyer.last_followup_at is not None


# --- duplicates ------------------------------------------------------------------------------
ROWS = [["客户名称", "电话", "地区"], ["杭州九号科技有限公司", "0571-66667777", "浙江"]]


def test_duplicate_customers_are_skipped_by_the_customers_rules(iw: World, run: Any) -> None:
    # R10.3 + R3.2: same normalised name (or phone) as an existing customer → skipped
    existing = customer(iw, "rep_east", "杭州九号科技（杭州）有限公司")
    job = run(new_job(iw.users["rep_east"], "customers", ROWS, mode="skip"))
    assert (job.created_count, job.skipped_count) == (0, 1)
    assert Customer.objects.filter(org=iw.org).count() == 1
    existing.refresh_from_db()
    assert existing.region == ""


def test_duplicate_customers_are_updated_without_erasing_values(iw: World, run: Any) -> None:
    # R10.3: update mode goes through update_customer; empty cells change nothing
    existing = customer(iw, "rep_east", "杭州九号科技有限公司", address="文一路1号")
    job = run(new_job(iw.users["rep_east"], "customers", ROWS, mode="update"))
    assert (job.created_count, job.updated_count) == (0, 1)
    existing.refresh_from_db()
    assert (existing.region, existing.phone, existing.address) == (
        "浙江",
        "0571-66667777",
        "文一路1号",
    )
    assert Event.objects.filter(object_id=str(existing.pk), verb="customer.updated").count() == 1


def test_update_of_a_customer_owned_by_someone_else_is_refused(iw: World, run: Any) -> None:
    # R10.3 + R3.2: the duplicate belongs to a colleague the importer cannot edit
    theirs = customer(iw, "rep_east2", "杭州九号科技有限公司")
    job = run(new_job(iw.users["rep_east"], "customers", ROWS, mode="update"))
    assert (job.updated_count, job.failed_count) == (0, 1)
    ((_line, message),) = errors(job)
    assert theirs.owner.display_name in message
    theirs.refresh_from_db()
    assert theirs.region == ""


def test_create_mode_makes_a_second_customer_but_never_a_colleagues_one(
    iw: World, run: Any
) -> None:
    # R10.3 + R3.2: "create anyway" allows a duplicate of one's own customer, never 撞单
    customer(iw, "rep_east", "杭州九号科技有限公司")
    job = run(new_job(iw.users["rep_east"], "customers", ROWS, mode="create"))
    assert job.created_count == 1
    assert Customer.objects.filter(org=iw.org, name="杭州九号科技有限公司").count() == 2
    customer(iw, "rep_east2", "宁波十号有限公司")
    job = run(
        new_job(
            iw.users["rep_east"], "customers", [["客户名称"], ["宁波十号有限公司"]], mode="create"
        )
    )
    assert (job.created_count, job.failed_count) == (0, 1)


def test_duplicate_modes_of_leads_contacts_opportunities_and_followups(iw: World, run: Any) -> None:
    # R10.3: each module's duplicate key: lead mobile, contact mobile, customer + name
    rep = iw.users["rep_east"]
    buyer = customer(iw, "rep_east", "杭州十一号有限公司")
    lead_job = run(
        new_job(rep, "leads", [["公司", "手机", "负责人"], ["线索甲", "13500135001", rep.username]])
    )
    assert lead_job.created_count == 1
    assert Lead.objects.get(mobile="13500135001").owner_id == rep.pk
    again = run(
        new_job(
            rep,
            "leads",
            [["公司", "手机", "地区"], ["线索甲改", "13500135001", "华东"]],
            mode="update",
        )
    )
    assert again.updated_count == 1
    lead = Lead.objects.get(mobile="13500135001")
    assert (lead.company, lead.region) == ("线索甲改", "华东")
    contacts = [["客户名称", "姓名", "手机", "职务"], [buyer.name, "郑一", "13500135002", "经理"]]
    run(new_job(rep, "contacts", contacts))
    contacts[1][3] = "总经理"
    updated = run(new_job(rep, "contacts", contacts, mode="update"))
    assert updated.updated_count == 1
    assert Contact.objects.get(name="郑一").title == "总经理"
    deals = [["商机名称", "客户名称", "预计金额"], ["扩容", buyer.name, "500"]]
    run(new_job(rep, "opportunities", deals))
    deals[1][2] = "800"
    assert run(new_job(rep, "opportunities", deals, mode="skip")).skipped_count == 1
    assert run(new_job(rep, "opportunities", deals, mode="update")).updated_count == 1
    assert Opportunity.objects.get(name="扩容").expected_amount == Decimal("800.00")
    notes = [
        ["客户名称", "跟进方式", "跟进内容", "跟进时间", "地点"],
        [buyer.name, "电话", "首次沟通", "2026-01-02 09:00", ""],
    ]
    run(new_job(rep, "followups", notes))
    notes[1][4] = "杭州"
    assert run(new_job(rep, "followups", notes, mode="update")).updated_count == 1
    assert FollowUp.objects.get(content="首次沟通").location == "杭州"


def test_external_id_column_finds_the_record_of_an_earlier_import(iw: World, run: Any) -> None:
    # R10.3: an external id column identifies a row's record across files
    rep = iw.users["rep_east"]
    run(new_job(rep, "customers", [["外部编号", "客户名称"], ["A-1", "杭州十二号有限公司"]]))
    job = run(
        new_job(
            rep,
            "customers",
            [["外部编号", "客户名称", "地区"], ["A-1", "杭州十二号集团有限公司", "余杭"]],
            mode="update",
        )
    )
    assert job.updated_count == 1
    renamed = Customer.objects.get(org=iw.org, region="余杭")
    assert renamed.name == "杭州十二号集团有限公司"
    assert Customer.objects.filter(org=iw.org).count() == 1


def test_row_errors_read_as_sentences_with_the_column(iw: World, run: Any) -> None:
    # R10.3: a refused row's reason names the column and says what is wrong, in English too
    rep = iw.users["rep_east"]
    fresh_rep = fresh(rep)
    fresh_rep.language = "en"
    fresh_rep.save(update_fields=["language"])
    job = run(
        new_job(
            rep, "customers", [["客户名称", "邮箱"], ["甲公司", "not-an-email"], ["", "a@b.cn"]]
        )
    )
    with translation.override("en"):
        assert errors(job) == [
            (2, "E-mail: Enter a valid e-mail address."),
            (3, "Customer name: This column is required; the cell is empty."),
        ]
