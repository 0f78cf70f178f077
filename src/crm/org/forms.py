"""Forms of the authentication and account pages.

Forms only parse input; the rules (unique e-mail, password policy, 2FA codes) live in services,
whose ``ValidationFailed`` errors are put back on the form with :func:`apply_errors`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from crm.core.forms import TablerForm


def _password(label: Any, autocomplete: str = "new-password") -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


def _code_field() -> forms.CharField:
    return forms.CharField(
        label=_("Six-digit code"),
        max_length=10,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": "[0-9 ]*",
                "autofocus": True,
            }
        ),
    )


class LoginForm(TablerForm):
    login = forms.CharField(
        label=_("E-mail or username"),
        max_length=254,
        widget=forms.TextInput(
            attrs={"autocomplete": "username", "autofocus": True, "autocapitalize": "none"}
        ),
    )
    password = _password(_("Password"), "current-password")
    next = forms.CharField(required=False, widget=forms.HiddenInput)


class TotpCodeForm(TablerForm):
    code = _code_field()


class SignupForm(TablerForm):
    name = forms.CharField(
        label=_("Organisation name"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "organization", "autofocus": True}),
    )
    admin_name = forms.CharField(
        label=_("Your name"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(
        label=_("E-mail"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password1 = _password(_("Password"))
    password2 = _password(_("Password (again)"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("The two passwords do not match."))
        return data


class SetPasswordForm(TablerForm):
    new_password1 = _password(_("New password"))
    new_password2 = _password(_("New password (again)"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        p1, p2 = data.get("new_password1"), data.get("new_password2")
        if p1 and p2 and p1 != p2:
            self.add_error("new_password2", _("The two passwords do not match."))
        return data


class PasswordChangeForm(SetPasswordForm):
    old_password = _password(_("Current password"), "current-password")
    field_order = ["old_password", "new_password1", "new_password2"]


class PasswordResetRequestForm(TablerForm):
    email = forms.EmailField(
        label=_("E-mail"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


class TotpDisableForm(TablerForm):
    password = _password(_("Current password"), "current-password")


def language_choices() -> list[tuple[str, Any]]:
    return [("", _("Organisation default")), *[(code, name) for code, name in settings.LANGUAGES]]


class ProfileForm(TablerForm):
    name = forms.CharField(
        label=_("Name"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    mobile = forms.CharField(
        label=_("Mobile"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    language = forms.ChoiceField(label=_("Language"), required=False, choices=language_choices)


class TokenCreateForm(TablerForm):
    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("What the token is for, e.g. “ERP sync”.")
    )
    expires_on = forms.DateField(
        label=_("Expires on"),
        required=False,
        help_text=_("Optional. The token stops working at the end of this day."),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
