"""Forms of the leads pages (shape and field validation only; views call the services).

Every choice list comes from ``visible_to(user)`` querysets or the organisation's dictionaries,
so another organisation's rows are never offered and a posted foreign id is an invalid choice.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.core import fieldaccess
from crm.core.custom_field_forms import CustomFieldsMixin, add_filter_fields, initial_values
from crm.core.forms import TablerFormMixin
from crm.org.models import User
from crm.pipeline import dictionaries
from crm.pipeline.models import DictionaryKind

from .choices import LeadStatus, Strategy
from .models import Lead, LeadPool

#: service field name -> form field name, where they differ
ALIASES = {"contact_name": "name", "notes": "message"}


class ColleagueField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        dept = obj.department.name if obj.department_id else ""
        return f"{obj.display_name} ({dept})" if dept else obj.display_name


class ColleaguesField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        dept = obj.department.name if obj.department_id else ""
        return f"{obj.display_name} ({dept})" if dept else obj.display_name


def colleagues(user: User) -> Any:
    return (
        User.objects.visible_to(user)
        .filter(is_active=True)
        .select_related("department")
        .order_by("name", "username")
    )


def dictionary_choices(user: User, kind: str, empty: Any = None) -> list[tuple[str, Any]]:
    items = dictionaries.choices(user.org_id, kind)  # type: ignore[arg-type]
    return ([("", empty)] if empty is not None else []) + items


# --- Leads ---------------------------------------------------------------------------------------
class LeadForm(CustomFieldsMixin, TablerFormMixin, forms.Form):
    """Create or edit a lead; ``extra_lines`` holds other attributes, ``name = value`` a line."""

    company = forms.CharField(label=_("Company"), max_length=200, required=False)
    contact_name = forms.CharField(label=_("Contact name"), max_length=100, required=False)
    title = forms.CharField(label=_("Title"), max_length=100, required=False)
    mobile = forms.CharField(label=_("Mobile"), max_length=40, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    email = forms.CharField(label=_("E-mail"), max_length=254, required=False)
    region = forms.CharField(label=_("Region"), max_length=100, required=False)
    industry = forms.ChoiceField(label=_("Industry"), required=False)
    product_line = forms.CharField(label=_("Product line"), max_length=100, required=False)
    source = forms.ChoiceField(label=_("Source"), required=False)
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    extra_lines = forms.CharField(
        label=_("Other attributes"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line: name = value"),
    )
    pool = forms.ModelChoiceField(
        label=_("Pool"),
        queryset=LeadPool.objects.none(),
        required=False,
        empty_label=_("Total pool"),
    )
    assign_to_me = forms.BooleanField(
        label=_("I will work this lead myself"),
        required=False,
        help_text=_("Otherwise the assignment rules decide who gets it."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, user: User, creating: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["industry"].choices = dictionary_choices(user, DictionaryKind.INDUSTRY, "—")  # type: ignore[attr-defined]
        self.fields["source"].choices = dictionary_choices(user, DictionaryKind.SOURCE, "—")  # type: ignore[attr-defined]
        if creating:
            del self.fields["version"]
            pools = LeadPool.objects.visible_to(user).filter(is_active=True)
            from .selectors import pool_access

            access = pool_access(user)
            if not access.configure:
                pools = pools.filter(pk__in=[*access.managed, *access.member])
            self.fields["pool"].queryset = pools.exclude(kind="total").order_by("name")  # type: ignore[attr-defined]
        else:
            del self.fields["pool"]
            del self.fields["assign_to_me"]
        self.add_custom_fields(user, "lead", creating=creating)
        if not creating:
            fieldaccess.protect_form(self, user, Lead)  # H-FIELD
        self.style_fields()

    def clean_extra_lines(self) -> dict[str, str]:
        extra: dict[str, str] = {}
        for number, line in enumerate((self.cleaned_data.get("extra_lines") or "").splitlines(), 1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise forms.ValidationError(_("Line %(n)d is not “name = value”.") % {"n": number})
            extra[key.strip()] = value.strip()
        return extra

    @staticmethod
    def initial_for(lead: Any) -> dict[str, Any]:
        """The edit form's initial values: the lead's fields, extra attributes as lines."""
        from .services import LEAD_FIELDS

        initial = {f: getattr(lead, f) for f in LEAD_FIELDS}
        lines = "\n".join(f"{k} = {v}" for k, v in (lead.extra or {}).items())
        initial.update(extra_lines=lines, version=lead.version)
        initial.update(initial_values(lead.org_id, "lead", lead.custom))
        return initial

    def lead_data(self) -> dict[str, Any]:
        data = {
            k: v
            for k, v in self.cleaned_data.items()
            if k not in ("extra_lines", "pool", "assign_to_me", "version")
            and not k.startswith("cf_")
        }
        data["extra"] = self.cleaned_data.get("extra_lines") or {}
        data["custom"] = self.custom_data()
        return data


class LeadFilterForm(TablerFormMixin, forms.Form):
    """The filter bar (rendering only: the filtering itself is ``filters.LeadFilter``)."""

    q = forms.CharField(label=_("Search"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False)
    source = forms.ChoiceField(label=_("Source"), required=False)
    industry = forms.ChoiceField(label=_("Industry"), required=False)
    region = forms.CharField(label=_("Region"), required=False)
    unassigned = forms.BooleanField(label=_("Unassigned only"), required=False)
    # H-LSCORE: score range
    score_min = forms.IntegerField(
        label=_("Score from"), required=False, min_value=-1_000_000, max_value=1_000_000
    )
    score_max = forms.IntegerField(
        label=_("Score to"), required=False, min_value=-1_000_000, max_value=1_000_000
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [  # type: ignore[attr-defined]
            ("", _("Any status")),
            ("open", _("Open (new, contacted, qualified)")),
            *LeadStatus.choices,
        ]
        self.fields["source"].choices = dictionary_choices(  # type: ignore[attr-defined]
            user, DictionaryKind.SOURCE, _("Any source")
        )
        self.fields["industry"].choices = dictionary_choices(  # type: ignore[attr-defined]
            user, DictionaryKind.INDUSTRY, _("Any industry")
        )
        add_filter_fields(self, user, "lead")  # H-CF: the custom-field filter
        self.style_fields()


class InvalidForm(TablerFormMixin, forms.Form):
    reason = forms.ChoiceField(label=_("Reason"))
    note = forms.CharField(label=_("Details"), max_length=300, required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].choices = dictionary_choices(user, DictionaryKind.INVALID_REASON, "—")  # type: ignore[attr-defined]
        self.style_fields()


class AssignForm(TablerFormMixin, forms.Form):
    to_user = ColleagueField(label=_("Assign to"), queryset=User.objects.none())

    def __init__(self, *args: Any, user: User, queryset: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = queryset if queryset is not None else colleagues(user)  # type: ignore[attr-defined]
        self.style_fields()


class BulkForm(TablerFormMixin, forms.Form):
    """A bulk action on the selected leads of a list."""

    ACTIONS = [
        ("distribute", _("Move to pool")),
        ("assign", _("Assign to")),
        ("invalid", _("Mark invalid")),
        ("rules", _("Run assignment rules")),
    ]
    action = forms.ChoiceField(label=_("Action"), choices=ACTIONS)
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=[])
    pool = forms.ModelChoiceField(label=_("Pool"), queryset=LeadPool.objects.none(), required=False)
    to_user = ColleagueField(label=_("Rep"), queryset=User.objects.none(), required=False)
    reason = forms.ChoiceField(label=_("Reason"), required=False)
    note = forms.CharField(label=_("Details"), max_length=300, required=False)
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["pool"].queryset = LeadPool.objects.visible_to(user).filter(is_active=True)  # type: ignore[attr-defined]
        self.fields["to_user"].queryset = colleagues(user)  # type: ignore[attr-defined]
        self.fields["reason"].choices = dictionary_choices(user, DictionaryKind.INVALID_REASON, "—")  # type: ignore[attr-defined]
        self.style_fields()

    def clean_ids(self) -> list[int]:
        ids = self.cleaned_data.get("ids") or []
        if not ids:
            raise forms.ValidationError(_("Select at least one lead."))
        return ids

    def full_clean(self) -> None:
        # the selected ids are free integers (checked against visibility by the view)
        ids = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        self.fields["ids"].choices = [(i, i) for i in ids]  # type: ignore[attr-defined]
        super().full_clean()


class ConvertForm(forms.Form):
    """``target`` is "new" (create a customer) or the id of a candidate to link to."""

    target = forms.ChoiceField(widget=forms.RadioSelect)
    allow_duplicate = forms.BooleanField(required=False)
    create_opportunity = forms.BooleanField(label=_("Also create an opportunity"), required=False)

    def __init__(self, *args: Any, candidates: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("new", _("Create a new customer"))]
        choices += [(str(c["id"]), c["name"]) for c in candidates if c["visible"] and c["id"]]
        self.fields["target"].choices = choices  # type: ignore[attr-defined]
        self.fields["target"].initial = "new"


# --- Pools ---------------------------------------------------------------------------------------
class PoolForm(TablerFormMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    region = forms.CharField(label=_("Region"), max_length=100, required=False)
    product_line = forms.CharField(label=_("Product line"), max_length=100, required=False)
    description = forms.CharField(label=_("Description"), max_length=300, required=False)
    managers = ColleaguesField(
        label=_("Managers"),
        queryset=User.objects.none(),
        required=False,
        help_text=_("They see every lead of the pool and assign them."),
    )
    members = ColleaguesField(
        label=_("Members"),
        queryset=User.objects.none(),
        required=False,
        help_text=_("They see the pool's unassigned leads and claim them."),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    form_enabled = forms.BooleanField(label=_("Web form enabled"), required=False, initial=True)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["managers"].queryset = colleagues(user)  # type: ignore[attr-defined]
        self.fields["members"].queryset = colleagues(user)  # type: ignore[attr-defined]
        for name in ("managers", "members"):
            self.fields[name].widget.attrs["size"] = 8
        self.style_fields()


class PoolMembersForm(TablerFormMixin, forms.Form):
    members = ColleaguesField(label=_("Members"), queryset=User.objects.none(), required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = colleagues(user)  # type: ignore[attr-defined]
        self.fields["members"].widget.attrs["size"] = 10
        self.style_fields()


# --- Rules ---------------------------------------------------------------------------------------
def _split(text: str) -> list[str]:
    parts = [
        p.strip()
        for chunk in (text or "").splitlines()
        for p in chunk.replace("，", ",").split(",")
    ]
    return [p for p in parts if p]


class RuleForm(TablerFormMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    order = forms.IntegerField(
        label=_("Order"), min_value=0, initial=10, help_text=_("Rules are tried from the lowest.")
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    regions = forms.CharField(
        label=_("Regions"), required=False, help_text=_("Separated by commas; empty = any region.")
    )
    industries = forms.MultipleChoiceField(
        label=_("Industries"), required=False, help_text=_("None chosen = any industry.")
    )
    sources = forms.MultipleChoiceField(
        label=_("Sources"), required=False, help_text=_("None chosen = any source.")
    )
    product_lines = forms.CharField(
        label=_("Product lines"),
        required=False,
        help_text=_("Separated by commas; empty = any product line."),
    )
    # H-LSCORE: lead score range (crm.leads.scoring)
    min_score = forms.IntegerField(
        label=_("Lowest score"),
        required=False,
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text=_("Empty = any score."),
    )
    max_score = forms.IntegerField(
        label=_("Highest score"),
        required=False,
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text=_("Empty = any score."),
    )
    strategy = forms.ChoiceField(label=_("Strategy"), choices=Strategy.choices)
    eligible_users = ColleaguesField(
        label=_("Eligible reps"),
        queryset=User.objects.none(),
        required=False,
        help_text=_("Empty: the members of the target sub-pool."),
    )
    fixed_user = ColleagueField(
        label=_("Fixed person"), queryset=User.objects.none(), required=False
    )
    cap = forms.IntegerField(
        label=_("Most open leads per rep"),
        min_value=1,
        required=False,
        help_text=_("Reps at the cap are skipped; empty = no cap."),
    )
    target_pool = forms.ModelChoiceField(
        label=_("Target sub-pool"),
        queryset=LeadPool.objects.none(),
        required=False,
        empty_label=_("— keep in its pool —"),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["industries"].choices = dictionary_choices(user, DictionaryKind.INDUSTRY)  # type: ignore[attr-defined]
        self.fields["sources"].choices = dictionary_choices(user, DictionaryKind.SOURCE)  # type: ignore[attr-defined]
        for name in ("industries", "sources"):
            self.fields[name].widget.attrs["size"] = 6
        self.fields["eligible_users"].queryset = colleagues(user)  # type: ignore[attr-defined]
        self.fields["eligible_users"].widget.attrs["size"] = 8
        self.fields["fixed_user"].queryset = colleagues(user)  # type: ignore[attr-defined]
        self.fields["target_pool"].queryset = (  # type: ignore[attr-defined]
            LeadPool.objects.visible_to(user).filter(is_active=True).exclude(kind="total")
        )
        self.style_fields()

    def rule_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "name": d["name"],
            "order": d["order"],
            "is_active": d["is_active"],
            "strategy": d["strategy"],
            "cap": d["cap"],
            "conditions": {
                "region": _split(d["regions"]),
                "industry": list(d["industries"]),
                "source": list(d["sources"]),
                "product_line": _split(d["product_lines"]),
                "min_score": d.get("min_score"),
                "max_score": d.get("max_score"),
            },
        }

    @staticmethod
    def initial_for(rule: Any) -> dict[str, Any]:
        c = rule.conditions or {}
        return {
            "name": rule.name,
            "order": rule.order,
            "is_active": rule.is_active,
            "regions": ", ".join(c.get("region", [])),
            "industries": c.get("industry", []),
            "sources": c.get("source", []),
            "product_lines": ", ".join(c.get("product_line", [])),
            "min_score": c.get("min_score"),
            "max_score": c.get("max_score"),
            "strategy": rule.strategy,
            "eligible_users": [u.pk for u in rule.eligible_users.all()],
            "fixed_user": rule.fixed_user_id,
            "cap": rule.cap,
            "target_pool": rule.target_pool_id,
        }


# --- The public web form -------------------------------------------------------------------------
class WebLeadForm(TablerFormMixin, forms.Form):
    """What a visitor fills in (the view keeps every other posted field in ``extra``)."""

    company = forms.CharField(label=_("Company"), max_length=200, required=False)
    name = forms.CharField(label=_("Your name"), max_length=100, required=False)
    mobile = forms.CharField(label=_("Mobile"), max_length=40, required=False)
    email = forms.CharField(label=_("E-mail"), max_length=254, required=False)
    message = forms.CharField(
        label=_("Message"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style_fields()
