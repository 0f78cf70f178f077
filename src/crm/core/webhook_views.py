"""Settings pages of the webhooks (H-HOOKS): list, create, edit, delete, rotate the secret, the
delivery log with response codes, and redelivery. Administrators only (``settings:configure``);
another organisation's ids are 404."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from .errors import ValidationFailed
from .forms import TablerFormMixin, apply_domain_error
from .scoping import get_scoped_or_404
from .views import require_perm
from .webhook_models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from .webhooks import (
    ALL,
    FAMILIES,
    create_endpoint,
    delete_endpoint,
    event_type_choices,
    redeliver,
    rotate_secret,
    update_endpoint,
)


class EndpointForm(TablerFormMixin, forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    url = forms.CharField(
        label=gettext_lazy("URL"),
        max_length=500,
        help_text=gettext_lazy(
            "The address that receives a POST for every event, e.g. https://erp.example.com/crm-hook"
        ),
        widget=forms.TextInput(attrs={"inputmode": "url", "autocomplete": "off"}),
    )
    event_types = forms.MultipleChoiceField(
        label=gettext_lazy("Event types"), widget=forms.CheckboxSelectMultiple
    )
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)
    allowed_private_host = forms.BooleanField(
        label=gettext_lazy("Allow a private or loopback address"), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["event_types"].choices = event_type_choices()  # type: ignore[attr-defined]
        self.style_fields()


def _admin(request: HttpRequest) -> None:
    require_perm(request, "settings", "configure")


def _groups(form: EndpointForm) -> list[dict[str, Any]]:
    """The event type checkboxes grouped by record kind, for the form."""
    chosen = set(form["event_types"].value() or [])
    groups: list[dict[str, Any]] = []
    for value, label in event_type_choices():
        if value == ALL:
            continue
        family = value.split(".", 1)[0]
        if not groups or groups[-1]["family"] != family:
            groups.append({"family": family, "label": FAMILIES.get(family, family), "options": []})
        groups[-1]["options"].append(
            {"value": value, "label": label.split(": ", 1)[-1], "checked": value in chosen}
        )
    for group in groups:
        group["count"] = sum(1 for o in group["options"] if o["checked"])
    return groups


def _form_page(
    request: HttpRequest, form: EndpointForm, endpoint: WebhookEndpoint | None
) -> HttpResponse:
    return render(
        request,
        "core/webhooks/form.html",
        {
            "form": form,
            "endpoint": endpoint,
            "groups": _groups(form),
            "all_chosen": ALL in (form["event_types"].value() or []),
        },
        status=400 if form.errors else 200,
    )


def _secret_page(request: HttpRequest, endpoint: WebhookEndpoint, secret: str) -> HttpResponse:
    response = render(
        request, "core/webhooks/secret.html", {"endpoint": endpoint, "secret": secret}
    )
    patch_cache_control(response, no_store=True)
    return response


@login_required
def endpoint_list(request: HttpRequest) -> HttpResponse:
    _admin(request)
    endpoints = (
        WebhookEndpoint.objects.visible_to(request.user, "configure")
        .annotate(
            sent=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.SENT)),
            failing=Count(
                "deliveries",
                filter=Q(deliveries__status__in=(DeliveryStatus.FAILED, DeliveryStatus.DEAD)),
            ),
        )
        .order_by("name", "pk")
    )
    page = Paginator(endpoints, 50).get_page(request.GET.get("page"))
    return render(request, "core/webhooks/list.html", {"page": page})


@login_required
def endpoint_create(request: HttpRequest) -> HttpResponse:
    _admin(request)
    form = EndpointForm(request.POST or None, initial={"is_active": True})
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = create_endpoint(actor=request.user, data=form.cleaned_data)
        except ValidationFailed as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("The webhook was created."))
            return _secret_page(request, endpoint, secret)
    return _form_page(request, form, None)


@login_required
def endpoint_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _admin(request)
    endpoint = get_scoped_or_404(WebhookEndpoint, request.user, pk, "configure")
    initial = {
        "name": endpoint.name,
        "url": endpoint.url,
        "event_types": endpoint.event_types,
        "is_active": endpoint.is_active,
        "allowed_private_host": endpoint.allowed_private_host,
    }
    form = EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            update_endpoint(actor=request.user, endpoint=endpoint, data=form.cleaned_data)
        except ValidationFailed as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(request, _("The webhook was saved."))
            return redirect("webhooks:list")
    return _form_page(request, form, endpoint)


@login_required
@require_POST
def endpoint_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _admin(request)
    endpoint = get_scoped_or_404(WebhookEndpoint, request.user, pk, "configure")
    delete_endpoint(actor=request.user, endpoint=endpoint)
    messages.success(request, _("The webhook “%(name)s” was deleted.") % {"name": endpoint.name})
    return redirect("webhooks:list")


@login_required
@require_POST
def endpoint_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    _admin(request)
    endpoint = get_scoped_or_404(WebhookEndpoint, request.user, pk, "configure")
    secret = rotate_secret(actor=request.user, endpoint=endpoint)
    messages.success(request, _("A new signing secret was made; the old one no longer works."))
    return _secret_page(request, endpoint, secret)


@login_required
def delivery_list(request: HttpRequest, pk: int) -> HttpResponse:
    _admin(request)
    endpoint = get_scoped_or_404(WebhookEndpoint, request.user, pk, "configure")
    qs = WebhookDelivery.objects.visible_to(request.user, "configure").filter(endpoint=endpoint)
    status = request.GET.get("status") or ""
    if status in DeliveryStatus.values:
        qs = qs.filter(status=status)
    else:
        status = ""
    page = Paginator(qs.select_related("event").order_by("-created_at", "-pk"), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "core/webhooks/deliveries.html",
        {
            "endpoint": endpoint,
            "page": page,
            "status": status,
            "statuses": DeliveryStatus.choices,
        },
    )


@login_required
@require_POST
def delivery_redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    _admin(request)
    delivery = get_scoped_or_404(
        WebhookDelivery.objects.select_related("endpoint"), request.user, pk, "configure"
    )
    redeliver(actor=request.user, delivery=delivery)
    messages.success(request, _("The delivery was queued to be sent again."))
    return redirect("webhooks:deliveries", pk=delivery.endpoint_id)
