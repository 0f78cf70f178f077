"""Settings → Custom fields (H-CF, R10.5): the fields of each record kind, create, edit, retire,
restore and reorder. Administrators only (``settings:configure``); another organisation's ids
are 404."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import custom_fields as cf
from .custom_field_forms import CustomFieldForm
from .custom_field_models import CustomField, CustomTarget
from .errors import ValidationFailed
from .forms import apply_domain_error
from .views import require_perm


def _admin(request: HttpRequest) -> None:
    require_perm(request, "settings", "configure")


def _back(field: CustomField | None = None, target: str = "") -> str:
    target = field.target if field is not None else target
    return reverse("customfields:list") + (f"?target={target}" if target else "")


@login_required
def field_list(request: HttpRequest) -> HttpResponse:
    _admin(request)
    every = cf.list_fields(request.user)
    groups = [
        {
            "target": value,
            "label": label,
            "fields": [f for f in every if f.target == value],
        }
        for value, label in CustomTarget.choices
    ]
    return render(
        request,
        "core/custom_fields/list.html",
        {"groups": groups, "chosen": request.GET.get("target") or ""},
    )


def _form_page(
    request: HttpRequest, form: CustomFieldForm, field: CustomField | None
) -> HttpResponse:
    return render(
        request,
        "core/custom_fields/form.html",
        {"form": form, "field": field},
        status=400 if form.errors else 200,
    )


@login_required
def field_create(request: HttpRequest) -> HttpResponse:
    _admin(request)
    target = request.GET.get("target") or ""
    initial: dict[str, Any] = {"target": target} if target in CustomTarget.values else {}
    form = CustomFieldForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            field = cf.create_field(actor=request.user, data=form.service_data())
        except ValidationFailed as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(
                request, _("The custom field “%(label)s” was added.") % {"label": field.label}
            )
            return redirect(_back(field))
    return _form_page(request, form, None)


@login_required
def field_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _admin(request)
    field = cf.get_field(request.user, pk)
    form = CustomFieldForm(
        request.POST or None, field=field, initial=CustomFieldForm.initial_for(field)
    )
    if request.method == "POST" and form.is_valid():
        try:
            cf.update_field(actor=request.user, field=field, data=form.service_data())
        except ValidationFailed as exc:
            apply_domain_error(form, exc)
        else:
            messages.success(
                request, _("The custom field “%(label)s” was saved.") % {"label": field.label}
            )
            return redirect(_back(field))
    return _form_page(request, form, field)


@login_required
@require_POST
def field_retire(request: HttpRequest, pk: int) -> HttpResponse:
    _admin(request)
    field = cf.get_field(request.user, pk)
    cf.set_active(actor=request.user, field=field, active=False)
    messages.success(
        request,
        _("“%(label)s” was retired: forms no longer show it; stored values are kept.")
        % {"label": field.label},
    )
    return redirect(_back(field))


@login_required
@require_POST
def field_restore(request: HttpRequest, pk: int) -> HttpResponse:
    _admin(request)
    field = cf.get_field(request.user, pk)
    cf.set_active(actor=request.user, field=field, active=True)
    messages.success(request, _("“%(label)s” is back in use.") % {"label": field.label})
    return redirect(_back(field))


@login_required
@require_POST
def field_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a field one place up or down among its record kind's fields."""
    _admin(request)
    field = cf.get_field(request.user, pk)
    keys = [f.key for f in cf.definitions(field.org_id, field.target, include_retired=True)]
    at = keys.index(field.key)
    to = at - 1 if request.POST.get("direction") == "up" else at + 1
    if 0 <= to < len(keys):
        keys[at], keys[to] = keys[to], keys[at]
        cf.reorder(actor=request.user, target=field.target, keys=keys)
    return redirect(_back(field))
