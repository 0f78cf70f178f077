"""/api/v1/org/: the current user, organisation, departments, users, roles and API tokens."""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from crm.core.api import Paginated, apply_sort, scoped, scoped_get
from crm.core.errors import NotFound
from crm.core.scoping import DataScope

from . import services
from .models import ApiToken, Department, Role, User
from .permissions import ACTIONS, MODULES
from .schemas import (
    DeactivateResult,
    DepartmentCreate,
    DepartmentMove,
    DepartmentRead,
    DepartmentUpdate,
    MeRead,
    OrganizationRead,
    OrganizationUpdate,
    PermissionVocabulary,
    RoleCopy,
    RoleRead,
    RoleWrite,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserDeactivate,
    UserFilter,
    UserRead,
    UserUpdate,
)

router = Router()


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@router.get("/me", response=MeRead, summary="The current user")
def me(request: HttpRequest) -> Any:
    user = _me(request)
    perms = sorted({p for r in user._roles() for p in r.permissions})
    return {
        **{
            f: getattr(user, f)
            for f in (
                "id",
                "username",
                "name",
                "email",
                "language",
                "org",
                "department",
                "totp_enabled",
            )
        },
        "roles": user._roles(),
        "permissions": perms,
    }


@router.get("/organization", response=OrganizationRead, summary="The current organisation")
def organization(request: HttpRequest) -> Any:
    return _me(request).org


@router.patch("/organization", response=OrganizationRead, summary="Rename or change time zone")
def update_organization(request: HttpRequest, payload: OrganizationUpdate) -> Any:
    user = _me(request)
    return services.update_organization(
        actor=user,
        org=user.org,  # type: ignore[arg-type]
        **payload.dict(exclude_unset=True),
    )


@router.get(
    "/permissions", response=PermissionVocabulary, summary="Modules, actions and data scopes"
)
def permission_vocabulary(request: HttpRequest) -> Any:
    return {
        "modules": [{"key": k, "label": str(v)} for k, v in MODULES],
        "actions": [{"key": k, "label": str(v)} for k, v in ACTIONS],
        "data_scopes": [{"key": k, "label": str(v)} for k, v in DataScope.choices],
    }


# --- Departments ---------------------------------------------------------------------------------
def _dept(request: HttpRequest, pk: int | None) -> Department | None:
    return None if pk is None else scoped_get(request, Department, pk)


def _user(request: HttpRequest, pk: int | None) -> User | None:
    return None if pk is None else scoped_get(request, User, pk)


@router.get(
    "/departments", response=list[DepartmentRead], summary="The department tree, in path order"
)
def list_departments(request: HttpRequest, include_inactive: bool = False) -> Any:
    qs = scoped(request, Department).select_related("head").order_by("path")
    return qs if include_inactive else qs.filter(is_active=True)


@router.post("/departments", response={201: DepartmentRead}, summary="Add a department")
def create_department(request: HttpRequest, payload: DepartmentCreate) -> Any:
    department = services.create_department(
        actor=_me(request),
        name=payload.name,
        parent=_dept(request, payload.parent_id),
        head=_user(request, payload.head_id),
    )
    return Status(201, department)


@router.get("/departments/{dept_id}", response=DepartmentRead)
def get_department(request: HttpRequest, dept_id: int) -> Any:
    return scoped_get(request, Department, dept_id)


@router.patch(
    "/departments/{dept_id}", response=DepartmentRead, summary="Rename, set head, disable"
)
def update_department(request: HttpRequest, dept_id: int, payload: DepartmentUpdate) -> Any:
    data = payload.dict(exclude_unset=True)
    kwargs: dict[str, Any] = {}
    if "name" in data:
        kwargs["name"] = data["name"]
    if "head_id" in data:
        kwargs["head"] = _user(request, data["head_id"])
    if "is_active" in data:
        kwargs["is_active"] = data["is_active"]
    return services.update_department(
        actor=_me(request), department=scoped_get(request, Department, dept_id), **kwargs
    )


@router.post(
    "/departments/{dept_id}/move", response=DepartmentRead, summary="Move under another department"
)
def move_department(request: HttpRequest, dept_id: int, payload: DepartmentMove) -> Any:
    return services.move_department(
        actor=_me(request),
        department=scoped_get(request, Department, dept_id),
        new_parent=scoped_get(request, Department, payload.parent_id),
    )


# --- Users ---------------------------------------------------------------------------------------
USER_SORTS = {
    "name": "name",
    "username": "username",
    "email": "email",
    "joined": "date_joined",
    "last_login": "last_login",
    "department": "department__path",
}


@router.get("/users", response=list[UserRead], summary="Colleagues (filter, sort, paginate)")
@paginate(Paginated)
def list_users(request: HttpRequest, filters: Query[UserFilter], sort: str | None = None) -> Any:
    qs = scoped(request, User).select_related("department", "manager").prefetch_related("roles")
    if filters.q:
        from django.db.models import Q

        qs = qs.filter(
            Q(name__icontains=filters.q)
            | Q(username__icontains=filters.q)
            | Q(email__icontains=filters.q)
        )
    if filters.department_id is not None:
        qs = qs.filter(department_id=filters.department_id)
    if filters.role_id is not None:
        qs = qs.filter(roles__id=filters.role_id)
    if filters.is_active is not None:
        qs = qs.filter(is_active=filters.is_active)
    return apply_sort(qs, sort, USER_SORTS, ["name", "username"])


@router.get("/users/{user_id}", response=UserRead)
def get_user(request: HttpRequest, user_id: int) -> Any:
    return scoped_get(request, User, user_id)


def _roles(request: HttpRequest, ids: list[int]) -> list[Role]:
    roles = list(scoped(request, Role).filter(pk__in=ids))
    if len(roles) != len(set(ids)):
        raise NotFound()
    return roles


@router.post("/users", response={201: UserRead}, summary="Create a colleague (or invite by e-mail)")
def create_user(request: HttpRequest, payload: UserCreate) -> Any:
    dept = scoped_get(request, Department, payload.department_id)
    user, _invite = services.create_user(
        actor=_me(request),
        username=payload.username,
        email=payload.email,
        name=payload.name,
        mobile=payload.mobile,
        department=dept,
        roles=_roles(request, payload.role_ids),
        manager=_user(request, payload.manager_id),
        password=payload.password,
    )
    return Status(201, user)


@router.patch("/users/{user_id}", response=UserRead, summary="Edit a colleague")
def update_user(request: HttpRequest, user_id: int, payload: UserUpdate) -> Any:
    data = payload.dict(exclude_unset=True)
    kwargs: dict[str, Any] = {k: data[k] for k in ("name", "email", "mobile") if k in data}
    if data.get("department_id") is not None:
        kwargs["department"] = scoped_get(request, Department, data["department_id"])
    if "role_ids" in data and data["role_ids"] is not None:
        kwargs["roles"] = _roles(request, data["role_ids"])
    if "manager_id" in data:
        kwargs["manager"] = _user(request, data["manager_id"])
    return services.update_user(
        actor=_me(request), user=scoped_get(request, User, user_id), **kwargs
    )


@router.post(
    "/users/{user_id}/deactivate",
    response=DeactivateResult,
    summary="Deactivate; records move to a colleague, sessions and tokens end",
)
def deactivate_user(request: HttpRequest, user_id: int, payload: UserDeactivate) -> Any:
    target = scoped_get(request, User, user_id)
    moved = services.deactivate_user(
        actor=_me(request), user=target, transfer_to=_user(request, payload.transfer_to_id)
    )
    return {"user": target, "moved": moved}


@router.post("/users/{user_id}/reactivate", response=UserRead)
def reactivate_user(request: HttpRequest, user_id: int) -> Any:
    return services.reactivate_user(actor=_me(request), user=scoped_get(request, User, user_id))


# --- Roles ---------------------------------------------------------------------------------------
@router.get("/roles", response=list[RoleRead])
def list_roles(request: HttpRequest) -> Any:
    return scoped(request, Role).prefetch_related("scope_departments")


@router.get("/roles/{role_id}", response=RoleRead)
def get_role(request: HttpRequest, role_id: int) -> Any:
    return scoped_get(request, Role, role_id)


def _role_kwargs(request: HttpRequest, payload: RoleWrite) -> dict[str, Any]:
    depts = list(scoped(request, Department).filter(pk__in=payload.scope_department_ids))
    if len(depts) != len(set(payload.scope_department_ids)):
        raise NotFound()
    return {
        "name": payload.name,
        "description": payload.description,
        "permissions": payload.permissions,
        "data_scope": payload.data_scope,
        "scope_departments": depts,
        "require_2fa": payload.require_2fa,
        "field_rules": payload.field_rules,
    }


@router.post("/roles", response={201: RoleRead})
def create_role(request: HttpRequest, payload: RoleWrite) -> Any:
    return Status(201, services.save_role(actor=_me(request), **_role_kwargs(request, payload)))


@router.put("/roles/{role_id}", response=RoleRead)
def update_role(request: HttpRequest, role_id: int, payload: RoleWrite) -> Any:
    role = scoped_get(request, Role, role_id)
    return services.save_role(actor=_me(request), role=role, **_role_kwargs(request, payload))


@router.post("/roles/{role_id}/copy", response={201: RoleRead})
def copy_role(request: HttpRequest, role_id: int, payload: RoleCopy) -> Any:
    role = services.copy_role(
        actor=_me(request), role=scoped_get(request, Role, role_id), name=payload.name
    )
    return Status(201, role)


@router.delete("/roles/{role_id}", response={204: None})
def delete_role(request: HttpRequest, role_id: int) -> Any:
    services.delete_role(actor=_me(request), role=scoped_get(request, Role, role_id))
    return Status(204, None)


# --- API tokens ----------------------------------------------------------------------------------
@router.get("/tokens", response=list[TokenRead], summary="My API tokens")
def list_tokens(request: HttpRequest) -> Any:
    return scoped(request, ApiToken)


@router.post("/tokens", response={201: TokenCreated}, summary="Create an API token (shown once)")
def create_token(request: HttpRequest, payload: TokenCreate) -> Any:
    token, raw = services.create_token(
        actor=_me(request), name=payload.name, expires_at=payload.expires_at
    )
    token.token = raw  # type: ignore[attr-defined]
    return Status(201, token)


@router.post("/tokens/{token_id}/revoke", response=TokenRead, summary="Revoke one of my tokens")
def revoke_token(request: HttpRequest, token_id: int) -> Any:
    return services.revoke_token(actor=_me(request), token=scoped_get(request, ApiToken, token_id))
