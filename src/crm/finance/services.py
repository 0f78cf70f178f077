"""Every write of the finance module goes through a service (R7.1–R7.3), one module per area:

- :mod:`crm.finance.plan_services`: receivable plans (回款计划), edited as a set per contract;
- :mod:`crm.finance.receipt_services`: receipts (回款) with their allocation to plans, voiding,
  and bad-debt write-offs (坏账核销), with optional approval;
- :mod:`crm.finance.invoice_services`: invoice requests (开票申请), issuing and mailing.

Who may do what, and the SQL arithmetic they share, live in :mod:`crm.finance.policy`. This
module re-exports the services so callers write ``from crm.finance import services``.
"""

from __future__ import annotations

from .invoice_services import cancel_invoice, issue_invoice, mail_invoice, request_invoice
from .plan_services import replace_plans, split_evenly
from .policy import finance_contracts, may_collect, may_plan, may_request_invoice
from .receipt_services import create_write_off, record_receipt, void_receipt

__all__ = [
    "cancel_invoice",
    "create_write_off",
    "finance_contracts",
    "issue_invoice",
    "mail_invoice",
    "may_collect",
    "may_plan",
    "may_request_invoice",
    "record_receipt",
    "replace_plans",
    "request_invoice",
    "split_evenly",
    "void_receipt",
]
