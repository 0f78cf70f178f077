"""/api/v1/custom-fields/: the organisation's custom field definitions (issue 7, R10.5).

Every member reads the definitions (``GET``: forms and API clients need them to fill in the
``custom`` member of customers, contacts, leads and opportunities); administrators
(``settings:configure``) create, change, retire, restore and reorder them.
"""

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from . import custom_fields as cf
from .custom_field_models import CustomField
from .errors import PermissionDenied

router = Router()

Target = Literal["customer", "contact", "lead", "opportunity"]
Kind = Literal["text", "long_text", "number", "money", "date", "choice", "multi_choice", "user"]


class CustomFieldRead(Schema):
    id: int
    target: str = Field(description="customer, contact, lead or opportunity")
    key: str = Field(description="The key of the value in the records' `custom` object")
    label: str
    kind: str = Field(
        description="text, long_text, number, money, date, choice, multi_choice or user"
    )
    choices: list[str]
    required: bool
    default: Any = Field(None, description="Applied when a record is created without a value")
    help_text: str
    sort_order: int
    show_in_list: bool
    is_active: bool = Field(description="False: retired (values are kept, forms hide it)")
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomFieldCreate(Schema):
    target: Target
    key: str = Field(
        max_length=40, description="a-z, digits and _; starts with a letter; never changes"
    )
    label: str = Field(max_length=60)
    kind: Kind
    choices: list[str] = Field([], max_length=100, description="For choice and multi_choice")
    required: bool = False
    default: Any = Field(None, description="A value of the field's kind")
    help_text: str = Field("", max_length=200)
    sort_order: int | None = Field(
        None, ge=0, le=1_000_000, description="Default: after the others"
    )
    show_in_list: bool = False


class CustomFieldUpdate(Schema):
    """Only the members sent change. Key, target and kind never change."""

    label: str | None = Field(None, max_length=60)
    choices: list[str] | None = Field(None, max_length=100)
    required: bool | None = None
    default: Any = Field(None, description="Send null to remove the default")
    help_text: str | None = Field(None, max_length=200)
    sort_order: int | None = Field(None, ge=0, le=1_000_000)
    show_in_list: bool | None = None


class ReorderIn(Schema):
    target: Target
    keys: list[str] = Field(max_length=100, description="The keys in their new order")


class CustomFieldFilter(Schema):
    target: Target | None = None
    include_retired: bool = Field(False, description="Also the retired fields")


def _require_admin(request: HttpRequest) -> None:
    if not request.user.can("settings", "configure"):  # type: ignore[union-attr]
        raise PermissionDenied()


def _none_to_missing(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """Members sent as null that mean "leave alone" (everything but the default)."""
    return {k: v for k, v in data.items() if not (v is None and k in keys)}


@router.get(
    "",
    response=list[CustomFieldRead],
    summary="The organisation's custom fields (any member)",
)
def list_custom_fields(request: HttpRequest, filters: Query[CustomFieldFilter]) -> Any:
    rows = cf.list_fields(request.user)
    if filters.target:
        rows = [f for f in rows if f.target == filters.target]
    if not filters.include_retired:
        rows = [f for f in rows if f.is_active]
    return rows


@router.post("", response={201: CustomFieldRead}, summary="Define a custom field (admins)")
def create_custom_field(request: HttpRequest, payload: CustomFieldCreate) -> Any:
    _require_admin(request)
    data = payload.dict()
    if data.get("default") is None:
        data.pop("default", None)
    return Status(201, cf.create_field(actor=request.user, data=data))


@router.post("/reorder", response=list[CustomFieldRead], summary="Reorder a record kind's fields")
def reorder_custom_fields(request: HttpRequest, payload: ReorderIn) -> Any:
    _require_admin(request)
    return cf.reorder(actor=request.user, target=payload.target, keys=payload.keys)


@router.get("/{field_id}", response=CustomFieldRead, summary="A custom field (admins)")
def get_custom_field(request: HttpRequest, field_id: int) -> Any:
    _require_admin(request)
    return cf.get_field(request.user, field_id)


@router.patch("/{field_id}", response=CustomFieldRead, summary="Change a custom field (admins)")
def update_custom_field(request: HttpRequest, field_id: int, payload: CustomFieldUpdate) -> Any:
    _require_admin(request)
    field: CustomField = cf.get_field(request.user, field_id)
    data = _none_to_missing(
        payload.dict(exclude_unset=True),
        ("label", "choices", "required", "help_text", "sort_order", "show_in_list"),
    )
    return cf.update_field(actor=request.user, field=field, data=data)


@router.post(
    "/{field_id}/retire",
    response=CustomFieldRead,
    summary="Retire a custom field (values are kept; forms and lists hide it)",
)
def retire_custom_field(request: HttpRequest, field_id: int) -> Any:
    _require_admin(request)
    field = cf.get_field(request.user, field_id)
    return cf.set_active(actor=request.user, field=field, active=False)


@router.post("/{field_id}/restore", response=CustomFieldRead, summary="Restore a retired field")
def restore_custom_field(request: HttpRequest, field_id: int) -> Any:
    _require_admin(request)
    field = cf.get_field(request.user, field_id)
    return cf.set_active(actor=request.user, field=field, active=True)
