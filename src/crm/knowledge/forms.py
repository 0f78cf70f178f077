"""Forms of the knowledge pages: shape and field validation only; the services save."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.core.forms import TablerForm
from crm.pipeline import dictionaries
from crm.pipeline.models import Stage

from .models import ArticleStatus

EMPTY = [("", _("All"))]


def stage_choices(org_id: int) -> list[tuple[str, str]]:
    """Every stage and node of the organisation's pipelines (settings every member reads)."""
    rows = (
        Stage.objects.filter(org_id=org_id, pipeline__is_active=True)
        .filter(is_active=True)
        .select_related("pipeline", "parent")
        .order_by("pipeline__sort_order", "pipeline_id", "sort_order", "pk")
    )
    out = []
    for s in rows:
        name = f"{s.parent.name} › {s.name}" if s.parent_id and s.parent else s.name
        out.append((str(s.pk), f"{s.pipeline.name} · {name}"))
    return out


def category_choices(org_id: int, *, keep: Any = None, active_only: bool = True) -> list[Any]:
    """The organisation's categories in list order: the active ones (and ``keep``, the
    article's current one, even when it was deactivated since)."""
    from .services import categories

    return [
        (str(c.pk), c.name)
        for c in categories(org_id)
        if c.is_active or not active_only or str(c.pk) == str(keep or "")
    ]


class ArticleForm(TablerForm):
    title = forms.CharField(label=_("Title"), max_length=200)
    category = forms.ChoiceField(label=_("Category"))
    tags = forms.CharField(
        label=_("Tags"),
        required=False,
        max_length=500,
        help_text=_("Separate tags with commas."),
    )
    body = forms.CharField(
        label=_("Content"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "data-kb-source": "1"}),
    )
    stage_ids = forms.MultipleChoiceField(
        label=_("Show at these pipeline stages"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    industries = forms.MultipleChoiceField(
        label=_("Show for customers in these industries"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, org_id: int, keep_category: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices(  # type: ignore[attr-defined]
            org_id, keep=keep_category
        )
        self.fields["stage_ids"].choices = stage_choices(org_id)  # type: ignore[attr-defined]
        self.fields["industries"].choices = dictionaries.choices(  # type: ignore[attr-defined]
            org_id, "industry"
        )


class FilterForm(TablerForm):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("Title, content, pinyin…")}),
    )
    category = forms.ChoiceField(label=_("Category"), required=False)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=EMPTY + list(ArticleStatus.choices)
    )
    tag = forms.CharField(label=_("Tag"), required=False, max_length=30)

    def __init__(self, *args: Any, org_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = EMPTY + category_choices(  # type: ignore[attr-defined]
            org_id, active_only=False
        )


class CategoryForm(TablerForm):
    """Add or rename a category of the knowledge base."""

    name = forms.CharField(label=_("Name"), max_length=60)


class CategoryDeleteForm(TablerForm):
    """Delete a category; one in use moves its articles to ``move_to`` first."""

    move_to = forms.TypedChoiceField(
        label=_("Move its articles to"), required=False, coerce=int, empty_value=None
    )

    def __init__(self, *args: Any, choices: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["move_to"].choices = EMPTY + choices  # type: ignore[attr-defined]
