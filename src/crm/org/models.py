"""Organisations (tenants), departments, users, roles and API tokens."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import prefetch_related_objects
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.core.models import TenantModel
from crm.core.scoping import DataScope, ScopedQuerySet, ScopeFields


class Organization(models.Model):
    """A company using the CRM: the tenant every business row belongs to."""

    name = models.CharField(_("name"), max_length=200)
    time_zone = models.CharField(_("time zone"), max_length=64, default=settings.TIME_ZONE)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    is_demo = models.BooleanField(_("demo"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.name


class Department(TenantModel):
    """A node of the organisation's department tree.

    ``path`` is the materialised path of ids (``/1/4/9/``), so "this department and all below"
    is one indexed prefix filter on SQLite and PostgreSQL alike.
    """

    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("parent department"),
    )
    path = models.CharField(_("path"), max_length=500, db_index=True, editable=False, default="")
    head = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("head"),
    )
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "directory"

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["path"]
        indexes = [models.Index(fields=["org", "path"], name="dept_org_path_idx")]
        constraints = [
            models.UniqueConstraint(fields=["org", "parent", "name"], name="dept_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def depth(self) -> int:
        return max(self.path.count("/") - 2, 0)

    def ancestor_ids(self) -> list[int]:
        return [int(p) for p in self.path.strip("/").split("/") if p][:-1]


class CrmUserManager(UserManager.from_queryset(ScopedQuerySet)):  # type: ignore[misc]
    """User manager with the scoped ``visible_to`` (every colleague is in the directory)."""


class User(AbstractUser):
    """A person who logs in. Belongs to one organisation and one department; has roles."""

    org = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="users",
        verbose_name=_("organisation"),
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    mobile = models.CharField(_("mobile"), max_length=30, blank=True)
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
        verbose_name=_("department"),
    )
    roles: models.ManyToManyField[Role, Any] = models.ManyToManyField(
        "Role", blank=True, related_name="users", verbose_name=_("roles")
    )
    manager = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports",
        verbose_name=_("manager"),
    )
    totp_secret = models.CharField(max_length=64, blank=True, editable=False)
    totp_enabled = models.BooleanField(_("two-factor authentication"), default=False)
    password_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    deactivated_at = models.DateTimeField(_("deactivated at"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=10, blank=True)

    objects: ClassVar[CrmUserManager] = CrmUserManager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "directory"

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["name", "username"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"), condition=~models.Q(email=""), name="user_unique_email_ci"
            ),
        ]
        indexes = [models.Index(fields=["org", "department"], name="user_org_dept_idx")]

    def __str__(self) -> str:
        return self.name or self.username

    @property
    def display_name(self) -> str:
        return self.name or self.get_full_name() or self.username

    # --- permissions -------------------------------------------------------------------------
    def _roles(self) -> list[Role]:
        """The user's roles, read once per user object (request). Only roles of chosen
        departments (CUSTOM) read their departments: the other scopes never use them, and
        most people hold none of those (one query instead of two)."""
        cached = self.__dict__.get("_roles_cache")
        if cached is None:
            cached = list(self.roles.filter(org_id=self.org_id))
            custom = [r for r in cached if r.data_scope == DataScope.CUSTOM]
            if custom:
                prefetch_related_objects(custom, "scope_departments")
            self.__dict__["_roles_cache"] = cached
        return cached

    def role_grants(self, module: str, action: str) -> list[tuple[str, list[Department]]]:
        """(data scope, chosen departments) of every role that grants ``module:action``.

        The directory (users, departments) is readable by every active member.
        """
        if not self.is_active or self.org_id is None:
            return []
        if module == "directory" and action == "view":
            return [(DataScope.ALL, [])]
        if module == "directory":
            module, action = "settings", "configure"
        perm = f"{module}:{action}"
        return [
            (
                r.data_scope,
                list(r.scope_departments.all()) if r.data_scope == DataScope.CUSTOM else [],
            )
            for r in self._roles()
            if perm in r.permissions
        ]

    def can(self, module: str, action: str = "view") -> bool:
        """Does any role of the user grant ``module:action``?"""
        return bool(self.role_grants(module, action))

    @property
    def is_org_admin(self) -> bool:
        return self.can("settings", "configure")

    def requires_2fa(self) -> bool:
        return any(r.require_2fa for r in self._roles())

    def forget_permissions(self) -> None:
        self.__dict__.pop("_roles_cache", None)
        self.__dict__.pop("_scope_cache", None)
        self.__dict__.pop("_field_rules", None)


class Role(TenantModel):
    """Function permissions (module × action) and a data scope. Built-in roles are rows too."""

    name = models.CharField(_("name"), max_length=100)
    code = models.CharField(_("built-in code"), max_length=30, blank=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    permissions = models.JSONField(_("permissions"), default=list, blank=True)
    data_scope = models.CharField(
        _("data scope"), max_length=20, choices=DataScope.choices, default=DataScope.SELF
    )
    scope_departments = models.ManyToManyField(
        Department, blank=True, related_name="+", verbose_name=_("chosen departments")
    )
    require_2fa = models.BooleanField(_("require two-factor authentication"), default=False)
    #: field-level permissions: {"customers.Customer.phone": "masked", ...} (crm.core.fieldaccess)
    field_rules = models.JSONField(_("field rules"), default=dict, blank=True)
    is_builtin = models.BooleanField(_("built-in"), default=False)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "directory"

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        ordering = ["-is_builtin", "name"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="role_unique_name")]

    def __str__(self) -> str:
        return self.name


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(TenantModel):
    """A personal API token. Only its SHA-256 is stored; the token is shown once."""

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner="user", personal=True)
    scope_module: ClassVar[str] = "directory"

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def status_label(self) -> Any:
        if self.revoked_at:
            return _("revoked")
        if self.expires_at and self.expires_at <= timezone.now():
            return _("expired")
        return _("active")
