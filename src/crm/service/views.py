"""Pages of the customer service module (R3.7): tickets (list with tabs and filters, detail with
timeline, comments and attachments, create/edit, status changes), return visits, the analysis
and the SLA settings. Every read goes through ``visible_to``; writes call ``services``."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm.core import audit
from crm.core.collab_sections import attachments_context, comments_context
from crm.core.errors import DomainError, PermissionDenied
from crm.core.forms import apply_domain_error, error_text, raise_unless_form_error
from crm.core.scoping import get_scoped_or_404
from crm.core.views import require_perm
from crm.customers.models import Customer
from crm.org.models import User

from . import selectors, services
from .choices import (
    PRIORITY_COLORS,
    STATUS_COLORS,
    TRANSITIONS,
    UNFINISHED_STATUSES,
    Priority,
    TicketStatus,
    VisitStatus,
)
from .forms import (
    SettingsForm,
    StatusForm,
    TicketFilterForm,
    TicketForm,
    TransferForm,
    VisitCompleteForm,
    VisitPlanForm,
    VisitRescheduleForm,
)
from .models import ReturnVisit, Ticket

PAGE_SIZE = 25
SERVICE = gettext_lazy("Service")
TICKETS = gettext_lazy("Service tickets")
VISITS = gettext_lazy("Return visits")
TABS = ("all", "mine", "overdue", "unfinished")


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _next_url(request: HttpRequest) -> str | None:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return None


def _may(user: User, model: Any, pk: int, action: str) -> bool:
    return bool(
        user.can("service", action)
        and model.objects.visible_to(user, action).filter(pk=pk).exists()
    )


# --- tickets ------------------------------------------------------------------------------------
@login_required
def ticket_list(request: HttpRequest) -> HttpResponse:
    """Tickets the user sees: tabs all / mine / overdue / unfinished, and filters."""
    require_perm(request, "service", "view")
    me = _me(request)
    tab = request.GET.get("tab") or "all"
    if tab not in TABS:
        tab = "all"
    base = selectors.tickets_for(me)
    counts = base.aggregate(
        mine=_count(Q(owner=me)),
        overdue=_count(services.overdue_q()),
        unfinished=_count(Q(status__in=UNFINISHED_STATUSES)),
    )
    qs = base
    if tab == "mine":
        qs = qs.filter(owner=me)
    elif tab == "overdue":
        qs = qs.filter(services.overdue_q())
    elif tab == "unfinished":
        qs = qs.filter(status__in=UNFINISHED_STATUSES)
    form = TicketFilterForm(request.GET or None)
    problems: list[str] = []
    if form.is_bound and not form.is_valid():
        problems = [str(e) for errors in form.errors.values() for e in errors]
    elif form.is_bound:
        d = form.cleaned_data
        if d.get("q"):
            qs = qs.filter(
                Q(number__icontains=d["q"])
                | Q(subject__icontains=d["q"])
                | Q(customer__name__icontains=d["q"])
            )
        for key in ("type", "priority", "status"):
            if d.get(key):
                qs = qs.filter(**{key: d[key]})
        if d.get("owner"):
            qs = qs.filter(owner_id=d["owner"])
        if d.get("customer"):
            qs = qs.filter(customer_id=d["customer"])
    order = ["resolution_due_at", "pk"] if tab == "overdue" else ["-opened_at", "-pk"]
    qs = qs.select_related("customer", "owner").order_by(*order)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [
        {
            "ticket": t,
            "overdue": t.status in (TicketStatus.OPEN, TicketStatus.IN_PROGRESS)
            and (
                t.resolution_due_at < now
                or (t.first_response_at is None and t.response_due_at < now)
            ),
            "status_color": STATUS_COLORS.get(TicketStatus(t.status), "secondary"),
            "priority_color": PRIORITY_COLORS.get(Priority(t.priority), "secondary"),
        }
        for t in page
    ]
    params = request.GET.copy()
    params.pop("page", None)
    params.pop("tab", None)
    return render(
        request,
        "service/ticket_list.html",
        {
            "page": page,
            "rows": rows,
            "tab": tab,
            "counts": counts,
            "filter_form": form,
            "problems": problems,
            "keep": params.urlencode(),
            "can_create": me.can("service", "create"),
            "crumbs": [(SERVICE, None), (TICKETS, None)],
        },
    )


def _count(q: Q) -> Any:
    from django.db.models import Count

    return Count("pk", filter=q)


def _customer_from(request: HttpRequest, me: User) -> Customer | None:
    raw = request.POST.get("customer") or request.GET.get("customer")
    if not raw:
        return None
    try:
        return selectors_customer(me, int(raw))
    except (TypeError, ValueError, DomainError):
        return None


def selectors_customer(me: User, pk: Any) -> Customer:
    customer: Customer = get_scoped_or_404(
        Customer.objects.visible_to(me).filter(merged_into__isnull=True), me, pk
    )
    return customer


@login_required
def ticket_create(request: HttpRequest) -> HttpResponse:
    """Open a ticket (``?customer=`` fixes the customer, as from the customer 360 page)."""
    require_perm(request, "service", "create")
    me = _me(request)
    customer = _customer_from(request, me)
    form = TicketForm(request.POST or None, user=me, customer=customer)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            ticket = services.create_ticket(
                actor=me,
                customer=d["customer"],
                data={k: d[k] for k in ("type", "priority", "subject", "description")},
                contact=d.get("contact"),
                contract=d.get("contract"),
                product=d.get("product"),
                owner=d.get("owner") or None,
                collaborators=list(d.get("collaborators") or []),
            )
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Ticket %(number)s opened.") % {"number": ticket.number})
            return redirect("service:ticket_detail", pk=ticket.pk)
    return render(
        request,
        "service/ticket_form.html",
        {
            "form": form,
            "customer": customer,
            "ticket": None,
            "crumbs": [(TICKETS, reverse("service:ticket_list")), (_("New ticket"), None)],
        },
    )


@login_required
def ticket_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "service", "view")
    me = _me(request)
    ticket: Ticket = get_scoped_or_404(
        Ticket.objects.visible_to(me).select_related(
            "customer", "contact", "contract", "product", "owner"
        ),
        me,
        pk,
    )
    editable = _may(me, Ticket, ticket.pk, "edit")
    history = [
        {
            "label": audit.verb_label(e.verb),
            "at": e.created_at,
            "by": e.actor.display_name if e.actor else e.actor_label,
            "note": (e.data or {}).get("note", ""),
        }
        for e in audit.history_for(ticket).order_by("created_at", "pk")[:200]
    ]
    now = timezone.now()
    return render(
        request,
        "service/ticket_detail.html",
        {
            "ticket": ticket,
            "collaborators": list(ticket.collaborators.all()),
            "history": history,
            "next_statuses": [(s, TicketStatus(s).label) for s in TRANSITIONS[ticket.status]]
            if editable
            else [],
            "can_edit": editable and ticket.status != TicketStatus.CLOSED,
            "can_transfer": _may(me, Ticket, ticket.pk, "transfer"),
            "can_delete": _may(me, Ticket, ticket.pk, "delete"),
            "transfer_form": TransferForm(user=me, initial={"version": ticket.version}),
            "response_overdue": ticket.first_response_at is None
            and ticket.status in (TicketStatus.OPEN, TicketStatus.IN_PROGRESS)
            and ticket.response_due_at < now,
            "resolution_overdue": ticket.status in (TicketStatus.OPEN, TicketStatus.IN_PROGRESS)
            and ticket.resolution_due_at < now,
            "response_hours": selectors.hours(ticket.response_seconds),
            "resolution_hours": selectors.hours(ticket.resolution_seconds),
            "status_color": STATUS_COLORS.get(TicketStatus(ticket.status), "secondary"),
            "priority_color": PRIORITY_COLORS.get(Priority(ticket.priority), "secondary"),
            "visits": list(ticket.return_visits.visible_to(me).select_related("owner")),
            "comments": comments_context(request, ticket),
            "files": attachments_context(request, ticket),
            "crumbs": [(TICKETS, reverse("service:ticket_list")), (ticket.number, None)],
        },
    )


@login_required
def ticket_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "service", "edit")
    me = _me(request)
    ticket: Ticket = get_scoped_or_404(
        Ticket.objects.visible_to(me, "edit").select_related("customer"), me, pk, "edit"
    )
    initial = {
        "type": ticket.type,
        "priority": ticket.priority,
        "subject": ticket.subject,
        "description": ticket.description,
        "contact": ticket.contact_id,
        "contract": ticket.contract_id,
        "product": ticket.product_id,
        "collaborators": list(ticket.collaborators.values_list("pk", flat=True)),
        "version": ticket.version,
    }
    form = TicketForm(
        request.POST or None, user=me, customer=ticket.customer, editing=True, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            services.update_ticket(
                actor=me,
                ticket=ticket,
                data={k: d[k] for k in ("type", "priority", "subject", "description")},
                version=d.get("version"),
                contact=d.get("contact"),
                contract=d.get("contract"),
                product=d.get("product"),
                collaborators=list(d.get("collaborators") or []),
            )
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Ticket saved."))
            return redirect("service:ticket_detail", pk=ticket.pk)
    return render(
        request,
        "service/ticket_form.html",
        {
            "form": form,
            "customer": ticket.customer,
            "ticket": ticket,
            "crumbs": [
                (TICKETS, reverse("service:ticket_list")),
                (ticket.number, reverse("service:ticket_detail", args=[ticket.pk])),
                (_("Edit"), None),
            ],
        },
    )


@login_required
@require_POST
def ticket_status(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "service", "edit")
    me = _me(request)
    ticket: Ticket = get_scoped_or_404(Ticket, me, pk, "edit")
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
    else:
        try:
            services.change_status(
                actor=me,
                ticket=ticket,
                status=form.cleaned_data["status"],
                version=form.cleaned_data.get("version"),
                note=form.cleaned_data.get("note") or "",
            )
        except DomainError as exc:
            raise_unless_form_error(exc)
            messages.error(request, error_text(exc))
        else:
            messages.success(request, _("Status changed."))
    return redirect("service:ticket_detail", pk=ticket.pk)


@login_required
@require_POST
def ticket_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "service", "transfer")
    me = _me(request)
    ticket: Ticket = get_scoped_or_404(Ticket, me, pk, "transfer")
    form = TransferForm(request.POST, user=me)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
    else:
        try:
            services.transfer_ticket(
                actor=me,
                ticket=ticket,
                to_user=form.cleaned_data["owner"],
                version=form.cleaned_data.get("version"),
            )
        except DomainError as exc:
            raise_unless_form_error(exc)
            messages.error(request, error_text(exc))
        else:
            messages.success(request, _("Ticket reassigned."))
            if not Ticket.objects.visible_to(me).filter(pk=ticket.pk).exists():
                return redirect("service:ticket_list")
    return redirect("service:ticket_detail", pk=ticket.pk)


@login_required
@require_POST
def ticket_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "service", "delete")
    me = _me(request)
    ticket: Ticket = get_scoped_or_404(Ticket, me, pk, "delete")
    services.delete_ticket(actor=me, ticket=ticket)
    messages.success(request, _("Ticket deleted."))
    return redirect("service:ticket_list")


# --- return visits ------------------------------------------------------------------------------
VISIT_TABS = ("due", "planned", "done", "all")


@login_required
def visit_list(request: HttpRequest) -> HttpResponse:
    """Return visits the user sees: due (today or overdue), planned, done, all."""
    require_perm(request, "service", "view")
    me = _me(request)
    tab = request.GET.get("tab") or "due"
    if tab not in VISIT_TABS:
        tab = "due"
    today = timezone.localdate()
    qs = selectors.visits_for(me)
    if request.GET.get("mine"):
        qs = qs.filter(owner=me)
    if tab == "due":
        qs = qs.filter(status=VisitStatus.PLANNED, due_on__lte=today).order_by("due_on", "pk")
    elif tab == "planned":
        qs = qs.filter(status=VisitStatus.PLANNED).order_by("due_on", "pk")
    elif tab == "done":
        qs = qs.filter(status=VisitStatus.DONE).order_by("-done_at", "-pk")
    else:
        qs = qs.order_by("-due_on", "-pk")
    qs = qs.select_related("customer", "owner", "ticket", "contract")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    editable = set(
        ReturnVisit.objects.visible_to(me, "edit")
        .filter(pk__in=[v.pk for v in page])
        .values_list("pk", flat=True)
    )
    return render(
        request,
        "service/visit_list.html",
        {
            "page": page,
            "rows": [
                {
                    "visit": v,
                    "overdue": v.status == VisitStatus.PLANNED and v.due_on < today,
                    "can_edit": v.pk in editable
                    and me.can("service", "edit")
                    and v.status == VisitStatus.PLANNED,
                }
                for v in page
            ],
            "tab": tab,
            "mine": bool(request.GET.get("mine")),
            "can_plan": me.can("service", "create"),
            "crumbs": [(SERVICE, None), (VISITS, None)],
        },
    )


@login_required
def visit_create(request: HttpRequest) -> HttpResponse:
    """Plan a return visit by hand (``?customer=`` fixes the customer, as from the customer 360
    page): due date, owner (default: the customer's owner when the user may assign it), note."""
    require_perm(request, "service", "create")
    me = _me(request)
    raw = request.POST.get("customer") or request.GET.get("customer")
    customer = selectors_customer(me, raw) if raw else None  # out of scope: 404
    initial: dict[str, Any] = {"due_on": timezone.localdate()}
    if customer is not None:
        initial["owner"] = services.default_visit_owner(me, customer).pk
    form = VisitPlanForm(request.POST or None, user=me, customer=customer, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            visit = services.plan_visit(
                actor=me,
                customer=d["customer"],
                due_on=d["due_on"],
                owner=d.get("owner") or None,
                note=d.get("note") or "",
            )
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc)
        else:
            messages.success(
                request,
                _("Return visit planned for %(day)s.") % {"day": visit.due_on.isoformat()},
            )
            return redirect(_next_url(request) or reverse("service:visit_list") + "?tab=planned")
    return render(
        request,
        "service/visit_plan.html",
        {
            "form": form,
            "customer": customer,
            "visit": None,
            "next": _next_url(request) or "",
            "crumbs": [(VISITS, reverse("service:visit_list")), (_("Plan a return visit"), None)],
        },
    )


@login_required
def visit_reschedule(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a planned return visit to another day (another owner with service:transfer)."""
    require_perm(request, "service", "edit")
    me = _me(request)
    visit: ReturnVisit = get_scoped_or_404(
        ReturnVisit.objects.visible_to(me, "edit").select_related("customer", "owner"),
        me,
        pk,
        "edit",
    )
    initial = {
        "due_on": visit.due_on,
        "owner": visit.owner_id,
        "note": visit.note,
        "version": visit.version,
    }
    form = VisitRescheduleForm(request.POST or None, user=me, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            services.reschedule_visit(
                actor=me,
                visit=visit,
                due_on=d["due_on"],
                owner=d.get("owner") or None,
                note=d.get("note") or "",
                version=d.get("version"),
            )
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Return visit rescheduled."))
            return redirect(_next_url(request) or reverse("service:visit_list") + "?tab=planned")
    return render(
        request,
        "service/visit_plan.html",
        {
            "form": form,
            "customer": visit.customer,
            "visit": visit,
            "next": _next_url(request) or "",
            "crumbs": [(VISITS, reverse("service:visit_list")), (visit.customer.name, None)],
        },
    )


@login_required
def visit_complete(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a return visit as done: satisfaction 1–5 and a comment."""
    require_perm(request, "service", "edit")
    me = _me(request)
    visit: ReturnVisit = get_scoped_or_404(
        ReturnVisit.objects.visible_to(me, "edit").select_related("customer", "ticket", "contract"),
        me,
        pk,
        "edit",
    )
    form = VisitCompleteForm(request.POST or None, initial={"version": visit.version})
    if request.method == "POST" and form.is_valid():
        try:
            services.complete_visit(
                actor=me,
                visit=visit,
                satisfaction=form.cleaned_data["satisfaction"],
                comment=form.cleaned_data.get("comment") or "",
                version=form.cleaned_data.get("version"),
            )
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Return visit recorded."))
            return redirect(_next_url(request) or reverse("service:visit_list"))
    return render(
        request,
        "service/visit_form.html",
        {
            "form": form,
            "visit": visit,
            "crumbs": [(VISITS, reverse("service:visit_list")), (visit.customer.name, None)],
        },
    )


@login_required
@require_POST
def visit_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "service", "edit")
    me = _me(request)
    visit: ReturnVisit = get_scoped_or_404(ReturnVisit, me, pk, "edit")
    try:
        services.cancel_visit(actor=me, visit=visit)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Return visit cancelled."))
    return redirect(_next_url(request) or reverse("service:visit_list"))


# --- analysis and settings ----------------------------------------------------------------------
def _day(raw: str | None, problems: list[str]) -> date | None:
    if not raw:
        return None
    try:
        parsed = parse_date(raw)
    except ValueError:
        parsed = None
    if parsed is None:
        problems.append(_("“%(value)s” is not a valid date (YYYY-MM-DD).") % {"value": raw[:20]})
    return parsed


@login_required
def analysis(request: HttpRequest) -> HttpResponse:
    """Tickets by type, priority and status; overdue rate; median response and resolution
    times; satisfaction per owner, product and customer (R3.7)."""
    require_perm(request, "service", "view")
    from crm.analytics.figures import export_figure, page_context

    me = _me(request)
    problems: list[str] = []
    start = _day(request.GET.get("from"), problems)
    end = _day(request.GET.get("to"), problems)
    if start and end and end < start:
        problems.append(_("The end date is before the start date."))
        start = end = None
    data = selectors.analysis(me, selectors.Period(start, end))
    if request.GET.get("export"):
        if not me.can("analytics", "export"):
            raise PermissionDenied()
        return export_figure(request, data["figures"])
    return render(
        request,
        "service/analysis.html",
        {
            **data,
            **page_context(request),
            "problems": problems,
            "start": start,
            "end": end,
            "crumbs": [(SERVICE, None), (_("Service analysis"), None)],
        },
    )


@login_required
def sla_settings(request: HttpRequest) -> HttpResponse:
    """Admins set the SLA per priority and when return visits fall due."""
    me = _me(request)
    require_perm(request, "settings", "configure")
    row = services.get_settings(me.org_id)  # type: ignore[arg-type]
    sla = services.sla_of(row)
    initial: dict[str, Any] = {
        "visit_days_after_contract": row.visit_days_after_contract,
        "visit_days_after_ticket": row.visit_days_after_ticket,
    }
    for priority, (response, resolution) in sla.items():
        initial[f"{priority}_response"] = response
        initial[f"{priority}_resolution"] = resolution
    form = SettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_settings(actor=me, data=form.cleaned_data)
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("Service levels saved."))
            return redirect("service:settings")
    return render(
        request,
        "service/settings.html",
        {"form": form, "crumbs": [(_("Settings"), None), (_("Service levels"), None)]},
    )
