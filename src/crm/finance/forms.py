"""Forms of the finance pages: shape and field validation only.

Forms never save: views hand their cleaned data to the finance services, which check the money
rules (amounts parse through ``crm.core.money``; their messages come back onto the fields).
Choice lists come from ``visible_to(user)`` querysets, so another organisation's or an
out-of-scope row is never offered.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.forms import formset_factory
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.core.forms import TablerForm
from crm.customers.forms import UserChoiceField
from crm.org.models import Department, User
from crm.org.settings_forms import DepartmentChoiceField

from .choices import InvoiceKind, InvoiceStatus, PaymentMethod, PlanStatus, ReceiptStatus
from .invoice_services import DEFAULT_TAX_RATE
from .plan_services import DEFAULT_REMIND_DAYS, MAX_INSTALLMENTS, MAX_REMIND_DAYS

EMPTY = [("", "—")]


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _money_widget(placeholder: str = "0.00") -> forms.TextInput:
    return forms.TextInput(attrs={"inputmode": "decimal", "placeholder": placeholder})


def _money_field(label: Any, required: bool = True) -> forms.CharField:
    return forms.CharField(label=label, max_length=30, required=required, widget=_money_widget())


# --- plans ---------------------------------------------------------------------------------------
class PlanRowForm(TablerForm):
    """One installment of the plan editor; an empty row is ignored."""

    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    due_on = forms.DateField(label=_("Due on"), required=False, widget=_date_widget())
    amount = _money_field(_("Amount (¥)"), required=False)
    percentage = forms.CharField(
        label=_("Share (%)"),
        max_length=10,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "30"}),
    )
    remind_days = forms.IntegerField(
        label=_("Remind days before"),
        min_value=0,
        max_value=MAX_REMIND_DAYS,
        required=False,
        initial=DEFAULT_REMIND_DAYS,
    )
    note = forms.CharField(label=_("Note"), max_length=300, required=False)
    remove = forms.BooleanField(label=_("Remove"), required=False)

    def is_blank(self) -> bool:
        d = getattr(self, "cleaned_data", {}) or {}
        return not d.get("id") and not any(
            d.get(k) for k in ("due_on", "amount", "percentage", "note")
        )

    def row(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "id": d.get("id"),
            "due_on": d.get("due_on"),
            "amount": d.get("amount") or None,
            "percentage": d.get("percentage") or None,
            "remind_days": d.get("remind_days"),
            "note": d.get("note") or "",
        }


def plan_formset(extra: int = 0) -> Any:
    """The plan editor's formset class (``extra`` blank rows after the installments)."""
    return formset_factory(
        PlanRowForm, extra=extra, max_num=MAX_INSTALLMENTS, absolute_max=MAX_INSTALLMENTS + 40
    )


class SplitForm(TablerForm):
    """The “split evenly into N installments” helper of the plan editor."""

    count = forms.IntegerField(
        label=_("Installments"), min_value=1, max_value=MAX_INSTALLMENTS, initial=3
    )
    first_due_on = forms.DateField(label=_("First due on"), widget=_date_widget())
    every_months = forms.IntegerField(
        label=_("Every … months"), min_value=0, max_value=24, initial=1
    )
    remind_days = forms.IntegerField(
        label=_("Remind days before"),
        min_value=0,
        max_value=MAX_REMIND_DAYS,
        initial=DEFAULT_REMIND_DAYS,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "split")
        super().__init__(*args, **kwargs)


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months (the 31st becomes the month's last day)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover


class PlanFilterForm(TablerForm):
    """Filters of the receivables list."""

    DUE = [
        ("", "—"),
        ("overdue", pgettext_lazy("receivable", "Overdue")),
        ("week", _("Due this week")),
        ("month", _("Due this month")),
    ]
    q = forms.CharField(label=_("Customer or contract"), max_length=100, required=False)
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[*EMPTY, *[(v, lbl) for v, lbl in PlanStatus.choices if v != PlanStatus.VOID]],
        required=False,
    )
    due = forms.ChoiceField(label=_("Due"), choices=DUE, required=False)
    owner = UserChoiceField(label=_("Owner"), queryset=User.objects.none(), required=False)

    def __init__(self, *args: Any, owners: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if owners is None:
            del self.fields["owner"]
        else:
            self.set_queryset("owner", owners)


# --- receipts ------------------------------------------------------------------------------------
class ReceiptForm(TablerForm):
    """A receipt, and optionally how much of it settles each open installment (all blank: the
    oldest installments first)."""

    received_on = forms.DateField(label=_("Received on"), widget=_date_widget())
    amount = _money_field(_("Amount (¥)"))
    method = forms.ChoiceField(label=_("Method"), choices=PaymentMethod.choices)
    payer = forms.CharField(label=_("Payer"), max_length=200, required=False)
    reference = forms.CharField(label=_("Bank reference"), max_length=100, required=False)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
    comment = forms.CharField(label=_("Comment for the approver"), max_length=500, required=False)

    def __init__(self, *args: Any, plans: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plans = plans or []
        if not self.is_bound:
            self.initial.setdefault("received_on", timezone.localdate())
        for plan in self.plans:
            self.fields[f"alloc_{plan.pk}"] = forms.CharField(
                label=_("Installment %(n)s") % {"n": plan.sequence},
                max_length=30,
                required=False,
                widget=_money_widget(f"{plan.outstanding:.2f}"),
            )
        self.style_fields()

    def allocation_fields(self) -> list[tuple[Any, Any]]:
        return [(plan, self[f"alloc_{plan.pk}"]) for plan in self.plans]

    def allocations(self) -> list[tuple[int, str]] | None:
        """(installment id, amount) pairs typed; None when all are blank (oldest first)."""
        pairs = [
            (plan.pk, (self.cleaned_data.get(f"alloc_{plan.pk}") or "").strip())
            for plan in self.plans
        ]
        typed = [(pk, value) for pk, value in pairs if value]
        return typed or None

    def data_for_service(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            k: d.get(k) for k in ("received_on", "amount", "method", "payer", "reference", "note")
        }


class ReasonForm(TablerForm):
    """A reason (voiding a receipt, cancelling an invoice)."""

    reason = forms.CharField(
        label=_("Reason"), max_length=300, widget=forms.Textarea(attrs={"rows": 2})
    )


class WriteOffForm(TablerForm):
    amount = _money_field(_("Amount to write off (¥)"))
    reason = forms.CharField(
        label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )
    comment = forms.CharField(label=_("Comment for the approver"), max_length=500, required=False)


class ReceiptFilterForm(TablerForm):
    q = forms.CharField(label=_("Customer, contract or number"), max_length=100, required=False)
    status = forms.ChoiceField(
        label=_("Status"), choices=[*EMPTY, *ReceiptStatus.choices], required=False
    )
    method = forms.ChoiceField(
        label=_("Method"), choices=[*EMPTY, *PaymentMethod.choices], required=False
    )
    date_from = forms.DateField(label=_("From"), required=False, widget=_date_widget())
    date_to = forms.DateField(label=_("To"), required=False, widget=_date_widget())
    owner = UserChoiceField(label=_("Owner"), queryset=User.objects.none(), required=False)
    department = DepartmentChoiceField(
        label=_("Department"), queryset=Department.objects.none(), required=False
    )

    def __init__(
        self, *args: Any, owners: Any = None, departments: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if owners is None:
            del self.fields["owner"]
        else:
            self.set_queryset("owner", owners)
        if departments is None:
            del self.fields["department"]
        else:
            self.set_queryset("department", departments)


# --- invoices ------------------------------------------------------------------------------------
class InvoiceForm(TablerForm):
    """An invoice request: type, amount and the buyer's details (copied from the customer)."""

    kind = forms.ChoiceField(
        label=_("Invoice type"), choices=InvoiceKind.choices, widget=forms.RadioSelect
    )
    amount = _money_field(_("Amount (¥)"))
    title = forms.CharField(label=_("Invoice title"), max_length=200)
    tax_number = forms.CharField(label=_("Tax number"), max_length=40, required=False)
    address_phone = forms.CharField(label=_("Address and phone"), max_length=300, required=False)
    bank_name = forms.CharField(label=_("Bank"), max_length=200, required=False)
    bank_account = forms.CharField(label=_("Bank account"), max_length=60, required=False)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)

    BUYER = ("title", "tax_number", "address_phone", "bank_name", "bank_account")

    def data_for_service(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {k: d.get(k) or "" for k in ("kind", "amount", *self.BUYER, "note")}


class InvoiceLineForm(TablerForm):
    description = forms.CharField(label=_("Item"), max_length=200, required=False)
    amount = _money_field(_("Amount (¥)"), required=False)
    tax_rate = forms.CharField(
        label=_("Tax rate (%)"),
        max_length=10,
        required=False,
        initial=f"{DEFAULT_TAX_RATE:.0f}",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )

    def is_blank(self) -> bool:
        d = getattr(self, "cleaned_data", {}) or {}
        return not d.get("description") and not d.get("amount")

    def line(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "description": d.get("description") or "",
            "amount": d.get("amount") or "",
            "tax_rate": d.get("tax_rate") or "",
        }


InvoiceLineFormSet = formset_factory(InvoiceLineForm, extra=3, max_num=50, absolute_max=60)


class IssueForm(TablerForm):
    invoice_number = forms.CharField(label=_("Invoice number"), max_length=60)
    issued_on = forms.DateField(label=_("Issued on"), widget=_date_widget())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.setdefault("issued_on", timezone.localdate())


class MailForm(TablerForm):
    recipient = forms.CharField(label=_("Recipient"), max_length=100)
    recipient_phone = forms.CharField(label=_("Recipient's phone"), max_length=40, required=False)
    mail_address = forms.CharField(label=_("Mailing address"), max_length=300)
    courier = forms.CharField(label=_("Courier"), max_length=60)
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=100)
    mailed_on = forms.DateField(label=_("Mailed on"), widget=_date_widget())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.setdefault("mailed_on", timezone.localdate())


class InvoiceFilterForm(TablerForm):
    q = forms.CharField(label=_("Customer, contract or number"), max_length=100, required=False)
    status = forms.ChoiceField(
        label=_("Status"), choices=[*EMPTY, *InvoiceStatus.choices], required=False
    )
    kind = forms.ChoiceField(
        label=_("Invoice type"), choices=[*EMPTY, *InvoiceKind.choices], required=False
    )


# --- analysis ------------------------------------------------------------------------------------
class AnalysisPeriodForm(TablerForm):
    """The months of the collection analysis."""

    PERIODS = [
        ("year", _("This year")),
        ("12m", _("Last 12 months")),
        ("custom", _("Chosen months")),
    ]
    period = forms.ChoiceField(label=_("Period"), choices=PERIODS, required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=_date_widget())
    date_to = forms.DateField(label=_("To"), required=False, widget=_date_widget())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("period") == "custom":
            start, end = data.get("date_from"), data.get("date_to")
            if not start or not end:
                raise forms.ValidationError(_("Choose the first and the last day."))
            if end < start:
                raise forms.ValidationError(_("The last day is before the first."))
            if (end - start).days > 3 * 366:
                raise forms.ValidationError(_("Choose at most three years."))
        return data


__all__ = [
    "AnalysisPeriodForm",
    "InvoiceFilterForm",
    "InvoiceForm",
    "InvoiceLineFormSet",
    "IssueForm",
    "MailForm",
    "PlanFilterForm",
    "ReasonForm",
    "ReceiptFilterForm",
    "ReceiptForm",
    "SplitForm",
    "WriteOffForm",
    "add_months",
    "plan_formset",
]
