"""Pages of the e-mail campaign module (R9.3): the list, compose/edit with a segment preview,
send/schedule/cancel, the detail with per-recipient delivery status and bounces, the
unsubscribe (suppression) list with removal, and the public unsubscribe page every mail links
to. Reads go through ``visible_to``; writes call ``services``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.core.errors import DomainError
from crm.core.forms import apply_domain_error, error_text, raise_unless_form_error
from crm.core.scoping import get_scoped_or_404
from crm.core.views import require_perm
from crm.org.models import User

from . import services
from .bounces import bounce_counts
from .forms import CampaignForm, SendForm, UnsubscribeAddForm, UnsubscribeRemoveForm
from .models import CampaignStatus, EmailCampaign, RecipientStatus, Unsubscribe, UnsubscribeSource

PAGE_SIZE = 25
#: the recipients filter of mails that soft-bounced at least once (not a status: still "sent")
SOFT_BOUNCED = "soft_bounced"
MARKETING = gettext_lazy("Marketing")
CAMPAIGNS = gettext_lazy("E-mail campaigns")
STATUS_COLORS = {
    "draft": "secondary",
    "scheduled": "blue",
    "sending": "yellow",
    "sent": "green",
    "cancelled": "secondary",
    "queued": "secondary",
    "failed": "red",
    "bounced": "red",
    "skipped_unsubscribed": "orange",
    "skipped_invalid": "orange",
}


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _get(request: HttpRequest, pk: int, action: str = "view") -> EmailCampaign:
    campaign: EmailCampaign = get_scoped_or_404(
        EmailCampaign.objects.visible_to(_me(request), action).select_related("owner", "campaign"),
        _me(request),
        pk,
        action,
    )
    return campaign


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    """Campaigns the user sees, newest first, with a status filter and a subject search."""
    require_perm(request, "marketing", "view")
    me = _me(request)
    qs = EmailCampaign.objects.visible_to(me).select_related("owner")
    status = request.GET.get("status") or ""
    if status in CampaignStatus.values:
        qs = qs.filter(status=status)
    q = (request.GET.get("q") or "").strip()[:100]
    if q:
        qs = qs.filter(subject__icontains=q)
    page = Paginator(qs.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "mailing/campaign_list.html",
        {
            "page": page,
            "rows": [(c, STATUS_COLORS.get(c.status, "secondary")) for c in page],
            "status": status,
            "statuses": CampaignStatus.choices,
            "q": q,
            "can_create": me.can("marketing", "create"),
            "can_configure": me.can("marketing", "configure"),
            "crumbs": [(MARKETING, None), (CAMPAIGNS, None)],
        },
    )


def _compose(request: HttpRequest, campaign: EmailCampaign | None) -> HttpResponse:
    me = _me(request)
    initial = CampaignForm.initial_for(campaign) if campaign else None
    form = CampaignForm(request.POST or None, user=me, initial=initial)
    preview = None
    if request.method == "POST" and form.is_valid():
        try:
            if "preview" in request.POST:
                sender = campaign.owner if campaign else me
                preview = services.preview(sender, services.clean_segment(me, form.segment()))
            else:
                if campaign is None:
                    campaign = services.create_campaign(actor=me, data=form.data_for_service())
                else:
                    services.update_campaign(
                        actor=me,
                        campaign=campaign,
                        data=form.data_for_service(),
                        version=form.cleaned_data.get("version"),
                    )
                messages.success(request, _("The campaign was saved."))
                return redirect("mailing:campaign_detail", campaign.pk)
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc, {"tag_ids": "tags", "department_ids": "departments"})
    heading = _("Edit the e-mail campaign") if campaign else _("New e-mail campaign")
    return render(
        request,
        "mailing/campaign_form.html",
        {
            "form": form,
            "campaign": campaign,
            "preview": preview,
            "heading": heading,
            "crumbs": [
                (MARKETING, None),
                (CAMPAIGNS, reverse("mailing:campaign_list")),
                (heading, None),
            ],
        },
    )


@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    require_perm(request, "marketing", "create")
    return _compose(request, None)


@login_required
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "marketing", "edit")
    campaign = _get(request, pk, "edit")
    if campaign.status != CampaignStatus.DRAFT:
        messages.error(request, _("Only a draft can be changed."))
        return redirect("mailing:campaign_detail", campaign.pk)
    return _compose(request, campaign)


@login_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The campaign, its status counts, and its recipients (filter by status)."""
    require_perm(request, "marketing", "view")
    me = _me(request)
    campaign = _get(request, pk)
    counts = services.status_counts(campaign)
    recipients = campaign.recipients.filter(org_id=campaign.org_id)
    status = request.GET.get("status") or ""
    if status in RecipientStatus.values:
        recipients = recipients.filter(status=status)
    elif status == SOFT_BOUNCED:
        recipients = recipients.filter(soft_bounces__gt=0)
    page = Paginator(recipients.order_by("pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    preview = None
    if campaign.status == CampaignStatus.DRAFT:
        sender = campaign.owner
        preview = services.preview(sender, campaign.segment or {})
    may_edit = me.can("marketing", "edit") and (
        EmailCampaign.objects.visible_to(me, "edit").filter(pk=campaign.pk).exists()
    )
    return render(
        request,
        "mailing/campaign_detail.html",
        {
            "campaign": campaign,
            "color": STATUS_COLORS.get(campaign.status, "secondary"),
            "counts": [
                (value, label, counts[value], STATUS_COLORS.get(value, "secondary"))
                for value, label in RecipientStatus.choices
            ],
            "total": sum(counts.values()),
            "bounces": bounce_counts(campaign),
            "soft_bounced": SOFT_BOUNCED,
            "page": page,
            "rows": [(r, STATUS_COLORS.get(r.status, "secondary")) for r in page],
            "status": status,
            "preview": preview,
            "send_form": SendForm(),
            "may_edit": may_edit,
            "may_delete": may_edit and me.can("marketing", "delete"),
            "crumbs": [
                (MARKETING, None),
                (CAMPAIGNS, reverse("mailing:campaign_list")),
                (campaign.subject, None),
            ],
        },
    )


def _attempt(request: HttpRequest, call: Callable[[], Any], done: Any) -> bool:
    """Run one service call of a page action: success shows ``done`` (a text, or a function of
    the call's result), a refused business rule shows its message instead."""
    try:
        result = call()
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
        return False
    messages.success(request, done(result) if callable(done) else done)
    return True


def _sent_or_scheduled(campaign: EmailCampaign) -> str:
    if campaign.status == CampaignStatus.SCHEDULED:
        return _("The campaign is scheduled.")
    return _("The campaign is being sent.")


@login_required
@require_POST
def campaign_send(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a draft now, or schedule it (``scheduled_at``)."""
    require_perm(request, "marketing", "edit")
    campaign = _get(request, pk, "edit")
    form = SendForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Enter a valid date and time."))
    else:
        when = form.cleaned_data.get("scheduled_at")
        _attempt(
            request,
            lambda: services.send_campaign(actor=_me(request), campaign=campaign, when=when),
            _sent_or_scheduled,
        )
    return redirect("mailing:campaign_detail", campaign.pk)


@login_required
@require_POST
def campaign_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "marketing", "edit")
    campaign = _get(request, pk, "edit")
    _attempt(
        request,
        lambda: services.cancel_campaign(actor=_me(request), campaign=campaign),
        _("The campaign was cancelled."),
    )
    return redirect("mailing:campaign_detail", campaign.pk)


@login_required
@require_POST
def campaign_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, "marketing", "delete")
    campaign = _get(request, pk, "delete")
    if _attempt(
        request,
        lambda: services.delete_campaign(actor=_me(request), campaign=campaign),
        _("The draft was deleted."),
    ):
        return redirect("mailing:campaign_list")
    return redirect("mailing:campaign_detail", campaign.pk)


@login_required
def unsubscribe_list(request: HttpRequest) -> HttpResponse:
    """The organisation's unsubscribe list: search, and add an address by hand."""
    require_perm(request, "marketing", "configure")
    me = _me(request)
    form = UnsubscribeAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.add_unsubscribe(
                actor=me, email=form.cleaned_data["email"], note=form.cleaned_data["note"]
            )
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("The address will not be mailed again."))
            return redirect("mailing:unsubscribe_list")
    qs = Unsubscribe.objects.visible_to(me)
    q = (request.GET.get("q") or "").strip().lower()[:254]
    if q:
        qs = qs.filter(email__icontains=q)
    source = request.GET.get("source") or ""
    if source in UnsubscribeSource.values:
        qs = qs.filter(source=source)
    page = Paginator(qs.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "mailing/unsubscribe_list.html",
        {
            "page": page,
            "form": form,
            "q": q,
            "source": source,
            "sources": UnsubscribeSource.choices,
            "crumbs": [
                (MARKETING, None),
                (CAMPAIGNS, reverse("mailing:campaign_list")),
                (_("Unsubscribed addresses"), None),
            ],
        },
    )


@login_required
def unsubscribe_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Take an address off the list: GET asks for confirmation and a reason, POST removes it
    (recorded in the audit trail). Another organisation's row answers 404."""
    require_perm(request, "marketing", "configure")
    me = _me(request)
    row: Unsubscribe = get_scoped_or_404(Unsubscribe, me, pk, "configure")
    form = UnsubscribeRemoveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.remove_unsubscribe(actor=me, row=row, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("%(email)s may be mailed again.") % {"email": row.email})
            return redirect("mailing:unsubscribe_list")
    return render(
        request,
        "mailing/unsubscribe_remove.html",
        {
            "row": row,
            "form": form,
            "crumbs": [
                (MARKETING, None),
                (CAMPAIGNS, reverse("mailing:campaign_list")),
                (_("Unsubscribed addresses"), reverse("mailing:unsubscribe_list")),
                (row.email, None),
            ],
        },
    )


@csrf_exempt
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The public page of the link in every mail: GET asks to confirm, POST records. A POST
    with ``List-Unsubscribe=One-Click`` (RFC 8058, sent by mail clients without a session or
    CSRF token) records at once. The signed token is the only authority: a forged or tampered
    one changes nothing."""
    data = services.read_token(token)
    org = services.token_org(data)
    if data is None or org is None:
        return render(request, "mailing/unsubscribe.html", {"invalid": True}, status=400)
    context: dict[str, Any] = {"org": org, "email": data["email"], "done": False}
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        services.record_unsubscribe(
            org_id=org.pk,
            email=data["email"],
            source=UnsubscribeSource.ONE_CLICK if one_click else UnsubscribeSource.LINK,
            campaign_id=data["campaign_id"],
        )
        context["done"] = True
    elif services.is_unsubscribed(org.pk, data["email"]):
        context["done"] = True
    return render(request, "mailing/unsubscribe.html", context)
