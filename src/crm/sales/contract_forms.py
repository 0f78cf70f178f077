"""Forms of the contract, order, return and approval pages. They only parse and present input:
the services (``contract_services``, ``order_services``, ``return_services``,
``flow_services``) decide, and their errors are shown on the forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms.utils import ErrorDict
from django.utils.translation import gettext_lazy as _

from crm.core.errors import Conflict, DomainError
from crm.core.forms import TablerForm
from crm.customers.forms import EMPTY, UserChoiceField, colleagues_for
from crm.customers.models import Customer
from crm.customers.selectors import active_customers
from crm.org.models import Department, Role, User
from crm.org.settings_forms import DepartmentChoiceField

from .choices import (
    ApprovalMode,
    ApprovalSubject,
    ApproverKind,
    ContractStatus,
    ShipmentStatus,
)
from .contract_services import AMENDABLE_FIELDS
from .models import ApprovalFlow, ApprovalStep, Contract, Order
from .return_services import ReturnReason


def _date(label: Any, required: bool = False) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=required,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


def _amount(label: Any, required: bool = False) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


class ServiceErrorsMixin:
    """Show a service error on the form (also on an unbound one, after a conflict)."""

    fields: dict[str, forms.Field]

    def show_error(self, exc: DomainError) -> None:
        if getattr(self, "_errors", None) is None:
            self._errors = ErrorDict()
        if not hasattr(self, "cleaned_data"):
            self.cleaned_data: dict[str, Any] = {}
        placed = list(exc.field_errors)
        if isinstance(exc, Conflict) or not placed:
            self.add_error(None, str(exc.message))  # type: ignore[attr-defined]
        for field, messages in exc.field_errors.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, str(message))  # type: ignore[attr-defined]


# --- Contracts ------------------------------------------------------------------------------------
class ContractForm(ServiceErrorsMixin, TablerForm):
    """Create (with the customer when no source record chose it) or edit a draft."""

    customer = forms.ModelChoiceField(
        label=_("Customer"), queryset=Customer.objects.none(), empty_label="—"
    )
    name = forms.CharField(label=_("Contract name"), max_length=200)
    amount = _amount(_("Amount (¥)"), required=True)
    starts_on = _date(_("Starts on"))
    ends_on = _date(_("Ends on"))
    renewal_on = _date(_("Renewal date"))
    customer_signer = forms.CharField(label=_("Customer's signer"), max_length=100, required=False)
    signer = UserChoiceField(
        label=_("Our signer"), queryset=User.objects.none(), required=False, empty_label="—"
    )
    collaborators = forms.ModelMultipleChoiceField(
        label=_("Collaborators"), queryset=User.objects.none(), required=False
    )
    payment_terms = forms.CharField(
        label=_("Payment terms"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(
        self,
        *args: Any,
        user: User,
        with_customer: bool = False,
        customer_id: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        colleagues = colleagues_for(user)
        self.set_queryset("signer", colleagues)
        self.set_queryset("collaborators", colleagues)
        self.fields["collaborators"].widget.attrs["data-tom-select"] = ""
        if with_customer:
            self.set_queryset("customer", active_customers(user))
            # Only the chosen customer is rendered; the page searches the others.
            chosen = active_customers(user).filter(pk=customer_id).first() if customer_id else None
            self.fields["customer"].widget.choices = EMPTY + (
                [(chosen.pk, chosen.name)] if chosen else []
            )
            self.fields["customer"].widget.attrs.update(
                {"data-tom-select": "", "data-search-url": "/api/v1/customers/customers"}
            )
        else:
            del self.fields["customer"]
        self.style_fields()

    def service_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            key: d.get(key)
            for key in (
                "name",
                "amount",
                "starts_on",
                "ends_on",
                "renewal_on",
                "customer_signer",
                "signer",
                "payment_terms",
                "notes",
            )
        }


def contract_initial(contract: Contract) -> dict[str, Any]:
    return {
        "name": contract.name,
        "amount": f"{contract.amount:.2f}",
        "starts_on": contract.starts_on,
        "ends_on": contract.ends_on,
        "renewal_on": contract.renewal_on,
        "customer_signer": contract.customer_signer,
        "signer": contract.signer_id,
        "collaborators": list(contract.collaborators.values_list("pk", flat=True)),
        "payment_terms": contract.payment_terms,
        "notes": contract.notes,
        "version": contract.version,
    }


class ActionForm(TablerForm):
    """What a status action posts: the version the page showed."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, prefix_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{prefix_id}-%s")
        super().__init__(*args, **kwargs)


class SubmitForm(ActionForm):
    comment = forms.CharField(
        label=_("Note for the approvers"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix_id="submit", **kwargs)


class SignForm(ActionForm):
    signed_on = _date(_("Signed on"), required=True)
    customer_signer = forms.CharField(label=_("Customer's signer"), max_length=100, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix_id="sign", **kwargs)


class TerminateForm(ActionForm):
    reason = forms.CharField(
        label=_("Reason"), max_length=300, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix_id="terminate", **kwargs)


class PlainActionForm(ActionForm):
    def __init__(self, *args: Any, prefix_id: str = "action", **kwargs: Any) -> None:
        super().__init__(*args, prefix_id=prefix_id, **kwargs)


class AmendmentForm(ServiceErrorsMixin, TablerForm):
    """The amendable fields, filled with the contract's values; only changed ones are sent."""

    reason = forms.CharField(
        label=_("Why it changes"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )
    name = forms.CharField(label=_("Contract name"), max_length=200)
    amount = _amount(_("Amount (¥)"), required=True)
    starts_on = _date(_("Starts on"))
    ends_on = _date(_("Ends on"))
    renewal_on = _date(_("Renewal date"))
    customer_signer = forms.CharField(label=_("Customer's signer"), max_length=100, required=False)
    payment_terms = forms.CharField(
        label=_("Payment terms"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    comment = forms.CharField(
        label=_("Note for the approvers"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def changes(self, contract: Contract) -> dict[str, Any]:
        """The amendable fields whose posted value differs from the contract's."""
        from crm.core.money import parse_money

        result: dict[str, Any] = {}
        for field in AMENDABLE_FIELDS:
            posted = self.cleaned_data.get(field)
            current = getattr(contract, field)
            if field == "amount":
                try:
                    same = parse_money(posted) == current
                except ValueError:
                    same = False
            else:
                same = (posted or None) == (current or None)
            if not same:
                result[field] = posted
        return result


def amendment_initial(contract: Contract) -> dict[str, Any]:
    initial = {f: getattr(contract, f) for f in AMENDABLE_FIELDS}
    initial["amount"] = f"{contract.amount:.2f}"
    return initial


class ContractFilterForm(TablerForm):
    """The contract list's filters (same names as the API's ContractFilter)."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    status = forms.ChoiceField(label=_("Status"), required=False)
    owner_id = UserChoiceField(
        label=_("Owner"), queryset=User.objects.none(), required=False, empty_label="—"
    )
    department_id = DepartmentChoiceField(
        label=_("Department"), queryset=Department.objects.none(), required=False, empty_label="—"
    )
    signed_from = _date(_("Signed from"))
    signed_to = _date(_("Signed to"))
    renewal_within_days = forms.IntegerField(
        label=_("Renewal due within (days)"), required=False, min_value=0, max_value=3650
    )
    sort = forms.ChoiceField(label=_("Sort by"), required=False)

    def __init__(self, *args: Any, user: User, sorts: list[tuple[str, Any]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = EMPTY + list(ContractStatus.choices)  # type: ignore[attr-defined]
        self.set_queryset("owner_id", colleagues_for(user))
        self.set_queryset("department_id", Department.objects.visible_to(user).order_by("path"))
        self.fields["sort"].choices = sorts  # type: ignore[attr-defined]
        self.style_fields()


# --- Orders ---------------------------------------------------------------------------------------
class OrderForm(TablerForm):
    ship_to = forms.CharField(label=_("Ship to"), max_length=300, required=False)
    external_ref = forms.CharField(
        label=_("External reference"),
        max_length=100,
        required=False,
        help_text=_("The order's number in the inventory or logistics system."),
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class OrderStatusForm(ActionForm):
    status = forms.ChoiceField(label=_("Shipment status"), choices=ShipmentStatus.choices)
    carrier = forms.CharField(label=_("Carrier"), max_length=100, required=False)
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=100, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix_id="shipment", **kwargs)


# --- Returns --------------------------------------------------------------------------------------
class OrderChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.number} · {obj.get_status_display()}"


class ReturnForm(ServiceErrorsMixin, TablerForm):
    order = OrderChoiceField(
        label=_("Order"), queryset=Order.objects.none(), required=False, empty_label="—"
    )
    reason = forms.ChoiceField(label=_("Reason"), choices=EMPTY + list(ReturnReason.choices))
    amount = _amount(_("Refund amount (¥)"), required=True)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, orders: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_queryset("order", orders)


class RefundForm(ActionForm):
    refunded_on = _date(_("Refunded on"), required=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix_id="refund", **kwargs)


# --- Approvals ------------------------------------------------------------------------------------
class DecisionForm(TablerForm):
    comment = forms.CharField(
        label=_("Comment"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


class FlowForm(ServiceErrorsMixin, TablerForm):
    name = forms.CharField(label=_("Name"), max_length=100)
    subject = forms.ChoiceField(label=_("Approves"), choices=ApprovalSubject.choices)
    min_amount = _amount(_("From amount (¥)"))
    max_amount = _amount(_("Up to amount (¥)"))
    min_discount_percent = forms.CharField(
        label=_("From discount (%)"),
        required=False,
        max_length=10,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
        help_text=_("Quotes and contracts from quotes: the largest line discount."),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False)

    def __init__(self, *args: Any, flow: ApprovalFlow | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if flow is not None:
            self.fields["subject"].disabled = True


def flow_initial(flow: ApprovalFlow) -> dict[str, Any]:
    def fmt(value: Any) -> str:
        return "" if value is None else f"{value:.2f}"

    return {
        "name": flow.name,
        "subject": flow.subject,
        "min_amount": fmt(flow.min_amount),
        "max_amount": fmt(flow.max_amount),
        "min_discount_percent": fmt(flow.min_discount_percent),
        "is_active": flow.is_active,
    }


class StepForm(ServiceErrorsMixin, TablerForm):
    name = forms.CharField(label=_("Step name"), max_length=100)
    approver_kind = forms.ChoiceField(label=_("Who approves"), choices=ApproverKind.choices)
    user = UserChoiceField(
        label=_("Person"), queryset=User.objects.none(), required=False, empty_label="—"
    )
    role = forms.ModelChoiceField(
        label=_("Role"), queryset=Role.objects.none(), required=False, empty_label="—"
    )
    mode = forms.ChoiceField(
        label=_("Who must approve"),
        choices=ApprovalMode.choices,
        help_text=_("For a role: any one of its people, or all of them (会签)."),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_queryset("user", colleagues_for(user))
        self.set_queryset("role", Role.objects.visible_to(user).order_by("name"))


def step_initial(step: ApprovalStep) -> dict[str, Any]:
    return {
        "name": step.name,
        "approver_kind": step.approver_kind,
        "user": step.user_id,
        "role": step.role_id,
        "mode": step.mode,
    }
