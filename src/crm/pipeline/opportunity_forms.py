"""Forms of the opportunity pages (R4.1–R4.3, R4.7–R4.8): shape and field validation only.

Forms never save: the views hand their cleaned data to ``crm.pipeline.opportunities``, which
checks amounts (``crm.core.money``, half-up), probabilities, dictionary values and stage rules
and answers ``ValidationFailed`` per field. Every choice list is built from ``visible_to(user)``
querysets or the organisation's dictionaries, so another organisation's rows are never offered
and an id of one posted anyway is an invalid choice.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms.utils import ErrorDict
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from crm.core import fieldaccess
from crm.core.custom_field_forms import CustomFieldsMixin
from crm.core.errors import Conflict, DomainError
from crm.core.forms import TablerForm, show_choices
from crm.customers.forms import EMPTY, UserChoiceField, colleagues_for, dictionary_choices
from crm.customers.models import Contact, Customer
from crm.customers.selectors import active_customers
from crm.org.models import User

from . import dictionaries
from .choices import StageKind
from .models import DictionaryKind, Opportunity, Pipeline, Stage
from .opportunities import DICTIONARY_FIELDS

#: the posted names of a product line's inputs (one value per line, in order)
LINE_INPUTS = ("product", "quantity", "unit_price", "notes")


class TreeSelect(forms.Select):
    """A select whose options say which pipeline (stages) or stage (nodes) they belong to and
    the stage's default probability, so the page's script can narrow them to the chosen parent."""

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        stage = getattr(option["value"], "instance", None)
        if isinstance(stage, Stage):
            if stage.parent_id:
                option["attrs"]["data-stage"] = str(stage.parent_id)
            else:
                option["attrs"]["data-pipeline"] = str(stage.pipeline_id)
                option["attrs"]["data-probability"] = str(stage.default_probability)
        return option


class ContactChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} · {obj.title}" if obj.title else str(obj.name)


class ContactsChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} · {obj.title}" if obj.title else str(obj.name)


class ColleaguesField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        if obj.department_id:
            return f"{obj.display_name} ({obj.department.name})"
        return str(obj.display_name)


def customer_contacts(user: User, customer_id: int | None) -> Any:
    """The contacts of a customer that ``user`` may see (none without a customer)."""
    qs = Contact.objects.visible_to(user)
    if customer_id is None:
        return qs.none()
    return qs.filter(customer_id=customer_id).order_by("-is_primary", "name", "pk")


def open_stages(user: User, pipeline_id: int) -> Any:
    """Active open stages of a pipeline, in order."""
    return (
        Stage.objects.visible_to(user)
        .filter(pipeline_id=pipeline_id, parent__isnull=True, is_active=True, kind=StageKind.OPEN)
        .order_by("sort_order", "pk")
    )


def stage_nodes(user: User, stage_ids: Any) -> Any:
    """Active nodes of the given stages, in order."""
    return (
        Stage.objects.visible_to(user)
        .filter(parent_id__in=stage_ids, is_active=True)
        .order_by("parent__sort_order", "sort_order", "pk")
    )


def open_stage_list(stages: list[Stage], pipeline_id: int) -> list[Stage]:
    """:func:`open_stages` taken from the stages a page has read (``stages_for``)."""
    return [
        s
        for s in stages
        if s.pipeline_id == pipeline_id
        and s.parent_id is None
        and s.is_active
        and s.kind == StageKind.OPEN
    ]


def node_list(stages: list[Stage], stage_ids: set[int]) -> list[Stage]:
    """:func:`stage_nodes` taken from the stages a page has read (``stages_for``)."""
    order = {s.pk: s.sort_order for s in stages}
    nodes = [s for s in stages if s.parent_id in stage_ids and s.is_active]
    return sorted(nodes, key=lambda s: (order.get(s.parent_id or 0, 0), s.sort_order, s.pk))


def default_feedback_cycle(org_id: int) -> str:
    """What a new opportunity's feedback cycle starts at (weekly when the list has it)."""
    values = [v for v, _label in dictionaries.choices(org_id, DictionaryKind.FEEDBACK_CYCLE)]
    return "7d" if "7d" in values else (values[0] if values else "")


class OpportunityForm(CustomFieldsMixin, TablerForm):
    """Create or edit an opportunity. Customer, pipeline, stage and node are chosen only when
    creating (stages move through the stage actions afterwards); editing carries the record's
    ``version`` so a stale save is refused with what changed."""

    name = forms.CharField(label=_("Name"), max_length=200)
    customer = forms.ModelChoiceField(
        label=_("Customer"), queryset=Customer.objects.none(), empty_label="—"
    )
    contact = ContactChoiceField(
        label=_("Main contact"), queryset=Contact.objects.none(), required=False, empty_label="—"
    )
    contacts = ContactsChoiceField(
        label=_("Other contacts"), queryset=Contact.objects.none(), required=False
    )
    pipeline = forms.ModelChoiceField(
        label=_("Pipeline"), queryset=Pipeline.objects.none(), empty_label=None
    )
    stage = forms.ModelChoiceField(
        label=_("Stage"), queryset=Stage.objects.none(), empty_label=None, widget=TreeSelect
    )
    node = forms.ModelChoiceField(
        label=_("Node"),
        queryset=Stage.objects.none(),
        required=False,
        empty_label="—",
        widget=TreeSelect,
    )
    business_type = forms.ChoiceField(label=_("Business type"), required=False)
    source = forms.ChoiceField(label=_("Source"), required=False)
    probability = forms.CharField(
        label=_("Win probability (%)"),
        required=False,
        max_length=10,
        help_text=_("Starts at the stage's default."),
        widget=forms.NumberInput(attrs={"min": 0, "max": 100, "step": 1}),
    )
    probability_level = forms.ChoiceField(label=_("Probability level"), required=False)
    feedback_cycle = forms.ChoiceField(label=_("Feedback cycle"), required=False)
    action_principle = forms.ChoiceField(label=_("Action principle"), required=False)
    is_key = forms.BooleanField(label=_("Key opportunity"), required=False)
    expected_amount = forms.CharField(
        label=_("Expected amount (¥)"),
        required=False,
        max_length=40,
        help_text=_("Leave empty to use the total of the product lines."),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    expected_close_date = forms.DateField(
        label=_("Expected close date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    collaborators = ColleaguesField(
        label=_("Collaborators"), queryset=User.objects.none(), required=False
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    #: fields of the qualification card
    QUALIFY = [
        "business_type",
        "source",
        "probability",
        "probability_level",
        "feedback_cycle",
        "action_principle",
        "expected_amount",
        "expected_close_date",
    ]

    def __init__(
        self,
        *args: Any,
        user: User,
        opportunity: Opportunity | None = None,
        customer: Customer | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        assert user.org_id is not None
        self.user = user
        self.opportunity = opportunity
        self.line_errors: list[str] = []
        org_id = user.org_id
        for field, kind in DICTIONARY_FIELDS.items():
            current = getattr(opportunity, field) if opportunity is not None else ""
            self.fields[field].choices = dictionary_choices(org_id, kind, current)  # type: ignore[attr-defined]
        self.fields["collaborators"].queryset = colleagues_for(user)  # type: ignore[attr-defined]
        if opportunity is not None:
            fieldaccess.protect_form(self, user, Opportunity, opportunity)  # H-FIELD
            for name in ("customer", "pipeline", "stage", "node"):
                del self.fields[name]
            customer_id: int | None = opportunity.customer_id
        else:
            del self.fields["version"]
            self.fields["customer"].queryset = active_customers(user).select_related("owner")  # type: ignore[attr-defined]
            pipelines = Pipeline.objects.visible_to(user).filter(is_active=True)
            self.fields["pipeline"].queryset = pipelines.order_by("sort_order", "pk")  # type: ignore[attr-defined]
            stages = (
                Stage.objects.visible_to(user)
                .filter(
                    pipeline__in=pipelines,
                    parent__isnull=True,
                    is_active=True,
                    kind=StageKind.OPEN,
                )
                .order_by("pipeline__sort_order", "pipeline_id", "sort_order", "pk")
            )
            self.fields["stage"].queryset = stages  # type: ignore[attr-defined]
            self.fields["node"].queryset = stage_nodes(user, stages.values("pk"))  # type: ignore[attr-defined]
            customer_id = self._chosen_customer_id(customer)
            # Only the chosen customer is rendered; the page searches the others (tom-select
            # over the customer list API), and validation takes any customer the user may see.
            chosen = (
                active_customers(user).filter(pk=customer_id).first()
                if customer_id is not None
                else None
            )
            self.fields["customer"].widget.choices = [("", "—")] + (
                [(chosen.pk, chosen.name)] if chosen is not None else []
            )
        contacts = customer_contacts(user, customer_id)
        self.fields["contact"].queryset = contacts  # type: ignore[attr-defined]
        self.fields["contacts"].queryset = contacts  # type: ignore[attr-defined]
        if (
            opportunity is not None
            and not active_customers(user).filter(pk=opportunity.customer_id).exists()
        ):
            # A collaborator who may not see the customer cannot see its contacts either:
            # the contacts are left as they are rather than emptied by the save.
            del self.fields["contact"]
            del self.fields["contacts"]
        if "customer" in self.fields:
            self.fields["customer"].widget.attrs["data-customer-search"] = ""
        for name in ("contacts", "collaborators"):
            if name in self.fields:
                self.fields[name].widget.attrs["data-multi"] = ""
        self.add_custom_fields(user, "opportunity", opportunity)
        self.style_fields()

    def _chosen_customer_id(self, customer: Customer | None) -> int | None:
        if self.is_bound:
            raw = str(self.data.get("customer") or "")
            return int(raw) if raw.isdigit() else None
        return customer.pk if customer is not None else None

    # --- layout helpers for the template ------------------------------------------------------
    def qualify_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.QUALIFY]

    def chosen_contacts(self) -> list[Contact] | None:
        """The other contacts to save; None leaves them as they are (field not offered)."""
        if "contacts" not in self.fields:
            return None
        return list(self.cleaned_data["contacts"])

    # --- what the services take ---------------------------------------------------------------
    def service_data(self, lines: list[dict[str, str]]) -> dict[str, Any]:
        """The editable fields for ``create_opportunity`` / ``update_opportunity``. An empty
        expected amount with product lines is left out, so the service sums the lines; an empty
        probability is the stage's default (new) or stays as it is (edit)."""
        data = self.cleaned_data
        result: dict[str, Any] = {
            "name": data["name"],
            "is_key": bool(data.get("is_key")),
            "expected_close_date": data.get("expected_close_date"),
            "notes": data.get("notes") or "",
        }
        for field in DICTIONARY_FIELDS:
            result[field] = data.get(field) or ""
        if "contact" in self.fields:
            result["contact"] = data.get("contact")
        amount = (data.get("expected_amount") or "").strip()
        if amount or not lines:
            result["expected_amount"] = amount
        probability = (data.get("probability") or "").strip()
        if probability:
            result["probability"] = probability
        elif self.opportunity is not None:
            result["probability"] = self.opportunity.probability
        result["custom"] = self.custom_data()
        return result

    def show_error(self, exc: DomainError) -> None:
        """Put a service error on the form: product-line messages above the lines, other fields
        on their inputs, anything else (and a conflict's explanation) at the top. Works on an
        unbound form too: after a conflict the form shows the current values with the errors."""
        if getattr(self, "_errors", None) is None:
            self._errors = ErrorDict()
        if not hasattr(self, "cleaned_data"):
            self.cleaned_data = {}
        placed = [f for f in exc.field_errors if f != "lines"]
        if isinstance(exc, Conflict) or not placed:
            self.add_error(None, str(exc.message))
        for field, messages in exc.field_errors.items():
            for message in messages:
                if field == "lines":
                    self.line_errors.append(str(message))
                else:
                    field = self.field_for_error(field)
                    self.add_error(field if field in self.fields else None, str(message))


def opportunity_initial(opportunity: Opportunity) -> dict[str, Any]:
    """The edit form's values: the record's fields, its contacts and collaborators, version."""
    initial: dict[str, Any] = {
        field: getattr(opportunity, field)
        for field in (
            "name",
            "business_type",
            "source",
            "probability",
            "probability_level",
            "feedback_cycle",
            "action_principle",
            "is_key",
            "expected_close_date",
            "notes",
        )
    }
    initial["contact"] = opportunity.contact_id
    initial["contacts"] = list(opportunity.contacts.values_list("pk", flat=True))
    initial["collaborators"] = list(opportunity.collaborators.values_list("pk", flat=True))
    initial["expected_amount"] = (
        "" if opportunity.expected_amount is None else f"{opportunity.expected_amount:.2f}"
    )
    initial["version"] = opportunity.version
    return initial


def posted_lines(data: QueryDict) -> list[dict[str, str]]:
    """The product lines of a posted form (``line-product``, ``line-quantity``…, one value per
    line); rows left entirely empty are dropped."""
    columns = {key: data.getlist(f"line-{key}") for key in LINE_INPUTS}
    count = max((len(values) for values in columns.values()), default=0)
    lines = []
    for index in range(min(count, 500)):
        row = {
            key: (values[index] if index < len(values) else "").strip()[:300]
            for key, values in columns.items()
        }
        if any(row.values()):
            lines.append(row)
    return lines


def line_rows(lines: list[Any]) -> list[dict[str, str]]:
    """Product lines (saved rows or posted dicts) as the form's inputs show them."""
    rows = []
    for line in lines:
        if isinstance(line, dict):
            rows.append({key: str(line.get(key) or "") for key in LINE_INPUTS})
        else:
            rows.append(
                {
                    "product": line.product,
                    "quantity": f"{line.quantity.normalize():f}",
                    "unit_price": f"{line.unit_price:.2f}",
                    "notes": line.notes,
                }
            )
    return rows


def product_choices(org_id: int, rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    """The active products of the list, plus the products the lines already name (retired
    entries of the list with their label, free text as typed)."""
    result = dictionaries.choices(org_id, DictionaryKind.PRODUCT)
    labels = dict(dictionaries.choices(org_id, DictionaryKind.PRODUCT, include_inactive=True))
    for row in rows:
        product = row.get("product") or ""
        if product and product not in {value for value, _label in result}:
            result.append((product, labels.get(product, product)))
    return result


# --- stage and status actions ---------------------------------------------------------------
class ActionForm(TablerForm):
    """What every action posts: an optional note and the version the page showed."""

    note = forms.CharField(
        label=_("Note"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, prefix_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{prefix_id}-%s")
        super().__init__(*args, **kwargs)


class MoveForm(ActionForm):
    """Move to another open stage of the pipeline and/or node, with the contact involved."""

    stage = forms.ModelChoiceField(
        label=_("Stage"), queryset=Stage.objects.none(), empty_label=None, widget=TreeSelect
    )
    node = forms.ModelChoiceField(
        label=_("Node"),
        queryset=Stage.objects.none(),
        required=False,
        empty_label="—",
        widget=TreeSelect,
    )
    contact = ContactChoiceField(
        label=_("Contact"), queryset=Contact.objects.none(), required=False, empty_label="—"
    )

    field_order = ["stage", "node", "contact", "note", "version"]

    def __init__(
        self,
        *args: Any,
        user: User,
        opportunity: Opportunity,
        stages: list[Stage] | None = None,
        **kwargs: Any,
    ) -> None:
        """``stages``: every stage the user sees, when the page has read them already (the
        options are then taken from them; a posted choice is still checked by a query)."""
        super().__init__(*args, prefix_id="move", **kwargs)
        open_qs = open_stages(user, opportunity.pipeline_id)
        self.fields["stage"].queryset = open_qs  # type: ignore[attr-defined]
        self.fields["node"].queryset = stage_nodes(user, open_qs.values("pk"))  # type: ignore[attr-defined]
        self.fields["contact"].queryset = customer_contacts(user, opportunity.customer_id)  # type: ignore[attr-defined]
        if stages is not None:
            shown = open_stage_list(stages, opportunity.pipeline_id)
            show_choices(self.fields["stage"], shown)
            show_choices(self.fields["node"], node_list(stages, {s.pk for s in shown}))
        self.style_fields()


class WinForm(ActionForm):
    actual_amount = forms.CharField(
        label=_("Actual amount (¥)"),
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    actual_close_date = forms.CharField(
        label=_("Actual close date"),
        required=False,
        max_length=20,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    field_order = ["actual_amount", "actual_close_date", "note", "version"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix_id="win", **kwargs)
        for name in ("actual_amount", "actual_close_date"):
            self.fields[name].widget.attrs["required"] = "required"


class LoseForm(ActionForm):
    """Lose (R4.8): a loss reason from the list, lessons learnt, which lost stage."""

    reason = forms.ChoiceField(label=_("Loss reason"), required=False)
    stage = forms.ModelChoiceField(
        label=_("Lost stage"), queryset=Stage.objects.none(), required=False, empty_label=None
    )
    actual_close_date = forms.CharField(
        label=_("Close date"),
        required=False,
        max_length=20,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    field_order = ["reason", "stage", "actual_close_date", "note", "version"]

    def __init__(
        self,
        *args: Any,
        user: User,
        opportunity: Opportunity,
        stages: list[Stage] | None = None,
        **kwargs: Any,
    ) -> None:
        """``stages``: as for :class:`MoveForm`."""
        super().__init__(*args, prefix_id="lose", **kwargs)
        assert user.org_id is not None
        self.fields["reason"].choices = EMPTY + dictionaries.choices(  # type: ignore[attr-defined]
            user.org_id, DictionaryKind.LOSS_REASON
        )
        self.fields["reason"].widget.attrs["required"] = "required"
        self.fields["note"].label = _("Lessons learnt")
        lost = (
            Stage.objects.visible_to(user)
            .filter(
                pipeline_id=opportunity.pipeline_id,
                parent__isnull=True,
                is_active=True,
                kind=StageKind.LOST,
            )
            .order_by("sort_order", "pk")
        )
        self.fields["stage"].queryset = lost  # type: ignore[attr-defined]
        if stages is None:
            self.several_lost_stages = lost.count() > 1
        else:
            shown = [
                s
                for s in stages
                if s.pipeline_id == opportunity.pipeline_id
                and s.parent_id is None
                and s.is_active
                and s.kind == StageKind.LOST
            ]
            show_choices(self.fields["stage"], shown)
            self.several_lost_stages = len(shown) > 1
        self.style_fields()


class AbandonForm(ActionForm):
    reason = forms.ChoiceField(label=_("Reason"), required=False)

    field_order = ["reason", "note", "version"]

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, prefix_id="abandon", **kwargs)
        assert user.org_id is not None
        self.fields["reason"].choices = EMPTY + dictionaries.choices(  # type: ignore[attr-defined]
            user.org_id, DictionaryKind.LOSS_REASON
        )
        self.fields["reason"].widget.attrs["required"] = "required"
        self.style_fields()


class NoteForm(ActionForm):
    """Pause or resume: an optional note."""


class ReopenForm(ActionForm):
    stage = forms.ModelChoiceField(
        label=_("Reopen at stage"), queryset=Stage.objects.none(), required=False, empty_label="—"
    )

    field_order = ["stage", "note", "version"]

    def __init__(
        self,
        *args: Any,
        user: User,
        opportunity: Opportunity,
        stages: list[Stage] | None = None,
        **kwargs: Any,
    ) -> None:
        """``stages``: as for :class:`MoveForm`."""
        super().__init__(*args, prefix_id="reopen", **kwargs)
        self.fields["stage"].queryset = open_stages(user, opportunity.pipeline_id)  # type: ignore[attr-defined]
        if stages is not None:
            show_choices(self.fields["stage"], open_stage_list(stages, opportunity.pipeline_id))
        self.fields["stage"].help_text = _("Empty: the last open stage it was in.")
        self.style_fields()


class TransferForm(TablerForm):
    to_user = UserChoiceField(label=_("New owner"), queryset=User.objects.none())
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)

    def __init__(self, *args: Any, user: User, opportunity: Opportunity, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "transfer-%s")
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = colleagues_for(user).exclude(pk=opportunity.owner_id)  # type: ignore[attr-defined]


def form_errors_text(form: forms.Form) -> str:
    """A refused action form's messages in one line (for a flash message)."""
    return " ".join(str(e) for errors in form.errors.values() for e in errors)
