"""Forms of the service pages: tickets, their filters, status changes, return visits and the SLA
settings. Choices come from ``visible_to`` querysets of the viewer."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.core.forms import TablerForm
from crm.customers.forms import UserChoiceField, colleagues_for
from crm.customers.models import Contact, Customer
from crm.customers.selectors import active_customers
from crm.org.models import User
from crm.sales.models import Contract, Product

from .choices import Priority, TicketStatus, TicketType
from .services import MAX_NOTE, MAX_SUBJECT, MAX_TEXT, SLA_MAX, SLA_MIN

EMPTY = [("", "---------")]


class TicketForm(TablerForm):
    """Open or edit a ticket: phone-first, one column."""

    customer = forms.ModelChoiceField(
        label=_("Customer"),
        queryset=Customer.objects.none(),
        error_messages={
            "invalid_choice": _("Choose a customer."),
            "required": _("Choose a customer."),
        },
    )
    type = forms.ChoiceField(label=_("Type"), choices=TicketType.choices)
    priority = forms.ChoiceField(
        label=_("Priority"), choices=Priority.choices, initial=Priority.NORMAL
    )
    subject = forms.CharField(label=_("Subject"), max_length=MAX_SUBJECT)
    description = forms.CharField(
        label=_("Description"),
        max_length=MAX_TEXT,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    contact = forms.ModelChoiceField(
        label=_("Contact"), queryset=Contact.objects.none(), required=False
    )
    contract = forms.ModelChoiceField(
        label=_("Contract"), queryset=Contract.objects.none(), required=False
    )
    product = forms.ModelChoiceField(
        label=_("Product"), queryset=Product.objects.none(), required=False
    )
    owner = UserChoiceField(label=_("Assignee"), queryset=User.objects.none(), required=False)
    collaborators = forms.ModelMultipleChoiceField(
        label=_("Collaborators"), queryset=User.objects.none(), required=False
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(
        self,
        *args: Any,
        user: User,
        customer: Customer | None = None,
        editing: bool = False,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.set_queryset("customer", active_customers(user))
        if customer is not None:
            self.fields["customer"].widget.choices = [(customer.pk, customer.name)]
            self.set_queryset("contact", Contact.objects.visible_to(user).filter(customer=customer))
            self.set_queryset(
                "contract",
                Contract.objects.visible_to(user).filter(customer=customer).order_by("-pk"),
            )
        else:
            self.fields["customer"].widget.choices = EMPTY
        self.set_queryset(
            "product",
            Product.objects.filter(org_id=user.org_id, is_active=True).order_by("name"),
        )
        colleagues = colleagues_for(user)
        self.set_queryset("collaborators", colleagues)
        if editing:
            del self.fields["owner"]
            del self.fields["customer"]
        elif user.can("service", "transfer"):
            self.set_queryset("owner", colleagues)
        else:
            del self.fields["owner"]
        self.style_fields()


class TicketFilterForm(TablerForm):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    type = forms.ChoiceField(
        label=_("Type"), choices=EMPTY + list(TicketType.choices), required=False
    )
    priority = forms.ChoiceField(
        label=_("Priority"), choices=EMPTY + list(Priority.choices), required=False
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=EMPTY + list(TicketStatus.choices), required=False
    )
    owner = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
    customer = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)


class StatusForm(TablerForm):
    status = forms.ChoiceField(label=_("Status"), choices=TicketStatus.choices)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class TransferForm(TablerForm):
    owner = UserChoiceField(label=_("New assignee"), queryset=User.objects.none())
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.set_queryset("owner", colleagues_for(user))


class VisitCompleteForm(TablerForm):
    satisfaction = forms.TypedChoiceField(
        label=_("Satisfaction"),
        coerce=int,
        choices=[(i, str(i)) for i in range(5, 0, -1)],
        widget=forms.RadioSelect,
        error_messages={"required": _("Give a satisfaction score from 1 to 5.")},
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class VisitPlanForm(TablerForm):
    """Plan a return visit by hand (``customer`` fixed when it comes from the customer page).
    The owner is chosen only by those who may assign visits to others (service:transfer)."""

    customer = forms.ModelChoiceField(
        label=_("Customer"),
        queryset=Customer.objects.none(),
        error_messages={
            "invalid_choice": _("Choose a customer."),
            "required": _("Choose a customer."),
        },
    )
    due_on = forms.DateField(
        label=_("Due on"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    owner = UserChoiceField(label=_("Owner"), queryset=User.objects.none(), required=False)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=MAX_NOTE,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What to ask or check on the visit."),
    )

    def __init__(self, *args: Any, user: User, customer: Customer | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.set_queryset("customer", active_customers(user))
        if customer is not None:
            self.fields["customer"].widget.choices = [(customer.pk, customer.name)]
        else:
            self.fields["customer"].widget.choices = EMPTY
        if user.can("service", "transfer"):
            self.set_queryset("owner", colleagues_for(user))
        else:
            del self.fields["owner"]
        self.style_fields()


class VisitRescheduleForm(TablerForm):
    due_on = forms.DateField(
        label=_("Due on"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    owner = UserChoiceField(label=_("Owner"), queryset=User.objects.none(), required=False)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=MAX_NOTE,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if user.can("service", "transfer"):
            self.set_queryset("owner", colleagues_for(user))
        else:
            del self.fields["owner"]
        self.style_fields()


class SettingsForm(TablerForm):
    """Minutes to first response and to resolution per priority; return-visit delays."""

    visit_days_after_contract = forms.IntegerField(
        label=_("Return visit, days after a contract is signed"), min_value=0, max_value=365
    )
    visit_days_after_ticket = forms.IntegerField(
        label=_("Return visit, days after a ticket is closed"), min_value=0, max_value=365
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for value, label in Priority.choices:
            self.fields[f"{value}_response"] = forms.IntegerField(
                label=_("%(priority)s: minutes to first response") % {"priority": label},
                min_value=SLA_MIN,
                max_value=SLA_MAX,
            )
            self.fields[f"{value}_resolution"] = forms.IntegerField(
                label=_("%(priority)s: minutes to resolution") % {"priority": label},
                min_value=SLA_MIN,
                max_value=SLA_MAX,
            )
        self.style_fields()

    def rows(self) -> list[tuple[Any, Any, Any]]:
        return [
            (label, self[f"{value}_response"], self[f"{value}_resolution"])
            for value, label in Priority.choices
        ]
