"""Organisation-settings pages for org admins: organisation, departments, users, roles (R1.2,
R1.3, R1.5).

Every view needs login and ``settings:configure``; records are fetched with
``get_scoped_or_404`` (another organisation's ids answer 404). Views parse input, call one
service of ``crm.org.services`` and render or redirect with a flash message; a service's
``ValidationFailed`` is shown on the form.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm.core import fieldaccess
from crm.core.errors import DomainError
from crm.core.forms import apply_domain_error, raise_unless_form_error
from crm.core.registry import transfer_labels
from crm.core.scoping import DataScope, get_scoped_or_404
from crm.core.views import history_context, require_perm

from . import services
from .models import Department, Role, User
from .permissions import ACTIONS, MODULES
from .settings_forms import (
    SCOPE_HELP,
    SCOPE_LABELS,
    DeactivateUserForm,
    DepartmentForm,
    DepartmentMoveForm,
    OrganizationForm,
    RoleCopyForm,
    RoleForm,
    UserFilterForm,
    UserForm,
)

SETTINGS = gettext_lazy("Settings")
DEPARTMENTS = gettext_lazy("Departments")
USERS = gettext_lazy("Users")
ROLES = gettext_lazy("Roles and data scopes")


def _admin(request: HttpRequest) -> User:
    """The request's user, once they are known to hold ``settings:configure`` (else 403)."""
    require_perm(request, "settings", "configure")
    return request.user  # type: ignore[return-value]


# --- Organisation --------------------------------------------------------------------------------
@login_required
def organization(request: HttpRequest) -> HttpResponse:
    """View and edit the organisation's name and time zone."""
    actor = _admin(request)
    org = actor.org
    assert org is not None
    if request.method == "POST":
        form = OrganizationForm(request.POST)
        if form.is_valid():
            try:
                services.update_organization(
                    actor=actor,
                    org=org,
                    name=form.cleaned_data["name"],
                    time_zone=form.cleaned_data["time_zone"],
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(request, _("The organisation's settings were saved."))
                return redirect("org:organization")
    else:
        form = OrganizationForm(initial={"name": org.name, "time_zone": org.time_zone})
    return render(
        request,
        "org/settings/organization.html",
        {
            "form": form,
            "org": org,
            "crumbs": [(SETTINGS, None), (_("Organisation"), None)],
        },
    )


# --- Departments ---------------------------------------------------------------------------------
def _department_crumbs(*extra: tuple[Any, str | None]) -> list[tuple[Any, str | None]]:
    return [(SETTINGS, None), (DEPARTMENTS, reverse("org:department_list")), *extra]


@login_required
def department_list(request: HttpRequest) -> HttpResponse:
    """The department tree, indented by depth, with head, member count and status."""
    actor = _admin(request)
    departments = (
        Department.objects.visible_to(actor)
        .select_related("head")
        .annotate(member_count=Count("members", filter=Q(members__is_active=True)))
        .order_by("path")
    )
    return render(
        request,
        "org/settings/department_list.html",
        {
            "departments": departments,
            "crumbs": [(SETTINGS, None), (DEPARTMENTS, None)],
        },
    )


@login_required
def department_create(request: HttpRequest) -> HttpResponse:
    """Add a department under a chosen parent, optionally with a head."""
    actor = _admin(request)
    if request.method == "POST":
        form = DepartmentForm(request.POST, user=actor)
        if form.is_valid():
            data = form.cleaned_data
            try:
                dept = services.create_department(
                    actor=actor, name=data["name"], parent=data["parent"], head=data["head"]
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request, _("Department “%(name)s” was created.") % {"name": dept.name}
                )
                return redirect("org:department_list")
    else:
        parent = request.GET.get("parent")
        form = DepartmentForm(user=actor, initial={"parent": parent} if parent else None)
    return render(
        request,
        "org/settings/department_form.html",
        {
            "form": form,
            "department": None,
            "crumbs": _department_crumbs((_("New department"), None)),
        },
    )


@login_required
def department_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A department's facts, its members and its history."""
    actor = _admin(request)
    dept = get_scoped_or_404(
        Department.objects.visible_to(actor).select_related("head", "parent"), actor, pk
    )
    members = (
        User.objects.visible_to(actor)
        .filter(department=dept)
        .select_related("manager")
        .prefetch_related("roles")
        .order_by("-is_active", "name")
    )
    children = Department.objects.visible_to(actor).filter(parent=dept).order_by("name")
    return render(
        request,
        "org/settings/department_detail.html",
        {
            "department": dept,
            "members": members,
            "children": children,
            **history_context(dept),
            "crumbs": _department_crumbs((dept.name, None)),
        },
    )


@login_required
def department_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename a department, set its head, or disable/enable it."""
    actor = _admin(request)
    dept = get_scoped_or_404(Department, actor, pk, "edit")
    if request.method == "POST":
        form = DepartmentForm(request.POST, user=actor, with_parent=False, with_status=True)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.update_department(
                    actor=actor,
                    department=dept,
                    name=data["name"],
                    head=data["head"],
                    is_active=data["is_active"],
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request, _("Department “%(name)s” was saved.") % {"name": dept.name}
                )
                return redirect("org:department_detail", pk=dept.pk)
    else:
        form = DepartmentForm(
            user=actor,
            with_parent=False,
            with_status=True,
            initial={"name": dept.name, "head": dept.head_id, "is_active": dept.is_active},
        )
    return render(
        request,
        "org/settings/department_form.html",
        {
            "form": form,
            "department": dept,
            "crumbs": _department_crumbs(
                (dept.name, reverse("org:department_detail", args=[dept.pk])), (_("Edit"), None)
            ),
        },
    )


@login_required
def department_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a department and everything below it under a new parent."""
    actor = _admin(request)
    dept = get_scoped_or_404(Department, actor, pk, "edit")
    if request.method == "POST":
        form = DepartmentMoveForm(request.POST, user=actor)
        if form.is_valid():
            try:
                services.move_department(
                    actor=actor, department=dept, new_parent=form.cleaned_data["parent"]
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request, _("Department “%(name)s” was moved.") % {"name": dept.name}
                )
                return redirect("org:department_list")
    else:
        form = DepartmentMoveForm(user=actor, initial={"parent": dept.parent_id})
    return render(
        request,
        "org/settings/department_move.html",
        {
            "form": form,
            "department": dept,
            "crumbs": _department_crumbs(
                (dept.name, reverse("org:department_detail", args=[dept.pk])), (_("Move"), None)
            ),
        },
    )


# --- Users ---------------------------------------------------------------------------------------
def _user_crumbs(*extra: tuple[Any, str | None]) -> list[tuple[Any, str | None]]:
    return [(SETTINGS, None), (USERS, reverse("org:user_list")), *extra]


@login_required
def user_list(request: HttpRequest) -> HttpResponse:
    """Colleagues with a filter bar (text, department and below, role, status), sortable,
    50 a page."""
    actor = _admin(request)
    filters = UserFilterForm(request.GET or None, user=actor)
    qs = filters.filter(
        User.objects.visible_to(actor).select_related("department").prefetch_related("roles")
    )
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    params = request.GET.copy()
    for key in ("sort", "page"):
        params.pop(key, None)
    current_sort = request.GET.get("sort") or "name"
    columns = []
    for key, label in (
        ("name", _("Name")),
        ("username", _("Username")),
        ("email", _("E-mail")),
        ("department", _("Department")),
        ("last_login", _("Last login")),
    ):
        next_sort = f"-{key}" if current_sort == key else key
        params["sort"] = next_sort
        columns.append(
            {
                "key": key,
                "label": label,
                "url": f"?{params.urlencode()}",
                "active": current_sort.lstrip("-") == key,
                "descending": current_sort.startswith("-"),
            }
        )
    return render(
        request,
        "org/settings/user_list.html",
        {
            "page": page,
            "filters": filters,
            "columns": columns,
            "crumbs": [(SETTINGS, None), (USERS, None)],
        },
    )


@login_required
def user_create(request: HttpRequest) -> HttpResponse:
    """Add a colleague; without a password they are e-mailed an invitation."""
    actor = _admin(request)
    if request.method == "POST":
        form = UserForm(request.POST, user=actor)
        if form.is_valid():
            data = form.cleaned_data
            try:
                user, invite_path = services.create_user(
                    actor=actor,
                    username=data["username"],
                    email=data["email"],
                    name=data["name"],
                    mobile=data["mobile"],
                    department=data["department"],
                    roles=list(data["roles"]),
                    manager=data["manager"],
                    password=data["password"] or None,
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(request, _("%(name)s was added.") % {"name": user.display_name})
                if invite_path:
                    messages.info(
                        request,
                        _(
                            "An invitation e-mail was sent to %(email)s with a "
                            "link to set a password."
                        )
                        % {"email": user.email},
                    )
                return redirect("org:user_detail", pk=user.pk)
    else:
        form = UserForm(user=actor)
    return render(
        request,
        "org/settings/user_form.html",
        {
            "form": form,
            "target": None,
            "crumbs": _user_crumbs((_("New user"), None)),
        },
    )


@login_required
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A colleague's details, roles and history."""
    actor = _admin(request)
    target = get_scoped_or_404(
        User.objects.visible_to(actor).select_related("department", "manager"), actor, pk
    )
    return render(
        request,
        "org/settings/user_detail.html",
        {
            "target": target,
            "roles": target.roles.visible_to(actor).order_by("name"),
            **history_context(target),
            "crumbs": _user_crumbs((target.display_name, None)),
        },
    )


@login_required
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a colleague's details, department, roles and manager."""
    actor = _admin(request)
    target = get_scoped_or_404(User, actor, pk, "edit")
    if request.method == "POST":
        form = UserForm(request.POST, user=actor, creating=False, editing=target)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.update_user(
                    actor=actor,
                    user=target,
                    name=data["name"],
                    email=data["email"],
                    mobile=data["mobile"],
                    department=data["department"],
                    roles=list(data["roles"]),
                    manager=data["manager"],
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(request, _("%(name)s was saved.") % {"name": target.display_name})
                return redirect("org:user_detail", pk=target.pk)
    else:
        form = UserForm(
            user=actor,
            creating=False,
            editing=target,
            initial={
                "email": target.email,
                "name": target.name,
                "mobile": target.mobile,
                "department": target.department_id,
                "manager": target.manager_id,
                "roles": list(target.roles.visible_to(actor).values_list("pk", flat=True)),
            },
        )
    return render(
        request,
        "org/settings/user_form.html",
        {
            "form": form,
            "target": target,
            "crumbs": _user_crumbs(
                (target.display_name, reverse("org:user_detail", args=[target.pk])),
                (_("Edit"), None),
            ),
        },
    )


@login_required
def user_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm deactivating a colleague and choose who takes over their records."""
    actor = _admin(request)
    target = get_scoped_or_404(User, actor, pk, "edit")
    if request.method == "POST":
        form = DeactivateUserForm(request.POST, user=actor, target=target)
        if form.is_valid():
            transfer_to = form.cleaned_data["transfer_to"]
            try:
                moved = services.deactivate_user(actor=actor, user=target, transfer_to=transfer_to)
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                counts = (
                    _(", ").join(
                        _("%(records)s: %(count)d")
                        % {"records": transfer_labels.get(k, k), "count": n}
                        for k, n in moved.items()
                        if n
                    )
                    or "0"
                )
                messages.success(
                    request,
                    _("%(name)s was deactivated. Records moved to %(to)s: %(counts)s.")
                    % {
                        "name": target.display_name,
                        "to": transfer_to.display_name,
                        "counts": counts,
                    },
                )
                return redirect("org:user_detail", pk=target.pk)
    else:
        form = DeactivateUserForm(user=actor, target=target)
    return render(
        request,
        "org/settings/user_deactivate.html",
        {
            "form": form,
            "target": target,
            "crumbs": _user_crumbs(
                (target.display_name, reverse("org:user_detail", args=[target.pk])),
                (_("Deactivate"), None),
            ),
        },
    )


@login_required
@require_POST
def user_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """Let a deactivated colleague log in again."""
    actor = _admin(request)
    target = get_scoped_or_404(User, actor, pk, "edit")
    try:
        services.reactivate_user(actor=actor, user=target)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("%(name)s can log in again.") % {"name": target.display_name})
    return redirect("org:user_detail", pk=target.pk)


# --- Roles ---------------------------------------------------------------------------------------
def _role_crumbs(*extra: tuple[Any, str | None]) -> list[tuple[Any, str | None]]:
    return [(SETTINGS, None), (ROLES, reverse("org:role_list")), *extra]


def _matrix(selected: set[str]) -> list[dict[str, Any]]:
    """Rows of the permission matrix: one per module, one cell per action."""
    return [
        {
            "key": module,
            "label": label,
            "cells": [
                {
                    "value": f"{module}:{action}",
                    "label": action_label,
                    "checked": f"{module}:{action}" in selected,
                }
                for action, action_label in ACTIONS
            ],
        }
        for module, label in MODULES
    ]


def _field_rule_summary(role: Role) -> list[tuple[Any, Any]]:
    """(field, rule label) of the fields the role restricts, for the role page."""
    labels = dict(fieldaccess.RULES)
    rules = role.field_rules or {}
    return [
        (item.label, labels[rules[item.key]])
        for item in fieldaccess.PROTECTABLE
        if rules.get(item.key) in labels and rules[item.key] != fieldaccess.VISIBLE
    ]


def _role_form_page(request: HttpRequest, form: RoleForm, role: Role | None) -> HttpResponse:
    crumbs = (
        _role_crumbs((role.name, reverse("org:role_detail", args=[role.pk])), (_("Edit"), None))
        if role
        else _role_crumbs((_("New role"), None))
    )
    return render(
        request,
        "org/settings/role_form.html",
        {
            "form": form,
            "role": role,
            "actions": ACTIONS,
            "matrix": _matrix(form.selected_permissions()),
            "field_rule_rows": form.field_rule_rows(),
            "field_rule_labels": fieldaccess.RULES,
            "scope": form.selected_scope(),
            "custom": DataScope.CUSTOM,
            "crumbs": crumbs,
            "scope_choices": [(v, SCOPE_LABELS[v], SCOPE_HELP[v]) for v in DataScope.values],
        },
    )


def _save_role(request: HttpRequest, actor: User, role: Role | None) -> HttpResponse:
    form = RoleForm(request.POST, user=actor)
    if form.is_valid():
        data = form.cleaned_data
        try:
            saved = services.save_role(
                actor=actor,
                role=role,
                name=data["name"],
                description=data["description"],
                permissions=list(data["perm"]),
                data_scope=data["data_scope"],
                scope_departments=list(data["scope_departments"]),
                require_2fa=data["require_2fa"],
                field_rules=form.field_rules(),
            )
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc, {"permissions": "perm"})
        else:
            messages.success(request, _("Role “%(name)s” was saved.") % {"name": saved.name})
            return redirect("org:role_detail", pk=saved.pk)
    return _role_form_page(request, form, role)


@login_required
def role_list(request: HttpRequest) -> HttpResponse:
    """Roles with their data scope, built-in badge and number of active users."""
    actor = _admin(request)
    roles = (
        Role.objects.visible_to(actor)
        .annotate(user_count=Count("users", filter=Q(users__is_active=True)))
        .order_by("-is_builtin", "name")
    )
    rows = [(role, SCOPE_LABELS.get(role.data_scope, role.data_scope)) for role in roles]
    return render(
        request,
        "org/settings/role_list.html",
        {
            "rows": rows,
            "crumbs": [(SETTINGS, None), (ROLES, None)],
        },
    )


@login_required
def role_create(request: HttpRequest) -> HttpResponse:
    """Create a role: permission matrix, data scope and 2FA requirement."""
    actor = _admin(request)
    if request.method == "POST":
        return _save_role(request, actor, None)
    return _role_form_page(request, RoleForm(user=actor), None)


@login_required
def role_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a role (built-in roles too; they stay built-in)."""
    actor = _admin(request)
    role = get_scoped_or_404(Role, actor, pk, "edit")
    if request.method == "POST":
        return _save_role(request, actor, role)
    form = RoleForm(
        user=actor,
        initial={
            "name": role.name,
            "description": role.description,
            "perm": list(role.permissions),
            "data_scope": role.data_scope,
            "require_2fa": role.require_2fa,
            "field_rules": dict(role.field_rules or {}),
            "scope_departments": list(role.scope_departments.values_list("pk", flat=True)),
        },
    )
    return _role_form_page(request, form, role)


@login_required
def role_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A role's permissions, data scope, people and history."""
    actor = _admin(request)
    role = get_scoped_or_404(Role, actor, pk)
    return render(
        request,
        "org/settings/role_detail.html",
        {
            "role": role,
            "actions": ACTIONS,
            "matrix": _matrix(set(role.permissions)),
            "field_rule_rows": _field_rule_summary(role),
            "scope_label": SCOPE_LABELS.get(role.data_scope, role.data_scope),
            "departments": role.scope_departments.visible_to(actor).order_by("path"),
            "members": role.users.visible_to(actor)
            .select_related("department")
            .order_by("-is_active", "name")[:200],
            **history_context(role),
            "crumbs": _role_crumbs((role.name, None)),
        },
    )


@login_required
def role_copy(request: HttpRequest, pk: int) -> HttpResponse:
    """Copy a role under a new name (GET shows a small form, POST copies)."""
    actor = _admin(request)
    role = get_scoped_or_404(Role, actor, pk)
    if request.method == "POST":
        form = RoleCopyForm(request.POST)
        if form.is_valid():
            try:
                copy = services.copy_role(actor=actor, role=role, name=form.cleaned_data["name"])
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                messages.success(
                    request, _("Role “%(name)s” was created as a copy.") % {"name": copy.name}
                )
                return redirect("org:role_edit", pk=copy.pk)
    else:
        form = RoleCopyForm(initial={"name": _("Copy of %(name)s") % {"name": role.name}})
    return render(
        request,
        "org/settings/role_copy.html",
        {
            "form": form,
            "role": role,
            "crumbs": _role_crumbs(
                (role.name, reverse("org:role_detail", args=[role.pk])), (_("Copy"), None)
            ),
        },
    )


@login_required
@require_POST
def role_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a role that is not built in and no active user holds."""
    actor = _admin(request)
    role = get_scoped_or_404(Role, actor, pk, "delete")
    name = role.name
    try:
        services.delete_role(actor=actor, role=role)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, str(exc.message))
        return redirect("org:role_detail", pk=role.pk)
    messages.success(request, _("Role “%(name)s” was deleted.") % {"name": name})
    return redirect("org:role_list")
