"""Forms of the import wizard: the upload and the column mapping."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.core.forms import TablerForm

from .choices import DuplicateMode, Encoding
from .registry import Resource


class UploadForm(TablerForm):
    """Step 1: what to import and the file."""

    resource = forms.ChoiceField(label=_("Import into"))
    file = forms.FileField(
        label=_("File"),
        help_text=_("CSV (UTF-8 or GBK) or XLSX; the first row holds the column titles."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,.txt"}),
    )
    encoding = forms.ChoiceField(
        label=_("Encoding of a CSV file"), choices=Encoding.choices, initial=Encoding.AUTO
    )

    def __init__(self, *args: Any, resources: list[Resource], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["resource"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(r.key, r.label) for r in resources]


class MappingForm(TablerForm):
    """Step 2: a field for each column, what duplicates do, strict mode, save as template."""

    duplicate_mode = forms.ChoiceField(
        label=_("When a row matches an existing record"),
        choices=DuplicateMode.choices,
        widget=forms.RadioSelect,
    )
    strict = forms.BooleanField(
        label=_("All or nothing: import nothing if any row has an error"), required=False
    )
    save_as = forms.CharField(
        label=_("Save this mapping as"),
        required=False,
        max_length=100,
        help_text=_("Optional: the mapping is offered again for the next file."),
    )

    def __init__(
        self,
        *args: Any,
        resource: Resource,
        headers: list[str],
        samples: list[list[str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, Any]] = [("", _("— do not import —"))]
        for f in resource.fields:
            choices.append((f.key, f"{f.label} *" if f.required else f.label))
        self.columns: list[dict[str, Any]] = []
        for i, header in enumerate(headers):
            name = f"col_{i}"
            self.fields[name] = forms.ChoiceField(
                label=header or _("Column %(n)d") % {"n": i + 1},
                choices=choices,
                required=False,
            )
            self.columns.append(
                {
                    "name": name,
                    "header": header,
                    "samples": [row[i] for row in samples if i < len(row) and row[i]][:3],
                }
            )
        self.style_fields()

    def mapping(self) -> list[str]:
        return [self.cleaned_data.get(c["name"]) or "" for c in self.columns]

    def bound_columns(self) -> list[dict[str, Any]]:
        return [{**c, "field": self[c["name"]]} for c in self.columns]
