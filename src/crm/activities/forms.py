"""Forms of the follow-up pages: shape and field validation only.

Forms never save: views hand their cleaned data to ``crm.activities.services``. Every choice
list is built from ``visible_to(user)`` querysets (customers, the chosen customer's
opportunities and contacts, colleagues, the team), so another organisation's or an
out-of-scope row is never offered, and an id of one posted anyway is an invalid choice.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.core.forms import TablerForm
from crm.customers.forms import UserChoiceField, colleagues_for
from crm.customers.models import Contact, Customer
from crm.customers.selectors import active_customers
from crm.org.models import User
from crm.pipeline.models import Opportunity

from .choices import METHOD_ICONS, Method, PlanStatus, ReminderKind
from .selectors import has_team, team_members

EMPTY = [("", "—")]
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
MAX_PHOTOS = 9


def _datetime_widget() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT)


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Several photos in one input (checked by the attachments module when stored)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": "image/*", "multiple": True})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        if len(files) > MAX_PHOTOS:
            raise forms.ValidationError(_("At most %(n)d photos at a time.") % {"n": MAX_PHOTOS})
        return [super(PhotosField, self).clean(f, initial) for f in files if f]


class OpportunityChoiceField(forms.ModelChoiceField):
    """Opportunities labelled with their status when they are not being worked."""

    def label_from_instance(self, obj: Any) -> str:
        if obj.status == "continue":
            return str(obj.name)
        return f"{obj.name} ({obj.get_status_display()})"


class ContactChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} · {obj.title}" if obj.title else str(obj.name)


class RecordLinksMixin:
    """The customer, and the opportunity and contact of that customer, that a follow-up or a
    visit plan is about. The customer is searched (tom-select) unless it is fixed."""

    fields: dict[str, forms.Field]

    def limit_links(self, user: User, customer: Customer | None) -> None:
        if "customer" in self.fields:
            field = self.fields["customer"]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = active_customers(user)
            # Only the chosen customer is an <option>; the others are searched while typing.
            field.widget.choices = EMPTY + ([(customer.pk, customer.name)] if customer else [])
        if "opportunity" in self.fields:
            opportunities = (
                Opportunity.objects.visible_to(user).filter(customer=customer)
                if customer is not None
                else Opportunity.objects.none()
            )
            self.fields["opportunity"].queryset = opportunities.order_by(  # type: ignore[attr-defined]
                "-updated_at", "-pk"
            )
        if "contact" in self.fields:
            contacts = (
                Contact.objects.visible_to(user).filter(customer=customer)
                if customer is not None
                else Contact.objects.none()
            )
            self.fields["contact"].queryset = contacts.order_by("-is_primary", "name", "pk")  # type: ignore[attr-defined]


def _customer_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        label=_("Customer"),
        queryset=Customer.objects.none(),
        error_messages={
            "invalid_choice": _("Choose a customer."),
            "required": _("Choose a customer."),
        },
    )


class FollowUpForm(RecordLinksMixin, TablerForm):
    """Record (or edit) a follow-up: R5.3's fields, touch-friendly on a phone."""

    customer = _customer_field()
    opportunity = OpportunityChoiceField(
        label=_("Opportunity"), queryset=Opportunity.objects.none(), required=False
    )
    contact = ContactChoiceField(
        label=_("Contact"), queryset=Contact.objects.none(), required=False
    )
    method = forms.ChoiceField(
        label=_("How"),
        choices=Method.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose how you followed up.")},
    )
    content = forms.CharField(
        label=_("What happened"),
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": _("Write what happened.")},
    )
    happened_at = forms.DateTimeField(label=_("When"), required=False, widget=_datetime_widget())
    next_at = forms.DateTimeField(
        label=_("Next follow-up"), required=False, widget=_datetime_widget()
    )
    next_content = forms.CharField(
        label=_("Next follow-up content"),
        max_length=10000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    collaborator = UserChoiceField(
        label=_("Collaborator"), queryset=User.objects.none(), required=False
    )
    location = forms.CharField(label=_("Location"), max_length=300, required=False)
    latitude = forms.CharField(max_length=40, required=False, widget=forms.HiddenInput)
    longitude = forms.CharField(max_length=40, required=False, widget=forms.HiddenInput)
    photos = PhotosField(label=_("Photos"), required=False)
    plan = forms.IntegerField(required=False, widget=forms.HiddenInput)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    DATA_FIELDS = [
        "method",
        "content",
        "happened_at",
        "next_at",
        "next_content",
        "location",
        "latitude",
        "longitude",
    ]

    def __init__(
        self,
        *args: Any,
        user: User,
        customer: Customer | None = None,
        editing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            for name in ("customer", "opportunity", "plan", "photos"):
                del self.fields[name]
        self.limit_links(user, customer)
        self.set_queryset("collaborator", colleagues_for(user).exclude(pk=user.pk))
        self.fields["collaborator"].widget.attrs["data-tom-select"] = ""
        self.fields["content"].widget.attrs["placeholder"] = _(
            "Who you talked to, what was agreed, what the customer needs…"
        )
        self.fields["location"].widget.attrs["placeholder"] = _("Address or place of the visit")

    def method_options(self) -> list[dict[str, Any]]:
        """The methods as big touch-friendly buttons: value, label, icon, checked."""
        current = str(self["method"].value() or "")
        return [
            {
                "value": value,
                "label": label,
                "icon": METHOD_ICONS.get(value, "ti-message"),
                "checked": value == current,
                "id": f"id_method_{value}",
            }
            for value, label in Method.choices
        ]

    def service_data(self, *, creating: bool) -> dict[str, Any]:
        """What ``record_followup`` / ``update_followup`` take (an empty time on a new
        follow-up means now; on an edit it keeps the recorded time)."""
        d = self.cleaned_data
        data = {key: d.get(key) for key in self.DATA_FIELDS}
        if not data["happened_at"]:
            data.pop("happened_at")
        for key in ("next_content", "location", "latitude", "longitude"):
            data[key] = data[key] or ("" if key in ("next_content", "location") else None)
        if creating:
            data = {k: v for k, v in data.items() if v not in (None, "") or k == "content"}
        return data


class PlanForm(RecordLinksMixin, TablerForm):
    """Plan (or change) a visit: whom, when, why; a manager may plan for a team member."""

    customer = _customer_field()
    opportunity = OpportunityChoiceField(
        label=_("Opportunity"), queryset=Opportunity.objects.none(), required=False
    )
    contact = ContactChoiceField(
        label=_("Contact"), queryset=Contact.objects.none(), required=False
    )
    owner = UserChoiceField(label=_("Who visits"), queryset=User.objects.none(), required=False)
    method = forms.ChoiceField(label=_("How"), choices=Method.choices, initial=Method.VISIT)
    planned_at = forms.DateTimeField(
        label=_("Planned for"),
        widget=_datetime_widget(),
        error_messages={"required": _("Choose when.")},
    )
    purpose = forms.CharField(
        label=_("Purpose"),
        max_length=300,
        error_messages={"required": _("Say what the visit is for.")},
    )
    note = forms.CharField(
        label=_("Note"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        user: User,
        customer: Customer | None = None,
        editing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            for name in ("customer", "opportunity", "contact", "owner"):
                del self.fields[name]
        elif has_team(user):
            self.set_queryset("owner", team_members(user))
            self.fields["owner"].empty_label = _("Me")  # type: ignore[attr-defined]
            self.fields["owner"].widget.attrs["data-tom-select"] = ""
        else:
            del self.fields["owner"]
        self.limit_links(user, customer)

    def service_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "method": d["method"],
            "planned_at": d["planned_at"],
            "purpose": d["purpose"],
            "note": d.get("note") or "",
        }


class PlanStatusForm(TablerForm):
    """Mark a planned visit missed or cancelled, with a reason."""

    status = forms.ChoiceField(
        label=_("Status"),
        choices=[(s.value, s.label) for s in (PlanStatus.MISSED, PlanStatus.CANCELLED)],
    )
    note = forms.CharField(label=_("Reason"), max_length=500, required=False)


class FollowUpFilterForm(TablerForm):
    """Filters of the follow-up list."""

    q = forms.CharField(label=_("Customer"), max_length=100, required=False)
    method = forms.ChoiceField(label=_("How"), choices=[*EMPTY, *Method.choices], required=False)
    owner = UserChoiceField(
        label=pgettext_lazy("follow-up", "By"), queryset=User.objects.none(), required=False
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, user: User, with_owner: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if with_owner:
            self.set_queryset("owner", team_members(user))
        else:
            del self.fields["owner"]
        self.fields["q"].widget.attrs["placeholder"] = _("Name, pinyin or phone")


class PeriodForm(TablerForm):
    """The period of the visit-plan analysis: this week, this month or chosen days."""

    PERIODS = [
        ("week", _("This week")),
        ("month", _("This month")),
        ("custom", _("Chosen days")),
    ]
    period = forms.ChoiceField(label=_("Period"), choices=PERIODS, required=False)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("period") == "custom":
            start, end = data.get("date_from"), data.get("date_to")
            if not start or not end:
                self.add_error("date_from", _("Choose the first and the last day."))
            elif end < start:
                self.add_error("date_to", _("The last day comes before the first."))
            elif (end - start).days > 366:
                self.add_error("date_to", _("Choose at most a year."))
        return data


#: what the numbers of a rule mean, per kind
OFFSET_HELP: dict[str, Any] = {
    ReminderKind.NEW_OPPORTUNITY: _(
        "Days after the opportunity was created, while it still has no follow-up (e.g. 1, 3, 7)."
    ),
    ReminderKind.NEXT_FOLLOWUP: _(
        "Hours before the next follow-up is due (0: at the due time; 2: two hours before)."
    ),
    ReminderKind.VISIT_PLAN: _("Hours before the planned visit (e.g. 2, 24)."),
    ReminderKind.FEEDBACK_OVERDUE: _(
        "Days after the feedback deadline ran out without a follow-up (0: on the day)."
    ),
}
OFFSET_UNITS: dict[str, Any] = {
    ReminderKind.NEW_OPPORTUNITY: _("days after creation"),
    ReminderKind.NEXT_FOLLOWUP: _("hours before due"),
    ReminderKind.VISIT_PLAN: _("hours before the visit"),
    ReminderKind.FEEDBACK_OVERDUE: _("days after the feedback deadline"),
}


class RuleForm(TablerForm):
    """A reminder rule: what it watches, when it fires, who else hears about it."""

    kind = forms.ChoiceField(
        label=_("Watches"),
        # receivable reminders are sent by the finance module from each plan's own setting
        choices=[c for c in ReminderKind.choices if c[0] != ReminderKind.RECEIVABLE_DUE],
    )
    name = forms.CharField(label=_("Name"), max_length=100)
    offsets = forms.CharField(
        label=_("When"),
        max_length=100,
        help_text=_("Whole numbers separated by commas; see what they mean below."),
    )
    notify_manager = forms.BooleanField(label=_("Also notify the manager"), required=False)
    send_email = forms.BooleanField(label=_("Also send an e-mail"), required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False)

    @staticmethod
    def initial_for(rule: Any) -> dict[str, Any]:
        return {
            "kind": rule.kind,
            "name": rule.name,
            "offsets": ", ".join(str(v) for v in rule.offsets or []),
            "notify_manager": rule.notify_manager,
            "send_email": rule.send_email,
            "is_active": rule.is_active,
        }

    def rule_data(self) -> dict[str, Any]:
        return dict(self.cleaned_data)
