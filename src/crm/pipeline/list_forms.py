"""Forms of the opportunity list (R4.6): saving a query and transferring checked opportunities."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.core.forms import TablerForm
from crm.customers.forms import UserChoiceField, colleagues_for
from crm.org.models import User

from .models import SavedQueryShare


class SavedQueryForm(TablerForm):
    """Name and sharing of a saved query. The conditions, columns and sort come from the list
    as hidden fields (what the list shows is what is saved)."""

    name = forms.CharField(label=_("Name"), max_length=100)
    shared = forms.ChoiceField(
        label=_("Shared with"), choices=SavedQueryShare.choices, initial=SavedQueryShare.PRIVATE
    )


class TransferForm(TablerForm):
    """Give the checked opportunities to a colleague."""

    to_user = UserChoiceField(label=_("New owner"), queryset=User.objects.none())
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = colleagues_for(user)  # type: ignore[attr-defined]
