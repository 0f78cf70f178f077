"""Pages of contracts (R6.2), orders (R6.4) and returns (R6.3): lists with filters, the contract
page (status timeline, parties, amounts, approval history, amendments, orders, returns, the
sections other modules register for ``sales.contract``, comments, attachments, history), the
forms, and one POST address per action.

Every read goes through ``visible_to`` / ``get_scoped_or_404`` (another organisation's and
out-of-scope ids answer 404, also on every action); a missing permission answers 403; every
write is one call of a service, whose errors are shown on the form or as a flash message.
Buttons only appear for what the user may do; the services decide anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST

from crm.core import audit
from crm.core.errors import Conflict, DomainError, ValidationFailed
from crm.core.forms import error_text, raise_unless_form_error
from crm.core.locking import EditConflict
from crm.core.paging import CappedPaginator
from crm.core.record_sections import page_sections
from crm.core.scoping import get_scoped_or_404
from crm.core.views import require_perm
from crm.customers.selectors import active_customers
from crm.org.models import User

from . import approvals
from . import contract_services as contracts
from . import order_services as orders
from . import return_services as returns
from .choices import ApprovalStatus, ApprovalSubject, ContractStatus, ReturnStatus, ShipmentStatus
from .contract_forms import (
    AmendmentForm,
    ContractFilterForm,
    ContractForm,
    OrderForm,
    OrderStatusForm,
    PlainActionForm,
    RefundForm,
    ReturnForm,
    SignForm,
    SubmitForm,
    TerminateForm,
    amendment_initial,
    contract_initial,
)
from .contract_schemas import CONTRACT_DEFAULT_SORT, CONTRACT_SORTS, ContractFilter
from .models import Contract, ContractAmendment, Order, OrderLine, Quote, ReturnRequest

CONTRACTS = gettext_lazy("Contracts")
ORDERS = gettext_lazy("Orders")
RETURNS = gettext_lazy("Returns and refunds")
PAGE_SIZE = 30
#: model label other modules register their sections of the contract page under
SECTIONS = "sales.contract"
#: audit verbs shown on the contract's status timeline
TIMELINE_VERBS = {
    "contract.created": pgettext_lazy("contract event", "Created"),
    "contract.submitted": gettext_lazy("Submitted for approval"),
    "contract.approved": gettext_lazy("Approved"),
    "contract.rejected": gettext_lazy("Rejected, back to draft"),
    "contract.withdrawn": gettext_lazy("Withdrawn, back to draft"),
    "contract.signed": gettext_lazy("Signed"),
    "contract.started": gettext_lazy("Execution started"),
    "contract.completed": gettext_lazy("Completed"),
    "contract.terminated": gettext_lazy("Terminated"),
    "contract.amended": gettext_lazy("Amendment applied"),
}
SORT_CHOICES = [
    ("", gettext_lazy("Recently updated")),
    ("-signed_on", gettext_lazy("Signed, newest first")),
    ("signed_on", gettext_lazy("Signed, oldest first")),
    ("-amount", gettext_lazy("Amount, largest first")),
    ("amount", gettext_lazy("Amount, smallest first")),
    ("renewal_on", gettext_lazy("Renewal date, soonest first")),
    ("ends_on", gettext_lazy("End date, soonest first")),
    ("-number", gettext_lazy("Number, newest first")),
]


# --- helpers ------------------------------------------------------------------------------------
def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _url(name: str, *args: Any) -> str | None:
    """The address of a page another module provides, or None while it has not landed."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _read(me: User, action: str = "view") -> Any:
    return Contract.objects.visible_to(me, action).select_related(
        "customer", "opportunity", "quote", "owner", "signer", "owner__department"
    )


def _may(me: User, model: Any, pk: int, action: str) -> bool:
    return me.can("sales", action) and model.objects.visible_to(me, action).filter(pk=pk).exists()


def _error_message(exc: DomainError) -> str:
    if isinstance(exc, Conflict) and exc.field_errors:
        return f"{exc.message} {error_text(exc)}"
    return error_text(exc)


def _valid(form: Any) -> dict[str, Any]:
    if not form.is_valid():
        raise ValidationFailed(" ".join(str(e) for errs in form.errors.values() for e in errs))
    return dict(form.cleaned_data)


def _crumbs(*items: tuple[Any, str | None]) -> list[tuple[Any, str | None]]:
    return [(CONTRACTS, reverse("sales:contract_list")), *items]


def _digits(value: Any) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() and len(text) < 19 else None


def _customer_url(me: User, customer_id: int) -> str | None:
    if me.can("customers", "view") and active_customers(me).filter(pk=customer_id).exists():
        return reverse("customers:detail", args=[customer_id])
    return None


def _opportunity_url(me: User, opportunity_id: int | None) -> str | None:
    from crm.pipeline.models import Opportunity

    if (
        opportunity_id
        and me.can("opportunities", "view")
        and Opportunity.objects.visible_to(me).filter(pk=opportunity_id).exists()
    ):
        return _url("opportunities:detail", opportunity_id)
    return None


# --- the list -----------------------------------------------------------------------------------
@login_required
def contract_list(request: HttpRequest) -> HttpResponse:
    """Contracts the user may see, with filters (status, owner, customer, signed period, renewal
    due within N days) and sort."""
    require_perm(request, "sales", "view")
    me = _me(request)
    form = ContractFilterForm(request.GET or None, user=me, sorts=SORT_CHOICES)
    problems: list[str] = []
    qs: Any = Contract.objects.visible_to(me)
    try:
        filters = ContractFilter.from_query(request.GET)
    except ValidationFailed as exc:
        problems = [str(m) for msgs in exc.field_errors.values() for m in msgs]
        qs = qs.none()
    else:
        qs = filters.apply(qs, me)
    sort = request.GET.get("sort") or ""
    allowed = CONTRACT_SORTS
    ordering = CONTRACT_DEFAULT_SORT
    if sort.lstrip("-") in allowed:
        field = allowed[sort.lstrip("-")]
        ordering = [f"-{field}" if sort.startswith("-") else field, "-pk"]
    qs = qs.select_related("customer", "owner").order_by(*ordering)
    totals = qs.aggregate(amount=Sum("amount"), received=Sum("received_amount"), n=Count("pk"))
    page = CappedPaginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    customer_id = _digits(request.GET.get("customer_id"))
    customer = active_customers(me).filter(pk=customer_id).first() if customer_id else None
    return render(
        request,
        "sales/contracts/list.html",
        {
            "page": page,
            "rows": [
                {"contract": c, "color": contracts.STATUS_COLORS.get(c.status, "secondary")}
                for c in page
            ],
            "filter_form": form,
            "problems": problems,
            "customer": customer,
            "totals": totals,
            "can_create": me.can("sales", "create"),
            "crumbs": [(CONTRACTS, None)],
        },
    )


# --- create and edit ----------------------------------------------------------------------------
def _sources(request: HttpRequest, me: User) -> dict[str, Any]:
    """The records a new contract comes from (``?opportunity=``, ``?quote=``, ``?customer=``);
    an id the user may not see is ignored, like one that does not exist."""
    from crm.pipeline.models import Opportunity

    result: dict[str, Any] = {"customer": None, "opportunity": None, "quote": None}
    quote_id = _digits(request.GET.get("quote"))
    if quote_id:
        result["quote"] = (
            Quote.objects.visible_to(me)
            .select_related("customer", "opportunity")
            .filter(pk=quote_id)
            .first()
        )
    opportunity_id = _digits(request.GET.get("opportunity"))
    if opportunity_id and me.can("opportunities", "view"):
        result["opportunity"] = (
            Opportunity.objects.visible_to(me)
            .select_related("customer")
            .filter(pk=opportunity_id)
            .first()
        )
    customer_id = _digits(request.GET.get("customer"))
    if customer_id:
        result["customer"] = active_customers(me).filter(pk=customer_id).first()
    return result


def _create_initial(sources: dict[str, Any]) -> dict[str, Any]:
    quote, opportunity = sources["quote"], sources["opportunity"]
    if quote is not None:
        return {"name": quote.title, "amount": f"{quote.total:.2f}"}
    if opportunity is not None:
        amount = opportunity.expected_amount
        return {"name": opportunity.name, "amount": f"{amount:.2f}" if amount else ""}
    return {}


@login_required
def contract_create(request: HttpRequest) -> HttpResponse:
    """A new draft contract from a quote, an opportunity or a customer (or choose the customer)."""
    require_perm(request, "sales", "create")
    me = _me(request)
    sources = _sources(request, me)
    source = sources["quote"] or sources["opportunity"] or sources["customer"]
    with_customer = source is None
    if request.method == "POST":
        form = ContractForm(
            request.POST,
            user=me,
            with_customer=with_customer,
            customer_id=_digits(request.POST.get("customer")),
        )
        if form.is_valid():
            data = form.cleaned_data
            try:
                contract = contracts.create_contract(
                    actor=me,
                    data=form.service_data(),
                    customer=data.get("customer") or sources["customer"],
                    opportunity=sources["opportunity"],
                    quote=sources["quote"],
                    collaborators=list(data["collaborators"]),
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                form.show_error(exc)
            else:
                messages.success(
                    request,
                    _("Contract %(number)s was created as a draft.") % {"number": contract.number},
                )
                return redirect("sales:contract_detail", pk=contract.pk)
    else:
        form = ContractForm(user=me, with_customer=with_customer, initial=_create_initial(sources))
    return render(
        request,
        "sales/contracts/form.html",
        {
            "form": form,
            "contract": None,
            "sources": sources,
            "crumbs": _crumbs((_("New contract"), None)),
        },
    )


@login_required
def contract_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a draft (optimistic lock: a stale save shows who changed what). A locked contract
    is changed through an amendment instead."""
    require_perm(request, "sales", "edit")
    me = _me(request)
    contract = get_scoped_or_404(_read(me, "edit"), me, pk, "edit")
    if contract.status != ContractStatus.DRAFT:
        messages.warning(
            request,
            _("Only a draft is edited. Propose an amendment to change this contract."),
        )
        return redirect("sales:contract_detail", pk=pk)
    if request.method == "POST":
        form = ContractForm(request.POST, user=me)
        if form.is_valid():
            data = form.cleaned_data
            try:
                contracts.update_contract(
                    actor=me,
                    contract=contract,
                    data=form.service_data(),
                    version=data["version"],
                    collaborators=list(data["collaborators"]),
                )
            except EditConflict as exc:
                contract = get_scoped_or_404(_read(me, "edit"), me, pk, "edit")
                form = ContractForm(user=me, initial=contract_initial(contract))
                form.show_error(exc)
            except DomainError as exc:
                raise_unless_form_error(exc)
                form.show_error(exc)
            else:
                messages.success(request, _("The contract was saved."))
                return redirect("sales:contract_detail", pk=pk)
    else:
        form = ContractForm(user=me, initial=contract_initial(contract))
    return render(
        request,
        "sales/contracts/form.html",
        {
            "form": form,
            "contract": contract,
            "sources": {},
            "crumbs": _crumbs(
                (contract.number, reverse("sales:contract_detail", args=[pk])), (_("Edit"), None)
            ),
        },
    )


# --- the contract page --------------------------------------------------------------------------
def _render_sections(request: HttpRequest, contract: Contract) -> list[dict[str, Any]]:
    """Every section registered for contracts, in order (the customer 360 page's mechanism);
    a context function answering None hides its section."""
    return page_sections(
        request,
        SECTIONS,
        contract,
        {"contract": contract, "customer": contract.customer},
        url=reverse("sales:contract_detail", args=[contract.pk]),
    )


def _steps(contract: Contract) -> list[dict[str, Any]]:
    path = [str(s) for s in contracts.STATUS_PATH]
    if contract.status == ContractStatus.TERMINATED:
        reached = ContractStatus.EXECUTING if contract.starts_on else ContractStatus.SIGNED
        path = [*path[: path.index(str(reached)) + 1], str(ContractStatus.TERMINATED)]
    current = path.index(str(contract.status))
    return [
        {"label": ContractStatus(s).label, "current": i == current, "done": i < current}
        for i, s in enumerate(path)
    ]


def _timeline(contract: Contract) -> list[dict[str, Any]]:
    events = (
        audit.history_for(contract)
        .filter(verb__in=list(TIMELINE_VERBS))
        .order_by("created_at", "pk")
    )
    return [
        {
            "label": TIMELINE_VERBS[e.verb],
            "at": e.created_at,
            "by": e.actor.display_name if e.actor else e.actor_label,
            "note": (e.data or {}).get("reason") or (e.data or {}).get("comment") or "",
        }
        for e in events
    ]


def _actions(me: User, contract: Contract, pending: Any) -> dict[str, Any]:
    editable = _may(me, Contract, contract.pk, "edit")
    status = contract.status
    creatable = editable and me.can("sales", "create")
    has_pending_amendment = (
        ContractAmendment.objects.visible_to(me)
        .filter(contract=contract, status=ApprovalStatus.PENDING)
        .exists()
    )
    return {
        "edit": editable and status == ContractStatus.DRAFT,
        "submit": editable and status == ContractStatus.DRAFT,
        "withdraw": editable
        and status == ContractStatus.PENDING
        and pending is not None
        and pending.submitter_id == me.pk,
        "sign": editable and status == ContractStatus.APPROVED,
        "start": editable and status == ContractStatus.SIGNED,
        "complete": editable and status == ContractStatus.EXECUTING,
        "terminate": editable and status in contracts.TERMINABLE_STATUSES,
        "amend": editable and status in contracts.AMENDABLE_STATUSES and not has_pending_amendment,
        "order": creatable and status in orders.ORDERABLE_STATUSES,
        "return": creatable and status in returns.RETURNABLE_STATUSES,
    }


def _decorate_requests(requests: list[Any]) -> list[Any]:
    for request in requests:
        request.task_rows = sorted(request.tasks.all(), key=lambda t: (t.step, t.pk))
    return requests


@login_required
def contract_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The contract page: status timeline, parties, amounts, approval history, amendments,
    orders, returns, registered sections (receivables, invoices, comments, files, history)."""
    require_perm(request, "sales", "view")
    me = _me(request)
    contract = get_scoped_or_404(_read(me), me, pk)
    pending = approvals.pending_request(ApprovalSubject.CONTRACT, contract)
    actions = _actions(me, contract, pending)
    # An approver arrives here from the notification or My day: link the decision page when
    # a task of the pending request waits for them (issue 5).
    decide_url = (
        _url("sales:approval_detail", pending.pk)
        if pending is not None
        and approvals.my_pending_tasks(me).filter(request_id=pending.pk).exists()
        else None
    )
    initial = {"version": contract.version}
    forms: dict[str, Any] = {}
    if actions["submit"]:
        forms["submit"] = SubmitForm(initial=initial)
    if actions["sign"]:
        forms["sign"] = SignForm(
            initial={
                **initial,
                "signed_on": timezone.localdate(),
                "customer_signer": contract.customer_signer,
            }
        )
    if actions["start"]:
        forms["start"] = PlainActionForm(prefix_id="start", initial=initial)
    if actions["complete"]:
        forms["complete"] = PlainActionForm(prefix_id="complete", initial=initial)
    if actions["terminate"]:
        forms["terminate"] = TerminateForm(initial=initial)
    amendments = list(
        ContractAmendment.objects.visible_to(me)
        .filter(contract=contract)
        .select_related("owner")
        .order_by("-created_at", "-pk")
    )
    amendment_rows = [
        {
            "amendment": a,
            "rows": contracts.amendment_rows(a),
            "can_withdraw": a.status == ApprovalStatus.PENDING
            and a.owner_id == me.pk
            and me.can("sales", "edit"),
        }
        for a in amendments
    ]
    contract_orders = list(
        Order.objects.visible_to(me).filter(contract=contract).order_by("-created_at", "-pk")
    )
    contract_returns = list(
        ReturnRequest.objects.visible_to(me)
        .filter(contract=contract)
        .select_related("order")
        .order_by("-created_at", "-pk")
    )
    return render(
        request,
        "sales/contracts/detail.html",
        {
            "contract": contract,
            "status_color": contracts.STATUS_COLORS.get(contract.status, "secondary"),
            "steps": _steps(contract),
            "timeline": _timeline(contract),
            "customer_url": _customer_url(me, contract.customer_id),
            "opportunity_url": _opportunity_url(me, contract.opportunity_id),
            "quote_url": _url("sales:quote_detail", contract.quote_id)
            if contract.quote_id and me.can("sales", "view")
            else None,
            "collaborators": list(contract.collaborators.order_by("name", "username")),
            "actions": actions,
            "forms": forms,
            "pending": pending,
            "decide_url": decide_url,
            "approval_history": _decorate_requests(
                approvals.requests_for(ApprovalSubject.CONTRACT, contract)
            ),
            "amendments": amendment_rows,
            "orders": [
                {"order": o, "color": orders.STATUS_COLORS.get(o.status, "secondary")}
                for o in contract_orders
            ],
            "returns": [
                {
                    "ret": r,
                    "color": returns.STATUS_COLORS.get(r.status, "secondary"),
                    "reason": returns.reason_label(r.reason),
                }
                for r in contract_returns
            ],
            "print_url": _url("sales:contract_print", contract.pk),
            "docx_url": _url("sales:contract_docx", contract.pk),
            "sections": _render_sections(request, contract),
            "crumbs": _crumbs((contract.number, None)),
        },
    )


# --- contract actions ---------------------------------------------------------------------------
def _act(request: HttpRequest, pk: int, run: Callable[[User, Contract], str]) -> HttpResponse:
    """Run one action on a contract the user may edit, then back to its page with the outcome
    as a flash message. Out of scope: 404 before anything runs."""
    require_perm(request, "sales", "view")
    me = _me(request)
    get_scoped_or_404(_read(me), me, pk)
    require_perm(request, "sales", "edit")
    contract = get_scoped_or_404(_read(me, "edit"), me, pk, "edit")
    try:
        done = run(me, contract)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, _error_message(exc))
    else:
        messages.success(request, done)
    return redirect("sales:contract_detail", pk=pk)


@login_required
@require_POST
def contract_submit(request: HttpRequest, pk: int) -> HttpResponse:
    """Submit a draft for approval (approved at once when no flow applies)."""

    def run(me: User, contract: Contract) -> str:
        data = _valid(SubmitForm(request.POST))
        saved = contracts.submit_contract(
            actor=me, contract=contract, comment=data["comment"], version=data["version"]
        )
        if saved.status == ContractStatus.APPROVED:
            return _("No approval is needed: the contract is approved.")
        return _("The contract was submitted for approval.")

    return _act(request, pk, run)


@login_required
@require_POST
def contract_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    def run(me: User, contract: Contract) -> str:
        contracts.withdraw_contract(actor=me, contract=contract)
        return _("The approval was withdrawn; the contract is a draft again.")

    return _act(request, pk, run)


@login_required
@require_POST
def contract_sign(request: HttpRequest, pk: int) -> HttpResponse:
    """Sign an approved contract (its opportunity is marked won)."""

    def run(me: User, contract: Contract) -> str:
        data = _valid(SignForm(request.POST))
        contracts.sign_contract(
            actor=me,
            contract=contract,
            signed_on=data["signed_on"],
            customer_signer=data["customer_signer"],
            version=data["version"],
        )
        return _("The contract was signed.")

    return _act(request, pk, run)


@login_required
@require_POST
def contract_start(request: HttpRequest, pk: int) -> HttpResponse:
    def run(me: User, contract: Contract) -> str:
        data = _valid(PlainActionForm(request.POST))
        contracts.start_contract(actor=me, contract=contract, version=data["version"])
        return _("The contract is executing.")

    return _act(request, pk, run)


@login_required
@require_POST
def contract_complete(request: HttpRequest, pk: int) -> HttpResponse:
    def run(me: User, contract: Contract) -> str:
        data = _valid(PlainActionForm(request.POST))
        contracts.complete_contract(actor=me, contract=contract, version=data["version"])
        return _("The contract is completed.")

    return _act(request, pk, run)


@login_required
@require_POST
def contract_terminate(request: HttpRequest, pk: int) -> HttpResponse:
    def run(me: User, contract: Contract) -> str:
        data = _valid(TerminateForm(request.POST))
        contracts.terminate_contract(
            actor=me, contract=contract, reason=data["reason"], version=data["version"]
        )
        return _("The contract was terminated.")

    return _act(request, pk, run)


@login_required
def contract_amend(request: HttpRequest, pk: int) -> HttpResponse:
    """Propose an amendment of a locked contract: applied when approved (or at once)."""
    require_perm(request, "sales", "view")
    me = _me(request)
    get_scoped_or_404(_read(me), me, pk)
    require_perm(request, "sales", "edit")
    contract = get_scoped_or_404(_read(me, "edit"), me, pk, "edit")
    if request.method == "POST":
        form = AmendmentForm(request.POST)
        if form.is_valid():
            try:
                amendment = contracts.propose_amendment(
                    actor=me,
                    contract=contract,
                    changes=form.changes(contract),
                    reason=form.cleaned_data["reason"],
                    comment=form.cleaned_data["comment"],
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                form.show_error(exc)
            else:
                if amendment.status == ApprovalStatus.APPROVED:
                    messages.success(request, _("The amendment was applied."))
                else:
                    messages.success(request, _("The amendment was submitted for approval."))
                return redirect("sales:contract_detail", pk=pk)
    else:
        form = AmendmentForm(initial=amendment_initial(contract))
    return render(
        request,
        "sales/contracts/amend.html",
        {
            "form": form,
            "contract": contract,
            "crumbs": _crumbs(
                (contract.number, reverse("sales:contract_detail", args=[pk])),
                (_("Amendment"), None),
            ),
        },
    )


@login_required
@require_POST
def amendment_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "sales", "view")
    me = _me(request)
    get_scoped_or_404(ContractAmendment, me, pk)
    require_perm(request, "sales", "edit")
    amendment = get_scoped_or_404(ContractAmendment, me, pk, "edit")
    try:
        contracts.withdraw_amendment(actor=me, amendment=amendment)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, _error_message(exc))
    else:
        messages.success(request, _("The amendment was withdrawn."))
    return redirect("sales:contract_detail", pk=amendment.contract_id)


# --- orders -------------------------------------------------------------------------------------
@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    require_perm(request, "sales", "view")
    me = _me(request)
    qs = Order.objects.visible_to(me).select_related("contract", "customer", "owner")
    status = request.GET.get("status") or ""
    if status in ShipmentStatus.values:
        qs = qs.filter(status=status)
    text = (request.GET.get("q") or "").strip()[:100]
    if text:
        qs = qs.filter(
            Q(number__icontains=text)
            | Q(contract__number__icontains=text)
            | Q(customer__name__icontains=text)
            | Q(tracking_number__icontains=text)
            | Q(external_ref__icontains=text)
        )
    paginator = CappedPaginator(qs.order_by("-created_at", "-pk"), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "sales/orders/list.html",
        {
            "page": page,
            "rows": [{"order": o, "color": orders.STATUS_COLORS[o.status]} for o in page],
            "statuses": ShipmentStatus.choices,
            "status": status,
            "q": text,
            "crumbs": [(ORDERS, None)],
        },
    )


@login_required
def order_create(request: HttpRequest, pk: int) -> HttpResponse:
    """A new order of a signed or executing contract; its lines come from the contract."""
    require_perm(request, "sales", "view")
    me = _me(request)
    get_scoped_or_404(_read(me), me, pk)
    require_perm(request, "sales", "create")
    contract = get_scoped_or_404(_read(me, "edit"), me, pk, "edit")
    if request.method == "POST":
        form = OrderForm(request.POST)
        if form.is_valid():
            try:
                order = orders.create_order(actor=me, contract=contract, data=form.cleaned_data)
            except DomainError as exc:
                raise_unless_form_error(exc)
                messages.error(request, _error_message(exc))
                return redirect("sales:contract_detail", pk=pk)
            messages.success(request, _("Order %(number)s was created.") % {"number": order.number})
            return redirect("sales:order_detail", pk=order.pk)
    else:
        form = OrderForm()
    return render(
        request,
        "sales/orders/form.html",
        {
            "form": form,
            "contract": contract,
            "lines": orders.default_lines(contract),
            "crumbs": _crumbs(
                (contract.number, reverse("sales:contract_detail", args=[pk])),
                (_("New order"), None),
            ),
        },
    )


@login_required
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "sales", "view")
    me = _me(request)
    order = get_scoped_or_404(
        Order.objects.visible_to(me).select_related("contract", "customer", "owner"), me, pk
    )
    editable = _may(me, Order, order.pk, "edit")
    moves = orders.TRANSITIONS[order.status]
    form = None
    if editable and moves:
        form = OrderStatusForm(
            initial={
                "version": order.version,
                "status": moves[0],
                "carrier": order.carrier,
                "tracking_number": order.tracking_number,
            }
        )
        form.fields["status"].choices = [  # type: ignore[attr-defined]
            (s, ShipmentStatus(s).label) for s in moves
        ]
    return render(
        request,
        "sales/orders/detail.html",
        {
            "order": order,
            "color": orders.STATUS_COLORS[order.status],
            "lines": list(
                OrderLine.objects.visible_to(me).filter(order=order).order_by("sort_order", "pk")
            ),
            "contract_visible": Contract.objects.visible_to(me)
            .filter(pk=order.contract_id)
            .exists(),
            "form": form,
            "history": audit.history_for(order)[:100],
            "crumbs": [(ORDERS, reverse("sales:order_list")), (order.number, None)],
        },
    )


@login_required
@require_POST
def order_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Change the shipment status (shipping needs carrier and tracking number)."""
    require_perm(request, "sales", "view")
    me = _me(request)
    get_scoped_or_404(Order, me, pk)
    require_perm(request, "sales", "edit")
    order = get_scoped_or_404(Order, me, pk, "edit")
    try:
        data = _valid(OrderStatusForm(request.POST))
        orders.update_order(
            actor=me,
            order=order,
            status=data["status"],
            data={"carrier": data["carrier"], "tracking_number": data["tracking_number"]},
            version=data["version"],
        )
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, _error_message(exc))
    else:
        messages.success(request, _("The shipment status was updated."))
    return redirect("sales:order_detail", pk=pk)


# --- returns ------------------------------------------------------------------------------------
@login_required
def return_list(request: HttpRequest) -> HttpResponse:
    """Returns and refunds the user may see, with the analysis by reason."""
    require_perm(request, "sales", "view")
    me = _me(request)
    qs = ReturnRequest.objects.visible_to(me).select_related("contract", "customer", "owner")
    status = request.GET.get("status") or ""
    if status in ReturnStatus.values:
        qs = qs.filter(status=status)
    reason = request.GET.get("reason") or ""
    if reason in returns.ReturnReason.values:
        qs = qs.filter(reason=reason)
    by_reason = [
        {
            "reason": returns.reason_label(row["reason"]),
            "count": row["n"],
            "amount": row["amount"] or Decimal(0),
        }
        for row in ReturnRequest.objects.visible_to(me)
        .exclude(status=ReturnStatus.WITHDRAWN)
        .values("reason")
        .annotate(n=Count("pk"), amount=Sum("amount"))
        .order_by("-amount", "reason")
    ]
    paginator = CappedPaginator(qs.order_by("-created_at", "-pk"), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "sales/returns/list.html",
        {
            "page": page,
            "rows": [
                {
                    "ret": r,
                    "color": returns.STATUS_COLORS[r.status],
                    "reason": returns.reason_label(r.reason),
                }
                for r in page
            ],
            "statuses": ReturnStatus.choices,
            "reasons": returns.ReturnReason.choices,
            "status": status,
            "reason": reason,
            "by_reason": by_reason,
            "crumbs": [(RETURNS, None)],
        },
    )


def _contract_orders(me: User, contract: Contract) -> Any:
    return Order.objects.visible_to(me).filter(contract=contract).order_by("-created_at", "-pk")


def _return_form_page(
    request: HttpRequest, me: User, contract: Contract, ret: ReturnRequest | None
) -> HttpResponse:
    choices = _contract_orders(me, contract)
    if request.method == "POST":
        form = ReturnForm(request.POST, orders=choices)
        if form.is_valid():
            data = form.cleaned_data
            values = {
                "reason": data["reason"],
                "amount": data["amount"],
                "description": data["description"],
            }
            try:
                if ret is None:
                    saved = returns.create_return(
                        actor=me, contract=contract, order=data["order"], data=values
                    )
                else:
                    saved = returns.update_return(
                        actor=me, ret=ret, data=values, order=data["order"], version=data["version"]
                    )
            except DomainError as exc:
                raise_unless_form_error(exc)
                form.show_error(exc)
            else:
                messages.success(
                    request, _("Return %(number)s was saved.") % {"number": saved.number}
                )
                return redirect("sales:return_detail", pk=saved.pk)
    elif ret is not None:
        form = ReturnForm(
            orders=choices,
            initial={
                "order": ret.order_id,
                "reason": ret.reason,
                "amount": f"{ret.amount:.2f}",
                "description": ret.description,
                "version": ret.version,
            },
        )
    else:
        order_id = _digits(request.GET.get("order"))
        form = ReturnForm(orders=choices, initial={"order": order_id})
    return render(
        request,
        "sales/returns/form.html",
        {
            "form": form,
            "contract": contract,
            "ret": ret,
            "available": returns.available_amount(contract, exclude=ret.pk if ret else None),
            "crumbs": [
                (RETURNS, reverse("sales:return_list")),
                (ret.number if ret else _("New return"), None),
            ],
        },
    )


@login_required
def return_create(request: HttpRequest, pk: int) -> HttpResponse:
    """A new draft return of a contract (``?order=`` preselects one of its orders)."""
    require_perm(request, "sales", "view")
    me = _me(request)
    get_scoped_or_404(_read(me), me, pk)
    require_perm(request, "sales", "create")
    contract = get_scoped_or_404(_read(me, "edit"), me, pk, "edit")
    return _return_form_page(request, me, contract, None)


@login_required
def return_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "sales", "view")
    me = _me(request)
    get_scoped_or_404(ReturnRequest, me, pk)
    require_perm(request, "sales", "edit")
    ret = get_scoped_or_404(
        ReturnRequest.objects.visible_to(me, "edit").select_related("contract"), me, pk, "edit"
    )
    if ret.status != ReturnStatus.DRAFT:
        messages.warning(request, _("Only a draft return is edited."))
        return redirect("sales:return_detail", pk=pk)
    return _return_form_page(request, me, ret.contract, ret)


@login_required
def return_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "sales", "view")
    me = _me(request)
    ret = get_scoped_or_404(
        ReturnRequest.objects.visible_to(me).select_related(
            "contract", "order", "customer", "owner"
        ),
        me,
        pk,
    )
    editable = _may(me, ReturnRequest, ret.pk, "edit")
    pending = approvals.pending_request(ApprovalSubject.RETURN, ret)
    actions = {
        "edit": editable and ret.status == ReturnStatus.DRAFT,
        "submit": editable and ret.status == ReturnStatus.DRAFT,
        "withdraw": editable
        and ret.status == ReturnStatus.PENDING
        and pending is not None
        and pending.submitter_id == me.pk,
        "refund": ret.status == ReturnStatus.APPROVED and me.can("finance", "edit"),
    }
    return render(
        request,
        "sales/returns/detail.html",
        {
            "ret": ret,
            "color": returns.STATUS_COLORS[ret.status],
            "reason": returns.reason_label(ret.reason),
            "actions": actions,
            "submit_form": SubmitForm(initial={"version": ret.version})
            if actions["submit"]
            else None,
            "refund_form": RefundForm(
                initial={"version": ret.version, "refunded_on": timezone.localdate()}
            )
            if actions["refund"]
            else None,
            "contract_visible": Contract.objects.visible_to(me).filter(pk=ret.contract_id).exists(),
            "approval_history": _decorate_requests(
                approvals.requests_for(ApprovalSubject.RETURN, ret)
            ),
            "history": audit.history_for(ret)[:100],
            "crumbs": [(RETURNS, reverse("sales:return_list")), (ret.number, None)],
        },
    )


def _return_act(
    request: HttpRequest,
    pk: int,
    run: Callable[[User, ReturnRequest], str],
    *,
    finance: bool = False,
) -> HttpResponse:
    require_perm(request, "sales", "view")
    me = _me(request)
    get_scoped_or_404(ReturnRequest, me, pk)
    if finance:
        require_perm(request, "finance", "edit")
        ret = get_scoped_or_404(ReturnRequest, me, pk)
    else:
        require_perm(request, "sales", "edit")
        ret = get_scoped_or_404(ReturnRequest, me, pk, "edit")
    try:
        done = run(me, ret)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, _error_message(exc))
    else:
        messages.success(request, done)
    return redirect("sales:return_detail", pk=pk)


@login_required
@require_POST
def return_submit(request: HttpRequest, pk: int) -> HttpResponse:
    def run(me: User, ret: ReturnRequest) -> str:
        data = _valid(SubmitForm(request.POST))
        saved = returns.submit_return(
            actor=me, ret=ret, comment=data["comment"], version=data["version"]
        )
        if saved.status == ReturnStatus.APPROVED:
            return _("No approval is needed: the return is approved.")
        return _("The return was submitted for approval.")

    return _return_act(request, pk, run)


@login_required
@require_POST
def return_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    def run(me: User, ret: ReturnRequest) -> str:
        returns.withdraw_return(actor=me, ret=ret)
        return _("The approval was withdrawn; the return is a draft again.")

    return _return_act(request, pk, run)


@login_required
@require_POST
def return_refund(request: HttpRequest, pk: int) -> HttpResponse:
    """Finance records the refund of an approved return."""

    def run(me: User, ret: ReturnRequest) -> str:
        data = _valid(RefundForm(request.POST))
        returns.refund_return(
            actor=me, ret=ret, refunded_on=data["refunded_on"], version=data["version"]
        )
        return _("The refund was recorded.")

    return _return_act(request, pk, run, finance=True)


# --- record-page sections -----------------------------------------------------------------------
def _contract_rows(user: Any, qs: Any) -> list[dict[str, Any]]:
    return [
        {"contract": c, "color": contracts.STATUS_COLORS.get(c.status, "secondary")}
        for c in qs.select_related("owner").order_by("-created_at", "-pk")[:100]
    ]


def customer_contracts(request: HttpRequest, customer: Any) -> dict[str, Any] | None:
    """The customer's contracts the user may see (customer 360 page)."""
    user: Any = request.user
    if not user.can("sales", "view"):
        return None
    qs = Contract.objects.visible_to(user).filter(customer=customer)
    return {
        "contracts": _contract_rows(user, qs),
        "new_url": f"{reverse('sales:contract_create')}?customer={customer.pk}"
        if user.can("sales", "create") and customer.merged_into_id is None
        else None,
    }


def opportunity_contracts(request: HttpRequest, opportunity: Any) -> dict[str, Any] | None:
    """The opportunity's contracts the user may see (opportunity page)."""
    user: Any = request.user
    if not user.can("sales", "view"):
        return None
    qs = Contract.objects.visible_to(user).filter(opportunity=opportunity)
    return {
        "contracts": _contract_rows(user, qs),
        "new_url": f"{reverse('sales:contract_create')}?opportunity={opportunity.pk}"
        if user.can("sales", "create")
        else None,
    }


def contract_history(request: HttpRequest, contract: Contract) -> dict[str, Any]:
    from crm.core.views import history_context

    return history_context(contract)


def wire() -> None:
    """Sections of the customer, opportunity and contract pages, comments and attachments on
    contracts, audit labels (called once from ``crm.sales.wiring``)."""
    from crm.core import collab
    from crm.core.audit import register_verbs
    from crm.core.collab_sections import attachments_context, comments_context
    from crm.core.registry import Section, register_ownership_transfer, register_section
    from crm.customers import services as customer_services

    collab.register_target("contract", "sales.Contract", contracts.contract_url)
    register_ownership_transfer(
        "contracts", contracts.transfer_all_of, label=gettext_lazy("contracts")
    )
    if contracts.move_to_customer not in customer_services.merge_handlers:
        customer_services.merge_handlers.append(contracts.move_to_customer)
    register_section(
        "customers.customer",
        Section(35, "contracts", CONTRACTS, "sales/contracts/_section.html", customer_contracts),
    )
    register_section(
        "pipeline.opportunity",
        Section(25, "contracts", CONTRACTS, "sales/contracts/_section.html", opportunity_contracts),
    )
    for order, key, title, template, context in (
        (
            50,
            "comments",
            gettext_lazy("Comments"),
            "core/collab/section_comments.html",
            comments_context,
        ),
        (
            60,
            "attachments",
            gettext_lazy("Attachments"),
            "core/collab/section_attachments.html",
            attachments_context,
        ),
        (1000, "history", gettext_lazy("History"), "core/_history.html", contract_history),
    ):
        register_section(SECTIONS, Section(order, key, title, template, context))
    register_verbs(
        {
            **TIMELINE_VERBS,
            "contract.updated": gettext_lazy("Contract edited"),
            "contract.amendment_proposed": gettext_lazy("Amendment proposed"),
            "contract.amendment_rejected": gettext_lazy("Amendment rejected"),
            "contract.amendment_withdrawn": gettext_lazy("Amendment withdrawn"),
            "contract.refunded": gettext_lazy("Refund recorded"),
            "contract.transferred": gettext_lazy("Contract transferred"),
            "order.created": gettext_lazy("Order created"),
            "order.updated": gettext_lazy("Order edited"),
            "order.shipped": gettext_lazy("Shipped"),
            "order.delivered": gettext_lazy("Delivered"),
            "order.cancelled": gettext_lazy("Order cancelled"),
            "return.created": gettext_lazy("Return recorded"),
            "return.updated": gettext_lazy("Return edited"),
            "return.submitted": gettext_lazy("Return submitted for approval"),
            "return.approved": gettext_lazy("Return approved"),
            "return.rejected": gettext_lazy("Return rejected, back to draft"),
            "return.withdrawn": gettext_lazy("Return withdrawn, back to draft"),
            "return.refunded": gettext_lazy("Refunded"),
            "approval_flow.created": gettext_lazy("Approval flow created"),
            "approval_flow.updated": gettext_lazy("Approval flow changed"),
            "approval_flow.moved": gettext_lazy("Approval flow reordered"),
            "approval_flow.step_added": gettext_lazy("Approval step added"),
            "approval_flow.step_changed": gettext_lazy("Approval step changed"),
            "approval_flow.step_removed": gettext_lazy("Approval step removed"),
            "approval_flow.step_moved": gettext_lazy("Approval step reordered"),
        }
    )
