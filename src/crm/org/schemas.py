"""API schemas of the org app (XCreate / XUpdate / XRead / XBrief)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from ninja import Field, FilterSchema, Schema
from pydantic import StringConstraints

from crm.core.api import FilterId, RecordId


class DepartmentBrief(Schema):
    id: int
    name: str


class RoleBrief(Schema):
    id: int
    name: str
    code: str


class UserBrief(Schema):
    id: int
    username: str
    name: str


class OrganizationRead(Schema):
    id: int
    name: str
    time_zone: str
    currency: str


class OrganizationUpdate(Schema):
    name: str | None = Field(None, max_length=200)
    time_zone: str | None = Field(None, max_length=64)


class MeRead(Schema):
    id: int
    username: str
    name: str
    email: str
    language: str
    organization: OrganizationRead = Field(..., alias="org")
    department: DepartmentBrief | None
    roles: list[RoleBrief]
    permissions: list[str]
    totp_enabled: bool


class DepartmentRead(Schema):
    id: int
    name: str
    parent_id: int | None
    path: str
    head: UserBrief | None
    is_active: bool


class DepartmentCreate(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    parent_id: int | None = None
    head_id: int | None = None


class DepartmentUpdate(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    head_id: int | None = None
    is_active: bool | None = None


class DepartmentMove(Schema):
    parent_id: int


class UserRead(Schema):
    id: int
    username: str
    name: str
    email: str
    mobile: str
    department: DepartmentBrief | None
    manager: UserBrief | None
    roles: list[RoleBrief]
    is_active: bool
    totp_enabled: bool
    date_joined: datetime
    last_login: datetime | None


class UserCreate(Schema):
    username: str = Field("", max_length=150, description="Defaults to the e-mail")
    email: str = Field(..., max_length=254)
    name: str = Field(..., min_length=1, max_length=100)
    mobile: str = Field("", max_length=30)
    department_id: int
    role_ids: list[RecordId] = []
    manager_id: int | None = None
    password: str | None = Field(None, description="Leave out to e-mail an invitation link")


class UserUpdate(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    email: str | None = Field(None, max_length=254)
    mobile: str | None = Field(None, max_length=30)
    department_id: int | None = None
    role_ids: list[RecordId] | None = None
    manager_id: int | None = None


class UserDeactivate(Schema):
    transfer_to_id: int | None = Field(None, description="Colleague who takes over the records")


class DeactivateResult(Schema):
    user: UserRead
    moved: dict[str, int]


class UserFilter(FilterSchema):
    q: str | None = Field(None, description="Name, username or e-mail contains")
    department_id: FilterId | None = None
    role_id: FilterId | None = None
    is_active: bool | None = None


FieldRuleKey = Annotated[str, StringConstraints(max_length=100)]
FieldRuleValue = Annotated[str, StringConstraints(max_length=20)]


class RoleRead(Schema):
    id: int
    name: str
    code: str
    description: str
    permissions: list[str]
    data_scope: str
    scope_department_ids: list[RecordId]
    require_2fa: bool
    is_builtin: bool
    field_rules: dict[str, str] = Field(
        default_factory=dict, description="Field-level permissions (docs/security.md)"
    )

    @staticmethod
    def resolve_scope_department_ids(obj: object) -> list[int]:
        return [d.pk for d in obj.scope_departments.all()]  # type: ignore[attr-defined]


class RoleWrite(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    description: str = Field("", max_length=300)
    permissions: list[str] = []
    data_scope: str = "self"
    scope_department_ids: list[RecordId] = []
    require_2fa: bool = False
    field_rules: dict[FieldRuleKey, FieldRuleValue] | None = Field(
        None,
        max_length=50,
        description='{"customers.Customer.phone": "masked", ...}; omitted = unchanged',
    )


class RoleCopy(Schema):
    name: str = Field(..., min_length=1, max_length=100)


class TokenRead(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreate(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    expires_at: datetime | None = None


class TokenCreated(TokenRead):
    token: str = Field(..., description="The token itself; shown only once")


class PermissionVocabulary(Schema):
    modules: list[dict[str, str]]
    actions: list[dict[str, str]]
    data_scopes: list[dict[str, str]]
