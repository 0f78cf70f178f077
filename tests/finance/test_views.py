"""Finance pages (R7.1–R7.3): the collection board (due this week, overdue with ageing,
received this month, contracts awaiting payment) and the analysis, the receivables list and the
plan editor, receipts and invoices end to end, the sections of the contract and customer
pages, and another organisation's or an out-of-scope user's requests answering 404 with
nothing changed."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from crm.core.models import Event
from crm.core.testing.pages import with_sections
from crm.finance import invoice_services, plan_services, receipt_services, selectors
from crm.finance.models import Invoice, Receipt, ReceivablePlan, WriteOff
from crm.sales.models import Contract
from tests.finance.conftest import Fin, fresh, signed_contract

D = Decimal


def html(response: Any) -> str:
    return response.content.decode()


@pytest.fixture
def busy(fin: Fin) -> Fin:
    """Three installments: one paid (due 40 days ago), one overdue (10 days), one due in 2."""
    today = timezone.localdate()
    plan_services.replace_plans(
        actor=fin.finance,
        contract=fin.contract,
        rows=[
            {"due_on": today - timedelta(days=40), "amount": "30000"},
            {"due_on": today - timedelta(days=10), "amount": "30000"},
            {"due_on": today + timedelta(days=2), "amount": "40000"},
        ],
    )
    receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "35000", "payer": "回款测试"}
    )
    return fin.refresh()


def test_collection_board_shows_what_finance_needs(busy: Fin, client_for: Any) -> None:
    """R7.3: due this week, overdue (ageing), received this month, contracts awaiting payment."""
    today = timezone.localdate()
    r = client_for(busy.finance).get(reverse("finance:collection_board"))
    assert r.status_code == 200
    page = html(r)
    assert "¥35,000.00" in page  # received this month
    assert "¥25,000.00" in page  # overdue: installment 2 has ¥25,000 open
    assert busy.contract.number in page
    assert 'id="ageing-data"' in page
    board = selectors.board(busy.finance, today)
    assert board.overdue_total == D("25000.00") and board.overdue_count == 1
    assert board.received_this_month == D("35000.00")
    assert [c.pk for c in board.awaiting] == [busy.contract.pk]
    assert board.awaiting[0].overdue_amount == D("25000.00")
    week_end = selectors.week_start(today) + timedelta(days=6)
    expected_week = D("40000.00") if today + timedelta(days=2) <= week_end else D("0.00")
    assert board.due_this_week_total == expected_week


def test_board_respects_scope(busy: Fin, client_for: Any) -> None:
    """R7.3: a rep sees their own contracts' money; another rep sees none of it."""
    assert busy.contract.number in html(
        client_for(busy.rep).get(reverse("finance:collection_board"))
    )
    other = client_for(busy.other_rep).get(reverse("finance:collection_board"))
    assert other.status_code == 200 and busy.contract.number not in html(other)
    assert selectors.board(busy.other_rep, timezone.localdate()).overdue_total == D("0.00")


def test_ageing_buckets_on_fixed_dates(fin: Fin) -> None:
    """R7.3: 1–30, 31–60, 61–90, 90+ days past due, counted on a fixed day."""
    today = date(2026, 6, 30)
    days = [0, 1, 30, 31, 60, 61, 90, 91, 400]
    amounts = [D(100 * (i + 1)) for i in range(len(days))]
    Contract.objects.filter(pk=fin.contract.pk).update(amount=sum(amounts))
    plan_services.replace_plans(
        actor=fin.finance,
        contract=fin.contract,
        rows=[
            {"due_on": today - timedelta(days=d), "amount": a}
            for d, a in zip(days, amounts, strict=True)
        ],
    )
    buckets = {b.key: (b.amount, b.count) for b in selectors.ageing(fin.finance, today)}
    assert buckets == {
        "1-30": (D("500.00"), 2),  # 1 and 30 days
        "31-60": (D("900.00"), 2),  # 31 and 60
        "61-90": (D("1300.00"), 2),  # 61 and 90
        "90+": (D("1700.00"), 2),  # 91 and 400
    }
    assert selectors.bucket_of(0) is None and selectors.bucket_of(30) == "1-30"
    assert selectors.bucket_of(91) == "90+"
    with time_machine.travel(
        datetime(2026, 6, 30, 10, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False
    ):
        assert timezone.localdate() == today


def test_analysis_trend_and_owners(busy: Fin, client_for: Any) -> None:
    """R7.3: received per month and per owner, with net flow = receipts − refunds."""
    r = client_for(busy.finance).get(reverse("finance:analysis"), {"period": "12m"})
    assert r.status_code == 200
    page = html(r)
    assert 'id="analysis-data"' in page and busy.rep.display_name in page
    today = timezone.localdate()
    data = selectors.analysis(
        busy.finance, date(today.year, 1, 1), date(today.year + 1, 1, 1), today
    )
    assert data["received"] == D("35000.00") and data["net"] == D("35000.00")
    (owner,) = data["owners"]
    assert owner["user"].pk == busy.rep.pk and owner["outstanding"] == D("65000.00")
    bad = client_for(busy.finance).get(
        reverse("finance:analysis"), {"period": "custom", "date_from": "2026-05-01"}
    )
    assert bad.status_code == 200


def test_plan_list_filters(busy: Fin, client_for: Any) -> None:
    client = client_for(busy.finance)
    page = html(client.get(reverse("finance:plan_list"), {"due": "overdue"}))
    assert page.count('data-plan="') == 1
    page = html(client.get(reverse("finance:plan_list"), {"status": "done"}))
    assert page.count('data-plan="') == 1
    page = html(client.get(reverse("finance:plan_list"), {"q": busy.contract.number}))
    assert page.count('data-plan="') == 3
    assert (
        html(client_for(busy.other_rep).get(reverse("finance:plan_list"))).count('data-plan="') == 0
    )


def test_plan_editor_saves_the_set_and_splits(fin: Fin, client_for: Any) -> None:
    """R7.1: the editor saves rows; "split evenly" fills them; a wrong sum shows the message."""
    client = client_for(fin.rep)
    url = reverse("finance:plan_edit", args=[fin.contract.pk])
    assert client.get(url).status_code == 200
    split = client.post(
        url,
        {
            "split": "1",
            "split-count": "3",
            "split-first_due_on": "2026-07-01",
            "split-every_months": "1",
            "split-remind_days": "5",
        },
    )
    assert split.status_code == 200
    page = html(split)
    assert 'value="33333.34"' in page and 'value="2026-09-01"' in page
    assert not ReceivablePlan.objects.filter(contract=fin.contract).exists()
    form = {
        "plans-TOTAL_FORMS": "3",
        "plans-INITIAL_FORMS": "0",
        "plans-0-due_on": "2026-07-01",
        "plans-0-amount": "50000",
        "plans-1-due_on": "2026-08-01",
        "plans-1-percentage": "40",
        "plans-2-due_on": "2026-09-01",
        "plans-2-amount": "9999.99",
    }
    wrong = client.post(url, form)
    assert wrong.status_code == 200 and "¥0.01" in html(wrong)
    form["plans-2-amount"] = "10000"
    saved = client.post(url, {**form, "next": reverse("finance:plan_list")})
    assert saved.status_code == 302
    assert [p.amount for p in ReceivablePlan.objects.filter(contract=fin.contract)] == [
        D("50000.00"),
        D("40000.00"),
        D("10000.00"),
    ]
    assert client_for(fin.rep2).get(url).status_code == 404


def test_receipt_pages_end_to_end(busy: Fin, client_for: Any) -> None:
    """R7.2: finance records (allocations typed), views and voids; a rep may not record."""
    finance = client_for(busy.finance)
    create = reverse("finance:receipt_create")
    assert finance.get(create).status_code == 200  # the contract picker
    assert finance.get(create, {"contract": busy.contract.pk}).status_code == 200
    plans = list(ReceivablePlan.objects.filter(contract=busy.contract).order_by("sequence"))
    r = finance.post(
        f"{create}?contract={busy.contract.pk}",
        {
            "received_on": timezone.localdate().isoformat(),
            "amount": "1000",
            "method": "cheque",
            f"alloc_{plans[2].pk}": "1000",
        },
    )
    assert r.status_code == 302, html(r)[:2000]
    receipt = Receipt.objects.get(amount=D("1000.00"))
    plans[2].refresh_from_db()
    assert plans[2].received_amount == D("1000.00")
    over = finance.post(
        f"{create}?contract={busy.contract.pk}",
        {"received_on": timezone.localdate().isoformat(), "amount": "64000.01", "method": "cash"},
    )
    assert over.status_code == 200 and "¥64,000.00" in html(over)
    detail = finance.get(reverse("finance:receipt_detail", args=[receipt.pk]))
    assert detail.status_code == 200 and receipt.number in html(detail)
    void = finance.post(reverse("finance:receipt_void", args=[receipt.pk]), {"reason": "重复录入"})
    assert void.status_code == 302
    receipt.refresh_from_db()
    assert receipt.status == "voided"
    rep = client_for(busy.rep)
    assert rep.get(create, {"contract": busy.contract.pk}).status_code == 403
    assert rep.get(reverse("finance:receipt_detail", args=[receipt.pk])).status_code == 200
    assert (
        rep.post(reverse("finance:receipt_void", args=[receipt.pk]), {"reason": "x"}).status_code
        == 403
    )
    page = html(finance.get(reverse("finance:receipt_list"), {"status": "voided"}))
    assert receipt.number in page


def test_write_off_page(busy: Fin, client_for: Any) -> None:
    overdue = ReceivablePlan.objects.get(contract=busy.contract, sequence=2)
    url = reverse("finance:writeoff_create", args=[overdue.pk])
    client = client_for(busy.finance)
    assert client.get(url).status_code == 200
    r = client.post(url, {"amount": "5000", "reason": "部分无法收回"})
    assert r.status_code == 302
    overdue.refresh_from_db()
    assert overdue.written_off_amount == D("5000.00")
    assert client_for(busy.rep).get(url).status_code == 403


def test_invoice_pages_end_to_end(busy: Fin, client_for: Any) -> None:
    """R7.3: the rep requests (details prefilled from the customer), finance issues and mails."""
    rep = client_for(busy.rep)
    create = reverse("finance:invoice_create")
    form = rep.get(create, {"contract": busy.contract.pk})
    assert form.status_code == 200 and "91330100MA2B3C4D5E" in html(form)
    r = rep.post(
        f"{create}?contract={busy.contract.pk}",
        {
            "kind": "special",
            "amount": "20000",
            "title": "回款测试客户有限公司",
            "tax_number": "",
            "address_phone": "杭州",
            "bank_name": "招行",
            "bank_account": "1",
            "lines-TOTAL_FORMS": "3",
            "lines-INITIAL_FORMS": "0",
        },
    )
    assert r.status_code == 200 and "专票" in html(r)
    r = rep.post(
        f"{create}?contract={busy.contract.pk}",
        {
            "kind": "normal",
            "amount": "20000",
            "title": "回款测试客户有限公司",
            "lines-TOTAL_FORMS": "3",
            "lines-INITIAL_FORMS": "0",
            "lines-0-description": "软件",
            "lines-0-amount": "20000",
            "lines-0-tax_rate": "13",
        },
    )
    assert r.status_code == 302
    invoice = Invoice.objects.get()
    finance = client_for(busy.finance)
    detail = reverse("finance:invoice_detail", args=[invoice.pk])
    assert 'id="invoice-issue-form"' in html(finance.get(detail))
    assert 'id="invoice-issue-form"' not in html(rep.get(detail))
    assert rep.post(reverse("finance:invoice_issue", args=[invoice.pk]), {}).status_code == 403
    issue = finance.post(
        reverse("finance:invoice_issue", args=[invoice.pk]),
        {"invoice_number": "04400099", "issued_on": timezone.localdate().isoformat()},
    )
    assert issue.status_code == 302
    mail = finance.post(
        reverse("finance:invoice_mail", args=[invoice.pk]),
        {
            "recipient": "周明",
            "mail_address": "杭州市",
            "courier": "顺丰",
            "tracking_number": "SF1",
            "mailed_on": timezone.localdate().isoformat(),
        },
    )
    assert mail.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == "mailed"
    assert invoice.number in html(
        finance.get(reverse("finance:invoice_list"), {"status": "mailed"})
    )
    cancel = rep.post(reverse("finance:invoice_cancel", args=[invoice.pk]), {"reason": "作废"})
    assert cancel.status_code == 403
    assert (
        finance.post(
            reverse("finance:invoice_cancel", args=[invoice.pk]), {"reason": "红冲"}
        ).status_code
        == 302
    )


def test_sections_on_the_customer_and_contract_pages(busy: Fin, client_for: Any) -> None:
    """R7.1–R7.3: receivables on the customer 360 page; plans, receipts and invoices on the
    contract page, with the actions the user may take."""
    client = client_for(busy.rep)
    page = html(with_sections(client, reverse("customers:detail", args=[busy.customer.pk])))
    assert 'id="section-receivables"' in page and "customer-awaiting" in page
    url = reverse("sales:contract_detail", args=[busy.contract.pk])
    rep_page = html(client.get(url))
    for key in ("receivables", "receipts", "invoices"):
        assert f'id="section-{key}"' in rep_page
    assert 'id="plan-edit"' in rep_page and 'id="receipt-record"' not in rep_page
    finance_page = html(client_for(busy.finance).get(url))
    assert 'id="receipt-record"' in finance_page and "data-write-off=" in finance_page


def test_menu_has_the_finance_entries(busy: Fin, client_for: Any) -> None:
    page = html(client_for(busy.finance).get(reverse("finance:collection_board")))
    for name in ("receipt_list", "invoice_list", "plan_list", "collection_board"):
        assert f'href="{reverse(f"finance:{name}")}"' in page


def _records(fin: Fin) -> dict[str, Any]:
    today = timezone.localdate()
    plans = plan_services.replace_plans(
        actor=fin.finance,
        contract=fin.contract,
        rows=[{"due_on": today - timedelta(days=5), "amount": "100000"}],
    )
    receipt = receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "100"}
    )
    invoice = invoice_services.request_invoice(
        actor=fin.finance, contract=fin.contract, data={"amount": "100"}
    )
    return {"contract": fin.contract, "plan": plans[0], "receipt": receipt, "invoice": invoice}


ID_PAGES = [
    ("finance:plan_edit", "contract"),
    ("finance:writeoff_create", "plan"),
    ("finance:receipt_detail", "receipt"),
    ("finance:receipt_void", "receipt"),
    ("finance:invoice_detail", "invoice"),
    ("finance:invoice_issue", "invoice"),
    ("finance:invoice_mail", "invoice"),
    ("finance:invoice_cancel", "invoice"),
]


def _state(records: dict[str, Any]) -> list[Any]:
    return [
        type(obj)._base_manager.filter(pk=obj.pk).values().first() for obj in records.values()
    ] + [Event.objects.count(), Receipt.objects.count(), WriteOff.objects.count()]


def test_other_tenant_and_out_of_scope_get_404_and_change_nothing(
    fin: Fin, other_fin: Fin, client_for: Any
) -> None:
    """R7 (A1/A2): every finance page taking an id answers 404 to another organisation's
    admin and finance clerk and to reps and managers who may not see the record; nothing
    changes; list pages do not show the records."""
    records = _records(fin)
    before = _state(records)
    intruders = [
        other_fin.admin,
        other_fin.finance,
        fresh(fin.other_rep),
        fresh(fin.rep2),
        fresh(fin.other_manager),
    ]
    form = {
        "reason": "越权",
        "amount": "1",
        "invoice_number": "X",
        "issued_on": "2026-01-01",
        "recipient": "x",
        "mail_address": "x",
        "courier": "x",
        "tracking_number": "x",
        "mailed_on": "2026-01-01",
        "plans-TOTAL_FORMS": "1",
        "plans-INITIAL_FORMS": "0",
        "plans-0-due_on": "2026-01-01",
        "plans-0-amount": "100000",
    }
    for user in intruders:
        client = client_for(user)
        for name, key in ID_PAGES:
            url = reverse(name, args=[records[key].pk])
            missing = reverse(name, args=[987654321])
            for method in ("get", "post"):
                call = getattr(client, method)
                r = call(url, form) if method == "post" else call(url)
                baseline = call(missing, form) if method == "post" else call(missing)
                assert r.status_code == 404 or (
                    r.status_code in (403, 405) and r.status_code == baseline.status_code
                ), (user.name, name, method, r.status_code)
                assert records["contract"].number not in html(r)
        for query in ({"contract": records["contract"].pk},):
            for name in ("finance:receipt_create", "finance:invoice_create"):
                r = client.get(reverse(name), query)
                assert r.status_code in (403, 404), (user.name, name, r.status_code)
        for name in ("finance:receipt_list", "finance:invoice_list", "finance:plan_list"):
            r = client.get(reverse(name))
            assert r.status_code in (200, 403)
            assert records["receipt"].number not in html(r)
            assert records["invoice"].number not in html(r)
            assert re.search(rf'data-plan="{records["plan"].pk}"', html(r)) is None
    assert _state(records) == before


def test_signed_contract_helper_belongs_to_the_org(fin: Fin) -> None:
    contract = signed_contract(fin.rep, fin.customer, "1")
    assert contract.org_id == fin.world.org.pk and contract.number.startswith("HT-")


@pytest.mark.django_db
def test_the_demo_has_receivables_some_overdue() -> None:
    """R7: ``crm demo`` gives signed contracts plans, receipts (some partial) and invoices, with
    overdue installments on the collection board."""
    from django.core.management import call_command

    from crm.org.models import Organization, User

    call_command("demo")
    org = Organization.objects.get(name="演示科技有限公司")
    finance = User.objects.get(org=org, username="finance")
    assert ReceivablePlan.objects.filter(org=org).exists()
    assert Receipt.objects.filter(org=org, status="confirmed").exists()
    assert Invoice.objects.filter(org=org).exists()
    board = selectors.board(finance, timezone.localdate())
    assert board.overdue_total > 0 and board.awaiting_count > 0
    for contract in Contract.objects.filter(org=org, receivable_plans__isnull=False).distinct():
        total = sum(
            p.amount for p in ReceivablePlan.objects.filter(contract=contract, is_void=False)
        )
        assert total == contract.amount
