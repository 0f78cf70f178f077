"""Every write of the org app: sign-up, departments, users, roles, tokens, passwords, 2FA.

Services take ``actor`` first, check the action, write in one transaction and record an event.
"""

from __future__ import annotations

import secrets
from typing import Any

import pyotp
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from crm.core.registry import org_initializers, ownership_transfers

from .models import ApiToken, Department, Organization, Role, User, hash_token
from .permissions import ALL_PERMISSIONS, BUILTIN_ROLES, BuiltinRole


def require(actor: User, module: str, action: str) -> None:
    """Raise PermissionDenied unless a role of ``actor`` grants ``module:action``."""
    if not actor.can(module, action):
        raise PermissionDenied()


def require_admin(actor: User) -> None:
    require(actor, "settings", "configure")


def org_id_of(actor: User) -> int:
    """The actor's organisation id (every acting user belongs to one)."""
    if actor.org_id is None:
        raise PermissionDenied()
    return actor.org_id


def _same_org(actor: User, obj: Any) -> None:
    if obj is None or obj.org_id != actor.org_id:
        raise NotFound()


def validate_password_or_raise(password: str, user: User | None = None) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(field_errors={"password": list(exc.messages)}) from None


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def _check_login_unique(username: str, email: str, exclude_pk: int | None = None) -> None:
    errors: dict[str, list[str]] = {}
    others = User.objects.exclude(pk=exclude_pk) if exclude_pk else User.objects.all()
    if username and others.filter(username__iexact=username).exists():
        errors["username"] = [_("This username is already taken.")]
    if email and others.filter(email__iexact=email).exists():
        errors["email"] = [_("A user with this e-mail already exists.")]
    if errors:
        raise ValidationFailed(field_errors=errors)


# --- Organisations ------------------------------------------------------------------------------
@transaction.atomic
def create_organization(
    *,
    name: str,
    admin_email: str,
    admin_password: str,
    admin_name: str = "",
    admin_username: str = "",
    time_zone: str | None = None,
    is_demo: bool = False,
) -> tuple[Organization, User]:
    """Sign a company up: the organisation, its root department, built-in roles and an admin.

    Raises ValidationFailed for a blank name, a taken e-mail/username or a weak password.
    """
    name = (name or "").strip()
    email = normalise_email(admin_email)
    username = (admin_username or email).strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Enter the organisation's name.")]
    if not email or "@" not in email:
        errors["admin_email"] = [_("Enter a valid e-mail address.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    _check_login_unique(username, email)
    candidate = User(username=username, email=email, name=admin_name)
    validate_password_or_raise(admin_password, candidate)

    org = Organization.objects.create(
        name=name, time_zone=time_zone or settings.TIME_ZONE, is_demo=is_demo
    )
    root = Department.objects.create(org=org, name=name)
    root.path = f"/{root.pk}/"
    root.save(update_fields=["path"])
    roles = install_builtin_roles(org)
    admin = User(
        org=org,
        username=username,
        email=email,
        name=admin_name or username,
        department=root,
        password_changed_at=timezone.now(),
    )
    admin.set_password(admin_password)
    admin.save()
    admin.roles.add(roles[BuiltinRole.ADMIN])
    root.head = admin
    root.save(update_fields=["head"])
    for initialize in org_initializers:
        initialize(org, admin)
    audit.record(
        actor=admin, obj=org, verb="org.created", org_id=org.pk, changes={"name": [None, org.name]}
    )
    audit.record(
        actor=admin,
        obj=admin,
        verb="user.created",
        changes={"username": [None, admin.username], "email": [None, admin.email]},
    )
    return org, admin


def install_builtin_roles(org: Organization) -> dict[str, Role]:
    """Create the built-in roles of ``org`` that it does not have yet.

    Names and descriptions are written in the deployment's default language (CRM_LANGUAGE);
    they are ordinary data afterwards, which the organisation may rename. Existing roles are
    never overwritten, so an admin's edits survive.
    """
    result: dict[str, Role] = {}
    with translation.override(settings.LANGUAGE_CODE):
        for code, (name, description, scope, perms) in BUILTIN_ROLES.items():
            role, _created = Role.objects.get_or_create(
                org=org,
                code=code,
                is_builtin=True,
                defaults={
                    "name": str(name),
                    "description": str(description),
                    "data_scope": scope,
                    "permissions": sorted(perms),
                },
            )
            result[code] = role
    return result


@transaction.atomic
def update_organization(
    *, actor: User, org: Organization, name: str | None = None, time_zone: str | None = None
) -> Organization:
    require_admin(actor)
    if org.pk != actor.org_id:
        raise NotFound()
    before = audit.snapshot(org)
    if name is not None:
        if not name.strip():
            raise ValidationFailed(field_errors={"name": [_("Enter the organisation's name.")]})
        org.name = name.strip()
    if time_zone is not None:
        import zoneinfo

        if time_zone not in zoneinfo.available_timezones():
            raise ValidationFailed(field_errors={"time_zone": [_("Unknown time zone.")]})
        org.time_zone = time_zone
    org.save()
    audit.record(
        actor=actor,
        obj=org,
        verb="org.updated",
        org_id=org.pk,
        changes=audit.diff(before, audit.snapshot(org)),
    )
    return org


# --- Departments --------------------------------------------------------------------------------
@transaction.atomic
def create_department(
    *, actor: User, name: str, parent: Department | None = None, head: User | None = None
) -> Department:
    """Add a department under ``parent`` (the root when omitted)."""
    require_admin(actor)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(field_errors={"name": [_("Enter a name.")]})
    if parent is None:
        parent = Department.objects.filter(org_id=actor.org_id, parent=None).order_by("pk").first()
    if parent is not None:
        _same_org(actor, parent)
    if head is not None:
        _same_org(actor, head)
    if Department.objects.filter(org_id=actor.org_id, parent=parent, name=name).exists():
        raise ValidationFailed(
            field_errors={"name": [_("A department with this name already exists here.")]}
        )
    dept = Department.objects.create(org_id=org_id_of(actor), name=name, parent=parent, head=head)
    dept.path = f"{parent.path if parent else '/'}{dept.pk}/"
    dept.save(update_fields=["path"])
    audit.record_created(actor=actor, obj=dept, verb="department.created")
    return dept


@transaction.atomic
def update_department(
    *,
    actor: User,
    department: Department,
    name: str | None = None,
    head: User | Any | None = ...,
    is_active: bool | None = None,
) -> Department:
    """Rename, set the head, or disable/enable a department.

    A department cannot be disabled while active users or active sub-departments remain in it.
    """
    require_admin(actor)
    _same_org(actor, department)
    before = audit.snapshot(department)
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationFailed(field_errors={"name": [_("Enter a name.")]})
        clash = Department.objects.filter(
            org_id=actor.org_id, parent=department.parent_id, name=name
        ).exclude(pk=department.pk)
        if clash.exists():
            raise ValidationFailed(
                field_errors={"name": [_("A department with this name already exists here.")]}
            )
        department.name = name
    if head is not ...:
        if head is not None:
            _same_org(actor, head)
        department.head = head
    if is_active is not None and is_active != department.is_active:
        if not is_active:
            if department.parent_id is None:
                raise ValidationFailed(_("The top department cannot be disabled."))
            if User.objects.filter(department=department, is_active=True).exists():
                raise ValidationFailed(_("Move or deactivate the department's active users first."))
            if Department.objects.filter(parent=department, is_active=True).exists():
                raise ValidationFailed(_("Disable or move its sub-departments first."))
        department.is_active = is_active
    department.save()
    audit.record(
        actor=actor,
        obj=department,
        verb="department.updated",
        changes=audit.diff(before, audit.snapshot(department)),
    )
    return department


@transaction.atomic
def move_department(*, actor: User, department: Department, new_parent: Department) -> Department:
    """Move a department (and everything below it) under ``new_parent``.

    The subtree's paths are rewritten with one set-based UPDATE.
    """
    require_admin(actor)
    _same_org(actor, department)
    _same_org(actor, new_parent)
    if department.parent_id is None:
        raise ValidationFailed(_("The top department cannot be moved."))
    if new_parent.path.startswith(department.path):
        raise ValidationFailed(
            field_errors={
                "parent": [
                    _("A department cannot be moved under itself or its own sub-department.")
                ]
            }
        )
    if (
        Department.objects.filter(org_id=actor.org_id, parent=new_parent, name=department.name)
        .exclude(pk=department.pk)
        .exists()
    ):
        raise ValidationFailed(
            field_errors={"parent": [_("A department with this name already exists there.")]}
        )
    old_path = department.path
    new_path = f"{new_parent.path}{department.pk}/"
    old_parent = department.parent_id
    Department.objects.filter(org_id=actor.org_id, path__startswith=old_path).update(
        path=Concat(Value(new_path), Substr("path", len(old_path) + 1))
    )
    Department.objects.filter(pk=department.pk).update(parent=new_parent)
    department.refresh_from_db()
    audit.record(
        actor=actor,
        obj=department,
        verb="department.moved",
        changes={"parent": [old_parent, new_parent.pk], "path": [old_path, new_path]},
    )
    return department


# --- Users --------------------------------------------------------------------------------------
def _roles_of_org(actor: User, roles: list[Role] | None) -> list[Role]:
    roles = roles or []
    for role in roles:
        _same_org(actor, role)
    return roles


@transaction.atomic
def create_user(
    *,
    actor: User,
    username: str,
    email: str,
    name: str,
    department: Department,
    roles: list[Role],
    password: str | None = None,
    mobile: str = "",
    manager: User | None = None,
) -> tuple[User, str | None]:
    """Create a colleague. Without ``password`` an invitation link is e-mailed.

    Returns the user and, when invited, the one-time set-password URL path.
    """
    require_admin(actor)
    _same_org(actor, department)
    email = normalise_email(email)
    username = (username or email).strip()
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = [_("Enter a username.")]
    if not email or "@" not in email:
        errors["email"] = [_("Enter a valid e-mail address.")]
    if not (name or "").strip():
        errors["name"] = [_("Enter the person's name.")]
    if not department.is_active:
        errors["department"] = [_("This department is disabled.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    _check_login_unique(username, email)
    roles = _roles_of_org(actor, roles)
    if manager is not None:
        _same_org(actor, manager)
    user = User(
        org_id=actor.org_id,
        username=username,
        email=email,
        name=name.strip(),
        department=department,
        mobile=mobile.strip(),
        manager=manager,
    )
    if password:
        validate_password_or_raise(password, user)
        user.set_password(password)
        user.password_changed_at = timezone.now()
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise Conflict(_("A user with this username or e-mail already exists.")) from None
    user.roles.set(roles)
    audit.record(
        actor=actor,
        obj=user,
        verb="user.created",
        changes=audit.diff({}, {**audit.snapshot(user), "roles": [r.pk for r in roles]}),
    )
    invite_path = None
    if not password:
        from .auth import send_invitation

        invite_path = send_invitation(user)
    return user, invite_path


@transaction.atomic
def update_user(
    *,
    actor: User,
    user: User,
    name: str | None = None,
    email: str | None = None,
    mobile: str | None = None,
    department: Department | None = None,
    roles: list[Role] | None = None,
    manager: User | Any | None = ...,
) -> User:
    """Edit a colleague's details, department, roles or manager."""
    require_admin(actor)
    _same_org(actor, user)
    before = {**audit.snapshot(user), "roles": sorted(user.roles.values_list("pk", flat=True))}
    if name is not None:
        if not name.strip():
            raise ValidationFailed(field_errors={"name": [_("Enter the person's name.")]})
        user.name = name.strip()
    if email is not None:
        email = normalise_email(email)
        if "@" not in email:
            raise ValidationFailed(field_errors={"email": [_("Enter a valid e-mail address.")]})
        _check_login_unique("", email, exclude_pk=user.pk)
        user.email = email
    if mobile is not None:
        user.mobile = mobile.strip()
    if department is not None:
        _same_org(actor, department)
        user.department = department
    if manager is not ...:
        if manager is not None:
            _same_org(actor, manager)
            if manager.pk == user.pk:
                raise ValidationFailed(
                    field_errors={"manager": [_("A person cannot be their own manager.")]}
                )
        user.manager = manager
    user.save()
    if roles is not None:
        roles = _roles_of_org(actor, roles)
        if user.pk == actor.pk and not any("settings:configure" in r.permissions for r in roles):
            raise ValidationFailed(
                field_errors={"roles": [_("You cannot remove your own administrator rights.")]}
            )
        user.roles.set(roles)
        user.forget_permissions()
    after = {**audit.snapshot(user), "roles": sorted(user.roles.values_list("pk", flat=True))}
    audit.record(actor=actor, obj=user, verb="user.updated", changes=audit.diff(before, after))
    return user


def end_sessions(user: User) -> int:
    """Delete every stored session of ``user`` (used on deactivation and password change)."""
    from django.contrib.auth import SESSION_KEY

    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get(SESSION_KEY)) == str(user.pk):
            session.delete()
            ended += 1
    return ended


@transaction.atomic
def deactivate_user(*, actor: User, user: User, transfer_to: User | None) -> dict[str, int]:
    """Deactivate a colleague: their records move to ``transfer_to`` in the same transaction,
    their sessions end and their API tokens are revoked at once.

    Returns the number of records moved per kind.
    """
    require_admin(actor)
    _same_org(actor, user)
    if user.pk == actor.pk:
        raise ValidationFailed(_("You cannot deactivate yourself."))
    if not user.is_active:
        raise ValidationFailed(_("This user is already deactivated."))
    if transfer_to is not None:
        _same_org(actor, transfer_to)
        if not transfer_to.is_active or transfer_to.pk == user.pk:
            raise ValidationFailed(
                field_errors={
                    "transfer_to": [_("Choose an active colleague to take over the records.")]
                }
            )
    moved: dict[str, int] = {}
    if transfer_to is not None:
        for label, fn in ownership_transfers:
            moved[label] = fn(actor=actor, from_user=user, to_user=transfer_to)
    elif ownership_transfers:
        raise ValidationFailed(
            field_errors={"transfer_to": [_("Choose a colleague to take over the records.")]}
        )
    now = timezone.now()
    User.objects.filter(pk=user.pk).update(is_active=False, deactivated_at=now)
    ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    Department.objects.filter(org_id=actor.org_id, head=user).update(head=None)
    user.refresh_from_db()
    audit.record(
        actor=actor,
        obj=user,
        verb="user.deactivated",
        changes={"is_active": [True, False]},
        data={"transfer_to": transfer_to.pk if transfer_to else None, "moved": moved},
    )
    transaction.on_commit(lambda: end_sessions(user))
    return moved


@transaction.atomic
def reactivate_user(*, actor: User, user: User) -> User:
    require_admin(actor)
    _same_org(actor, user)
    User.objects.filter(pk=user.pk).update(is_active=True, deactivated_at=None)
    user.refresh_from_db()
    audit.record(
        actor=actor, obj=user, verb="user.reactivated", changes={"is_active": [False, True]}
    )
    return user


# --- Roles --------------------------------------------------------------------------------------
def _clean_permissions(perms: list[str]) -> list[str]:
    unknown = [p for p in perms if p not in ALL_PERMISSIONS]
    if unknown:
        raise ValidationFailed(
            field_errors={
                "permissions": [_("Unknown permission: %(p)s") % {"p": ", ".join(unknown)}]
            }
        )
    return sorted(set(perms))


@transaction.atomic
def save_role(
    *,
    actor: User,
    role: Role | None = None,
    name: str,
    permissions: list[str],
    data_scope: str,
    scope_departments: list[Department] | None = None,
    description: str = "",
    require_2fa: bool = False,
    field_rules: dict[str, str] | None = None,
) -> Role:
    """Create or edit a role. Built-in roles can be edited too (they stay marked built-in).

    ``field_rules`` (field-level permissions, crm.core.fieldaccess): None leaves them as they are.
    """
    from crm.core.scoping import DataScope

    require_admin(actor)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(field_errors={"name": [_("Enter a name.")]})
    if data_scope not in DataScope.values:
        raise ValidationFailed(field_errors={"data_scope": [_("Choose a valid data scope.")]})
    perms = _clean_permissions(permissions)
    depts = scope_departments or []
    for d in depts:
        _same_org(actor, d)
    if data_scope == DataScope.CUSTOM and not depts:
        raise ValidationFailed(
            field_errors={"scope_departments": [_("Choose at least one department.")]}
        )
    clash = Role.objects.filter(org_id=actor.org_id, name=name)
    if role is not None:
        _same_org(actor, role)
        clash = clash.exclude(pk=role.pk)
        if role.code == BuiltinRole.ADMIN and "settings:configure" not in perms:
            raise ValidationFailed(
                field_errors={
                    "permissions": [_("The administrator role must keep the settings permission.")]
                }
            )
    if clash.exists():
        raise ValidationFailed(field_errors={"name": [_("A role with this name already exists.")]})
    before = audit.snapshot(role) if role else {}
    if role is not None:
        before["scope_departments"] = sorted(role.scope_departments.values_list("pk", flat=True))
    role = role or Role(org_id=org_id_of(actor))
    role.name, role.permissions, role.data_scope = name, perms, data_scope
    role.description, role.require_2fa = description, require_2fa
    if field_rules is not None:
        role.field_rules = _clean_field_rules(field_rules)
    role.save()
    role.scope_departments.set(depts if data_scope == DataScope.CUSTOM else [])
    after = {
        **audit.snapshot(role),
        "scope_departments": sorted(d.pk for d in role.scope_departments.all()),
    }
    audit.record(
        actor=actor,
        obj=role,
        verb="role.saved" if before else "role.created",
        changes=audit.diff(before, after),
    )
    return role


def _clean_field_rules(rules: dict[str, str]) -> dict[str, str]:
    """Validate field-level rules: known keys, rules their kind accepts (visible is dropped)."""
    from crm.core import fieldaccess

    errors = [
        str(key)
        for key, rule in rules.items()
        if key not in fieldaccess.BY_KEY
        or rule not in fieldaccess.KIND_RULES[fieldaccess.BY_KEY[key].kind]
    ]
    if errors:
        raise ValidationFailed(
            field_errors={
                "field_rules": [
                    _("Unknown field or rule: %(keys)s.") % {"keys": ", ".join(errors[:5])}
                ]
            }
        )
    return fieldaccess.clean_rules(rules)


@transaction.atomic
def copy_role(*, actor: User, role: Role, name: str) -> Role:
    """A new, editable role starting from ``role``'s permissions and scope."""
    require_admin(actor)
    _same_org(actor, role)
    return save_role(
        actor=actor,
        name=name,
        permissions=list(role.permissions),
        data_scope=role.data_scope,
        scope_departments=list(role.scope_departments.all()),
        description=role.description,
        require_2fa=role.require_2fa,
        field_rules=dict(role.field_rules or {}),
    )


@transaction.atomic
def delete_role(*, actor: User, role: Role) -> None:
    require_admin(actor)
    _same_org(actor, role)
    if role.is_builtin:
        raise ValidationFailed(_("Built-in roles cannot be deleted; copy and edit them instead."))
    if User.objects.filter(roles=role, is_active=True).exists():
        raise ValidationFailed(_("This role is still assigned to active users."))
    audit.record(actor=actor, obj=role, verb="role.deleted", changes={"name": [role.name, None]})
    role.delete()


# --- API tokens ---------------------------------------------------------------------------------
@transaction.atomic
def create_token(*, actor: User, name: str, expires_at: Any = None) -> tuple[ApiToken, str]:
    """Create a personal API token for ``actor``. Returns the token row and the raw token
    (shown once; only its hash is kept)."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(field_errors={"name": [_("Enter a name for the token.")]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed(
            field_errors={"expires_at": [_("The expiry must be in the future.")]}
        )
    raw = settings.CRM_API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        org_id=org_id_of(actor),
        user=actor,
        name=name[:100],
        prefix=raw[:12],
        key_hash=hash_token(raw),
        expires_at=expires_at,
    )
    audit.record(actor=actor, obj=token, verb="token.created", changes={"name": [None, token.name]})
    return token, raw


@transaction.atomic
def revoke_token(*, actor: User, token: ApiToken) -> ApiToken:
    if token.user_id != actor.pk and not actor.is_org_admin:
        raise NotFound()
    _same_org(actor, token)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            actor=actor,
            obj=token,
            verb="token.revoked",
            changes={"revoked_at": [None, token.revoked_at]},
        )
    return token


def user_for_token(raw: str) -> User | None:
    """The active user behind a raw bearer token, or None. Marks the token used."""
    if not raw or not raw.startswith(settings.CRM_API_TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user", "user__org", "user__department")
        .filter(key_hash=hash_token(raw))
        .first()
    )
    if token is None or not token.is_usable or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


# --- Passwords and two-factor -------------------------------------------------------------------
@transaction.atomic
def set_password(
    *, actor: User | None, user: User, new_password: str, verb: str = "user.password_set"
) -> None:
    """Set a new password (validated); every other session of the user ends."""
    validate_password_or_raise(new_password, user)
    user.set_password(new_password)
    user.password_changed_at = timezone.now()
    user.save(update_fields=["password", "password_changed_at"])
    audit.record(actor=actor or user, obj=user, verb=verb)


@transaction.atomic
def change_password(*, actor: User, old_password: str, new_password: str) -> None:
    if not actor.check_password(old_password):
        raise ValidationFailed(
            field_errors={"old_password": [_("Your current password is incorrect.")]}
        )
    set_password(actor=actor, user=actor, new_password=new_password, verb="user.password_changed")


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email or user.username, issuer_name="CRM")


def verify_totp(secret: str, code: str) -> bool:
    code = (code or "").strip().replace(" ", "")
    return bool(secret) and code.isdigit() and pyotp.TOTP(secret).verify(code, valid_window=1)


@transaction.atomic
def enable_totp(*, actor: User, secret: str, code: str) -> None:
    """Turn on two-factor login after the user proves the authenticator app works."""
    if not verify_totp(secret, code):
        raise ValidationFailed(
            field_errors={
                "code": [_("The code is not valid. Check the time on your phone and try again.")]
            }
        )
    actor.totp_secret, actor.totp_enabled = secret, True
    actor.save(update_fields=["totp_secret", "totp_enabled"])
    audit.record(
        actor=actor, obj=actor, verb="user.2fa_enabled", changes={"totp_enabled": [False, True]}
    )


@transaction.atomic
def disable_totp(*, actor: User, user: User, password: str | None = None) -> None:
    """Turn two-factor login off (the user with their password, or an admin for a colleague)."""
    if actor.pk == user.pk:
        if password is None or not actor.check_password(password):
            raise ValidationFailed(
                field_errors={"password": [_("Your current password is incorrect.")]}
            )
        if actor.requires_2fa():
            raise ValidationFailed(_("Your role requires two-factor authentication."))
    else:
        require_admin(actor)
        _same_org(actor, user)
    user.totp_secret, user.totp_enabled = "", False
    user.save(update_fields=["totp_secret", "totp_enabled"])
    audit.record(
        actor=actor, obj=user, verb="user.2fa_disabled", changes={"totp_enabled": [True, False]}
    )
