"""API conventions shared by every router: authentication, errors, pagination, sorting.

Lists answer ``{"items": [...], "count": n, "page": p, "page_size": s}`` and accept
``?page=&page_size=`` (at most 200) and ``?sort=field,-other`` over the fields each endpoint allows.
Errors answer ``{"code": "...", "message": "...", "errors": [{"field": "...", "message": "..."}]}``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Schema
from ninja.pagination import PaginationBase
from ninja.schema import DjangoGetter
from ninja.security import APIKeyCookie, HttpBearer
from pydantic import AfterValidator, BeforeValidator, model_validator

from .errors import ValidationFailed
from .paging import capped_count, page_rows
from .scoping import get_scoped_or_404

#: a record id in a request: ids outside PostgreSQL's bigint range can name no row (and SQLite
#: cannot even compare them), so they are refused with the other validation errors (422)
RecordId = Annotated[int, Field(ge=1, le=2**63 - 1)]


def _filter_moment(value: datetime) -> datetime:
    """A time bound of a list filter, in UTC: without an offset it is in the organisation's
    time zone. A bound the database cannot hold (year 1 at +14:00, year 9999 at -14:00: before
    or after every storable time) is clamped to the first or last storable moment, which selects
    the same rows, instead of overflowing while converting (a 500 before issue 9's fix)."""
    if timezone.is_naive(value):
        value = value.replace(tzinfo=timezone.get_current_timezone())
    try:
        return value.astimezone(UTC)
    except OverflowError:
        first, last = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
        return first if value.year == first.year else last


#: a date-time query parameter of a list filter (see ``_filter_moment``)
FilterDateTime = Annotated[datetime, AfterValidator(_filter_moment)]


def _whole_number(value: Any) -> Any:
    """A whole number in a query string written as JSON Schema allows an integer to be
    (``1e+16``, ``12.0``) → int; anything else is left for the integer check to refuse."""
    if isinstance(value, str) and not value.isdigit():
        try:
            number = Decimal(value)
        except InvalidOperation:
            return value
        if number.is_finite() and abs(number) < 10**30 and number == number.to_integral_value():
            return int(number)
    return value


def _iso_date_only(value: Any) -> Any:
    """A date in a query string is written ``YYYY-MM-DD``: a number (which pydantic would read
    as a Unix time) is refused like any other text that is not a date."""
    if isinstance(value, int | float) or (
        isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    ):
        raise ValueError(_("Enter a date as YYYY-MM-DD."))
    return value


#: a date query parameter of a list filter: ``YYYY-MM-DD`` only (not a Unix time)
FilterDate = Annotated[date, BeforeValidator(_iso_date_only)]


#: a record id in a list filter: 1 … 2⁶³−1 (beyond, 422 — SQLite cannot compare it), also
#: written as ``1e+16``
FilterId = Annotated[RecordId, BeforeValidator(_whole_number)]


class ObjectIn(Schema):
    """Base of request schemas nested in others (a line, a contact, conditions): only a JSON
    object is one. Ninja's Schema would read a list, a number or null as an object whose fields
    are all missing, i.e. silently as the defaults."""

    @model_validator(mode="before")
    @classmethod
    def _json_object_only(cls, value: Any) -> Any:
        raw = value._obj if isinstance(value, DjangoGetter) else value  # Schema wraps it first
        if raw is None or isinstance(raw, list | str | int | float | bool):
            raise ValueError(_("Enter a JSON object."))
        return value


class FieldError(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    code: str
    message: str
    errors: list[FieldError] = []


def error_body(
    code: str, message: Any, field_errors: dict[str, list[Any]] | None = None
) -> dict[str, Any]:
    errors = [
        {"field": f, "message": str(m)} for f, msgs in (field_errors or {}).items() for m in msgs
    ]
    return {"code": code, "message": str(message), "errors": errors}


class BearerToken(HttpBearer):
    """``Authorization: Bearer <token>`` with a personal API token."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        from crm.org.middleware import bind_request
        from crm.org.services import user_for_token

        user = user_for_token(token)
        if user is None:
            return None
        request.user = user
        bind_request(request, user)
        return user


class SessionAuth(APIKeyCookie):
    """The UI's own session cookie; unsafe methods need the CSRF token (X-CSRFToken)."""

    param_name = "sessionid"

    def __init__(self) -> None:
        # the production profile names it "__Host-sessionid" (SECURITY C5)
        self.param_name = settings.SESSION_COOKIE_NAME
        super().__init__(csrf=True)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active or not user.org_id:
            return None
        if user.requires_2fa() and not user.totp_enabled:
            return None  # the role requires two-factor: set it up in the UI first
        return user


#: beyond it an offset means nothing (and SQLite cannot hold it): 422 like any bad parameter
MAX_PAGE = 1_000_000


class PageQuery(Schema):
    page: int = Field(1, ge=1, le=MAX_PAGE, description="Page number, from 1")
    page_size: int = Field(50, ge=1, le=200, description="Rows per page (at most 200)")


class Paginated(PaginationBase):
    """Page-number pagination with the count; used by every list endpoint.

    The count is exact up to ``CRM_LIST_COUNT_CAP`` rows (``count_exact: true``); beyond, it is
    the cap and ``count_exact`` is false, unless the caller asks ``?exact_count=true`` (issue 8:
    counting a manager's 200,000 opportunities costs ten times the page). A page of a query
    that joins its relations (``select_related``) is read in two steps: the page's ids by the
    narrow query (filters and order only, so the planner can walk an index), then those rows
    with their relations.
    """

    class Input(Schema):
        page: int = Field(1, ge=1, le=MAX_PAGE)
        page_size: int = Field(50, ge=1, le=200)
        exact_count: bool = Field(
            False, description="Count every matching row, however many (slower on large lists)"
        )

    class Output(Schema):
        items: list[Any]
        count: int
        count_exact: bool = True
        page: int
        page_size: int

    items_attribute = "items"

    def paginate_queryset(
        self, queryset: QuerySet, pagination: Any, request: HttpRequest, **params: Any
    ) -> dict[str, Any]:
        page, size = pagination.page, pagination.page_size
        offset = (page - 1) * size
        if not isinstance(queryset, QuerySet):
            rows = list(queryset)
            return {
                "items": rows[offset : offset + size],
                "count": len(rows),
                "count_exact": True,
                "page": page,
                "page_size": size,
            }
        items = page_rows(queryset, offset, size)
        cap = 0 if pagination.exact_count else settings.CRM_LIST_COUNT_CAP
        if len(items) < size and (items or offset == 0):
            # the last page says the total: no count (a search's few rows, a small list)
            count, exact = offset + len(items), True
        else:
            count, exact = capped_count(queryset, cap)
        return {
            "items": items,
            "count": count,
            "count_exact": exact,
            "page": page,
            "page_size": size,
        }


def apply_sort(
    qs: QuerySet, sort: str | None, allowed: dict[str, str], default: list[str]
) -> QuerySet:
    """Order ``qs`` by ``?sort=a,-b``; ``allowed`` maps public names to model lookups.

    An unknown field answers 400 with the list of allowed ones; ``id`` breaks ties.
    """
    if not sort:
        return qs.order_by(*default)
    ordering: list[str] = []
    for part in sort.split(","):
        part = part.strip()
        if not part:
            continue
        desc = part.startswith("-")
        name = part.lstrip("-+")
        if name not in allowed:
            raise ValidationFailed(
                _("Cannot sort by “%(name)s”. Allowed: %(allowed)s.")
                % {"name": name, "allowed": ", ".join(sorted(allowed))},
                field_errors={"sort": [_("Unknown sort field: %(name)s") % {"name": name}]},
            )
        ordering.append(("-" if desc else "") + allowed[name])
    ordering.append("-pk" if ordering and ordering[-1].startswith("-") else "pk")
    return qs.order_by(*ordering)


def scoped(request: HttpRequest, model: Any, action: str = "view") -> QuerySet:
    """The rows of ``model`` the request's user may ``action``: every API read starts here."""
    return model._default_manager.visible_to(request.user, action)


def scoped_get(request: HttpRequest, model: Any, pk: Any, action: str = "view") -> Any:
    return get_scoped_or_404(model, request.user, pk, action)
