"""The "Confidential" switch and named-viewers picker (R1.4) on the customer and opportunity
forms: ``attach`` adds the two fields to a form, ``apply`` saves them through
``crm.core.confidential.set_confidential`` inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from . import confidential


def attach(form: forms.BaseForm, user: Any, record: Any = None) -> None:
    """Add ``is_confidential`` and ``confidential_viewers`` to ``form``. For a new record the
    creator (its future owner) may set them; for an existing one only its owner or an
    administrator may: for anyone else they are shown read-only (disabled fields ignore what is
    posted)."""
    from crm.org.models import User

    may = confidential.may_change(user, record) if record is not None and record.pk else True
    colleagues = User.objects.filter(org_id=user.org_id, is_active=True).order_by(
        "name", "username"
    )
    form.fields["is_confidential"] = forms.BooleanField(
        label=_("Confidential"),
        required=False,
        disabled=not may,
        help_text=_(
            "Only the owner, collaborators, the named viewers below and administrators "
            "see it, whatever the others' data scope."
        ),
        widget=forms.CheckboxInput(attrs={"class": "form-check-input", "role": "switch"}),
    )
    form.fields["confidential_viewers"] = forms.ModelMultipleChoiceField(
        label=_("Named viewers"),
        queryset=colleagues,
        required=False,
        disabled=not may,
        widget=forms.SelectMultiple(attrs={"class": "form-select", "size": 6}),
    )
    form.confidential_may_change = may  # type: ignore[attr-defined]
    if record is not None and record.pk and not form.is_bound:
        form.initial["is_confidential"] = record.is_confidential
        form.initial["confidential_viewers"] = confidential.viewer_ids(record)
    if record is not None and record.pk and form.is_bound and not may:
        form.initial["is_confidential"] = record.is_confidential
        form.initial["confidential_viewers"] = confidential.viewer_ids(record)


def apply(form: forms.BaseForm, actor: Any, record: Any) -> None:
    """Save the two fields when they changed and the actor may change them (call inside the
    transaction of the record's own save, after it)."""
    if not getattr(form, "confidential_may_change", False):
        return
    data = form.cleaned_data
    flag = bool(data.get("is_confidential"))
    viewers = [u.pk for u in data.get("confidential_viewers") or []]
    if flag == bool(record.is_confidential) and sorted(viewers) == confidential.viewer_ids(record):
        return
    confidential.set_confidential(actor=actor, record=record, is_confidential=flag, viewers=viewers)
