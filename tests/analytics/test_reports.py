"""Custom reports (R8.8, H-REPORTS): the report engine against an independent computation (plain
Python over the rows the tests create through the business services) per data scope (rep,
manager of a department tree, director), definition validation, sharing, ownership, and the
builder, detail and export pages."""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.activities import services as activity_services
from crm.analytics import report_services, reports
from crm.analytics.models import SavedReport
from crm.core.errors import NotFound, PermissionDenied, ValidationFailed
from crm.core.models import Event
from crm.core.testing.world import World, build_world, make_user, role
from crm.customers.models import Customer
from crm.customers.services import create_customer
from crm.org.models import User
from crm.pipeline import opportunities as opp_services
from crm.pipeline.models import Opportunity, Stage
from tests.conftest import login_client

TZ = ZoneInfo("Asia/Shanghai")
ZERO = Decimal("0.00")


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


@dataclass
class Sales:
    """build_world's tree with people holding the built-in roles (analytics rights) and what
    the test created, kept in plain Python for the independent computation."""

    w: World
    people: dict[str, User]
    stages: list[Stage]
    opps: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    contracts: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    _customer_of: dict[str, Any] = field(default_factory=dict)

    def user(self, key: str) -> User:
        return fresh(self.people[key])

    def customer(self, key: str, **data: Any) -> Any:
        n = len(self.customers) + 1
        data.setdefault("name", f"{key}客户{n}有限公司")
        grade = data.pop("grade", "")
        c = create_customer(
            actor=self.user(key),
            data=data,
            contacts=[{"name": f"联系人{n}", "mobile": f"1390000{n:04d}"}],
        )
        if grade:  # grades are computed by the grading rules; set directly for the test
            Customer.objects.filter(pk=c.pk).update(grade=grade)
        self.customers.append(
            {
                "pk": c.pk,
                "owner": key,
                "industry": data.get("industry", ""),
                "grade": grade,
                "created": c.created_at,
            }
        )
        self._customer_of.setdefault(key, c)
        return c

    def opportunity(
        self,
        key: str,
        when: datetime,
        amount: str,
        stage: int = 0,
        customer: Any = None,
        **data: Any,
    ) -> Opportunity:
        customer = customer or self._customer_of.get(key) or self.customer(key)
        data.setdefault("name", f"商机{len(self.opps) + 1}")
        with time_machine.travel(when, tick=False):
            o = opp_services.create_opportunity(
                actor=self.user(key),
                customer=customer,
                data={"expected_amount": amount, **data},
                stage=self.stages[stage],
            )
        self.opps.append(
            {
                "pk": o.pk,
                "owner": key,
                "stage": self.stages[stage].name,
                "amount": Decimal(amount),
                "customer": customer.pk,
                "source": data.get("source", ""),
                "created": when,
                "status": "continue",
            }
        )
        return o

    def followup(self, key: str, when: datetime, method: str) -> None:
        customer = self._customer_of.get(key) or self.customer(key)
        activity_services.record_followup(
            actor=self.user(key),
            customer=customer,
            data={"method": method, "content": "拜访沟通", "happened_at": when},
        )
        self.followups.append(
            {"owner": key, "method": method, "when": when, "customer": customer.pk}
        )


def dict_label(org_id: int, kind: str, value: str) -> str:
    """The organisation's label of a dictionary value (what a report shows for it)."""
    from crm.pipeline.models import DictionaryItem

    return DictionaryItem.objects.get(org_id=org_id, kind=kind, value=value).label


ROLE_OF = {
    "rep_a": ("rep", "east"),
    "rep_b": ("rep", "east"),
    "rep_s": ("rep", "south"),
    "rep_2": ("rep", "sales2"),
    "manager": ("manager", "sales1"),
    "director": ("director", "root"),
}
NAMES = {
    "rep_a": "甲销售",
    "rep_b": "乙销售",
    "rep_s": "南方销售",
    "rep_2": "二部销售员",
    "manager": "一部经理",
    "director": "总监",
}
#: whose rows each viewer sees (built-in scopes: rep own, manager sales1 and below, director all)
SCOPE = {
    "rep_a": {"rep_a"},
    "rep_b": {"rep_b"},
    "rep_2": {"rep_2"},
    "manager": {"rep_a", "rep_b", "rep_s", "manager"},
    "director": {"rep_a", "rep_b", "rep_s", "rep_2", "manager", "director"},
}


def build_sales(*, with_money: bool = False) -> Sales:
    w = build_world()
    people = {
        key: make_user(w.admin, NAMES[key], w.depts[dept], [role(w.org, code)])
        for key, (code, dept) in ROLE_OF.items()
    }
    stages = list(
        Stage.objects.filter(org=w.org, parent__isnull=True, kind="open").order_by(
            "pipeline__is_default", "sort_order"
        )
    )
    default = Opportunity._meta.get_field("pipeline").related_model.objects.get(  # type: ignore[union-attr]
        org=w.org, is_default=True
    )
    stages = [s for s in stages if s.pipeline_id == default.pk]
    s = Sales(w=w, people=people, stages=stages)
    s.customer("rep_a", industry="manufacturing", grade="A")
    s.customer("rep_b", industry="retail", grade="B")
    s.customer("rep_s", industry="manufacturing", grade="A")
    s.customer("rep_2", industry="finance", grade="C")
    s.customer("rep_a", industry="retail", grade="B")
    plan = [
        ("rep_a", datetime(2026, 1, 31, 23, 30, tzinfo=TZ), "1000.50", 0, "exhibition"),
        ("rep_a", datetime(2026, 2, 1, 0, 30, tzinfo=TZ), "2000.25", 1, "referral"),
        ("rep_a", datetime(2026, 2, 10, 9, 0, tzinfo=TZ), "300", 1, "exhibition"),
        ("rep_b", datetime(2026, 1, 5, 9, 0, tzinfo=TZ), "4000", 0, "exhibition"),
        ("rep_b", datetime(2026, 3, 5, 9, 0, tzinfo=TZ), "50", 2, ""),
        ("rep_s", datetime(2026, 2, 15, 9, 0, tzinfo=TZ), "777.77", 2, "referral"),
        ("rep_2", datetime(2026, 2, 20, 9, 0, tzinfo=TZ), "9999", 0, "exhibition"),
        ("manager", datetime(2026, 3, 1, 9, 0, tzinfo=TZ), "123.45", 1, ""),
    ]
    for key, when, amount, stage, source in plan:
        s.opportunity(key, when, amount, stage, source=source)
    for key, when, method in [
        ("rep_a", datetime(2026, 3, 2, 10, tzinfo=TZ), "call"),
        ("rep_a", datetime(2026, 3, 3, 10, tzinfo=TZ), "visit"),
        ("rep_a", datetime(2026, 3, 4, 10, tzinfo=TZ), "call"),
        ("rep_b", datetime(2026, 3, 2, 10, tzinfo=TZ), "wechat"),
        ("rep_2", datetime(2026, 3, 2, 10, tzinfo=TZ), "call"),
        ("rep_s", datetime(2026, 2, 27, 10, tzinfo=TZ), "call"),
    ]:
        with time_machine.travel(datetime(2026, 3, 10, 12, tzinfo=TZ), tick=False):
            s.followup(key, when, method)
    if with_money:
        from crm.finance import plan_services, receipt_services
        from crm.sales import contract_services

        for key, amount, paid in [("rep_a", "5000", "1200.50"), ("rep_2", "8000", "8000")]:
            opp = s.opportunity(key, datetime(2026, 3, 1, 9, tzinfo=TZ), amount, 1)
            actor = s.user(key)
            contract = contract_services.create_contract(
                actor=actor, opportunity=opp, data={"name": f"{key}合同"}
            )
            contract = contract_services.submit_contract(actor=actor, contract=contract)
            contract = contract_services.sign_contract(
                actor=actor, contract=contract, signed_on=date(2026, 3, 2)
            )
            s.contracts.append({"owner": key, "amount": contract.amount})
            plan_services.replace_plans(
                actor=w.admin,
                contract=contract,
                rows=[{"due_on": date(2026, 3, 31), "amount": contract.amount}],
            )
            receipt = receipt_services.record_receipt(
                actor=w.admin,
                contract=contract,
                data={"amount": paid, "method": "transfer", "received_on": date(2026, 3, 3)},
            )
            s.receipts.append({"owner": key, "amount": receipt.amount, "status": receipt.status})
    return s


@pytest.fixture
def sales(db: None) -> Sales:
    return build_sales()


def table(result: reports.Result) -> dict[tuple[str, ...], tuple[Any, ...]]:
    """The report's rows as {dimension labels: measure values}."""
    f = result.figure
    dims = result.definition.dimensions
    return {
        tuple(r[k] for k in dims): tuple(r[k] for k in result.definition.measures) for r in f.rows
    }


# --- the figures against plain Python -------------------------------------------------------------
@pytest.mark.parametrize("viewer", ["rep_a", "manager", "director"])
def test_opportunities_by_owner_and_stage_follow_each_scope(sales: Sales, viewer: str) -> None:
    # R8.8: the same definition gives every viewer the figures of their own scope
    definition = {
        "subject": "opportunities",
        "dimensions": ["owner", "stage"],
        "measures": ["count", "sum_expected_amount", "customers", "avg_expected_amount"],
    }
    result = reports.run(sales.user(viewer), definition)
    expected: dict[tuple[str, ...], list[Any]] = {}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for o in sales.opps:
        if o["owner"] in SCOPE[viewer]:
            groups[(NAMES[o["owner"]], o["stage"])].append(o)
    for key, rows in groups.items():
        total = sum((r["amount"] for r in rows), ZERO)
        expected[key] = [
            len(rows),
            total,
            len({r["customer"] for r in rows}),
            (total / len(rows)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        ]
    assert {k: list(v) for k, v in table(result).items()} == expected
    totals = result.figure.totals or {}
    mine = [o for o in sales.opps if o["owner"] in SCOPE[viewer]]
    assert totals["count"] == len(mine)
    assert totals["sum_expected_amount"] == sum((o["amount"] for o in mine), ZERO)
    assert totals["customers"] == len({o["customer"] for o in mine})


def test_month_of_a_moment_is_taken_in_the_organisations_time_zone(sales: Sales) -> None:
    # R8.8: 2026-01-31 23:30 and 2026-02-01 00:30 Shanghai are both 31 January in UTC
    result = reports.run(
        sales.user("rep_a"),
        {"subject": "opportunities", "dimensions": ["created_month"], "measures": ["count"]},
    )
    expected: dict[tuple[str], tuple[int]] = {}
    counts: dict[str, int] = defaultdict(int)
    for o in sales.opps:
        if o["owner"] == "rep_a":
            counts[o["created"].astimezone(TZ).strftime("%Y-%m")] += 1
    expected = {(k,): (v,) for k, v in counts.items()}
    assert table(result) == expected == {("2026-01",): (1,), ("2026-02",): (2,)}
    # chronological order by default
    assert [r["created_month"] for r in result.figure.rows] == ["2026-01", "2026-02"]


def test_filters_status_source_dates_and_department(sales: Sales) -> None:
    # R8.8: filters on a date range, source, department (and below) and owner
    director = sales.user("director")
    definition = {
        "subject": "opportunities",
        "dimensions": ["source"],
        "measures": ["count", "sum_expected_amount"],
        "filters": {
            "created": {"from": "2026-02-01", "to": "2026-02-28"},
            "department": sales.w.depts["sales1"].pk,
            "status": ["continue"],
        },
    }
    result = reports.run(director, definition)
    expected: dict[tuple[str], list[Any]] = {}
    for o in sales.opps:
        local = o["created"].astimezone(TZ).date()
        if not (date(2026, 2, 1) <= local <= date(2026, 2, 28)):
            continue
        if o["owner"] not in {"rep_a", "rep_b", "rep_s", "manager"}:
            continue
        label = (
            dict_label(sales.w.org.pk, "source", o["source"])
            if o["source"]
            else str(reports.NONE_LABEL)
        )
        row = expected.setdefault((label,), [0, ZERO])
        row[0] += 1
        row[1] += o["amount"]
    assert {k: list(v) for k, v in table(result).items()} == expected
    only_a = reports.run(
        director,
        {
            "subject": "opportunities",
            "dimensions": ["owner"],
            "measures": ["count"],
            "filters": {"owner": [sales.people["rep_a"].pk]},
        },
    )
    assert table(only_a) == {(NAMES["rep_a"],): (3,)}


def test_followups_by_method_and_customers_by_industry(sales: Sales) -> None:
    # R8.8: follow-up counts per method, customers per industry and grade, per scope
    manager = sales.user("manager")
    result = reports.run(
        manager,
        {
            "subject": "followups",
            "dimensions": ["owner", "method"],
            "measures": ["count"],
            "filters": {"happened": {"from": "2026-03-01"}},
        },
    )
    from crm.activities.choices import Method

    expected: dict[tuple[str, str], int] = defaultdict(int)
    for f in sales.followups:
        if f["owner"] in SCOPE["manager"] and f["when"].date() >= date(2026, 3, 1):
            expected[(NAMES[f["owner"]], str(Method(f["method"]).label))] += 1
    assert table(result) == {k: (v,) for k, v in expected.items()}

    by_industry = reports.run(
        sales.user("director"),
        {
            "subject": "customers",
            "dimensions": ["industry"],
            "measures": ["count"],
            "filters": {"grade": ["A", "B"]},
            "sort": "industry",
        },
    )
    counts: dict[str, int] = defaultdict(int)
    for c in sales.customers:
        if c["grade"] in ("A", "B"):
            counts[dict_label(sales.w.org.pk, "industry", c["industry"])] += 1
    assert table(by_industry) == {(k,): (v,) for k, v in counts.items()}
    assert [r["industry"] for r in by_industry.figure.rows] == sorted(counts)


def test_contracts_and_receipts_sum_per_scope(db: None) -> None:
    # R8.8: contract amounts and receipts per owner, for the manager's tree and the director
    s = build_sales(with_money=True)
    for viewer in ("manager", "director"):
        user = s.user(viewer)
        contracts = reports.run(
            user,
            {"subject": "contracts", "dimensions": ["owner"], "measures": ["count", "sum_amount"]},
        )
        expected: dict[tuple[str], list[Any]] = {}
        for c in s.contracts:
            if c["owner"] in SCOPE[viewer]:
                row = expected.setdefault((NAMES[c["owner"]],), [0, ZERO])
                row[0] += 1
                row[1] += c["amount"]
        assert {k: list(v) for k, v in table(contracts).items()} == expected
        receipts = reports.run(
            user,
            {
                "subject": "receipts",
                "dimensions": ["received_month"],
                "measures": ["sum_amount"],
                "filters": {"received": {"from": "2026-03-01", "to": "2026-03-31"}},
            },
        )
        paid = sum((r["amount"] for r in s.receipts if r["owner"] in SCOPE[viewer]), ZERO)
        assert table(receipts) == ({("2026-03",): (paid,)} if paid else {})


def test_product_lines_split_counts_without_double_counting(sales: Sales) -> None:
    # R8.8: the product dimension counts each opportunity once per product
    rep = sales.user("rep_b")
    customer = sales._customer_of["rep_b"]
    with time_machine.travel(datetime(2026, 3, 6, 9, tzinfo=TZ), tick=False):
        opp_services.create_opportunity(
            actor=rep,
            customer=customer,
            data={"name": "多产品商机", "expected_amount": "100"},
            lines=[
                {"product": "软件", "quantity": "1", "unit_price": "60"},
                {"product": "软件", "quantity": "1", "unit_price": "10"},
                {"product": "服务", "quantity": "2", "unit_price": "15"},
            ],
        )
    result = reports.run(
        rep,
        {
            "subject": "opportunities",
            "dimensions": ["product"],
            "measures": ["count", "sum_line_amount"],
            "filters": {"product": ["软件", "服务"]},
        },
    )
    assert table(result) == {
        ("软件",): (1, Decimal("70.00")),
        ("服务",): (1, Decimal("30.00")),
    }
    with pytest.raises(ValidationFailed) as exc:
        reports.validate(
            {
                "subject": "opportunities",
                "dimensions": ["product"],
                "measures": ["sum_expected_amount"],
            }
        )
    assert "measures" in exc.value.field_errors


# --- validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("definition", "field_name"),
    [
        ("not an object", "definition"),
        ({"subject": "invoices", "dimensions": ["owner"], "measures": ["count"]}, "subject"),
        ({"subject": "customers", "dimensions": ["password"], "measures": ["count"]}, "dimensions"),
        ({"subject": "customers", "dimensions": [], "measures": ["count"]}, "dimensions"),
        (
            {
                "subject": "customers",
                "dimensions": ["owner", "grade", "region"],
                "measures": ["count"],
            },
            "dimensions",
        ),
        ({"subject": "customers", "dimensions": ["owner"], "measures": ["sum_amount"]}, "measures"),
        ({"subject": "customers", "dimensions": ["owner"], "measures": []}, "measures"),
        (
            {"subject": "customers", "dimensions": ["owner"], "measures": ["count"], "sql": "1"},
            "sql",
        ),
        (
            {
                "subject": "customers",
                "dimensions": ["owner"],
                "measures": ["count"],
                "filters": {"owner__password": ["x"]},
            },
            "filters.owner__password",
        ),
        (
            {
                "subject": "opportunities",
                "dimensions": ["owner"],
                "measures": ["count"],
                "filters": {"created": {"from": "2026-02-30"}},
            },
            "filters.created",
        ),
        (
            {
                "subject": "opportunities",
                "dimensions": ["owner"],
                "measures": ["count"],
                "filters": {"created": {"from": "2026-03-01", "to": "2026-02-01"}},
            },
            "filters.created",
        ),
        (
            {
                "subject": "opportunities",
                "dimensions": ["owner"],
                "measures": ["count"],
                "filters": {"owner": [2**70]},
            },
            "filters.owner",
        ),
        (
            {
                "subject": "opportunities",
                "dimensions": ["owner"],
                "measures": ["count"],
                "filters": {"status": ["won", "deleted"]},
            },
            "filters.status",
        ),
        (
            {
                "subject": "opportunities",
                "dimensions": ["owner"],
                "measures": ["count"],
                "sort": "name",
            },
            "sort",
        ),
        (
            {
                "subject": "opportunities",
                "dimensions": ["owner"],
                "measures": ["count"],
                "chart": "3d",
            },
            "chart",
        ),
        (
            {
                "subject": "opportunities",
                "dimensions": ["owner"],
                "measures": ["count"],
                "limit": 10**9,
            },
            "limit",
        ),
        (
            {
                "subject": "opportunities",
                "dimensions": ["owner"],
                "measures": ["count"],
                "limit": True,
            },
            "limit",
        ),
    ],
)
def test_a_bad_definition_is_refused_with_a_message(definition: Any, field_name: str) -> None:
    # R8.8: unknown fields and bad values are refused with a message, never run
    with pytest.raises(ValidationFailed) as exc:
        reports.validate(definition)
    assert field_name in exc.value.field_errors
    assert all(str(m) for msgs in exc.value.field_errors.values() for m in msgs)


def test_relative_periods() -> None:
    # R8.8: relative periods for scheduled reports
    today = date(2026, 2, 18)  # a Wednesday
    assert reports.period_range("this_week", today) == (date(2026, 2, 16), date(2026, 2, 22))
    assert reports.period_range("last_week", today) == (date(2026, 2, 9), date(2026, 2, 15))
    assert reports.period_range("last_month", today) == (date(2026, 1, 1), date(2026, 1, 31))
    assert reports.period_range("this_month", today) == (date(2026, 2, 1), date(2026, 2, 28))
    assert reports.period_range("last_quarter", today) == (date(2025, 10, 1), date(2025, 12, 31))
    assert reports.period_range("this_quarter", date(2026, 5, 2)) == (
        date(2026, 4, 1),
        date(2026, 6, 30),
    )
    assert reports.period_range("last_year", today) == (date(2025, 1, 1), date(2025, 12, 31))
    assert reports.period_range("last_7_days", today) == (date(2026, 2, 12), today)


# --- sharing and ownership ------------------------------------------------------------------------
DEF = {
    "subject": "opportunities",
    "dimensions": ["owner"],
    "measures": ["count", "sum_expected_amount"],
}


def test_a_shared_report_read_by_a_rep_shows_only_the_reps_rows(sales: Sales) -> None:
    # R8.8: whoever opens a shared report sees it over their own scope
    director = sales.user("director")
    report = report_services.save_report(
        actor=director, name="全员商机", definition=DEF, shared="org"
    )
    assert Event.objects.filter(verb="report.saved", object_id=str(report.pk)).exists()
    rep = sales.user("rep_a")
    seen = report_services.get_report(rep, report.pk)
    result = reports.run(rep, seen.definition)
    mine = [o for o in sales.opps if o["owner"] == "rep_a"]
    assert table(result) == {(NAMES["rep_a"],): (len(mine), sum((o["amount"] for o in mine), ZERO))}
    # the detail page as the rep: no colleague's name in it
    page = login_client(rep).get(reverse("analytics:report_detail", args=[report.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert NAMES["rep_a"] in text
    for other in ("rep_b", "rep_s", "rep_2", "manager"):
        assert NAMES[other] not in text


def test_sharing_levels_and_only_the_owner_changes_a_report(sales: Sales) -> None:
    # R8.8: only me / my department / everyone; only the owner edits or deletes
    rep_a, rep_b, rep_2 = sales.user("rep_a"), sales.user("rep_b"), sales.user("rep_2")
    private = report_services.save_report(actor=rep_a, name="私有", definition=DEF)
    team = report_services.save_report(actor=rep_a, name="组内", definition=DEF, shared="team")
    ids_b = set(report_services.visible_reports(rep_b).values_list("pk", flat=True))
    ids_2 = set(report_services.visible_reports(rep_2).values_list("pk", flat=True))
    assert team.pk in ids_b and private.pk not in ids_b
    assert team.pk not in ids_2 and private.pk not in ids_2
    with pytest.raises(NotFound):
        report_services.get_report(rep_b, private.pk)
    with pytest.raises(PermissionDenied):
        report_services.get_own_report(rep_b, team.pk)
    with pytest.raises(PermissionDenied):
        report_services.save_report(actor=rep_b, report=team, name="改", definition=DEF)
    with pytest.raises(PermissionDenied):
        report_services.delete_report(actor=rep_b, report=team)
    client = login_client(rep_b)
    assert client.post(reverse("analytics:report_delete", args=[team.pk])).status_code == 403
    assert client.post(reverse("analytics:report_delete", args=[private.pk])).status_code == 404
    assert SavedReport.objects.filter(pk__in=[team.pk, private.pk]).count() == 2
    team_pk = team.pk
    report_services.delete_report(actor=rep_a, report=team)
    assert not SavedReport.objects.filter(pk=team_pk).exists()
    assert Event.objects.filter(verb="report.deleted", object_id=str(team_pk)).exists()


def test_save_refuses_a_bad_name_and_definition(sales: Sales) -> None:
    # R8.8: clear messages for a bad name, sharing or definition
    with pytest.raises(ValidationFailed) as exc:
        report_services.save_report(
            actor=sales.user("rep_a"),
            name=" ",
            shared="world",
            definition={"subject": "customers", "dimensions": ["x"], "measures": ["count"]},
        )
    assert {"name", "shared", "dimensions"} <= set(exc.value.field_errors)


# --- pages ----------------------------------------------------------------------------------------
def _builder_query(**extra: Any) -> dict[str, Any]:
    return {
        "subject": "opportunities",
        "dim1": "owner",
        "dim2": "stage",
        "measures": ["count", "sum_expected_amount"],
        "chart": "bar",
        **extra,
    }


def test_builder_preview_and_save(sales: Sales) -> None:
    # R8.8: the builder's live preview and saving with a name and sharing
    rep = sales.user("rep_a")
    client = login_client(rep)
    page = client.get(reverse("analytics:report_builder"), {"subject": "opportunities"})
    assert page.status_code == 200
    preview = client.get(
        reverse("analytics:report_preview"), _builder_query(), HTTP_HX_REQUEST="true"
    )
    assert preview.status_code == 200
    text = preview.content.decode()
    assert NAMES["rep_a"] in text and NAMES["rep_b"] not in text
    assert "¥3,300.75" in text  # 1000.50 + 2000.25 + 300
    bad = client.get(reverse("analytics:report_preview"), _builder_query(dim1="password"))
    assert bad.status_code == 200
    assert "data-error" in bad.content.decode()
    saved = client.post(
        reverse("analytics:report_builder"),
        {**_builder_query(), "name": "我的商机", "shared": "team"},
    )
    assert saved.status_code == 302
    report = SavedReport.objects.get(name="我的商机")
    assert report.owner_id == rep.pk and report.shared == "team"
    assert report.definition["dimensions"] == ["owner", "stage"]
    listing = client.get(reverse("analytics:reports"))
    assert "我的商机" in listing.content.decode()
    edit = client.post(
        reverse("analytics:report_edit", args=[report.pk]),
        {**_builder_query(dim2=""), "name": "我的商机2", "shared": "private"},
    )
    assert edit.status_code == 302
    report.refresh_from_db()
    assert report.name == "我的商机2" and report.definition["dimensions"] == ["owner"]


def test_export_needs_the_export_permission_and_holds_the_viewers_rows(sales: Sales) -> None:
    # R8.8: Excel export of a report (analytics:export), over the viewer's scope
    from openpyxl import load_workbook

    director = sales.user("director")
    report = report_services.save_report(actor=director, name="导出", definition=DEF, shared="org")
    url = reverse("analytics:report_detail", args=[report.pk])
    assert login_client(sales.user("rep_a")).get(url, {"export": "report"}).status_code == 403
    response = login_client(sales.user("manager")).get(url, {"export": "report"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))  # type: ignore[attr-defined]
    rows = list(book.active.iter_rows(values_only=True))  # type: ignore[union-attr]
    names = {r[0] for r in rows[1:]}
    assert names == {NAMES[k] for k in SCOPE["manager"] if any(o["owner"] == k for o in sales.opps)}


def test_detail_page_queries_do_not_grow_with_rows(sales: Sales) -> None:
    # R8.8: one GROUP BY query, labels in one query per dimension
    director = sales.user("director")
    report = report_services.save_report(
        actor=director,
        name="规模",
        definition={**DEF, "dimensions": ["owner", "stage"]},
        shared="org",
    )
    client = login_client(director)
    url = reverse("analytics:report_detail", args=[report.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as before:
        client.get(url)
    for i in range(6):
        sales.opportunity("rep_2", datetime(2026, 3, 9, 9, tzinfo=TZ), "10", i % len(sales.stages))
        sales.opportunity("rep_s", datetime(2026, 3, 9, 9, tzinfo=TZ), "10", i % len(sales.stages))
    with CaptureQueriesContext(connection) as after:
        client.get(url)
    assert len(after) == len(before)


def test_pages_need_analytics_view(sales: Sales) -> None:
    # R8.8: without analytics:view the pages answer 403
    nobody = fresh(sales.w.users["nobody"])
    client = login_client(nobody)
    assert client.get(reverse("analytics:reports")).status_code == 403
    assert client.get(reverse("analytics:report_builder")).status_code == 403
