"""Forms of the authentication and account pages.

Forms only parse input; the rules (unique e-mail, password policy, 2FA codes) live in services,
whose ``ValidationFailed`` errors are put back on the form with :func:`apply_errors`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from crm.core.errors import ValidationFailed


class TablerForm(forms.Form):
    """Adds Tabler's CSS classes to every widget and marks the invalid ones."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def full_clean(self) -> None:
        super().full_clean()
        self._mark_invalid()

    def _mark_invalid(self) -> None:
        for name in getattr(self, "_errors", None) or {}:
            if name in self.fields:
                widget = self.fields[name].widget
                if "is-invalid" not in widget.attrs.get("class", ""):
                    widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        self._mark_invalid()


def apply_errors(
    form: forms.Form, exc: ValidationFailed, field_map: dict[str, str] | None = None
) -> None:
    """Show a service's ``ValidationFailed`` on ``form``: field errors on their fields
    (renamed through ``field_map``), everything else at the top of the form."""
    field_map = field_map or {}
    for key, messages in exc.field_errors.items():
        name = field_map.get(key, key)
        target = name if name in form.fields else None
        for message in messages:
            form.add_error(target, str(message))
    if not exc.field_errors:
        form.add_error(None, str(exc.message))


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
