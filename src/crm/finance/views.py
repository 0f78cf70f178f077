"""Pages of the finance module (R7.1–R7.3): the collection board (回款看板) and the collection
analysis, the receivables list and the plan editor of a contract, receipts (record, view,
void), bad-debt write-offs, and invoices (request, issue, mail, cancel).

Every read goes through ``visible_to`` / ``get_scoped_or_404`` (another organisation's and
out-of-scope ids answer 404, also on every action); a missing permission answers 403; every
write is one call of a finance service, whose errors are shown on the form or as a flash
message. Buttons only appear for what the user may do; the services decide anyway.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm.core.audit import history_for
from crm.core.errors import DomainError, PermissionDenied
from crm.core.forms import apply_domain_error, error_text, raise_unless_form_error
from crm.core.paging import CappedPaginator
from crm.core.scoping import DataScope, get_scoped_or_404
from crm.core.views import require_perm
from crm.org.models import Department, User
from crm.sales import approvals
from crm.sales.choices import SIGNED_STATUSES, ApprovalSubject
from crm.sales.contract_schemas import owner_department_q
from crm.sales.models import Contract

from . import invoice_services, plan_services, receipt_services, selectors
from .choices import InvoiceStatus, PlanStatus, ReceiptStatus, WriteOffStatus
from .forms import (
    AnalysisPeriodForm,
    InvoiceFilterForm,
    InvoiceForm,
    InvoiceLineFormSet,
    IssueForm,
    MailForm,
    PlanFilterForm,
    ReasonForm,
    ReceiptFilterForm,
    ReceiptForm,
    SplitForm,
    WriteOffForm,
    add_months,
    plan_formset,
)
from .models import Invoice, InvoiceLine, Receipt, ReceiptAllocation, ReceivablePlan, WriteOff
from .policy import may_collect, may_plan, may_request_invoice
from .receipt_services import contract_url

FINANCE = gettext_lazy("Finance")
RECEIPTS = gettext_lazy("Receipts")
INVOICES = gettext_lazy("Invoices")
RECEIVABLES = gettext_lazy("Receivables")
BOARD = gettext_lazy("Collection board")
PAGE_SIZE = 50


# --- helpers -------------------------------------------------------------------------------------
def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _digits(value: Any) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() and len(text) < 19 else None


def _next_url(request: HttpRequest) -> str | None:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return None


def _query(request: HttpRequest, drop: tuple[str, ...] = (), **changes: Any) -> str:
    params: QueryDict = request.GET.copy()
    for key in (*drop, "page"):
        params.pop(key, None)
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


def _contract_page(contract: Contract) -> str:
    return contract_url(contract) or reverse("finance:plan_list")


def _wide(user: User, module: str) -> bool:
    return any(scope != DataScope.SELF for scope, _d in user.role_grants(module, "view"))


def _owners(user: User, qs: QuerySet[Any], lookup: str) -> Any:
    """Colleagues owning rows of ``qs`` (for an owner filter); None when the user sees only
    their own."""
    module = "finance" if qs.model in (Receipt, Invoice, WriteOff) else "sales"
    if not _wide(user, module):
        return None
    return (
        User.objects.visible_to(user)
        .filter(pk__in=qs.order_by().values(lookup))
        .select_related("department")
        .order_by("name", "username")
    )


def _contract_from_query(request: HttpRequest) -> Contract | None:
    pk = _digits(request.GET.get("contract") or request.POST.get("contract"))
    if pk is None:
        return None
    contract: Contract = get_scoped_or_404(
        Contract.objects.visible_to(_me(request)).select_related("customer", "owner"),
        _me(request),
        pk,
    )
    return contract


def _history(obj: Any) -> list[Any]:
    return list(history_for(obj)[:100])


def _contract_search(qs: QuerySet[Contract], q: str) -> QuerySet[Contract]:
    if not q:
        return qs
    return qs.filter(Q(number__icontains=q) | Q(name__icontains=q) | Q(customer__name__icontains=q))


def _pick_contract(request: HttpRequest, title: str, target: str, allowed: Any) -> HttpResponse:
    """Choose the contract a receipt or an invoice is for (signed contracts the user may act
    on, searchable)."""
    me = _me(request)
    q = (request.GET.get("q") or "").strip()[:100]
    qs = _contract_search(
        Contract.objects.visible_to(me).filter(status__in=SIGNED_STATUSES), q
    ).select_related("customer", "owner")
    contracts = [c for c in qs.order_by("-signed_on", "-pk")[:100] if allowed(me, c)][:30]
    return render(
        request,
        "finance/contract_pick.html",
        {
            "contracts": contracts,
            "q": q,
            "title": title,
            "target": target,
            "crumbs": [(FINANCE, reverse("finance:collection_board")), (title, None)],
        },
    )


# --- The collection board and the analysis -------------------------------------------------------
@login_required
def collection_board(request: HttpRequest) -> HttpResponse:
    """回款看板 (R7.3): due this week, overdue with its ageing, received this month, and the
    contracts awaiting payment, in the viewer's scope."""
    require_perm(request, "finance", "view")
    me = _me(request)
    today = timezone.localdate()
    board = selectors.board(me, today)
    return render(
        request,
        "finance/board.html",
        {
            "board": board,
            "chart": board.bucket_chart,
            "can_record": me.can("finance", "create"),
            "crumbs": [(FINANCE, None), (BOARD, None)],
            "tab": "board",
        },
    )


def _period(form: AnalysisPeriodForm, today: date) -> tuple[str, date, date]:
    """(period, first day, day after the last) of the analysis."""
    period = "year"
    start, end = date(today.year, 1, 1), date(today.year + 1, 1, 1)
    if form.is_bound and form.is_valid():
        period = form.cleaned_data.get("period") or "year"
        if period == "12m":
            start = add_months(selectors.month_start(today), -11)
            end = selectors.next_month(today)
        elif period == "custom":
            start = form.cleaned_data["date_from"]
            end = form.cleaned_data["date_to"] + timedelta(days=1)
    return period, start, end


@login_required
def analysis(request: HttpRequest) -> HttpResponse:
    """The collection analysis: received, refunds and net flow per month and per owner,
    outstanding and its ageing (chart and table)."""
    require_perm(request, "finance", "view")
    me = _me(request)
    today = timezone.localdate()
    form = AnalysisPeriodForm(request.GET or None)
    period, start, end = _period(form, today)
    data = selectors.analysis(me, start, end, today)
    data["chart"]["names"] = {
        "planned": _("Planned"),
        "received": _("Received"),
        "refunds": _("Refunds"),
        "net": _("Net flow"),
        "outstanding": _("Outstanding"),
    }
    return render(
        request,
        "finance/analysis.html",
        {
            "form": form,
            "period": period,
            "start": start,
            "last": end - timedelta(days=1),
            **data,
            "crumbs": [(FINANCE, reverse("finance:collection_board")), (_("Analysis"), None)],
            "tab": "analysis",
        },
    )


# --- Receivables ---------------------------------------------------------------------------------
@login_required
def plan_list(request: HttpRequest) -> HttpResponse:
    """The receivables (installments of signed contracts) the user sees, with filters."""
    require_perm(request, "finance", "view")
    me = _me(request)
    today = timezone.localdate()
    base = selectors.receivable_plans(me)
    owners = _owners(me, base, "contract__owner")
    form = PlanFilterForm(request.GET or None, owners=owners)
    qs = base
    problems: list[str] = []
    if form.is_bound and not form.is_valid():
        problems = [str(e) for errors in form.errors.values() for e in errors]
    elif form.is_bound:
        d = form.cleaned_data
        if d.get("q"):
            qs = qs.filter(
                Q(contract__number__icontains=d["q"])
                | Q(contract__name__icontains=d["q"])
                | Q(contract__customer__name__icontains=d["q"])
            )
        if d.get("status"):
            qs = qs.filter(selectors.plan_status_q(d["status"], today))
        due = d.get("due")
        if due == "overdue":
            qs = qs.filter(selectors.plan_status_q(PlanStatus.OVERDUE, today))
        elif due == "week":
            end = selectors.week_start(today) + timedelta(days=6)
            qs = qs.filter(outstanding_amount__gt=0, due_on__gte=today, due_on__lte=end)
        elif due == "month":
            end = selectors.next_month(today) - timedelta(days=1)
            qs = qs.filter(outstanding_amount__gt=0, due_on__gte=today, due_on__lte=end)
        if d.get("owner"):
            qs = qs.filter(contract__owner=d["owner"])
    figures = selectors.plan_figures(qs, today)
    qs = qs.select_related("contract", "contract__customer", "contract__owner").order_by(
        "due_on", "contract_id", "sequence", "pk"
    )
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "finance/plan_list.html",
        {
            "page": page,
            "rows": [selectors.plan_row(p, today) for p in page],
            "figures": figures,
            "filter_form": form,
            "problems": problems,
            "crumbs": [(FINANCE, reverse("finance:collection_board")), (RECEIVABLES, None)],
        },
    )


def _plan_initial(plans: list[ReceivablePlan]) -> list[dict[str, Any]]:
    return [
        {
            "id": p.pk,
            "due_on": p.due_on,
            "amount": f"{p.amount:.2f}",
            "percentage": f"{p.percentage:.2f}",
            "remind_days": p.remind_days,
            "note": p.note,
        }
        for p in plans
    ]


def _split_rows(
    contract: Contract, plans: list[ReceivablePlan], split: SplitForm
) -> list[dict[str, Any]]:
    """The rows of “split evenly into N”: existing installments keep their place (and their
    received money) in order; the remainder goes on the last installment."""
    d = split.cleaned_data
    amounts = plan_services.split_evenly(contract.amount, d["count"])
    rows = []
    for i, value in enumerate(amounts):
        rows.append(
            {
                "id": plans[i].pk if i < len(plans) else None,
                "due_on": add_months(d["first_due_on"], i * d["every_months"]),
                "amount": f"{value:.2f}",
                "percentage": f"{plan_services.share_of(value, contract.amount):.2f}",
                "remind_days": d["remind_days"],
                "note": "",
            }
        )
    return rows


def _apply_plan_errors(exc: DomainError, used: list[Any], problems: list[str]) -> None:
    """Service errors keyed ``"<row>.<field>"`` onto the formset's rows; the rest on top."""
    if not exc.field_errors:
        problems.append(str(exc.message))
    for key, msgs in exc.field_errors.items():
        index, _sep, field = key.partition(".")
        if index.isdigit() and int(index) < len(used) and field in used[int(index)].fields:
            for message in msgs:
                used[int(index)].add_error(field, str(message))
        else:
            problems.extend(str(m) for m in msgs)


@login_required
def plan_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit the installments of a contract as a set (R7.1): due date, amount or share, reminder
    days and note; they must add up exactly to the contract amount. “Split evenly” fills the
    rows for N installments."""
    require_perm(request, "sales", "view")
    me = _me(request)
    contract: Contract = get_scoped_or_404(
        Contract.objects.visible_to(me).select_related("customer", "owner"), me, pk
    )
    if not may_plan(me, contract):
        raise PermissionDenied()
    plans = list(
        ReceivablePlan.objects.visible_to(me)
        .filter(contract=contract, is_void=False)
        .order_by("sequence", "pk")
    )
    back = _next_url(request) or _contract_page(contract)
    problems: list[str] = []
    split = SplitForm(initial={"first_due_on": contract.signed_on or timezone.localdate()})
    formset = plan_formset(extra=0 if plans else 1)(initial=_plan_initial(plans), prefix="plans")
    if request.method == "POST":
        if "split" in request.POST:
            split = SplitForm(request.POST)
            if split.is_valid():
                try:
                    rows = _split_rows(contract, plans, split)
                except ValueError:
                    problems.append(_("The amount is too small for so many installments."))
                else:
                    formset = plan_formset(extra=0)(initial=rows, prefix="plans")
        else:
            formset = plan_formset(extra=0)(request.POST, prefix="plans")
            if formset.is_valid():
                used = [
                    f
                    for f in formset.forms
                    if not f.is_blank() and not f.cleaned_data.get("remove")
                ]
                try:
                    plan_services.replace_plans(
                        actor=me, contract=contract, rows=[f.row() for f in used]
                    )
                except DomainError as exc:
                    raise_unless_form_error(exc)
                    _apply_plan_errors(exc, used, problems)
                else:
                    messages.success(
                        request,
                        _("The receivable plan of %(number)s was saved.")
                        % {"number": contract.number},
                    )
                    return redirect(back)
    return render(
        request,
        "finance/plan_form.html",
        {
            "contract": contract,
            "formset": formset,
            "split": split,
            "problems": problems,
            "back": back,
            "frozen": contract.status in plan_services.FROZEN_STATUSES,
            "crumbs": [
                (FINANCE, reverse("finance:collection_board")),
                (contract.number, _contract_page(contract)),
                (_("Receivable plan"), None),
            ],
        },
    )


# --- Receipts ------------------------------------------------------------------------------------
@login_required
def receipt_list(request: HttpRequest) -> HttpResponse:
    """Receipts the user sees (their contracts' for a rep), newest first, with filters."""
    require_perm(request, "finance", "view")
    me = _me(request)
    base = Receipt.objects.visible_to(me)
    owners = _owners(me, base, "owner")
    form = ReceiptFilterForm(
        request.GET or None,
        owners=owners,
        departments=(
            Department.objects.visible_to(me).order_by("path") if owners is not None else None
        ),
    )
    qs = base
    problems: list[str] = []
    if form.is_bound and not form.is_valid():
        problems = [str(e) for errors in form.errors.values() for e in errors]
    elif form.is_bound:
        d = form.cleaned_data
        if d.get("q"):
            qs = qs.filter(
                Q(number__icontains=d["q"])
                | Q(contract__number__icontains=d["q"])
                | Q(customer__name__icontains=d["q"])
                | Q(payer__icontains=d["q"])
            )
        for key in ("status", "method"):
            if d.get(key):
                qs = qs.filter(**{key: d[key]})
        if d.get("date_from"):
            qs = qs.filter(received_on__gte=d["date_from"])
        if d.get("date_to"):
            qs = qs.filter(received_on__lte=d["date_to"])
        if d.get("owner"):
            qs = qs.filter(owner=d["owner"])
        if d.get("department"):
            qs = qs.filter(owner_department_q(me, d["department"].pk))
    qs = qs.select_related("contract", "customer", "owner").order_by("-received_on", "-pk")
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "finance/receipt_list.html",
        {
            "page": page,
            "filter_form": form,
            "problems": problems,
            "colors": selectors.RECEIPT_STATUS_COLORS,
            "can_create": me.can("finance", "create"),
            "crumbs": [(FINANCE, reverse("finance:collection_board")), (RECEIPTS, None)],
        },
    )


@login_required
def receipt_create(request: HttpRequest) -> HttpResponse:
    """Record a receipt for a contract (``?contract=``), allocated to its installments."""
    require_perm(request, "finance", "create")
    me = _me(request)
    contract = _contract_from_query(request)
    if contract is None:
        return _pick_contract(request, _("Record a receipt"), "finance:receipt_create", may_collect)
    if not may_collect(me, contract):
        raise PermissionDenied()
    plans = list(
        selectors.receivable_plans(me)
        .filter(contract=contract, outstanding_amount__gt=0)
        .order_by("due_on", "sequence", "pk")
    )
    back = _next_url(request) or _contract_page(contract)
    if request.method == "POST":
        form = ReceiptForm(request.POST, plans=plans)
        if form.is_valid():
            try:
                receipt = receipt_services.record_receipt(
                    actor=me,
                    contract=contract,
                    data=form.data_for_service(),
                    allocations=form.allocations(),
                    comment=form.cleaned_data.get("comment") or "",
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                if receipt.status == ReceiptStatus.PENDING:
                    messages.info(
                        request,
                        _("Receipt %(number)s waits for approval; it counts once approved.")
                        % {"number": receipt.number},
                    )
                else:
                    messages.success(
                        request,
                        _("Receipt %(number)s of %(amount)s was recorded.")
                        % {"number": receipt.number, "amount": f"¥{receipt.amount:,.2f}"},
                    )
                return redirect(back)
    else:
        form = ReceiptForm(plans=plans, initial={"payer": contract.customer.name})
    return render(
        request,
        "finance/receipt_form.html",
        {
            "form": form,
            "contract": contract,
            "plans": plans,
            "back": back,
            "crumbs": [
                (FINANCE, reverse("finance:collection_board")),
                (contract.number, _contract_page(contract)),
                (_("Record a receipt"), None),
            ],
        },
    )


def _receipt(request: HttpRequest, pk: int) -> Receipt:
    receipt: Receipt = get_scoped_or_404(
        Receipt.objects.visible_to(_me(request)).select_related(
            "contract", "customer", "owner", "voided_by", "created_by"
        ),
        _me(request),
        pk,
    )
    return receipt


def _receipt_page(request: HttpRequest, receipt: Receipt, void_form: Any = None) -> HttpResponse:
    me = _me(request)
    may_void = (
        receipt.status == ReceiptStatus.CONFIRMED
        and me.can("finance", "edit")
        and Receipt.objects.visible_to(me, "edit").filter(pk=receipt.pk).exists()
    )
    allocations = (
        ReceiptAllocation.objects.visible_to(me)
        .filter(receipt=receipt)
        .select_related("plan")
        .order_by("plan__sequence", "pk")
    )
    return render(
        request,
        "finance/receipt_detail.html",
        {
            "receipt": receipt,
            "allocations": allocations,
            "color": selectors.RECEIPT_STATUS_COLORS.get(receipt.status, "secondary"),
            "may_void": may_void,
            "void_form": void_form or (ReasonForm() if may_void else None),
            "approvals": approvals.requests_for(ApprovalSubject.RECEIPT, receipt),
            "contract_url": contract_url(receipt.contract),
            "history": _history(receipt),
            "crumbs": [
                (FINANCE, reverse("finance:collection_board")),
                (RECEIPTS, reverse("finance:receipt_list")),
                (receipt.number, None),
            ],
        },
        status=400 if void_form is not None and void_form.errors else 200,
    )


@login_required
def receipt_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "finance", "view")
    return _receipt_page(request, _receipt(request, pk))


@login_required
@require_POST
def receipt_void(request: HttpRequest, pk: int) -> HttpResponse:
    """Void a confirmed receipt with a reason: the amounts go back; the receipt stays."""
    require_perm(request, "finance", "edit")
    me = _me(request)
    receipt = _receipt(request, pk)
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            receipt_services.void_receipt(
                actor=me, receipt=receipt, reason=form.cleaned_data["reason"]
            )
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc)
        else:
            messages.success(
                request, _("Receipt %(number)s was voided.") % {"number": receipt.number}
            )
            return redirect("finance:receipt_detail", pk=receipt.pk)
    return _receipt_page(request, _receipt(request, pk), void_form=form)


# --- Write-offs ----------------------------------------------------------------------------------
@login_required
def writeoff_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Write off (part of) an installment's outstanding amount as bad debt."""
    require_perm(request, "finance", "create")
    me = _me(request)
    plan: ReceivablePlan = get_scoped_or_404(
        ReceivablePlan.objects.visible_to(me).select_related("contract", "contract__customer"),
        me,
        pk,
    )
    contract = plan.contract
    if not may_collect(me, contract):
        raise PermissionDenied()
    back = _next_url(request) or _contract_page(contract)
    if request.method == "POST":
        form = WriteOffForm(request.POST)
        if form.is_valid():
            try:
                write_off = receipt_services.create_write_off(
                    actor=me,
                    plan=plan,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    comment=form.cleaned_data.get("comment") or "",
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                if write_off.status == WriteOffStatus.PENDING:
                    messages.info(request, _("The write-off waits for approval."))
                else:
                    messages.success(request, _("The amount was written off."))
                return redirect(back)
    else:
        form = WriteOffForm(initial={"amount": f"{plan.outstanding:.2f}"})
    return render(
        request,
        "finance/writeoff_form.html",
        {
            "form": form,
            "plan": plan,
            "contract": contract,
            "back": back,
            "crumbs": [
                (FINANCE, reverse("finance:collection_board")),
                (contract.number, _contract_page(contract)),
                (_("Write off a bad debt"), None),
            ],
        },
    )


# --- Invoices ------------------------------------------------------------------------------------
@login_required
def invoice_list(request: HttpRequest) -> HttpResponse:
    """Invoice requests and invoices the user sees, newest first."""
    require_perm(request, "finance", "view")
    me = _me(request)
    form = InvoiceFilterForm(request.GET or None)
    qs = Invoice.objects.visible_to(me)
    problems: list[str] = []
    if form.is_bound and not form.is_valid():
        problems = [str(e) for errors in form.errors.values() for e in errors]
    elif form.is_bound:
        d = form.cleaned_data
        if d.get("q"):
            qs = qs.filter(
                Q(number__icontains=d["q"])
                | Q(invoice_number__icontains=d["q"])
                | Q(contract__number__icontains=d["q"])
                | Q(customer__name__icontains=d["q"])
                | Q(title__icontains=d["q"])
            )
        for key in ("status", "kind"):
            if d.get(key):
                qs = qs.filter(**{key: d[key]})
    qs = qs.select_related("contract", "customer", "owner").order_by("-created_at", "-pk")
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "finance/invoice_list.html",
        {
            "page": page,
            "filter_form": form,
            "problems": problems,
            "colors": selectors.INVOICE_STATUS_COLORS,
            "crumbs": [(FINANCE, reverse("finance:collection_board")), (INVOICES, None)],
        },
    )


@login_required
def invoice_create(request: HttpRequest) -> HttpResponse:
    """Request an invoice against a contract (``?contract=``): type, amount, the buyer's
    details copied from the customer (editable here) and the lines."""
    require_perm(request, "finance", "view")
    me = _me(request)
    contract = _contract_from_query(request)
    if contract is None:
        return _pick_contract(
            request, _("Request an invoice"), "finance:invoice_create", may_request_invoice
        )
    if not may_request_invoice(me, contract):
        raise PermissionDenied()
    back = _next_url(request) or _contract_page(contract)
    left = invoice_services.invoiceable(contract)
    problems: list[str] = []
    if request.method == "POST":
        form = InvoiceForm(request.POST)
        lines = InvoiceLineFormSet(request.POST, prefix="lines")
        if form.is_valid() and lines.is_valid():
            try:
                invoice = invoice_services.request_invoice(
                    actor=me,
                    contract=contract,
                    data=form.data_for_service(),
                    lines=[f.line() for f in lines.forms if not f.is_blank()],
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request,
                    _("Invoice request %(number)s was sent to finance.")
                    % {"number": invoice.number},
                )
                return redirect(back)
    else:
        form = InvoiceForm(
            initial={
                "kind": "normal",
                "amount": f"{left:.2f}",
                **invoice_services.buyer_defaults(contract.customer),
            }
        )
        lines = InvoiceLineFormSet(
            prefix="lines",
            initial=[{"description": contract.name, "amount": f"{left:.2f}", "tax_rate": "13"}],
        )
    return render(
        request,
        "finance/invoice_form.html",
        {
            "form": form,
            "lines": lines,
            "contract": contract,
            "left": left,
            "problems": problems,
            "back": back,
            "crumbs": [
                (FINANCE, reverse("finance:collection_board")),
                (contract.number, _contract_page(contract)),
                (_("Request an invoice"), None),
            ],
        },
    )


def _invoice(request: HttpRequest, pk: int) -> Invoice:
    invoice: Invoice = get_scoped_or_404(
        Invoice.objects.visible_to(_me(request)).select_related(
            "contract", "customer", "owner", "created_by"
        ),
        _me(request),
        pk,
    )
    return invoice


def _invoice_page(
    request: HttpRequest, invoice: Invoice, forms: dict[str, Any] | None = None
) -> HttpResponse:
    me = _me(request)
    forms = forms or {}
    finance_edit = (
        me.can("finance", "edit")
        and Invoice.objects.visible_to(me, "edit").filter(pk=invoice.pk).exists()
    )
    can_cancel = invoice.status != InvoiceStatus.CANCELLED and (
        finance_edit
        or (invoice.status == InvoiceStatus.REQUESTED and may_request_invoice(me, invoice.contract))
    )
    status = 400 if any(f.errors for f in forms.values()) else 200
    return render(
        request,
        "finance/invoice_detail.html",
        {
            "invoice": invoice,
            "lines": InvoiceLine.objects.visible_to(me).filter(invoice=invoice),
            "color": selectors.INVOICE_STATUS_COLORS.get(invoice.status, "secondary"),
            "issue_form": forms.get("issue")
            or (
                IssueForm() if finance_edit and invoice.status == InvoiceStatus.REQUESTED else None
            ),
            "mail_form": forms.get("mail")
            or (
                MailForm(initial={"mail_address": invoice.address_phone})
                if finance_edit and invoice.status == InvoiceStatus.ISSUED
                else None
            ),
            "cancel_form": forms.get("cancel") or (ReasonForm() if can_cancel else None),
            "contract_url": contract_url(invoice.contract),
            "history": _history(invoice),
            "crumbs": [
                (FINANCE, reverse("finance:collection_board")),
                (INVOICES, reverse("finance:invoice_list")),
                (invoice.number, None),
            ],
        },
        status=status,
    )


@login_required
def invoice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "finance", "view")
    return _invoice_page(request, _invoice(request, pk))


@login_required
@require_POST
def invoice_issue(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "finance", "edit")
    me = _me(request)
    invoice = _invoice(request, pk)
    form = IssueForm(request.POST)
    if form.is_valid():
        try:
            invoice_services.issue_invoice(
                actor=me,
                invoice=invoice,
                invoice_number=form.cleaned_data["invoice_number"],
                issued_on=form.cleaned_data["issued_on"],
            )
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("The invoice was issued."))
            return redirect("finance:invoice_detail", pk=pk)
    return _invoice_page(request, _invoice(request, pk), {"issue": form})


@login_required
@require_POST
def invoice_mail(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "finance", "edit")
    me = _me(request)
    invoice = _invoice(request, pk)
    form = MailForm(request.POST)
    if form.is_valid():
        try:
            invoice_services.mail_invoice(actor=me, invoice=invoice, data=form.cleaned_data)
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("The mailing was recorded."))
            return redirect("finance:invoice_detail", pk=pk)
    return _invoice_page(request, _invoice(request, pk), {"mail": form})


@login_required
@require_POST
def invoice_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "finance", "view")
    me = _me(request)
    invoice = _invoice(request, pk)
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            invoice_services.cancel_invoice(
                actor=me, invoice=invoice, reason=form.cleaned_data["reason"]
            )
        except DomainError as exc:
            raise_unless_form_error(exc)
            messages.error(request, error_text(exc))
            return redirect("finance:invoice_detail", pk=pk)
        messages.success(request, _("The invoice was cancelled."))
        return redirect("finance:invoice_detail", pk=pk)
    return _invoice_page(request, _invoice(request, pk), {"cancel": form})
