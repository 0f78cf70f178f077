"""Receivable plans (R7.1): installments edited as a set that adds up exactly to the contract
amount, shares filling amounts, "split evenly", floors at what was received, who may plan, and
the reminder N days before each due date (exactly once per installment and due date)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.activities.models import Reminder
from crm.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from crm.core.models import Event, Notification
from crm.finance import plan_services, receipt_services, tasks
from crm.finance.models import ReceivablePlan
from crm.sales.choices import ContractStatus
from crm.sales.models import Contract
from tests.finance.conftest import Fin, fresh, plan

D = Decimal


def amounts(contract: Contract) -> list[tuple[int, Decimal, Decimal]]:
    return list(
        ReceivablePlan.objects.filter(contract=contract, is_void=False)
        .order_by("sequence")
        .values_list("sequence", "amount", "percentage")
    )


def test_plans_must_add_up_exactly_with_a_clear_message(fin: Fin) -> None:
    """R7.1: ¥0.01 short is refused, saying by how much; nothing is written."""
    today = timezone.localdate()
    with pytest.raises(ValidationFailed) as caught:
        plan_services.replace_plans(
            actor=fin.rep,
            contract=fin.contract,
            rows=[
                {"due_on": today, "amount": "50000"},
                {"due_on": today + timedelta(days=30), "amount": "49999.99"},
            ],
        )
    message = str(caught.value.message)
    assert "¥99,999.99" in message and "¥100,000.00" in message and "¥0.01" in message
    assert not ReceivablePlan.objects.filter(contract=fin.contract).exists()
    assert not Event.objects.filter(verb="receivable.planned").exists()


def test_shares_fill_amounts_and_the_last_takes_the_remainder(fin: Fin) -> None:
    """R7.1: 33.33 % + 33.33 % + 33.34 % of ¥100,000 → exact amounts adding up."""
    Contract.objects.filter(pk=fin.contract.pk).update(amount=D("1000.01"))
    today = timezone.localdate()
    plan_services.replace_plans(
        actor=fin.rep,
        contract=fin.contract,
        rows=[
            {"due_on": today, "percentage": "33.33"},
            {"due_on": today + timedelta(days=1), "percentage": "33.33"},
            {"due_on": today + timedelta(days=2), "percentage": "33.34%"},
        ],
    )
    assert amounts(fin.contract) == [
        (1, D("333.30"), D("33.33")),
        (2, D("333.30"), D("33.33")),
        (3, D("333.41"), D("33.34")),
    ]


def test_an_amount_fills_its_share(fin: Fin) -> None:
    today = timezone.localdate()
    plan_services.replace_plans(
        actor=fin.rep,
        contract=fin.contract,
        rows=[
            {"due_on": today, "amount": "30000", "percentage": "99"},  # the amount wins
            {"due_on": today + timedelta(days=9), "amount": "70,000.00"},
        ],
    )
    assert amounts(fin.contract) == [(1, D("30000.00"), D("30.00")), (2, D("70000.00"), D("70.00"))]
    event = Event.objects.get(verb="receivable.planned", object_id=str(fin.contract.pk))
    assert event.actor_id == fin.rep.pk and len(event.data["plans"]) == 2


def test_split_evenly_puts_the_remainder_on_the_last_installment() -> None:
    """R7.1: the helper divides in whole fen."""
    assert plan_services.split_evenly(D("100000"), 3) == [
        D("33333.33"),
        D("33333.33"),
        D("33333.34"),
    ]
    assert plan_services.split_evenly(D("0.05"), 4) == [D("0.01"), D("0.01"), D("0.01"), D("0.02")]
    with pytest.raises(ValueError):
        plan_services.split_evenly(D("0.03"), 4)


def test_edit_keeps_ids_and_never_goes_below_what_was_received(fin: Fin) -> None:
    """R7.1: an installment's amount cannot go below received + written off; one with money
    on it cannot be removed."""
    first, second = plan(fin, "40000", "60000")
    receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "30000"}
    )
    today = timezone.localdate()
    with pytest.raises(ValidationFailed) as caught:
        plan_services.replace_plans(
            actor=fin.rep,
            contract=fin.contract,
            rows=[
                {"id": first.pk, "due_on": today, "amount": "20000"},
                {"id": second.pk, "due_on": today, "amount": "80000"},
            ],
        )
    assert "¥30,000.00" in str(caught.value.field_errors["0.amount"][0])
    with pytest.raises(ValidationFailed) as caught:
        plan_services.replace_plans(
            actor=fin.rep,
            contract=fin.contract,
            rows=[{"id": second.pk, "due_on": today, "amount": "100000"}],
        )
    assert "plans" in caught.value.field_errors
    plans = plan_services.replace_plans(
        actor=fin.rep,
        contract=fin.contract,
        rows=[
            {"id": first.pk, "due_on": today, "amount": "30000"},
            {"id": second.pk, "due_on": today, "amount": "50000"},
            {"due_on": today + timedelta(days=60), "amount": "20000"},
        ],
    )
    assert [p.pk for p in plans[:2]] == [first.pk, second.pk]
    first.refresh_from_db()
    assert first.received_amount == D("30000.00") and first.amount == D("30000.00")


def test_an_installment_with_a_voided_receipt_is_voided_not_deleted(fin: Fin) -> None:
    first, second = plan(fin, "40000", "60000")
    receipt = receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "1000"}
    )
    receipt_services.void_receipt(actor=fin.finance, receipt=receipt, reason="录错")
    plan_services.replace_plans(
        actor=fin.rep,
        contract=fin.contract,
        rows=[{"id": second.pk, "due_on": timezone.localdate(), "amount": "100000"}],
    )
    first.refresh_from_db()
    assert first.is_void and first.sequence > 1000
    assert amounts(fin.contract) == [(1, D("100000.00"), D("100.00"))]


def test_who_may_plan(fin: Fin) -> None:
    """R7.1: the contract's sales:edit (its rep, their manager) or finance:edit; others see
    nothing (404) or may not (403)."""
    today = timezone.localdate()
    rows = [{"due_on": today, "amount": "100000"}]
    for user in (fin.rep, fin.manager, fin.finance):
        plan_services.replace_plans(actor=fresh(user), contract=fin.contract, rows=rows)
    for user in (fin.rep2, fin.other_rep, fin.other_manager):
        with pytest.raises(NotFound):
            plan_services.replace_plans(actor=fresh(user), contract=fin.contract, rows=[])
    from crm.core.testing.world import make_role, make_user

    viewer = make_user(
        fin.admin,
        "只读",
        fin.world.depts["root"],
        [make_role(fin.admin, "合同只读", "all", ["sales:view", "finance:view"])],
    )
    with pytest.raises(PermissionDenied):
        plan_services.replace_plans(actor=fresh(viewer), contract=fin.contract, rows=rows)


def test_a_completed_contract_keeps_its_plan(fin: Fin) -> None:
    plan(fin, "100000")
    Contract.objects.filter(pk=fin.contract.pk).update(status=ContractStatus.COMPLETED)
    with pytest.raises(InvalidTransition):
        plan_services.replace_plans(
            actor=fin.rep,
            contract=fin.contract,
            rows=[{"due_on": timezone.localdate(), "amount": "100000"}],
        )


def test_a_draft_contract_may_be_planned_by_its_rep(fin: Fin) -> None:
    Contract.objects.filter(pk=fin.contract.pk).update(status=ContractStatus.DRAFT)
    plans = plan_services.replace_plans(
        actor=fin.rep,
        contract=fin.contract,
        rows=[{"due_on": timezone.localdate(), "amount": "100000"}],
    )
    assert len(plans) == 1


def test_reminder_once_per_installment_and_due_date(fin: Fin) -> None:
    """R7.1: N days before each due date the contract owner is reminded, exactly once, however
    often the job runs; a moved due date is reminded again."""
    today = date(2026, 6, 10)
    first, second = plan_services.replace_plans(
        actor=fin.finance,
        contract=fin.contract,
        rows=[
            {"due_on": today + timedelta(days=5), "amount": "40000", "remind_days": 7},
            {"due_on": today + timedelta(days=20), "amount": "60000", "remind_days": 7},
        ],
    )
    assert tasks.remind_org(fin.world.org.pk, today=today) == 1
    assert tasks.remind_org(fin.world.org.pk, today=today) == 0
    assert tasks.remind_org(fin.world.org.pk, today=today + timedelta(days=1)) == 0
    reminder = Reminder.objects.get(target_id=str(first.pk))
    assert reminder.kind == "receivable_due" and reminder.recipient_id == fin.rep.pk
    assert fin.contract.number in reminder.message and "¥40,000.00" in reminder.message
    assert Notification.objects.filter(recipient=fin.rep, verb="reminder.receivable_due").count()
    # the second installment enters its window 7 days before
    assert tasks.remind_org(fin.world.org.pk, today=today + timedelta(days=13)) == 1
    # a moved due date is a new reminder
    plan_services.replace_plans(
        actor=fin.finance,
        contract=fin.contract,
        rows=[
            {"id": first.pk, "due_on": today + timedelta(days=8), "amount": "40000"},
            {"id": second.pk, "due_on": today + timedelta(days=20), "amount": "60000"},
        ],
    )
    assert tasks.remind_org(fin.world.org.pk, today=today + timedelta(days=2)) == 1
    assert Reminder.objects.filter(kind="receivable_due").count() == 3


def test_no_reminder_for_a_paid_installment(fin: Fin) -> None:
    today = timezone.localdate()
    plan_services.replace_plans(
        actor=fin.finance,
        contract=fin.contract,
        rows=[{"due_on": today + timedelta(days=2), "amount": "100000"}],
    )
    receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "100000"}
    )
    assert tasks.remind_org(fin.world.org.pk, today=today) == 0
