"""What the finance services share: who may do what to a contract's money, and arithmetic in SQL
that never drifts. The services of the three areas:

- :mod:`crm.finance.plan_services`: receivable plans (回款计划), edited as a set per contract;
- :mod:`crm.finance.receipt_services`: receipts (回款) with their allocation to plans, voiding,
  and bad-debt write-offs (坏账核销), with optional approval;
- :mod:`crm.finance.invoice_services`: invoice requests (开票申请), issuing and mailing.

Who may do what (the contract is always read through the scoped layer first; a contract the
user may not see answers 404, a missing right 403):

- plans: ``sales:edit`` on the contract (a rep plans their own contracts) or ``finance:edit``
  with the contract's owner inside the user's finance scope;
- receipts and write-offs: ``finance:create`` (the finance role); voiding: ``finance:edit``;
- invoice requests: ``finance:create``, or ``sales:edit`` on the contract (its owner, a
  collaborator, their manager); issuing, mailing and cancelling an issued invoice:
  ``finance:edit``; cancelling a request that is not issued yet: also whoever may request.

Money moves only through conditional UPDATEs (``… WHERE received <= amount − written off − x``)
whose arithmetic is rounded to the fen in SQL (:func:`fen`), so SQLite's floating point never
leaves 0.30000000000000004 in a column; check constraints in the database back them up.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, F, Q, QuerySet, Value
from django.db.models.functions import Round
from django.utils.translation import gettext as _

from crm.core.errors import NotFound, PermissionDenied
from crm.core.money import format_cny
from crm.core.scoping import scope_q
from crm.org.models import User
from crm.sales.models import Contract

from .models import Receipt

MONEY = DecimalField(max_digits=16, decimal_places=2)


def fen(expression: Any) -> Round:
    """``expression`` rounded to the fen in SQL (exact on PostgreSQL, and on SQLite too, whose
    decimal columns are floating point)."""
    return Round(expression, 2, output_field=MONEY)


def amount(value: Decimal) -> Value:
    return Value(value, output_field=MONEY)


def outstanding_expr(prefix: str = "") -> Round:
    """amount − received − written off of a plan or contract (``prefix`` reaches a relation)."""
    return fen(
        F(f"{prefix}amount") - F(f"{prefix}received_amount") - F(f"{prefix}written_off_amount")
    )


def cny(value: Any) -> str:
    return format_cny(value)


# --- who may do what -----------------------------------------------------------------------------
def finance_contracts(actor: User, action: str) -> QuerySet[Contract]:
    """Contracts ``actor`` sees whose owner is inside the actor's ``finance:<action>`` scope
    (the scope of the receipts, write-offs and invoices they would write)."""
    qs = Contract.objects.visible_to(actor, "view")
    rule = scope_q(actor, Receipt, action)
    if rule is None:
        return qs.none()
    if isinstance(rule, Q):
        return qs.filter(rule)
    return qs


def visible_contract(actor: User, contract: Contract) -> Contract:
    """The contract as ``actor`` may see it; NotFound otherwise (another organisation's, or
    outside the actor's scope)."""
    found = (
        Contract.objects.visible_to(actor, "view")
        .select_related("customer", "owner")
        .filter(pk=contract.pk)
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def may_plan(actor: User, contract: Contract) -> bool:
    """Sales edit on the contract, or finance edit within the finance scope."""
    if (
        actor.can("sales", "edit")
        and Contract.objects.visible_to(actor, "edit").filter(pk=contract.pk).exists()
    ):
        return True
    return (
        actor.can("finance", "edit")
        and finance_contracts(actor, "edit").filter(pk=contract.pk).exists()
    )


def may_collect(actor: User, contract: Contract) -> bool:
    """May ``actor`` record receipts and write-offs of ``contract`` (finance:create)?"""
    return (
        actor.can("finance", "create")
        and finance_contracts(actor, "create").filter(pk=contract.pk).exists()
    )


def may_request_invoice(actor: User, contract: Contract) -> bool:
    """finance:create, or sales:edit on the contract."""
    if may_collect(actor, contract):
        return True
    return (
        actor.can("sales", "edit")
        and Contract.objects.visible_to(actor, "edit").filter(pk=contract.pk).exists()
    )


def require(allowed: bool, message: str | None = None) -> None:
    if not allowed:
        raise PermissionDenied(message)


def left_to_collect_message(contract_id: int) -> str:
    """“¥X left to collect on this contract”, from the row as it is now."""
    row = Contract.objects.filter(pk=contract_id).values(
        "amount", "received_amount", "written_off_amount"
    )[0]
    left = row["amount"] - row["received_amount"] - row["written_off_amount"]
    return _("Only %(left)s is left to collect on this contract.") % {"left": cny(max(left, 0))}
