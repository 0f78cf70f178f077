"""Receipts and write-offs (R7.2, R7.3): allocation to installments (oldest first, partial,
explicit), over-collection refused with a clear message, voiding gives back exactly, optional
approval, who may record (finance) and who may not (reps), the finance role cannot edit
opportunities, bad-debt write-offs with approval, and the A/B/C grade from signed contracts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from crm.core.models import Event
from crm.customers import grading
from crm.finance import receipt_services
from crm.finance.models import Receipt, ReceiptAllocation, ReceivablePlan, WriteOff
from crm.finance.selectors import signed_contract_amounts
from crm.pipeline import opportunities
from crm.sales import approvals
from crm.sales.choices import ContractStatus
from crm.sales.models import Contract
from tests.finance.conftest import Fin, approval_flow, fresh, plan, signed_contract

D = Decimal


def money_state(fin: Fin) -> tuple[Decimal, list[Decimal]]:
    contract = Contract.objects.get(pk=fin.contract.pk)
    plans = ReceivablePlan.objects.filter(contract=contract, is_void=False).order_by("sequence")
    return contract.received_amount, [p.received_amount for p in plans]


def test_fifo_allocation_settles_the_oldest_installments_first(fin: Fin) -> None:
    """R7.2: a receipt without allocations settles the oldest open installments first."""
    plan(fin, "30000", "30000", "40000")
    receipt = receipt_services.record_receipt(
        actor=fin.finance,
        contract=fin.contract,
        data={"amount": "45000.50", "method": "transfer", "payer": "回款测试客户有限公司"},
    )
    assert receipt.number.startswith("HK-") and receipt.status == "confirmed"
    assert receipt.owner_id == fin.rep.pk and receipt.customer_id == fin.customer.pk
    assert money_state(fin) == (D("45000.50"), [D("30000.00"), D("15000.50"), D("0.00")])
    assert Event.objects.filter(object_id=str(receipt.pk), verb="receipt.confirmed").exists()


def test_explicit_allocation_to_several_installments(fin: Fin) -> None:
    """R7.2: partial and multiple allowed; the allocations must add up to the receipt."""
    first, _second, third = plan(fin, "30000", "30000", "40000")
    with pytest.raises(ValidationFailed) as caught:
        receipt_services.record_receipt(
            actor=fin.finance,
            contract=fin.contract,
            data={"amount": "1000"},
            allocations=[(third.pk, "500")],
        )
    assert "allocations" in caught.value.field_errors
    receipt_services.record_receipt(
        actor=fin.finance,
        contract=fin.contract,
        data={"amount": "1000"},
        allocations=[(third.pk, "600"), (first.pk, "400")],
    )
    assert money_state(fin) == (D("1000.00"), [D("400.00"), D("0.00"), D("600.00")])


def test_over_collection_is_refused_with_what_is_left(fin: Fin) -> None:
    """R7.2: “¥X left to collect on this contract”; nothing changes."""
    plan(fin, "100000")
    receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "99999.99"}
    )
    receipts = Receipt.objects.count()
    with pytest.raises(ValidationFailed) as caught:
        receipt_services.record_receipt(
            actor=fin.finance, contract=fin.contract, data={"amount": "0.02"}
        )
    assert "¥0.01" in str(caught.value.field_errors["amount"][0])
    assert Receipt.objects.count() == receipts
    assert money_state(fin) == (D("99999.99"), [D("99999.99")])
    receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "0.01"}
    )
    assert money_state(fin) == (D("100000.00"), [D("100000.00")])


def test_an_installment_cannot_take_more_than_it_has_open(fin: Fin) -> None:
    first, _second = plan(fin, "30000", "70000")
    with pytest.raises(ValidationFailed) as caught:
        receipt_services.record_receipt(
            actor=fin.finance,
            contract=fin.contract,
            data={"amount": "30000.01"},
            allocations=[(first.pk, "30000.01")],
        )
    assert "¥30,000.00" in str(caught.value.field_errors["allocations.0.amount"][0])


def test_receipt_rules(fin: Fin) -> None:
    """R7.2: signed contracts only; no future dates; a plan first."""
    with pytest.raises(ValidationFailed) as caught:
        receipt_services.record_receipt(
            actor=fin.finance, contract=fin.contract, data={"amount": "1"}
        )
    assert "allocations" in caught.value.field_errors
    plan(fin, "100000")
    with pytest.raises(ValidationFailed) as caught:
        receipt_services.record_receipt(
            actor=fin.finance,
            contract=fin.contract,
            data={"amount": "1", "received_on": timezone.localdate() + timedelta(days=1)},
        )
    assert "received_on" in caught.value.field_errors
    Contract.objects.filter(pk=fin.contract.pk).update(status=ContractStatus.APPROVED)
    with pytest.raises(InvalidTransition):
        receipt_services.record_receipt(
            actor=fin.finance, contract=fin.contract, data={"amount": "1"}
        )


def test_a_rep_cannot_record_receipts(fin: Fin) -> None:
    """R7.2: reps have finance:view only — 403 on their own contract, 404 on another's."""
    plan(fin, "100000")
    with pytest.raises(PermissionDenied):
        receipt_services.record_receipt(actor=fin.rep, contract=fin.contract, data={"amount": "1"})
    with pytest.raises(NotFound):
        receipt_services.record_receipt(
            actor=fin.other_rep, contract=fin.contract, data={"amount": "1"}
        )
    assert not Receipt.objects.exists()


def test_finance_records_receipts_but_cannot_edit_opportunities(fin: Fin) -> None:
    """R7.2: the finance role records receipts and cannot change an opportunity."""
    opportunity = opportunities.create_opportunity(
        actor=fin.rep, customer=fin.customer, data={"name": "回款商机", "expected_amount": "1000"}
    )
    plan(fin, "100000")
    receipt_services.record_receipt(actor=fin.finance, contract=fin.contract, data={"amount": "1"})
    with pytest.raises(PermissionDenied):
        opportunities.update_opportunity(
            actor=fin.finance, opportunity=opportunity, data={"name": "改名"}
        )
    opportunity.refresh_from_db()
    assert opportunity.name == "回款商机"


def test_void_gives_back_exactly(fin: Fin) -> None:
    """R7.2: voiding (with a reason, never deleting) gives the amounts back to the fen."""
    plan(fin, "33333.33", "33333.33", "33333.34")
    keep = receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "10000.01"}
    )
    wrong = receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "40000.02"}
    )
    assert money_state(fin) == (D("50000.03"), [D("33333.33"), D("16666.70"), D("0.00")])
    with pytest.raises(ValidationFailed):
        receipt_services.void_receipt(actor=fin.finance, receipt=wrong, reason=" ")
    with pytest.raises(PermissionDenied):
        receipt_services.void_receipt(actor=fin.rep, receipt=wrong, reason="录错")
    voided = receipt_services.void_receipt(actor=fin.finance, receipt=wrong, reason="录错金额")
    assert voided.status == "voided" and voided.void_reason == "录错金额"
    assert voided.voided_by_id == fin.finance.pk
    assert money_state(fin) == (D("10000.01"), [D("10000.01"), D("0.00"), D("0.00")])
    assert Receipt.objects.filter(pk=wrong.pk).exists()
    assert ReceiptAllocation.objects.filter(receipt=wrong).count() == 2
    with pytest.raises(InvalidTransition):
        receipt_services.void_receipt(actor=fin.finance, receipt=wrong, reason="再来一次")
    assert money_state(fin)[0] == D("10000.01")
    assert keep.status == "confirmed"
    assert Event.objects.filter(object_id=str(wrong.pk), verb="receipt.voided").count() == 1


def test_a_receipt_waits_for_approval_and_counts_once_approved(fin: Fin) -> None:
    """R7.2: with a “receipt” flow the receipt is pending and counts only once approved."""
    approver = fin.manager
    approval_flow(fin.world, "receipt", approver)
    plan(fin, "100000")
    receipt = receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "5000"}
    )
    assert receipt.status == "pending"
    assert money_state(fin) == (D("0.00"), [D("0.00")])
    request = approvals.pending_request("receipt", receipt)
    assert request is not None
    approvals.approve(actor=fresh(approver), request=request)
    receipt.refresh_from_db()
    assert receipt.status == "confirmed"
    assert money_state(fin) == (D("5000.00"), [D("5000.00")])
    rejected = receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "7000"}
    )
    request = approvals.pending_request("receipt", rejected)
    assert request is not None
    approvals.reject(actor=fresh(approver), request=request, comment="没收到")
    rejected.refresh_from_db()
    assert rejected.status == "rejected"
    assert money_state(fin) == (D("5000.00"), [D("5000.00")])


def test_approval_cannot_over_collect(fin: Fin) -> None:
    """R7.2: two pending receipts that together exceed the contract: the second approval is
    refused and changes nothing."""
    approval_flow(fin.world, "receipt", fin.manager)
    plan(fin, "100000")
    first = receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "60000"}
    )
    second = receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "60000"}
    )
    for receipt in (first, second):
        request = approvals.pending_request("receipt", receipt)
        assert request is not None
        if receipt is first:
            approvals.approve(actor=fresh(fin.manager), request=request)
        else:
            with pytest.raises(ValidationFailed) as caught:
                approvals.approve(actor=fresh(fin.manager), request=request)
            assert "¥40,000.00" in str(caught.value.field_errors["amount"][0])
    second.refresh_from_db()
    assert second.status == "pending"
    assert money_state(fin) == (D("60000.00"), [D("60000.00")])


def test_write_off_applied_at_once_without_a_flow(fin: Fin) -> None:
    """R7.3: a bad-debt write-off of part of an installment's outstanding amount."""
    first, _second = plan(fin, "30000", "70000")
    receipt_services.record_receipt(
        actor=fin.finance, contract=fin.contract, data={"amount": "20000"}
    )
    first.refresh_from_db()
    with pytest.raises(ValidationFailed) as caught:
        receipt_services.create_write_off(
            actor=fin.finance, plan=first, amount="10000.01", reason="客户破产"
        )
    assert "¥10,000.00" in str(caught.value.field_errors["amount"][0])
    with pytest.raises(PermissionDenied):
        receipt_services.create_write_off(actor=fin.rep, plan=first, amount="1", reason="x")
    write_off = receipt_services.create_write_off(
        actor=fin.finance, plan=first, amount="10000", reason="客户破产"
    )
    assert write_off.status == "approved" and write_off.applied_at is not None
    first.refresh_from_db()
    contract = Contract.objects.get(pk=fin.contract.pk)
    assert first.written_off_amount == D("10000.00") and first.outstanding == D("0.00")
    assert contract.written_off_amount == D("10000.00")
    assert contract.outstanding == D("70000.00")
    # the contract cannot be collected beyond amount − written off
    with pytest.raises(ValidationFailed) as caught:
        receipt_services.record_receipt(
            actor=fin.finance, contract=fin.contract, data={"amount": "70000.01"}
        )
    assert "¥70,000.00" in str(caught.value.field_errors["amount"][0])


def test_write_off_with_approval(fin: Fin) -> None:
    approval_flow(fin.world, "write_off", fin.manager)
    (only,) = plan(fin, "100000")
    write_off = receipt_services.create_write_off(
        actor=fin.finance, plan=only, amount="5000", reason="无法收回"
    )
    assert write_off.status == "pending"
    assert Contract.objects.get(pk=fin.contract.pk).written_off_amount == D("0.00")
    request = approvals.pending_request("write_off", write_off)
    assert request is not None
    approvals.approve(actor=fresh(fin.manager), request=request)
    write_off.refresh_from_db()
    assert write_off.status == "approved"
    assert Contract.objects.get(pk=fin.contract.pk).written_off_amount == D("5000.00")
    second = receipt_services.create_write_off(
        actor=fin.finance, plan=only, amount="1000", reason="再核销"
    )
    request = approvals.pending_request("write_off", second)
    assert request is not None
    approvals.reject(actor=fresh(fin.manager), request=request, comment="还能收")
    second.refresh_from_db()
    assert second.status == "rejected"
    assert WriteOff.objects.filter(status="approved").count() == 1
    assert Contract.objects.get(pk=fin.contract.pk).written_off_amount == D("5000.00")


def test_grade_counts_signed_contract_amounts(fin: Fin) -> None:
    """R7: the A/B/C grade uses signed contract amounts (signed, executing, completed)."""
    since = timezone.now() - timedelta(days=365)
    signed_contract(fin.rep, fin.customer, "50000", status=ContractStatus.COMPLETED)
    signed_contract(fin.rep, fin.customer, "77777", status=ContractStatus.DRAFT)
    signed_contract(fin.rep, fin.customer, "88888", signed_days_ago=400)
    amounts = signed_contract_amounts(fin.world.org.pk, since)
    assert amounts == {fin.customer.pk: D("150000.00")}
    assert signed_contract_amounts in grading.amount_providers
