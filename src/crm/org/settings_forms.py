"""Forms of the organisation-settings pages (shape and field validation only).

Forms never save: views hand their cleaned data to ``crm.org.services``. Every choice list is
built from ``visible_to(user)`` querysets, so another organisation's rows are never offered
(and an id of one posted anyway is rejected as an invalid choice).
"""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.core.forms import TablerFormMixin
from crm.core.scoping import DataScope

from .models import Department, Role, User
from .permissions import ALL_PERMISSIONS

SCOPE_LABELS: dict[str, Any] = {
    DataScope.SELF: _("Own records"),
    DataScope.DEPT: _("Own department"),
    DataScope.DEPT_TREE: _("Department and below"),
    DataScope.ALL: _("Whole organisation"),
    DataScope.CUSTOM: _("Chosen departments"),
}
"""Translated names of the data scopes (the enum's own labels are not translated)."""

SCOPE_HELP: dict[str, Any] = {
    DataScope.SELF: _("Records the person owns or collaborates on."),
    DataScope.DEPT: _("Records owned by anyone in the person's own department."),
    DataScope.DEPT_TREE: _("Records of the person's department and every department below it."),
    DataScope.ALL: _("Every record of the organisation."),
    DataScope.CUSTOM: _("Records of the departments chosen below (and their sub-departments)."),
}


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    """Every IANA time zone known to ``zoneinfo``, sorted, as select choices."""
    return [(tz, tz) for tz in sorted(zoneinfo.available_timezones())]


class DepartmentChoiceField(forms.ModelChoiceField):
    """Departments labelled with their depth in the tree."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{'— ' * obj.depth}{obj.name}"


class DepartmentMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Several departments labelled with their depth in the tree."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{'— ' * obj.depth}{obj.name}"


class UserChoiceField(forms.ModelChoiceField):
    """Colleagues labelled with their display name and department."""

    def label_from_instance(self, obj: Any) -> str:
        if obj.department_id:
            return f"{obj.display_name} ({obj.department.name})"
        return obj.display_name


def departments_for(user: User, *, active_only: bool = False) -> Any:
    qs = Department.objects.visible_to(user).order_by("path")
    return qs.filter(is_active=True) if active_only else qs


def colleagues_for(user: User, *, exclude: User | None = None) -> Any:
    qs = (
        User.objects.visible_to(user)
        .filter(is_active=True)
        .select_related("department")
        .order_by("name", "username")
    )
    return qs.exclude(pk=exclude.pk) if exclude is not None else qs


# --- Organisation --------------------------------------------------------------------------------
class OrganizationForm(TablerFormMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    time_zone = forms.ChoiceField(
        label=_("Time zone"), choices=time_zone_choices, initial="Asia/Shanghai"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style_fields()


# --- Departments ---------------------------------------------------------------------------------
class DepartmentForm(TablerFormMixin, forms.Form):
    """Create a department (``with_parent``) or edit one (``with_status``)."""

    name = forms.CharField(label=_("Name"), max_length=100)
    parent = DepartmentChoiceField(
        label=_("Parent department"), queryset=Department.objects.none(), empty_label=None
    )
    head = UserChoiceField(
        label=_("Head"), queryset=User.objects.none(), required=False, empty_label=_("— nobody —")
    )
    is_active = forms.BooleanField(
        label=_("Active"),
        required=False,
        help_text=_("A disabled department takes no new members."),
    )

    def __init__(
        self,
        *args: Any,
        user: User,
        with_parent: bool = True,
        with_status: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if with_parent:
            self.set_queryset("parent", departments_for(user, active_only=True))
        else:
            del self.fields["parent"]
        if not with_status:
            del self.fields["is_active"]
        self.set_queryset("head", colleagues_for(user))
        self.style_fields()


class DepartmentMoveForm(TablerFormMixin, forms.Form):
    parent = DepartmentChoiceField(
        label=_("New parent department"), queryset=Department.objects.none(), empty_label=None
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_queryset("parent", departments_for(user))
        self.style_fields()


# --- Users ---------------------------------------------------------------------------------------
class UserFilterForm(TablerFormMixin, forms.Form):
    """The filter bar of the user list (all optional; invalid values are ignored)."""

    STATUS_CHOICES = [("", _("All")), ("active", _("Active")), ("inactive", _("Inactive"))]
    SORTS = {
        "name": ("name", "username"),
        "-name": ("-name", "-username"),
        "username": ("username",),
        "-username": ("-username",),
        "email": ("email",),
        "-email": ("-email",),
        "department": ("department__path", "name"),
        "-department": ("-department__path", "name"),
        "last_login": ("last_login", "pk"),
        "-last_login": ("-last_login", "-pk"),
        "joined": ("date_joined", "pk"),
        "-joined": ("-date_joined", "-pk"),
    }

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    department = DepartmentChoiceField(
        label=_("Department and below"),
        required=False,
        queryset=Department.objects.none(),
        empty_label=_("All departments"),
    )
    role = forms.ModelChoiceField(
        label=_("Role"), required=False, queryset=Role.objects.none(), empty_label=_("All roles")
    )
    status = forms.ChoiceField(label=_("Status"), required=False, choices=STATUS_CHOICES)
    sort = forms.ChoiceField(
        required=False, choices=[(k, k) for k in SORTS], widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_queryset("department", departments_for(user))
        self.set_queryset("role", Role.objects.visible_to(user))
        self.style_fields()

    def filter(self, qs: Any) -> Any:
        """Apply the valid filters and the sort order to a ``visible_to`` queryset of users."""
        data = self.cleaned_data if self.is_valid() else {}
        if q := (data.get("q") or "").strip():
            from django.db.models import Q

            qs = qs.filter(
                Q(name__icontains=q)
                | Q(username__icontains=q)
                | Q(email__icontains=q)
                | Q(mobile__icontains=q)
            )
        if dept := data.get("department"):
            qs = qs.filter(department__path__startswith=dept.path)
        if role := data.get("role"):
            qs = qs.filter(roles=role)
        if data.get("status") == "active":
            qs = qs.filter(is_active=True)
        elif data.get("status") == "inactive":
            qs = qs.filter(is_active=False)
        return qs.order_by(*self.SORTS.get(data.get("sort") or "name", ("name", "username")))


class UserForm(TablerFormMixin, forms.Form):
    """Create a colleague (``creating``) or edit one."""

    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        required=False,
        help_text=_("Optional: the e-mail address is used when blank."),
    )
    email = forms.EmailField(label=_("E-mail"))
    name = forms.CharField(label=_("Name"), max_length=100)
    mobile = forms.CharField(label=_("Mobile"), max_length=30, required=False)
    department = DepartmentChoiceField(
        label=_("Department"), queryset=Department.objects.none(), empty_label=None
    )
    roles = forms.ModelMultipleChoiceField(
        label=_("Roles"),
        queryset=Role.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    manager = UserChoiceField(
        label=_("Manager"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("— nobody —"),
    )
    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Optional. Leave blank to e-mail the person an invitation to set their own."),
    )

    def __init__(
        self,
        *args: Any,
        user: User,
        creating: bool = True,
        editing: User | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if not creating:
            del self.fields["username"]
            del self.fields["password"]
        self.set_queryset("department", departments_for(user, active_only=creating))
        self.set_queryset("roles", Role.objects.visible_to(user))
        self.set_queryset("manager", colleagues_for(user, exclude=editing))
        self.style_fields()


class DeactivateUserForm(TablerFormMixin, forms.Form):
    transfer_to = UserChoiceField(
        label=_("Transfer records to"),
        queryset=User.objects.none(),
        empty_label=_("— choose a colleague —"),
        error_messages={"required": _("Choose a colleague to take over the records.")},
    )

    def __init__(self, *args: Any, user: User, target: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_queryset("transfer_to", colleagues_for(user, exclude=target))
        self.style_fields()


# --- Roles ---------------------------------------------------------------------------------------
def field_rule_name(key: str) -> str:
    """The form input of a protectable field's rule (``fr__customers__Customer__phone``)."""
    return "fr__" + key.replace(".", "__")


class RoleForm(TablerFormMixin, forms.Form):
    """Name, permission matrix (``perm`` = ``module:action``), data scope and 2FA of a role."""

    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(label=_("Description"), max_length=300, required=False)
    perm = forms.MultipleChoiceField(
        label=_("Permissions"),
        required=False,
        choices=[(p, p) for p in ALL_PERMISSIONS],
        widget=forms.CheckboxSelectMultiple,
    )
    data_scope = forms.ChoiceField(
        label=_("Data scope"),
        choices=list(SCOPE_LABELS.items()),
        initial=DataScope.SELF,
        widget=forms.RadioSelect,
    )
    scope_departments = DepartmentMultipleChoiceField(
        label=_("Chosen departments"),
        queryset=Department.objects.none(),
        required=False,
        help_text=_("Records owned by people in these departments and below."),
    )
    require_2fa = forms.BooleanField(label=_("Require two-factor authentication"), required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_queryset("scope_departments", departments_for(user))
        self.fields["scope_departments"].widget.attrs["size"] = 8
        self.style_fields()

    def field_rule_rows(self) -> list[dict[str, Any]]:
        """Rows of the field-permission table: one per protectable field, one cell per rule."""
        from crm.core import fieldaccess

        rows = []
        for item in fieldaccess.PROTECTABLE:
            name = field_rule_name(item.key)
            if self.is_bound:
                current = self.data.get(name) or fieldaccess.VISIBLE
            else:
                current = (self.initial.get("field_rules") or {}).get(item.key, fieldaccess.VISIBLE)
            allowed = fieldaccess.KIND_RULES[item.kind]
            rows.append(
                {
                    "key": item.key,
                    "name": name,
                    "label": item.label,
                    "cells": [
                        {
                            "value": r,
                            "label": label,
                            "allowed": r in allowed,
                            "checked": r == current,
                        }
                        for r, label in fieldaccess.RULES
                    ],
                }
            )
        return rows

    def field_rules(self) -> dict[str, str]:
        """The posted field rules, ``{key: rule}`` (validated by the service)."""
        from crm.core import fieldaccess

        data: Any = self.data
        out: dict[str, str] = {}
        for item in fieldaccess.PROTECTABLE:
            value = data.get(field_rule_name(item.key)) or fieldaccess.VISIBLE
            if value != fieldaccess.VISIBLE:
                out[item.key] = str(value)[:20]
        return out

    def selected_permissions(self) -> set[str]:
        """The ticked ``module:action`` values to show in the matrix (bound or initial)."""
        if self.is_bound:
            data: Any = self.data
            return {p for p in data.getlist("perm") if p in ALL_PERMISSIONS}
        return set(self.initial.get("perm") or [])

    def selected_scope(self) -> str:
        """The chosen data scope, always one of DataScope's values (safe for Alpine)."""
        value = self.data.get("data_scope") if self.is_bound else self.initial.get("data_scope")
        return value if value in DataScope.values else DataScope.SELF


class RoleCopyForm(TablerFormMixin, forms.Form):
    name = forms.CharField(label=_("Name of the new role"), max_length=100)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style_fields()
