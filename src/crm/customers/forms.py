"""Forms of the customer pages: shape and field validation only.

Forms never save: views hand their cleaned data to ``services`` / ``pool_services``. Every choice
list is built from ``visible_to(user)`` querysets or the organisation's dictionaries, so another
organisation's rows are never offered (and an id of one posted anyway is an invalid choice).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.core import fieldaccess
from crm.core.custom_field_forms import CustomFieldsMixin, add_filter_fields
from crm.core.forms import TablerForm, show_choices
from crm.org.models import Department, User
from crm.pipeline import dictionaries
from crm.pipeline.models import DictionaryKind

from .choices import Grade
from .models import Contact, Customer, PublicPool, Tag
from .normalize import phone_digits
from .pool_services import POOL_LIMITS
from .selectors import active_customers
from .services import DICTIONARY_FIELDS

EMPTY = [("", "—")]


class UserChoiceField(forms.ModelChoiceField):
    """Colleagues labelled with their display name and department."""

    def label_from_instance(self, obj: Any) -> str:
        if obj.department_id:
            return f"{obj.display_name} ({obj.department.name})"
        return str(obj.display_name)


class DepartmentMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Departments labelled with their depth in the tree."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{'— ' * obj.depth}{obj.name}"


def colleagues_for(user: User) -> Any:
    """Active colleagues of ``user``'s organisation (the directory every member may read)."""
    return (
        User.objects.visible_to(user)
        .filter(is_active=True)
        .select_related("department")
        .order_by("name", "username")
    )


def dictionary_choices(org_id: int, kind: str, current: str = "") -> list[tuple[str, str]]:
    """The active entries of a dictionary, plus ``current`` if it was made inactive since."""
    items = dictionaries.choices(org_id, kind)
    if current and current not in {v for v, _label in items}:
        items.append((current, dictionaries.label(org_id, kind, current)))
    return EMPTY + items


def release_reason_choices(org_id: int) -> list[tuple[str, str]]:
    return EMPTY + dictionaries.choices(org_id, DictionaryKind.RELEASE_REASON)


def release_reason_text(org_id: int, choice: str, text: str) -> str:
    """The reason stored for a release: the list's label, and the free text after it."""
    label = dictionaries.label(org_id, DictionaryKind.RELEASE_REASON, choice) if choice else ""
    text = (text or "").strip()
    if label and text:
        return f"{label}：{text}"
    return label or text


# --- Customers ------------------------------------------------------------------------------------
class CustomerForm(CustomFieldsMixin, TablerForm):
    """Create or edit a customer: every R3.1 field, tags, parent and invoicing details."""

    name = forms.CharField(label=_("Name"), max_length=200)
    short_name = forms.CharField(label=_("Short name"), max_length=100, required=False)
    customer_type = forms.ChoiceField(label=_("Type"), required=False)
    category = forms.ChoiceField(label=_("Category"), required=False)
    business_category = forms.ChoiceField(label=_("Business category"), required=False)
    industry = forms.ChoiceField(label=_("Industry"), required=False)
    source = forms.ChoiceField(label=_("Source"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    website = forms.CharField(label=_("Website"), max_length=200, required=False)
    region = forms.CharField(label=_("Region"), max_length=100, required=False)
    address = forms.CharField(label=_("Address"), max_length=300, required=False)
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    tags = forms.ModelMultipleChoiceField(
        label=_("Tags"),
        queryset=Tag.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )
    new_tags = forms.CharField(
        label=_("New tags"),
        max_length=200,
        required=False,
        help_text=_("Separate several with commas."),
    )
    parent = forms.ModelChoiceField(
        label=_("Parent customer"),
        queryset=Customer.objects.none(),
        required=False,
        widget=forms.HiddenInput,
    )
    invoice_title = forms.CharField(label=_("Invoice title"), max_length=200, required=False)
    tax_number = forms.CharField(label=_("Tax number"), max_length=40, required=False)
    invoice_address_phone = forms.CharField(
        label=_("Invoice address and phone"), max_length=300, required=False
    )
    bank_name = forms.CharField(label=_("Bank"), max_length=200, required=False)
    bank_account = forms.CharField(label=_("Bank account"), max_length=60, required=False)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    allow_duplicate = forms.BooleanField(
        label=_("Create it anyway"),
        required=False,
        help_text=_("Only possible when the existing customer is yours or waits in a pool."),
    )

    BASIC = ["name", "short_name", "customer_type", "category", "business_category"]
    BASIC += ["industry", "source", "region"]
    CONTACT = ["phone", "email", "website", "address"]
    INVOICING = ["invoice_title", "tax_number", "invoice_address_phone", "bank_name"]
    INVOICING += ["bank_account"]

    def __init__(
        self, *args: Any, user: User, customer: Customer | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        org_id = user.org_id
        assert org_id is not None
        for field in DICTIONARY_FIELDS:
            current = getattr(customer, field, "") if customer else ""
            self.fields[field].choices = dictionary_choices(  # type: ignore[attr-defined]
                org_id, DICTIONARY_FIELDS[field], current
            )
        self.fields["tags"].queryset = Tag.objects.visible_to(user).order_by("name")  # type: ignore[attr-defined]
        parents = active_customers(user)
        if customer is not None:
            parents = parents.exclude(pk=customer.pk)
            del self.fields["allow_duplicate"]
        else:
            del self.fields["version"]
        self.fields["parent"].queryset = parents  # type: ignore[attr-defined]
        self.customer = customer
        self.add_custom_fields(user, "customer", customer)
        if customer is not None:
            fieldaccess.protect_form(self, user, Customer, customer)  # H-FIELD
        self.style_fields()

    def basic_fields(self) -> list[Any]:
        return [self[n] for n in self.BASIC]

    def contact_fields(self) -> list[Any]:
        return [self[n] for n in self.CONTACT]

    def invoicing_fields(self) -> list[Any]:
        return [self[n] for n in self.INVOICING]

    def service_data(self) -> dict[str, Any]:
        """The fields ``create_customer`` / ``update_customer`` take as ``data``."""
        keys = [*self.BASIC, *self.CONTACT, "notes", *self.INVOICING]
        return {k: self.cleaned_data.get(k) or "" for k in keys} | {"custom": self.custom_data()}

    def new_tag_names(self) -> list[str]:
        raw = (self.cleaned_data.get("new_tags") or "").replace("，", ",")
        return [n.strip() for n in raw.split(",") if n.strip()]


class FirstContactForm(TablerForm):
    """Up to one contact created together with a new customer (prefix ``contact``)."""

    name = forms.CharField(label=_("Contact name"), max_length=100, required=False)
    title = forms.CharField(label=_("Title"), max_length=100, required=False)
    mobile = forms.CharField(label=_("Mobile"), max_length=40, required=False)
    office_phone = forms.CharField(label=_("Office phone"), max_length=40, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        filled = any(data.get(k) for k in ("title", "mobile", "office_phone", "email"))
        if filled and not data.get("name"):
            self.add_error("name", _("Enter the contact's name."))
        mobile = data.get("mobile")
        if mobile and len(phone_digits(mobile)) < 7:
            self.add_error("mobile", _("Enter a valid mobile number."))
        return data

    def contact_data(self) -> dict[str, Any] | None:
        if not self.cleaned_data.get("name"):
            return None
        return {k: v for k, v in self.cleaned_data.items() if v}


class ContactForm(CustomFieldsMixin, TablerForm):
    """Create or edit a contact (R3.2)."""

    name = forms.CharField(label=_("Name"), max_length=100)
    superior_unit = forms.CharField(label=_("Superior unit"), max_length=200, required=False)
    department = forms.CharField(label=_("Department"), max_length=100, required=False)
    title = forms.CharField(label=_("Title"), max_length=100, required=False)
    office_phone = forms.CharField(label=_("Office phone"), max_length=40, required=False)
    mobile = forms.CharField(label=_("Mobile"), max_length=40, required=False)
    fax = forms.CharField(label=_("Fax"), max_length=40, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    birthday = forms.DateField(
        label=_("Birthday"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    is_primary = forms.BooleanField(label=_("Primary contact"), required=False)
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(
        self, *args: Any, user: User | None = None, contact: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if user is not None:
            self.add_custom_fields(user, "contact", contact)
            if contact is not None:
                fieldaccess.protect_form(self, user, Contact, contact)  # H-FIELD
            self.style_fields()

    def service_data(self) -> dict[str, Any]:
        data = {
            k: v for k, v in self.cleaned_data.items() if k != "version" and not k.startswith("cf_")
        }
        data = {k: ("" if v is None and k != "birthday" else v) for k, v in data.items()}
        if getattr(self, "custom_definitions", None) is not None:
            data["custom"] = self.custom_data()
        return data


# --- Ownership moves ------------------------------------------------------------------------------
class TransferForm(TablerForm):
    to_user = UserChoiceField(label=_("New owner"), queryset=User.objects.none())
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = colleagues_for(user)  # type: ignore[attr-defined]


class ReleaseForm(TablerForm):
    """Release to the pool: a reason from the organisation's list and/or free text."""

    reason_choice = forms.ChoiceField(label=_("Reason"), required=False)
    reason_text = forms.CharField(label=_("Details"), max_length=250, required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert user.org_id is not None
        self.org_id = user.org_id
        self.fields["reason_choice"].choices = release_reason_choices(user.org_id)  # type: ignore[attr-defined]

    def reason(self) -> str:
        return release_reason_text(
            self.org_id,
            self.cleaned_data.get("reason_choice") or "",
            self.cleaned_data.get("reason_text") or "",
        )


class BulkActionForm(TablerForm):
    """Bulk actions on checked rows of the customer list."""

    ACTIONS = [
        ("transfer", _("Transfer to a colleague")),
        ("release", _("Release to the pool")),
        ("tag", _("Add tag")),
    ]
    action = forms.ChoiceField(label=_("Action"), choices=ACTIONS)
    to_user = UserChoiceField(label=_("New owner"), queryset=User.objects.none(), required=False)
    reason_choice = forms.ChoiceField(label=_("Reason"), required=False)
    reason_text = forms.CharField(label=_("Details"), max_length=250, required=False)
    tag = forms.ModelChoiceField(
        label=_("Tag"), queryset=Tag.objects.none(), required=False, empty_label="—"
    )
    new_tag = forms.CharField(label=_("New tag"), max_length=40, required=False)

    def __init__(
        self,
        *args: Any,
        user: User,
        colleagues: list[User] | None = None,
        tags: list[Tag] | None = None,
        **kwargs: Any,
    ) -> None:
        """``colleagues`` and ``tags``: the rows of ``colleagues_for(user)`` and of the user's
        tags, when the page has read them already (the options are then not read again)."""
        super().__init__(*args, **kwargs)
        assert user.org_id is not None
        self.org_id = user.org_id
        to_user: Any = self.fields["to_user"]
        tag: Any = self.fields["tag"]
        to_user.queryset = colleagues_for(user)
        tag.queryset = Tag.objects.visible_to(user).order_by("name")
        if colleagues is not None:
            show_choices(to_user, colleagues)
        if tags is not None:
            show_choices(tag, tags)
        self.fields["reason_choice"].choices = release_reason_choices(user.org_id)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action == "transfer" and not data.get("to_user"):
            self.add_error("to_user", _("Choose the new owner."))
        if action == "release" and not (data.get("reason_choice") or data.get("reason_text")):
            self.add_error("reason_choice", _("Say why the customers are released."))
        if action == "tag" and not (data.get("tag") or (data.get("new_tag") or "").strip()):
            self.add_error("tag", _("Choose a tag or type a new one."))
        return data

    def reason(self) -> str:
        return release_reason_text(
            self.org_id,
            self.cleaned_data.get("reason_choice") or "",
            self.cleaned_data.get("reason_text") or "",
        )


class AssignForm(TablerForm):
    to_user = UserChoiceField(label=_("Colleague"), queryset=User.objects.none())

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = colleagues_for(user)  # type: ignore[attr-defined]


# --- Public pools -------------------------------------------------------------------------------
class PoolForm(TablerForm):
    """Every rule of a public pool, the per-grade overrides and the departments allowed."""

    name = forms.CharField(label=_("Name"), max_length=100)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    is_default = forms.BooleanField(
        label=_("Default pool"),
        required=False,
        help_text=_("New customers belong to the default pool; released ones return to it."),
    )
    departments = DepartmentMultipleChoiceField(
        label=_("Departments that may see and claim"),
        queryset=Department.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        help_text=_("None chosen: open to everyone. A department includes those below it."),
    )
    days_without_followup = forms.IntegerField(
        label=_("Return after days without follow-up"),
        min_value=1,
        max_value=POOL_LIMITS["days_without_followup"],
        required=False,
    )
    days_without_deal = forms.IntegerField(
        label=_("Return after days without a won deal"),
        min_value=1,
        max_value=POOL_LIMITS["days_without_deal"],
        required=False,
    )
    exclude_won = forms.BooleanField(
        label=_("Never return customers with a won deal"), required=False
    )
    exclude_open_opportunities = forms.BooleanField(
        label=_("Never return customers with open opportunities"), required=False
    )
    warning_days = forms.IntegerField(
        label=_("Warn the owner this many days before"),
        min_value=0,
        max_value=POOL_LIMITS["warning_days"],
        initial=3,
    )
    owner_cap = forms.IntegerField(
        label=_("Most customers a rep may own"),
        min_value=1,
        max_value=POOL_LIMITS["owner_cap"],
        required=False,
    )
    reclaim_cooldown_days = forms.IntegerField(
        label=_("Days before the previous owner may claim again"),
        min_value=0,
        max_value=POOL_LIMITS["reclaim_cooldown_days"],
        initial=0,
    )
    daily_claim_limit = forms.IntegerField(
        label=_("Claims per rep per day"),
        min_value=1,
        max_value=POOL_LIMITS["daily_claim_limit"],
        required=False,
    )
    mask_contacts = forms.BooleanField(
        label=_("Mask phone numbers and e-mails until claimed"), required=False
    )

    RULE_FIELDS = ["days_without_followup", "days_without_deal", "warning_days", "owner_cap"]
    RULE_FIELDS += ["reclaim_cooldown_days", "daily_claim_limit"]
    FLAG_FIELDS = ["exclude_won", "exclude_open_opportunities", "mask_contacts"]

    def __init__(self, *args: Any, user: User, pool: PublicPool | None = None, **kwargs: Any):
        if pool is not None and "initial" not in kwargs and not args:
            kwargs["initial"] = self.initial_for(pool)
        super().__init__(*args, **kwargs)
        self.fields["departments"].queryset = (  # type: ignore[attr-defined]
            Department.objects.visible_to(user).filter(is_active=True).order_by("path")
        )
        for grade in Grade.values:
            for key, label in (
                ("days_without_followup", _("Grade %(grade)s: days without follow-up")),
                ("days_without_deal", _("Grade %(grade)s: days without a won deal")),
            ):
                name = f"grade_{grade}_{key}"
                self.fields[name] = forms.IntegerField(
                    label=label % {"grade": grade},
                    min_value=1,
                    required=False,
                    widget=forms.NumberInput(attrs={"class": "form-control"}),
                )
                if pool is not None and not args:
                    rules = (pool.grade_rules or {}).get(grade, {})
                    self.initial.setdefault(name, rules.get(key))

    @staticmethod
    def initial_for(pool: PublicPool) -> dict[str, Any]:
        names = ["name", "is_active", "is_default"]
        names += PoolForm.RULE_FIELDS + PoolForm.FLAG_FIELDS
        initial = {k: getattr(pool, k) for k in names}
        initial["departments"] = list(pool.departments.all())
        return initial

    def grade_fields(self) -> list[Any]:
        """The per-grade override fields, A to C, follow-up rule before won-deal rule."""
        return [
            self[f"grade_{g}_{key}"]
            for g in Grade.values
            for key in ("days_without_followup", "days_without_deal")
        ]

    def service_data(self) -> dict[str, Any]:
        """The ``data`` of ``pool_services.save_pool``: rules and the per-grade overrides."""
        data = {
            k: self.cleaned_data.get(k)
            for k in ["name", "is_active", "is_default", *self.RULE_FIELDS, *self.FLAG_FIELDS]
        }
        data["warning_days"] = data["warning_days"] or 0
        data["reclaim_cooldown_days"] = data["reclaim_cooldown_days"] or 0
        rules: dict[str, dict[str, int]] = {}
        for grade in Grade.values:
            for key in ("days_without_followup", "days_without_deal"):
                value = self.cleaned_data.get(f"grade_{grade}_{key}")
                if value:
                    rules.setdefault(grade, {})[key] = value
        data["grade_rules"] = rules
        return data


# --- Filter bars ---------------------------------------------------------------------------------
class CustomerFilterForm(TablerForm):
    """Renders the filter bar of the customer lists; ``filters.CustomerFilter`` parses it."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"placeholder": _("Name, pinyin, initials, phone or e-mail"), "type": "search"}
        ),
    )
    owner_id = forms.ChoiceField(label=_("Owner"), required=False)
    grade = forms.ChoiceField(label=_("Grade"), required=False)
    customer_type = forms.ChoiceField(label=_("Type"), required=False)
    industry = forms.ChoiceField(label=_("Industry"), required=False)
    source = forms.ChoiceField(label=_("Source"), required=False)
    region = forms.CharField(label=_("Region"), required=False, max_length=100)
    tag_id = forms.ChoiceField(label=_("Tag"), required=False)
    is_new = forms.ChoiceField(
        label=_("New or existing"),
        required=False,
        choices=[("", "—"), ("true", _("New customer")), ("false", _("Existing customer"))],
    )

    def __init__(
        self,
        *args: Any,
        user: User,
        with_owner: bool,
        colleagues: list[User] | None = None,
        tags: list[Tag] | None = None,
        **kwargs: Any,
    ) -> None:
        """``colleagues`` and ``tags``: the rows of ``colleagues_for(user)`` and of the user's
        tags, when the page has read them already (they are then not read again)."""
        super().__init__(*args, **kwargs)
        org_id = user.org_id
        assert org_id is not None
        if with_owner:
            people = colleagues if colleagues is not None else colleagues_for(user)
            self.fields["owner_id"].choices = EMPTY + [  # type: ignore[attr-defined]
                (str(u.pk), str(u.display_name)) for u in people
            ]
        else:
            del self.fields["owner_id"]
        self.fields["grade"].choices = EMPTY + list(Grade.choices)  # type: ignore[attr-defined]
        for field in ("customer_type", "industry", "source"):
            self.fields[field].choices = dictionary_choices(org_id, DICTIONARY_FIELDS[field])  # type: ignore[attr-defined]
        labels = tags if tags is not None else Tag.objects.visible_to(user).order_by("name")
        self.fields["tag_id"].choices = EMPTY + [  # type: ignore[attr-defined]
            (str(t.pk), t.name) for t in labels
        ]
        add_filter_fields(self, user, "customer")  # H-CF: the custom-field filter
        self.style_fields()


class ContactFilterForm(TablerForm):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"placeholder": _("Name, mobile or e-mail"), "type": "search"}
        ),
    )
