"""Pages of lead scoring (R2.5): the scoring rules (``leads:configure``) with a preview, the
score card on the lead page and the follow-up a rep logs on a lead."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Case, Count, IntegerField, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm.core.errors import DomainError
from crm.core.forms import apply_domain_error
from crm.core.scoping import get_scoped_or_404
from crm.core.views import require_perm
from crm.org.models import User

from . import scoring
from .models import Lead, LeadScoringRule, ScoringKind
from .scoring_forms import FollowUpForm, ScoringRuleForm

LEADS = gettext_lazy("Leads")
TITLE = gettext_lazy("Lead scoring")


def _configurer(request: HttpRequest) -> User:
    require_perm(request, "leads", "configure")
    return request.user  # type: ignore[return-value]


def score_sort(request: HttpRequest) -> dict[str, Any]:
    """The lead list's score column header: a link sorting by score (best first, then the
    other way round)."""
    current = request.GET.get("sort") or ""
    query = request.GET.copy()
    query.pop("page", None)
    query["sort"] = "score" if current == "-score" else "-score"
    return {
        "url": f"?{query.urlencode()}",
        "active": current in ("score", "-score"),
        "desc": current == "-score",
    }


def describe(rule: LeadScoringRule, fields: dict[str, Any]) -> str:
    """The rule's condition in words (the list page)."""
    if rule.kind == ScoringKind.ATTRIBUTE:
        text = f"{fields.get(rule.field, rule.field)} {scoring.OPERATORS.get(rule.operator, '')}"
        return f"{text} {', '.join(rule.values)}" if rule.values else text
    text = str(scoring.EVENTS.get(rule.event, rule.event))
    if rule.method:
        from crm.activities.choices import Method

        text = f"{text} ({Method(rule.method).label})"
    if rule.cap:
        text += " · " + _("at most %(cap)d times") % {"cap": rule.cap}
    return text


def grade_counts(qs: Any) -> list[dict[str, Any]]:
    """How many leads of ``qs`` have each grade (one query)."""
    whens = [When(score__gte=low, then=Value(i)) for i, (_g, low) in enumerate(scoring.GRADES)]
    rows = (
        qs.order_by()
        .annotate(g=Case(*whens, default=Value(len(scoring.GRADES)), output_field=IntegerField()))
        .values("g")
        .annotate(n=Count("pk"))
    )
    counts = {row["g"]: row["n"] for row in rows}
    letters = [g for g, _low in scoring.GRADES] + ["D"]
    thresholds = [low for _g, low in scoring.GRADES] + [None]
    return [
        {"grade": g, "lowest": thresholds[i], "leads": counts.get(i, 0)}
        for i, g in enumerate(letters)
    ]


@login_required
def scoring_rules(request: HttpRequest) -> HttpResponse:
    user = _configurer(request)
    rules = list(LeadScoringRule.objects.visible_to(user, "configure"))
    fields = dict(scoring.field_choices(user.org_id))  # type: ignore[arg-type]
    for rule in rules:
        rule.description = describe(rule, fields)  # type: ignore[attr-defined]
    return render(
        request,
        "leads/scoring_rules.html",
        {
            "rules": rules,
            "grades": grade_counts(Lead.objects.visible_to(user)),
            "crumbs": [(LEADS, reverse("leads:lead_list")), (TITLE, None)],
        },
    )


def _rule_page(request: HttpRequest, rule: LeadScoringRule | None) -> HttpResponse:
    user = _configurer(request)
    org_id: int = user.org_id  # type: ignore[assignment]
    preview: dict[str, Any] | None = None
    if request.method == "POST":
        form = ScoringRuleForm(request.POST, org_id=org_id)
        if form.is_valid():
            try:
                if "preview" in request.POST:
                    preview = scoring.preview(user, form.rule_data(), rule=rule)
                else:
                    scoring.save_rule(actor=user, rule=rule, data=form.rule_data())
                    messages.success(
                        request,
                        _("The scoring rule was saved; every lead is being rescored."),
                    )
                    return redirect("leads:scoring_rules")
            except DomainError as exc:
                if exc.status == 404:
                    raise
                apply_domain_error(form, exc)
    else:
        form = ScoringRuleForm(
            org_id=org_id, initial=ScoringRuleForm.initial_for(rule) if rule else None
        )
    return render(
        request,
        "leads/scoring_rule_form.html",
        {
            "form": form,
            "rule": rule,
            "preview": preview,
            "crumbs": [
                (LEADS, reverse("leads:lead_list")),
                (TITLE, reverse("leads:scoring_rules")),
                (rule.name if rule else _("New scoring rule"), None),
            ],
        },
    )


@login_required
def scoring_rule_create(request: HttpRequest) -> HttpResponse:
    return _rule_page(request, None)


@login_required
def scoring_rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _configurer(request)
    return _rule_page(request, get_scoped_or_404(LeadScoringRule, user, pk, "configure"))


@login_required
@require_POST
def scoring_rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = _configurer(request)
    rule = get_scoped_or_404(LeadScoringRule, user, pk, "configure")
    scoring.delete_rule(actor=user, rule=rule)
    messages.success(request, _("The scoring rule was deleted; every lead is being rescored."))
    return redirect("leads:scoring_rules")


# --- on the lead page ----------------------------------------------------------------------------
def score_card(user: User, lead: Lead) -> dict[str, Any]:
    """The lead page's score card: grade, breakdown, and the follow-up form (for editors)."""
    return {
        "grade": scoring.grade(lead.score),
        "breakdown": lead.score_breakdown or [],
        "events": lead.score_events or {},
        "followup_form": FollowUpForm() if user.can("leads", "edit") else None,
    }


@login_required
@require_POST
def lead_followup(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "leads", "view")
    user: User = request.user  # type: ignore[assignment]
    lead = get_scoped_or_404(Lead, user, pk)
    form = FollowUpForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, str(message))
        return redirect("leads:lead_detail", pk=lead.pk)
    try:
        scoring.log_followup(
            actor=user,
            lead=lead,
            method=form.cleaned_data["method"],
            note=form.cleaned_data["note"],
        )
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        details = [str(m) for ms in exc.field_errors.values() for m in ms]
        messages.error(request, " ".join(details) or str(exc.message))
    else:
        messages.success(request, _("The follow-up was logged."))
    return redirect("leads:lead_detail", pk=lead.pk)
