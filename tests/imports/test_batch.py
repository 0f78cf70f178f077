"""The set-based import path (R10.3, R11.2): the same file imported through the set-based
batches and through the per-row path (``CRM_IMPORT_SET_BASED = False``) leaves the very same
records, field by field, the same audit events, ownership moves, tags, row keys, refused rows
and counters, in every duplicate mode and in strict mode; the webhooks of the new customers
still go out; a batch whose writing fails is redone row by row; and a batch costs a bounded
number of statements, not some per row."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.core import bulk_copy
from crm.core import custom_fields as cf
from crm.core.confidential import set_confidential
from crm.core.errors import NotFound
from crm.core.models import Event, Notification
from crm.core.testing.world import World
from crm.customers import services as customer_services
from crm.customers.models import Contact, Customer, OwnershipMove, Tag
from crm.imports import services
from crm.imports.models import ImportJob, ImportRowError, ImportRowKey
from tests.imports.conftest import fresh, grant, new_job

HEAD = [
    "外部编号",
    "客户名称",
    "简称",
    "客户类型",
    "行业",
    "来源",
    "电话",
    "邮箱",
    "网站",
    "地区",
    "地址",
    "备注",
    "开票抬头",
    "税号",
    "负责人",
    "标签",
    "联系人",
    "手机",
    "职务",
    "联系人邮箱",
    "联系人电话",
    "客户等级",
]
WIDTH = len(HEAD)


def row(name: str = "", **cells: str) -> list[str]:
    """A data row: ``name`` and the cells given by column title (the rest empty)."""
    out = [""] * WIDTH
    out[HEAD.index("客户名称")] = name
    for title, value in cells.items():
        out[HEAD.index(title)] = value
    return out


def prepare(iw: World) -> dict[str, Any]:
    """What both imports start from: custom fields with defaults, a tag, customers the file
    duplicates (one the importer may edit, a colleague's, a confidential one, one found by its
    contact's mobile), and an earlier import, one of whose customers was deleted since."""
    importer = grant(iw, "manager1", ["customers:transfer"], "dept_tree")
    cf.create_field(
        actor=iw.admin,
        data={
            "target": "customer",
            "key": "tier",
            "label": "客户等级",
            "kind": "choice",
            "choices": ["金牌", "银牌"],
            "default": "银牌",
        },
    )
    cf.create_field(
        actor=iw.admin,
        data={
            "target": "contact",
            "key": "hobby",
            "label": "爱好",
            "kind": "text",
            "default": "茶",
        },
    )
    customer_services.create_tag(actor=fresh(importer), name="重点")

    def make(owner: str, name: str, **data: Any) -> Customer:
        return customer_services.create_customer(
            actor=fresh(iw.users[owner]), data={"name": name, **data}
        )

    make("manager1", "杭州已有科技有限公司", phone="0571-88880001")
    make("rep_sales2", "宁波别人贸易有限公司", phone="0574-66660002")
    secret = make("rep_sales2", "机密客户有限公司")
    set_confidential(actor=fresh(iw.users["rep_sales2"]), record=secret, is_confidential=True)
    customer_services.create_customer(
        actor=fresh(iw.users["rep_east"]),
        data={"name": "温州联系人科技有限公司"},
        contacts=[{"name": "老王", "mobile": "13900009999"}],
    )
    earlier = [
        HEAD,
        row("早先导入一号有限公司", 外部编号="OLD-1", 电话="0571-12345678"),
        row("早先导入二号有限公司", 地区="杭州"),
    ]
    first = new_job(importer, "customers", earlier, name="earlier.csv")
    services.start_job(actor=fresh(importer), job=first)
    services.run_job(first.pk)
    Customer.objects.filter(name="早先导入二号有限公司").delete()
    return {"importer": importer, "earlier": earlier}


def file_rows(iw: World, earlier: list[list[str]]) -> list[list[str]]:
    me = iw.users["manager1"].username
    full = row(
        "杭州全字段科技有限公司",
        外部编号="EXT-1",
        简称="全字段",
        客户类型="企业",
        行业="制造业",
        来源="import",
        电话="+86 571 8888 7777",
        邮箱="Info@Full.CN",
        网站="full.cn",
        地区="浙江杭州",
        地址="文一路1号",
        备注="备注",
        开票抬头="杭州全字段科技有限公司",
        税号="91330100",
        负责人=me,
        标签="重点，新标签",
        联系人="张伟",
        手机="138-0013-8001",
        职务="采购经理",
        联系人邮箱="ZW@full.cn",
        联系人电话="0571-1111",
        客户等级="金牌",
    )
    return [
        HEAD,
        full,  # 2: every column
        row("宁波最简有限公司"),  # 3
        row("", 电话="0571-22223333"),  # 4: no name
        row("坏邮箱有限公司", 邮箱="not-an-email"),  # 5
        row("坏电话有限公司", 电话="12"),  # 6
        row("坏手机有限公司", 联系人="李四", 手机="123"),  # 7: the contact's mobile
        row("无名联系人有限公司", 手机="13800138002"),  # 8: a contact without a name
        row("怪行业有限公司", 行业="造船业"),  # 9: not in the list
        row("杭州已有科技（杭州）有限公司", 地区="余杭"),  # 10: the importer's own customer
        row("宁波别人贸易二部", 电话="0574 6666 0002"),  # 11: a colleague's, by phone
        row("机密客户有限公司", 地区="北京"),  # 12: a confidential one they do not see
        row("温州新名字有限公司", 联系人="小王", 手机="13900009999"),  # 13: by a contact
        full,  # 14: the same row again
        row("宁波最简有限公司", 电话="0574-12121212"),  # 15: like line 3, another phone
        row("给同事的有限公司", 负责人=iw.users["rep_east"].username, 标签="新标签"),  # 16
        # 17: like line 16 (a customer of this file) and, by phone, like one already there
        row("给同事的股份有限公司", 电话="0571-88880001"),
        row("查无此人有限公司", 负责人="nobody-at-all"),  # 18
        row("外部编号重复有限公司", 外部编号="EXT-1"),  # 19: the external id of line 2
        row("早先导入一号改名有限公司", 外部编号="OLD-1", 地区="上海"),  # 20: an earlier row's
        earlier[1],  # 21: imported before, still there
        earlier[2],  # 22: imported before, deleted since
        row("错等级有限公司", 客户等级="铁牌"),  # 23: not a choice of the custom field
        row("邮箱大写有限公司", 邮箱="  BIG@Mail.COM ", 联系人="赵六", 联系人邮箱="big@mail.com"),
        row("同邮箱有限公司", 联系人="钱七", 联系人邮箱="BIG@mail.com"),  # 25: line 24's
        row("新标签二有限公司", 标签="另一个|重点"),  # 26
        row("给同事的有限责任公司", 地区="杭州"),  # 27: like line 16 only (a colleague's)
        row("宁波最简（宁波）有限公司", 联系人="孙八", 手机="13700137000"),  # 28: like line 3
        row("另一家有限公司", 联系人="周九", 手机="137-0013-7000"),  # 29: line 28's mobile
    ]


def snapshot(iw: World, job: ImportJob, marks: dict[str, int]) -> dict[str, Any]:
    """Everything the import wrote or changed, with ids and times that differ between two runs
    replaced by names."""
    org = iw.org
    names = dict(Customer.objects.filter(org=org).values_list("pk", "name"))
    contacts = {c.pk: c for c in Contact.objects.filter(org=org)}
    skipped = {"id", "created_at", "updated_at", "owner_since"}

    def fields(obj: Any) -> dict[str, Any]:
        return {
            f.attname: getattr(obj, f.attname)
            for f in type(obj)._meta.concrete_fields
            if f.attname not in skipped
        }

    customers = []
    for c in Customer.objects.filter(org=org).order_by("pk"):
        values = fields(c)
        values["tags"] = sorted(c.tags.values_list("name", flat=True))
        customers.append(values)
    contact_rows = []
    for c in Contact.objects.filter(org=org).order_by("pk"):
        values = fields(c)
        values["customer_id"] = names[c.customer_id]
        contact_rows.append(values)
    moves = [
        (names[m.customer_id], m.kind, m.from_user_id, m.to_user_id, m.actor_id, m.pool_id)
        for m in OwnershipMove.objects.filter(org=org, pk__gt=marks["move"]).order_by("pk")
    ]

    def label(object_type: str, object_id: str) -> str:
        if object_type == "customers.customer":
            return names.get(int(object_id), "deleted")
        if object_type == "customers.contact":
            contact = contacts[int(object_id)]
            return f"{contact.name}@{names[contact.customer_id]}"
        if object_type == "imports.importjob":
            return "job" if object_id == str(job.pk) else object_id
        return object_id

    def changes(event: Event) -> dict[str, Any]:
        out = {}
        for key, value in event.changes.items():
            if key == "owner_since":
                continue
            if key == "customer" and event.object_type == "customers.contact":
                value = [names.get(v) if v else v for v in value]
            out[key] = value
        return out

    events = [
        (
            e.verb,
            e.actor_id,
            e.actor_label.replace(str(job.pk), "J"),
            e.object_type,
            label(e.object_type, e.object_id),
            e.object_repr,
            changes(e),
            e.data,
        )
        for e in Event.objects.filter(org=org, pk__gt=marks["event"]).order_by("pk")
    ]
    keys = {
        k.key: (
            names.get(int(k.object_id), "deleted"),
            k.line,
            "J" if k.job_id == job.pk else k.job_id,
        )
        for k in ImportRowKey.objects.filter(org=org)
    }
    notes = [
        (n.recipient_id, n.verb, n.message)
        for n in Notification.objects.filter(org=org, pk__gt=marks["note"]).order_by("pk")
    ]
    job.refresh_from_db()
    return {
        "job": (
            job.status,
            job.next_row,
            job.created_count,
            job.updated_count,
            job.skipped_count,
            job.failed_count,
            job.message,
        ),
        "errors": list(
            ImportRowError.objects.filter(job=job)
            .order_by("row_index")
            .values_list("row_index", "line", "message")
        ),
        "customers": customers,
        "contacts": contact_rows,
        "moves": moves,
        "events": events,
        "keys": keys,
        "tags": sorted(Tag.objects.filter(org=org).values_list("name", flat=True)),
        "notifications": notes,
    }


def import_both_ways(
    iw: World, run: Any, settings: Any, rows: list[list[str]], importer: Any, **options: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same file imported set-based and row by row, each from the same starting point
    (the first run is rolled back to a savepoint)."""
    results = []
    for set_based in (True, False):
        settings.CRM_IMPORT_SET_BASED = set_based
        cache.clear()
        marks = {
            "event": Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
            "move": OwnershipMove.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
            "note": Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
        }
        point = transaction.savepoint_create()
        job = run(new_job(importer, "customers", rows, name="both.xlsx", **options))
        results.append(snapshot(iw, job, marks))
        transaction.savepoint_rollback(point)
    return results[0], results[1]


@pytest.mark.parametrize(
    ("mode", "size"), [("skip", 7), ("create", 7), ("update", 7), ("skip", 500)]
)
def test_set_based_and_per_row_imports_leave_the_same_records(
    iw: World,
    run: Any,
    settings: Any,
    caplog: Any,
    mode: str,
    size: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """R10.3 + R11.2: field by field, event by event, key by key, refused row by refused row,
    the set-based path does what the per-row path does, in every duplicate mode (on PostgreSQL
    writing by COPY, crm.core.bulk_copy, however few the rows)."""
    settings.CRM_IMPORT_BATCH_SIZE = size
    monkeypatch.setattr(bulk_copy, "COPY_FROM", 1)
    start = prepare(iw)
    rows = file_rows(iw, start["earlier"])
    with caplog.at_level(logging.DEBUG, logger="crm.imports"):
        set_based, per_row = import_both_ways(iw, run, settings, rows, start["importer"], mode=mode)
    for part in per_row:
        assert set_based[part] == per_row[part], part
    # the set-based path decided the rows itself, except those it must hand over
    handed = [int(m.group(1)) for m in re.finditer(r"line (\d+) row by row", caplog.text)]
    if (mode, size) == ("skip", 500):
        # like a customer of the same batch and like one the importer may edit (the rows up
        # to it are then written: line 19 finds line 2's external id among the records)
        assert handed == [17]
    else:
        assert len(handed) < len(rows) // 2
    # and the file did exercise what it is meant to
    created = {c["name"] for c in per_row["customers"]}
    assert "新标签二有限公司" in created
    full = next(c for c in per_row["customers"] if c["tax_number"] == "91330100")
    assert (full["industry"], full["phone_digits"], full["email"], full["custom"]) == (
        "manufacturing",
        "057188887777",
        "info@full.cn",
        {"tier": "金牌"},
    )
    assert full["tags"] == ["新标签", "重点"] and full["name_pinyin"]
    contact = next(c for c in per_row["contacts"] if c["name"] == "张伟")
    assert (contact["mobile_digits"], contact["custom"], contact["is_primary"]) == (
        "13800138001",
        {"hobby": "茶"},
        True,
    )
    lines = [line for _index, line, _message in per_row["errors"]]
    assert {4, 5, 6, 7, 8, 9, 12, 18, 23} <= set(lines)
    verbs = {e[0] for e in per_row["events"]}
    assert {"customer.imported", "contact.created", "import.finished"} <= verbs


@pytest.mark.parametrize("mode", ["skip", "create", "update"])
def test_an_external_id_twice_in_one_batch_gives_the_same_result(
    iw: World, run: Any, settings: Any, caplog: Any, mode: str
) -> None:
    """R10.3 + R11.2: the second row with an external id refers to the first row's record,
    which the set-based path hands to the per-row path once the first row is written."""
    rep = iw.users["rep_east"]
    rows = [
        ["外部编号", "客户名称", "地区"],
        ["EXT-9", "第一家有限公司", "杭州"],
        ["EXT-8", "第二家有限公司", ""],
        ["EXT-9", "第一家改名有限公司", "宁波"],
        ["EXT-7", "第三家有限公司", ""],
    ]
    with caplog.at_level(logging.DEBUG, logger="crm.imports"):
        set_based, per_row = import_both_ways(iw, run, settings, rows, rep, mode=mode)
    assert set_based == per_row
    handed = [int(m.group(1)) for m in re.finditer(r"line (\d+) row by row", caplog.text)]
    assert handed == [4]
    expected = {"skip": (3, 0, 1), "create": (4, 0, 0), "update": (3, 1, 0)}[mode]
    assert per_row["job"][2:5] == expected


def test_a_strict_import_refuses_the_same_rows_on_both_paths(
    iw: World, run: Any, settings: Any
) -> None:
    """R10.3 + R11.2: all or nothing: the same refused rows, nothing written, either way; a
    clean file goes in completely, the same way."""
    settings.CRM_IMPORT_BATCH_SIZE = 7
    start = prepare(iw)
    rows = file_rows(iw, start["earlier"])
    set_based, per_row = import_both_ways(iw, run, settings, rows, start["importer"], strict=True)
    assert set_based == per_row
    assert per_row["job"][0] == "failed" and per_row["job"][2] == 0
    clean = [r for i, r in enumerate(rows) if i not in (3, 4, 5, 6, 7, 8, 11, 17, 22)]
    set_based, per_row = import_both_ways(iw, run, settings, clean, start["importer"], strict=True)
    assert set_based == per_row
    assert per_row["job"][0] == "done" and per_row["job"][2] > 5


def test_the_webhooks_of_imported_customers_go_out(
    iw: World, settings: Any, monkeypatch: Any, path: str, django_capture_on_commit_callbacks: Any
) -> None:
    """R10.2 + R11.2: each imported customer is a customer.created event for the webhooks,
    and their delivery starts when the batch commits, on both paths."""
    from crm.core import webhook_tasks, webhooks

    webhooks.create_endpoint(
        actor=fresh(iw.admin),
        data={"name": "ERP", "url": "https://erp.example.com/hook", "event_types": ["customer.*"]},
    )
    started: list[int] = []
    monkeypatch.setattr(webhook_tasks, "deliver_org", started.append)
    rows = [["客户名称", "手机", "联系人"], *[[f"推送客户{i}有限公司", "", ""] for i in range(3)]]
    rep = iw.users["rep_east"]
    job = new_job(rep, "customers", rows)
    services.start_job(actor=fresh(rep), job=job)
    connection.run_on_commit.clear()  # the upload and the start have committed
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.run_job(job.pk)
    job.refresh_from_db()
    assert job.created_count == 3
    assert any(getattr(c, "webhook_org", None) == iw.org.pk for c in callbacks)
    assert started == [iw.org.pk]
    assert webhooks.fan_out(iw.org.pk) == 3
    deliveries = webhooks.WebhookDelivery.objects.filter(org=iw.org).select_related("event")
    assert sorted(webhooks.payload(d.event)["type"] for d in deliveries) == ["customer.created"] * 3


def test_a_batch_that_cannot_be_written_together_is_redone_row_by_row(
    iw: World, run: Any, caplog: Any
) -> None:
    """R11.2: a customer given to a colleague outside the importer's scope fails the check
    after the write; the set-based batch is rolled back to its savepoint and its rows go one
    by one: the other rows are imported, that one is refused as row by row."""
    importer = grant(iw, "manager1", ["customers:transfer"], "dept_tree")
    outsider = iw.users["rep_sales2"].username
    rows = [
        ["客户名称", "负责人"],
        ["范围内一号有限公司", ""],
        ["范围外有限公司", outsider],
        ["范围内二号有限公司", ""],
    ]
    with caplog.at_level(logging.WARNING, logger="crm.imports"):
        job = run(new_job(importer, "customers", rows))
    assert "go one by one" in caplog.text  # the set-based write was tried, then undone
    assert (job.created_count, job.failed_count) == (2, 1)
    error = ImportRowError.objects.get(job=job)
    with services.acting_as(fresh(importer)):
        expected = services.row_message(services.get_resource("customers"), NotFound())
    assert (error.line, error.message) == (3, expected)
    assert sorted(Customer.objects.filter(org=iw.org).values_list("name", flat=True)) == [
        "范围内一号有限公司",
        "范围内二号有限公司",
    ]
    assert Event.objects.filter(verb="customer.imported").count() == 2
    assert ImportRowKey.objects.filter(job=job).count() == 2


def test_a_batch_costs_a_bounded_number_of_statements(iw: World, settings: Any) -> None:
    """R11.2: set-based, a batch of new customers with contacts costs the same few statements
    whatever its size (row by row: some twenty per row)."""
    settings.CRM_IMPORT_SET_BASED = True
    director = iw.users["director"]

    def statements(n: int, start: int) -> int:
        rows = [
            ["客户名称", "电话", "行业", "联系人", "手机"],
            *[
                [f"语句计数{i}有限公司", f"0571-{i:08d}", "制造业", f"联系人{i}", f"138{i:08d}"]
                for i in range(start, start + n)
            ],
        ]
        job = new_job(director, "customers", rows)
        services.start_job(actor=fresh(director), job=job)
        with CaptureQueriesContext(connection) as queries:
            services.run_job(job.pk, size=1000)
        job.refresh_from_db()
        assert (job.created_count, job.failed_count) == (n, 0)
        return len(queries.captured_queries)

    small = statements(5, 0)
    large = statements(60, 100)
    assert large == small
    assert large < 60
