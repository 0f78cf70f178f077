"""Selects rendered without a template per option give Django's exact HTML (R11.2: a list's
owner filter of 500 people rendered 500 template includes)."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms

from crm.core.forms import FastSelect, TablerFormMixin

CHOICES: list[Any] = [
    ("", "—"),
    (1, "张三 <b>&"),
    (2, '李四 "引号"'),
    ("组", [(3, "王五"), (4, "赵六")]),
]


@pytest.mark.parametrize("value", [None, "", 2, "3", 99])
@pytest.mark.parametrize(
    "attrs", [None, {"id": "id_owner", "required": True, "disabled": False, "data-x": 'q"<'}]
)
def test_the_html_is_djangos(value: Any, attrs: Any) -> None:
    plain = forms.Select(choices=CHOICES, attrs={"class": "form-select"})
    fast = FastSelect(choices=CHOICES, attrs={"class": "form-select"})
    assert fast.render("owner", value, dict(attrs or {})) == plain.render(
        "owner", value, dict(attrs or {})
    )


class _Filter(TablerFormMixin, forms.Form):
    owner = forms.ChoiceField(choices=CHOICES, required=False)
    kind = forms.ChoiceField(choices=CHOICES, required=False, widget=forms.RadioSelect)
    yes = forms.NullBooleanField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style_fields()


def test_forms_use_it_for_plain_selects_only() -> None:
    form = _Filter({"owner": "2"})
    assert type(form.fields["owner"].widget) is FastSelect
    assert type(form.fields["kind"].widget) is forms.RadioSelect
    assert type(form.fields["yes"].widget) is forms.NullBooleanSelect
    assert '<option value="2" selected>李四 &quot;引号&quot;</option>' in str(form["owner"])
    # another form of the same class still starts from Django's widget (fields are copied)
    assert type(_Filter.base_fields["owner"].widget) is forms.Select
