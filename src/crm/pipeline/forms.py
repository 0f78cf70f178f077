"""Forms of the pipeline and dictionary settings pages (shape only: the rules are in services)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.core.forms import TablerForm

from . import dictionaries
from .choices import StageKind
from .models import DictionaryKind


class PipelineForm(TablerForm):
    """Name, business type, description, active and default flags of a pipeline."""

    name = forms.CharField(label=_("Name"), max_length=100)
    business_type = forms.ChoiceField(label=_("Business type"), required=False)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    is_default = forms.BooleanField(
        label=_("Default pipeline for new opportunities"), required=False
    )

    def __init__(self, *args: Any, org_id: int, current: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = dictionaries.choices(org_id, DictionaryKind.BUSINESS_CATEGORY)
        if current and current not in {v for v, _label in options}:
            options.append(
                (current, dictionaries.label(org_id, DictionaryKind.BUSINESS_CATEGORY, current))
            )
        field = self.fields["business_type"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "—"), *options]


class CopyPipelineForm(TablerForm):
    name = forms.CharField(label=_("Name of the copy"), max_length=100)


class StageForm(TablerForm):
    """A stage: name, kind, default probability, days before stalled, guidance."""

    name = forms.CharField(label=_("Name"), max_length=100)
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=StageKind.choices,
        initial=StageKind.OPEN,
        help_text=_("Won and lost stages close the opportunity; they come after the open ones."),
    )
    default_probability = forms.IntegerField(
        label=_("Default win probability (%)"), min_value=0, max_value=100, initial=0
    )
    max_days = forms.IntegerField(
        label=_("Days before stalled"),
        min_value=1,
        required=False,
        help_text=_("An opportunity longer in this stage counts as stalled. Empty: never."),
    )
    guidance = forms.CharField(
        label=_("Guidance"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What the rep does in this stage, and what must be true to leave it."),
    )

    def __init__(self, *args: Any, node: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.node = node
        if node:
            del self.fields["kind"]
            self.fields["guidance"].help_text = _("What the rep does at this step.")


class DictionaryItemForm(TablerForm):
    """A new item of a list: its label and, optionally, its stored value."""

    label = forms.CharField(label=_("Label"), max_length=100)
    value = forms.CharField(
        label=_("Value"),
        max_length=60,
        required=False,
        help_text=_(
            "Stored on records and never changed afterwards. Leave empty to derive it from the "
            "label; feedback cycles need the number of days followed by “d”, e.g. 10d."
        ),
    )


class RenameItemForm(TablerForm):
    label = forms.CharField(label=_("Label"), max_length=100)
