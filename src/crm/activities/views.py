"""Pages of the follow-up module (R5.1–R5.4, R4.2): recording follow-ups (a phone-friendly quick
add), the follow-up list, visit plans with their calendar and analysis, reminders and reminder
rules, and "my day".

Every read goes through ``visible_to`` / ``get_scoped_or_404`` (another organisation's and
out-of-scope ids answer 404); a missing permission answers 403; every write is one call of
``crm.activities.services`` (or ``reminders.mark_done``), whose errors are shown on the form or
as a flash message.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django.views.decorators.http import require_POST

from crm.core import collab
from crm.core.errors import DomainError, PermissionDenied, ValidationFailed
from crm.core.forms import apply_domain_error, error_text, raise_unless_form_error
from crm.core.paging import CappedPaginator
from crm.core.scoping import get_scoped_or_404
from crm.core.views import require_perm
from crm.customers.models import Contact, Customer
from crm.customers.selectors import active_customers, search_customers
from crm.org.models import User
from crm.pipeline.models import Opportunity

from . import reminders, selectors, services
from .choices import METHOD_ICONS, PLAN_STATUS_COLORS, Method, PlanStatus, ReminderKind
from .forms import (
    OFFSET_HELP,
    OFFSET_UNITS,
    FollowUpFilterForm,
    FollowUpForm,
    PeriodForm,
    PlanForm,
    PlanStatusForm,
    RuleForm,
)
from .models import FollowUp, Reminder, ReminderRule, VisitPlan

FOLLOWUPS = gettext_lazy("Follow-ups")
PLANS = gettext_lazy("Visit calendar")
PAGE_SIZE = 30


# --- helpers ------------------------------------------------------------------------------------
def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _next_url(request: HttpRequest) -> str | None:
    """The ``next`` of a POST or GET, if it is a safe address on this site."""
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return None


def _query(request: HttpRequest, drop: tuple[str, ...] = (), **changes: Any) -> str:
    """The current query string without ``drop`` and ``page``, with ``changes`` applied."""
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


def _digits(value: Any) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() else None


def _customer_page(customer_id: int) -> str:
    return reverse("customers:detail", args=[customer_id]) + "#section-followups"


def _with_query(name: str, **params: Any) -> str:
    """The URL ``name`` with the non-empty ``params`` as its query string."""
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return reverse(name) + (f"?{urlencode(clean)}" if clean else "")


# --- Follow-ups ---------------------------------------------------------------------------------
def _prefill(
    request: HttpRequest, me: User
) -> tuple[Customer | None, Opportunity | None, Contact | None, VisitPlan | None, bool]:
    """The customer, opportunity, contact and plan named in the query string (404 when one is
    not visible), and whether the customer is fixed (prefilled) rather than searched."""
    q = request.GET
    plan = None
    if q.get("plan"):
        plan = get_scoped_or_404(
            VisitPlan.objects.visible_to(me, "edit").select_related("customer"),
            me,
            q.get("plan"),
            "edit",
        )
    opportunity = None
    raw_opportunity = plan.opportunity_id if plan and plan.opportunity_id else q.get("opportunity")
    if raw_opportunity:
        opportunity = get_scoped_or_404(Opportunity, me, raw_opportunity)
    raw_customer = (
        plan.customer_id
        if plan
        else q.get("customer") or (opportunity.customer_id if opportunity else None)
    )
    customer = get_scoped_or_404(active_customers(me), me, raw_customer) if raw_customer else None
    if opportunity is not None and customer is not None and opportunity.customer_id != customer.pk:
        opportunity = None
    contact = None
    raw_contact = _digits(plan.contact_id if plan and plan.contact_id else q.get("contact"))
    if raw_contact is not None and customer is not None:
        contact = Contact.objects.visible_to(me).filter(pk=raw_contact, customer=customer).first()
    return customer, opportunity, contact, plan, customer is not None


def _posted_customer(request: HttpRequest, me: User) -> Customer | None:
    pk = _digits(request.POST.get("customer"))
    return active_customers(me).filter(pk=pk).first() if pk else None


def _check_photos(me: User, photos: list[Any]) -> None:
    """Photos are images the attachments module accepts, and need edit rights (attaching a
    file edits the follow-up); checked before anything is stored."""
    if not photos:
        return
    if not me.can("activities", "edit"):
        raise ValidationFailed(
            field_errors={"photos": [_("You may not attach photos to follow-ups.")]}
        )
    for photo in photos:
        name, content_type = collab.check_upload(photo)
        if not content_type.startswith("image/"):
            raise ValidationFailed(
                field_errors={"photos": [_("“%(name)s” is not a photo.") % {"name": name}]}
            )


@login_required
def followup_create(request: HttpRequest) -> HttpResponse:
    """Record a follow-up (R5.3): prefilled from ``?customer=&opportunity=&contact=&plan=``; a
    follow-up for a planned visit marks the plan done. Back to ``next`` or the customer."""
    require_perm(request, "activities", "create")
    me = _me(request)
    customer, opportunity, contact, plan, fixed = _prefill(request, me)
    if request.method == "POST":
        if not fixed:
            customer = _posted_customer(request, me)
        form = FollowUpForm(request.POST, request.FILES, user=me, customer=customer)
        if form.is_valid():
            d = form.cleaned_data
            try:
                with transaction.atomic():
                    _check_photos(me, d["photos"])
                    followup = services.record_followup(
                        actor=me,
                        customer=d["customer"],
                        data=form.service_data(creating=True),
                        opportunity=d["opportunity"],
                        contact=d["contact"],
                        collaborator=d["collaborator"],
                        plan=plan,
                    )
                    for photo in d["photos"]:
                        collab.upload_attachment(actor=me, target=followup, uploaded_file=photo)
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc, {"file": "photos"})
            else:
                messages.success(
                    request,
                    _("Follow-up with “%(name)s” was recorded.") % {"name": followup.customer.name},
                )
                return redirect(_next_url(request) or _customer_page(followup.customer_id))
    else:
        form = FollowUpForm(
            user=me,
            customer=customer,
            initial={
                "customer": customer.pk if customer else None,
                "opportunity": opportunity.pk if opportunity else None,
                "contact": contact.pk if contact else None,
                "method": plan.method if plan else None,
                "happened_at": timezone.localtime().replace(second=0, microsecond=0),
                "plan": plan.pk if plan else None,
            },
        )
    crumbs: list[tuple[Any, str | None]] = [(FOLLOWUPS, reverse("activities:followup_list"))]
    if customer is not None and fixed:
        crumbs.append((customer.name, reverse("customers:detail", args=[customer.pk])))
    crumbs.append((_("Record a follow-up"), None))
    return render(
        request,
        "activities/followup_form.html",
        {
            "form": form,
            "followup": None,
            "customer": customer,
            "fixed": fixed,
            "plan": plan,
            "next": _next_url(request) or "",
            "cancel_url": _next_url(request)
            or (_customer_page(customer.pk) if customer else reverse("activities:my_day")),
            "crumbs": crumbs,
        },
    )


@login_required
def followup_links(request: HttpRequest) -> HttpResponse:
    """htmx: the opportunity and contact choices of the customer just chosen on a form."""
    require_perm(request, "activities", "create")
    me = _me(request)
    pk = _digits(request.GET.get("customer"))
    customer = get_scoped_or_404(active_customers(me), me, pk) if pk else None
    form = FollowUpForm(user=me, customer=customer)
    return render(request, "activities/_links.html", {"form": form})


@login_required
def followup_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a follow-up (its author, or someone whose scope covers it with edit rights); a
    stale ``version`` shows who changed what and keeps the input."""
    require_perm(request, "activities", "edit")
    me = _me(request)
    followup = get_scoped_or_404(
        FollowUp.objects.visible_to(me, "edit").select_related("customer", "opportunity"),
        me,
        pk,
        "edit",
    )
    if request.method == "POST":
        form = FollowUpForm(request.POST, user=me, customer=followup.customer, editing=True)
        if form.is_valid():
            d = form.cleaned_data
            try:
                services.update_followup(
                    actor=me,
                    followup=followup,
                    data=form.service_data(creating=False),
                    version=d["version"],
                    contact=d["contact"],
                    collaborator=d["collaborator"],
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(request, _("The follow-up was saved."))
                return redirect(_next_url(request) or _customer_page(followup.customer_id))
    else:
        form = FollowUpForm(
            user=me,
            customer=followup.customer,
            editing=True,
            initial={
                "contact": followup.contact_id,
                "method": followup.method,
                "content": followup.content,
                "happened_at": timezone.localtime(followup.happened_at),
                "next_at": timezone.localtime(followup.next_at) if followup.next_at else None,
                "next_content": followup.next_content,
                "collaborator": followup.collaborator_id,
                "location": followup.location,
                "latitude": followup.latitude,
                "longitude": followup.longitude,
                "version": followup.version,
            },
        )
    return render(
        request,
        "activities/followup_form.html",
        {
            "form": form,
            "followup": followup,
            "customer": followup.customer,
            "fixed": True,
            "plan": None,
            "next": _next_url(request) or "",
            "cancel_url": _next_url(request) or _customer_page(followup.customer_id),
            "can_delete": me.can("activities", "delete")
            and FollowUp.objects.visible_to(me, "delete").filter(pk=pk).exists(),
            "crumbs": [
                (FOLLOWUPS, reverse("activities:followup_list")),
                (followup.customer.name, reverse("customers:detail", args=[followup.customer_id])),
                (_("Edit follow-up"), None),
            ],
        },
    )


@login_required
@require_POST
def followup_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a follow-up; the customer's and opportunity's follow-up blocks move back."""
    require_perm(request, "activities", "delete")
    me = _me(request)
    followup = get_scoped_or_404(FollowUp, me, pk, "delete")
    customer_id = followup.customer_id
    try:
        services.delete_followup(actor=me, followup=followup)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("The follow-up was deleted."))
    target = _next_url(request)
    if target and reverse("activities:followup_edit", args=[pk]) in target:
        target = None
    return redirect(target or _customer_page(customer_id))


@login_required
def followup_list(request: HttpRequest) -> HttpResponse:
    """The follow-ups the user may see, newest first, with filters; managers get a team tab."""
    require_perm(request, "activities", "view")
    me = _me(request)
    wide = selectors.has_team(me)
    tab = "team" if wide and request.GET.get("view") == "team" else "mine"
    qs = FollowUp.objects.visible_to(me)
    if tab == "mine":
        qs = qs.filter(Q(owner=me) | Q(collaborator=me))
    form = FollowUpFilterForm(request.GET or None, user=me, with_owner=tab == "team")
    problems: list[str] = []
    if form.is_bound and not form.is_valid():
        problems = [str(e) for errors in form.errors.values() for e in errors]
    elif form.is_bound:
        d = form.cleaned_data
        if d.get("q"):
            qs = qs.filter(customer__in=search_customers(me, d["q"]).order_by().values("pk"))
        if d.get("method"):
            qs = qs.filter(method=d["method"])
        if d.get("owner"):
            qs = qs.filter(owner=d["owner"])
        if d.get("date_from"):
            qs = qs.filter(happened_at__gte=selectors.day_start(d["date_from"]))
        if d.get("date_to"):
            qs = qs.filter(happened_at__lt=selectors.day_start(d["date_to"] + timedelta(days=1)))
    customer_id = _digits(request.GET.get("customer"))
    customer = active_customers(me).filter(pk=customer_id).first() if customer_id else None
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    qs = qs.select_related("customer", "owner", "opportunity", "contact", "collaborator")
    page = CappedPaginator(qs.order_by("-happened_at", "-pk"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    editable = set(
        FollowUp.objects.visible_to(me, "edit")
        .filter(pk__in=[f.pk for f in page])
        .values_list("pk", flat=True)
    )
    return render(
        request,
        "activities/followup_list.html",
        {
            "page": page,
            "rows": [
                {
                    "followup": f,
                    "icon": METHOD_ICONS.get(f.method, "ti-message"),
                    "can_edit": f.pk in editable and me.can("activities", "edit"),
                }
                for f in page
            ],
            "filter_form": form,
            "problems": problems,
            "customer": customer,
            "tabs": [
                {"key": key, "label": label, "active": key == tab, "url": _query(request, view=key)}
                for key, label in (("mine", _("Mine")), ("team", _("My team")))
            ]
            if wide
            else [],
            "tab": tab,
            "can_create": me.can("activities", "create"),
            "here": request.get_full_path(),
            "crumbs": [(FOLLOWUPS, None)],
        },
    )


# --- Visit plans --------------------------------------------------------------------------------
def _calendar_url(day: date | None = None) -> str:
    return _with_query("activities:plan_calendar", day=day.isoformat() if day else None)


@login_required
def plan_create(request: HttpRequest) -> HttpResponse:
    """Plan a visit for me, or (a manager) for a team member; prefilled like the follow-up
    form."""
    require_perm(request, "activities", "create")
    me = _me(request)
    customer, opportunity, contact, _plan, fixed = _prefill(request, me)
    if request.method == "POST":
        if not fixed:
            customer = _posted_customer(request, me)
        form = PlanForm(request.POST, user=me, customer=customer)
        if form.is_valid():
            d = form.cleaned_data
            try:
                plan = services.plan_visit(
                    actor=me,
                    customer=d["customer"],
                    data=form.service_data(),
                    opportunity=d["opportunity"],
                    contact=d["contact"],
                    owner=d.get("owner") or me,
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request,
                    _("The visit to “%(name)s” was planned.") % {"name": plan.customer.name},
                )
                return redirect(
                    _next_url(request) or _calendar_url(timezone.localdate(plan.planned_at))
                )
    else:
        tomorrow = timezone.localtime().replace(minute=0, second=0, microsecond=0) + timedelta(
            days=1
        )
        form = PlanForm(
            user=me,
            customer=customer,
            initial={
                "customer": customer.pk if customer else None,
                "opportunity": opportunity.pk if opportunity else None,
                "contact": contact.pk if contact else None,
                "planned_at": tomorrow,
            },
        )
    return render(
        request,
        "activities/plan_form.html",
        {
            "form": form,
            "plan": None,
            "customer": customer,
            "fixed": fixed,
            "next": _next_url(request) or "",
            "cancel_url": _next_url(request) or reverse("activities:plan_calendar"),
            "crumbs": [(PLANS, reverse("activities:plan_calendar")), (_("Plan a visit"), None)],
        },
    )


@login_required
def plan_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """A planned visit: change when and why, record it, or mark it missed or cancelled."""
    require_perm(request, "activities", "edit")
    me = _me(request)
    plan = get_scoped_or_404(
        VisitPlan.objects.visible_to(me, "edit").select_related(
            "customer", "opportunity", "contact", "owner", "followup"
        ),
        me,
        pk,
        "edit",
    )
    if request.method == "POST":
        form = PlanForm(request.POST, user=me, customer=plan.customer, editing=True)
        if form.is_valid():
            try:
                services.update_plan(
                    actor=me,
                    plan=plan,
                    data=form.service_data(),
                    version=form.cleaned_data["version"],
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(request, _("The visit plan was saved."))
                return redirect(
                    _next_url(request) or _calendar_url(timezone.localdate(plan.planned_at))
                )
    else:
        form = PlanForm(
            user=me,
            customer=plan.customer,
            editing=True,
            initial={
                "method": plan.method,
                "planned_at": timezone.localtime(plan.planned_at),
                "purpose": plan.purpose,
                "note": plan.note,
                "version": plan.version,
            },
        )
    here = request.get_full_path()
    return render(
        request,
        "activities/plan_form.html",
        {
            "form": form,
            "plan": plan,
            "customer": plan.customer,
            "fixed": True,
            "is_planned": plan.status == PlanStatus.PLANNED,
            "status_color": PLAN_STATUS_COLORS.get(plan.status, "secondary"),
            "status_form": PlanStatusForm(),
            "record_url": _with_query(
                "activities:followup_create", plan=plan.pk, next=_next_url(request) or None
            ),
            "next": _next_url(request) or "",
            "here": here,
            "cancel_url": _next_url(request) or _calendar_url(timezone.localdate(plan.planned_at)),
            "crumbs": [
                (PLANS, _calendar_url(timezone.localdate(plan.planned_at))),
                (plan.customer.name, reverse("customers:detail", args=[plan.customer_id])),
                (_("Visit plan"), None),
            ],
        },
    )


@login_required
@require_POST
def plan_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark a planned visit missed or cancelled."""
    require_perm(request, "activities", "edit")
    me = _me(request)
    plan = get_scoped_or_404(VisitPlan, me, pk, "edit")
    form = PlanStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for es in form.errors.values() for e in es))
    else:
        try:
            services.set_plan_status(
                actor=me,
                plan=plan,
                status=form.cleaned_data["status"],
                note=form.cleaned_data["note"],
            )
        except DomainError as exc:
            raise_unless_form_error(exc)
            messages.error(request, error_text(exc))
        else:
            messages.success(
                request,
                _("The visit was marked “%(status)s”.") % {"status": plan.get_status_display()},
            )
    return redirect(_next_url(request) or _calendar_url(timezone.localdate(plan.planned_at)))


def _who(request: HttpRequest, me: User, wide: bool) -> tuple[str, list[User] | None, Any]:
    """Whose plans a page shows: ``("me", [me], …)``, a member, or ``("team", None, …)``."""
    raw = request.GET.get("who") or "me"
    if wide and raw == "team":
        return "team", None, _("My team")
    member = selectors.member_or_none(me, raw) if wide else None
    if member is not None and member.pk != me.pk:
        return str(member.pk), [member], member.display_name
    return "me", [me], _("Me")


@login_required
def plan_calendar(request: HttpRequest) -> HttpResponse:
    """Week and month views of visit plans (and, when asked, done follow-ups) for me, a team
    member or the whole team; a list of days on a phone."""
    require_perm(request, "activities", "view")
    me = _me(request)
    wide = selectors.has_team(me)
    mode = "month" if request.GET.get("view") == "month" else "week"
    today = timezone.localdate()
    try:
        anchor = parse_date(request.GET.get("day") or "") or today
    except ValueError:  # a well-formed but impossible date (2026-02-31)
        anchor = today
    who, owners, who_label = _who(request, me, wide)
    with_followups = request.GET.get("followups") == "1"
    if mode == "week":
        first = selectors.week_start(anchor)
        start, end = first, first + timedelta(days=7)
        previous, following = first - timedelta(days=7), first + timedelta(days=7)
        title = f"{start:%Y-%m-%d} – {end - timedelta(days=1):%Y-%m-%d}"
    else:
        first = selectors.month_start(anchor)
        last = selectors.next_month(first)
        start = selectors.week_start(first)
        end = selectors.week_start(last - timedelta(days=1)) + timedelta(days=7)
        previous, following = selectors.month_start(first - timedelta(days=1)), last
        title = first.strftime("%Y-%m")
    items = selectors.calendar_items(me, start, end, owners=owners, with_followups=with_followups)
    can_edit = me.can("activities", "edit")
    here = request.get_full_path()
    days = []
    current = start
    while current < end:
        entries = []
        for item in items.get(current, []):
            if item["kind"] == "plan":
                plan = item["plan"]
                entries.append(
                    {
                        "kind": "plan",
                        "time": timezone.localtime(plan.planned_at).strftime("%H:%M"),
                        "title": plan.customer.name,
                        "detail": plan.purpose,
                        "owner": plan.owner.display_name,
                        "color": PLAN_STATUS_COLORS.get(plan.status, "secondary"),
                        "status": plan.get_status_display(),
                        "url": (
                            reverse("activities:plan_edit", args=[plan.pk])
                            + "?"
                            + urlencode({"next": here})
                        )
                        if can_edit
                        else None,
                        "id": f"plan-{plan.pk}",
                    }
                )
            else:
                fu = item["followup"]
                entries.append(
                    {
                        "kind": "followup",
                        "time": timezone.localtime(fu.happened_at).strftime("%H:%M"),
                        "title": fu.customer.name,
                        "detail": fu.content[:80],
                        "owner": fu.owner.display_name,
                        "color": "teal",
                        "status": fu.get_method_display(),
                        "url": reverse("customers:detail", args=[fu.customer_id])
                        + "#section-followups",
                        "id": f"followup-{fu.pk}",
                    }
                )
        days.append(
            {
                "day": current,
                "entries": entries,
                "today": current == today,
                "outside": mode == "month" and current.month != first.month,
            }
        )
        current += timedelta(days=1)
    weeks = [days[i : i + 7] for i in range(0, len(days), 7)]
    members = list(selectors.team_members(me)) if wide else []
    return render(
        request,
        "activities/plan_calendar.html",
        {
            "mode": mode,
            "weeks": weeks,
            "days": days,
            "title": title,
            "who": who,
            "who_label": who_label,
            "members": [m for m in members if m.pk != me.pk],
            "wide": wide,
            "with_followups": with_followups,
            "links": {
                "week": _query(request, view="week"),
                "month": _query(request, view="month"),
                "previous": _query(request, day=previous.isoformat()),
                "next": _query(request, day=following.isoformat()),
                "today": _query(request, drop=("day",)),
                "followups": _query(request, followups="" if with_followups else "1"),
            },
            "weekdays": [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")],
            "statuses": [(s.label, PLAN_STATUS_COLORS[s.value]) for s in PlanStatus],
            "can_create": me.can("activities", "create"),
            "crumbs": [(PLANS, None)],
        },
    )


@login_required
def plan_analysis(request: HttpRequest) -> HttpResponse:
    """Visit-plan analysis per rep in the viewer's scope for a period: planned, done, missed,
    cancelled, completion rate and follow-ups by method (table and bar chart)."""
    require_perm(request, "activities", "view")
    me = _me(request)
    today = timezone.localdate()
    form = PeriodForm(request.GET or None)
    period = "month"
    start, end = selectors.month_start(today), selectors.next_month(today)
    if form.is_bound and form.is_valid():
        d = form.cleaned_data
        period = d.get("period") or "month"
        if period == "week":
            start = selectors.week_start(today)
            end = start + timedelta(days=7)
        elif period == "custom":
            start, end = d["date_from"], d["date_to"] + timedelta(days=1)
    rows = selectors.plan_analysis(me, start, end)
    totals = {
        key: sum(r[key] for r in rows)
        for key in ("total", "done", "missed", "cancelled", "open", "followups")
    }
    counted = totals["total"] - totals["cancelled"]
    totals["rate"] = round(100 * totals["done"] / counted) if counted else None
    totals["methods"] = [sum(r["methods"][i] for r in rows) for i in range(len(Method.values))]
    shown = [r for r in rows if r["total"] or r["followups"]]
    chart: dict[str, Any] = {
        "reps": [r["user"].display_name for r in shown],
        "series": [
            {"name": str(PlanStatus.DONE.label), "key": "done", "color": "#2fb344"},
            {"name": str(PlanStatus.MISSED.label), "key": "missed", "color": "#d63939"},
            {"name": str(PlanStatus.CANCELLED.label), "key": "cancelled", "color": "#9ba9be"},
            {"name": str(PlanStatus.PLANNED.label), "key": "open", "color": "#206bc4"},
        ],
        "followups": {"name": _("Follow-ups"), "data": [r["followups"] for r in shown]},
    }
    for series in chart["series"]:
        series["data"] = [r[series["key"]] for r in shown]
    return render(
        request,
        "activities/plan_analysis.html",
        {
            "form": form,
            "period": period,
            "start": start,
            "last": end - timedelta(days=1),
            "rows": rows,
            "totals": totals,
            "methods": [(label, METHOD_ICONS.get(value, "")) for value, label in Method.choices],
            "chart": chart,
            "crumbs": [(PLANS, reverse("activities:plan_calendar")), (_("Visit analysis"), None)],
        },
    )


# --- Reminders ----------------------------------------------------------------------------------
@login_required
def reminder_list(request: HttpRequest) -> HttpResponse:
    """My reminders: the open ones first (overdue marked), or the done ones."""
    require_perm(request, "activities", "view")
    me = _me(request)
    tab = request.GET.get("view") if request.GET.get("view") in ("done", "all") else "open"
    qs = Reminder.objects.visible_to(me)
    if tab == "open":
        qs = qs.filter(done_at__isnull=True)
    elif tab == "done":
        qs = qs.filter(done_at__isnull=False)
    paginator = CappedPaginator(qs.order_by("-due_at", "-pk"), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "activities/reminder_list.html",
        {
            "page": page,
            "tab": tab,
            "tabs": [
                {"key": key, "label": label, "active": key == tab, "url": _query(request, view=key)}
                for key, label in (
                    ("open", _("To do")),
                    ("done", pgettext("reminders", "Done")),
                    ("all", _("All")),
                )
            ],
            "now": timezone.now(),
            "here": request.get_full_path(),
            "crumbs": [(FOLLOWUPS, reverse("activities:my_day")), (_("My reminders"), None)],
        },
    )


@login_required
@require_POST
def reminder_done(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one of my reminders done."""
    require_perm(request, "activities", "view")
    me = _me(request)
    reminder = get_scoped_or_404(Reminder, me, pk)
    reminders.mark_done(actor=me, reminder=reminder)
    messages.success(request, _("The reminder was marked done."))
    return redirect(_next_url(request) or reverse("activities:reminder_list"))


# --- Reminder rules (settings) ------------------------------------------------------------------
def _configurer(request: HttpRequest) -> tuple[User, str]:
    """The user, and the action they read rules with; 403 unless they may configure."""
    me = _me(request)
    if me.can("activities", "configure"):
        return me, "configure"
    if me.can("settings", "configure"):
        return me, "view"
    raise PermissionDenied()


RULES = gettext_lazy("Reminder rules")


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    """The organisation's reminder rules, with what their numbers mean."""
    me, action = _configurer(request)
    rules = list(ReminderRule.objects.visible_to(me, action).order_by("kind", "pk"))
    for rule in rules:
        rule.unit = OFFSET_UNITS.get(rule.kind, "")  # type: ignore[attr-defined]
    return render(
        request,
        "activities/rule_list.html",
        {
            "rules": rules,
            "help": [
                (label, OFFSET_HELP[value])
                for value, label in ReminderKind.choices
                if value in OFFSET_HELP
            ],
            "crumbs": [(_("Settings"), None), (RULES, None)],
        },
    )


def _rule_form_page(request: HttpRequest, rule: ReminderRule | None) -> HttpResponse:
    me, _action = _configurer(request)
    if request.method == "POST":
        form = RuleForm(request.POST)
        if form.is_valid():
            try:
                saved = services.save_rule(actor=me, data=form.rule_data(), rule=rule)
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request, _("Reminder rule “%(name)s” was saved.") % {"name": saved.name}
                )
                return redirect("activities:rule_list")
    elif rule is not None:
        form = RuleForm(initial=RuleForm.initial_for(rule))
    else:
        form = RuleForm(initial={"is_active": True, "send_email": True})
    return render(
        request,
        "activities/rule_form.html",
        {
            "form": form,
            "rule": rule,
            "help": [
                (label, OFFSET_HELP[value])
                for value, label in ReminderKind.choices
                if value in OFFSET_HELP
            ],
            "crumbs": [
                (_("Settings"), None),
                (RULES, reverse("activities:rule_list")),
                (rule.name if rule else _("New reminder rule"), None),
            ],
        },
    )


@login_required
def rule_create(request: HttpRequest) -> HttpResponse:
    return _rule_form_page(request, None)


@login_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    me, action = _configurer(request)
    return _rule_form_page(request, get_scoped_or_404(ReminderRule, me, pk, action))


@login_required
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    me, action = _configurer(request)
    rule = get_scoped_or_404(ReminderRule, me, pk, action)
    services.delete_rule(actor=me, rule=rule)
    messages.success(request, _("Reminder rule “%(name)s” was deleted.") % {"name": rule.name})
    return redirect("activities:rule_list")


# --- My day -------------------------------------------------------------------------------------
@login_required
def my_day(request: HttpRequest) -> HttpResponse:
    """My day (R5.4): what to follow up, visit and answer today; managers also get their
    team's progress."""
    require_perm(request, "activities", "view")
    me = _me(request)
    wide = selectors.has_team(me)
    tab = "team" if wide and request.GET.get("tab") == "team" else "me"
    here = request.get_full_path()
    context: dict[str, Any] = {
        "tab": tab,
        "wide": wide,
        "here": here,
        "today": timezone.localdate(),
        "can_create": me.can("activities", "create"),
        "can_edit": me.can("activities", "edit"),
        "crumbs": [(_("My day"), None)],
    }
    if tab == "team":
        context["team"] = selectors.team_day(me)
    else:
        day = selectors.my_day(me)
        for row in day.followups:
            row["record_url"] = _with_query(
                "activities:followup_create",
                customer=row["customer_id"],
                opportunity=row["opportunity"].pk if row["opportunity"] else None,
                next=here,
            )
        context["day"] = day
        context["blocks"] = _my_day_blocks(request, me)
    return render(request, "activities/my_day.html", context)


def _my_day_blocks(request: HttpRequest, me: User) -> list[dict[str, Any]]:
    """The blocks other modules registered for My day (crm.core.registry.my_day_blocks)."""
    from django.template.loader import render_to_string

    from crm.core.registry import my_day_blocks

    rendered = []
    for block in my_day_blocks:
        extra = block.context(request, me)
        if extra is None:
            continue
        html = render_to_string(
            block.template, {**extra, "block": block, "user": me}, request=request
        )
        rendered.append({"key": block.key, "title": block.title, "html": html})
    return rendered
