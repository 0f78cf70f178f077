"""The JSON API: /api/v1/…, documented at /api/docs from /api/openapi.json.

Every operation requires authentication: a personal API token (``Authorization: Bearer``) or the
UI's session (with CSRF on unsafe methods). Routers of every app are mounted here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.parser import Parser

from crm.core.api import BearerToken, ErrorOut, SessionAuth, error_body
from crm.core.errors import DomainError, ValidationFailed

#: the error answers any operation may give, all in the ``{code, message, errors}`` shape
ERROR_RESPONSES = {
    400: "Bad request: a business rule refused the input",
    401: "Not authenticated: log in or send a valid API token",
    403: "Permission denied",
    404: "Not found (or not visible to you: the two are never distinguished)",
    422: "Validation error: a parameter or the body does not match the schema",
}
#: and the ones of operations that change data
WRITE_ERROR_RESPONSES = {409: "Conflict: stale version, duplicate or a disallowed state change"}


class InputRefused(ValidationFailed):
    """A request body or query string the parser refuses before any schema sees it (400)."""


def _refuse_nul(value: Any, where: str) -> None:
    """Text with NUL characters is refused: PostgreSQL cannot store it, nobody types it."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InputRefused(field_errors={where: [_("Text may not contain NUL characters.")]})
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, where)
            _refuse_nul(item, f"{where}.{key}" if where != "__all__" else str(key))
    elif isinstance(value, list):
        for item in value:
            _refuse_nul(item, where)


class CrmParser(Parser):
    """JSON bodies must be objects (a list or a bare value is not silently read as defaults);
    no text anywhere may carry a NUL character."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        try:
            data = json.loads(request.body)
        except ValueError as exc:
            raise InputRefused(_("The request body is not valid JSON.")) from exc
        if not isinstance(data, dict):
            raise InputRefused(_("The request body must be a JSON object."))
        _refuse_nul(data, "__all__")
        return data

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        result = super().parse_querydict(data, list_fields, request)
        for key, value in result.items():
            _refuse_nul(key, "__all__")
            _refuse_nul(value, key)
        return result


class CrmAPI(NinjaAPI):
    """The NinjaAPI whose OpenAPI document declares the error answers of every operation."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        document_errors(schema)
        document_files(schema)
        return schema


def document_files(schema: dict[str, Any]) -> None:
    """An uploaded file is at least one byte (an empty one is refused with 400, "the file is
    empty"): say so (``minLength: 1``) on every file of every multipart request body."""

    def files_of(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if node.get("format") == "binary":
            yield node
        for option in node.get("anyOf", ()):
            yield from files_of(option)

    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            body = content.get("multipart/form-data", {}).get("schema", {})
            for prop in body.get("properties", {}).values():
                for node in files_of(prop):
                    node["minLength"] = 1


def document_errors(schema: dict[str, Any]) -> None:
    """Add the error responses (ERROR_RESPONSES) to each operation that does not declare them."""
    definition = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(definition.pop("$defs", {}))
    components.setdefault("ErrorOut", definition)
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            errors = dict(ERROR_RESPONSES)
            if method != "get":
                errors.update(WRITE_ERROR_RESPONSES)
            responses = operation.setdefault("responses", {})
            for status, description in errors.items():
                if status not in responses and str(status) not in responses:
                    responses[status] = {"description": description, "content": content}


api = CrmAPI(
    title="CRM API",
    version="1",
    description=(
        "The CRM's JSON API. Authenticate with `Authorization: Bearer <token>` (create a token "
        "under Account → API tokens, or `crm token create --user LOGIN`). Lists take `page`, "
        "`page_size` (≤ 200) and `sort`; errors have the shape `{code, message, errors}`; "
        "messages follow `Accept-Language` (zh-Hans default, en)."
    ),
    auth=[BearerToken(), SessionAuth()],
    parser=CrmParser(),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def _respond(request: HttpRequest, status: int, body: dict[str, Any]) -> HttpResponse:
    return api.create_response(request, body, status=status)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return _respond(request, exc.status, error_body(exc.code, exc.message, exc.field_errors))


def _loc_to_field(loc: Any) -> str:
    parts = [
        str(p) for p in loc if p not in ("body", "query", "path", "payload", "filters", "data")
    ]
    return ".".join(parts) or "__all__"


@api.exception_handler(NinjaValidationError)
def validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    fields: dict[str, list[str]] = {}
    for err in exc.errors:
        fields.setdefault(_loc_to_field(err.get("loc", ())), []).append(_translate_pydantic(err))
    return _respond(
        request, 422, error_body("validation_error", _("Please correct the errors below."), fields)
    )


def _translate_pydantic(err: dict[str, Any]) -> str:
    """Pydantic's messages are English; give the common ones a translated text."""
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    messages = {
        "missing": _("This field is required."),
        "string_too_short": _("Too short."),
        "string_too_long": _("Too long (at most %(n)s characters).")
        % {"n": ctx.get("max_length", "")},
        "int_parsing": _("Enter a whole number."),
        "decimal_parsing": _("Enter a number."),
        "float_parsing": _("Enter a number."),
        "bool_parsing": _("Enter true or false."),
        "date_from_datetime_parsing": _("Enter a valid date (YYYY-MM-DD)."),
        "date_parsing": _("Enter a valid date (YYYY-MM-DD)."),
        "datetime_parsing": _("Enter a valid date and time."),
        "greater_than_equal": _("Must be at least %(n)s.") % {"n": ctx.get("ge", "")},
        "less_than_equal": _("Must be at most %(n)s.") % {"n": ctx.get("le", "")},
        "enum": _("Choose one of: %(v)s.") % {"v": ctx.get("expected", "")},
        "literal_error": _("Choose one of: %(v)s.") % {"v": ctx.get("expected", "")},
        "json_invalid": _("The request body is not valid JSON."),
        "model_attributes_type": _("The request body must be a JSON object."),
        "dict_type": _("The request body must be a JSON object."),
        "list_type": _("Enter a list."),
        "string_type": _("Enter text."),
        "int_type": _("Enter a whole number."),
        "value_error": str(err.get("msg", "")).removeprefix("Value error, "),
    }
    return str(messages.get(kind, err.get("msg", _("Invalid value."))))


@api.exception_handler(AuthenticationError)
def auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _respond(
        request,
        401,
        error_body(
            "not_authenticated", _("Authentication required: log in or send a valid API token.")
        ),
    )


@api.exception_handler(AuthorizationError)
def authz_error(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return _respond(
        request, 403, error_body("permission_denied", _("You do not have permission to do this."))
    )


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _respond(request, 404, error_body("not_found", _("The record was not found.")))


@api.exception_handler(DjangoPermissionDenied)
def forbidden(request: HttpRequest, exc: DjangoPermissionDenied) -> HttpResponse:
    return _respond(
        request, 403, error_body("permission_denied", _("You do not have permission to do this."))
    )


@api.exception_handler(DjangoValidationError)
def django_validation(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    fields = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return _respond(
        request, 400, error_body("validation_error", _("Please correct the errors below."), fields)
    )


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, DomainError):  # the body parser refused the body (CrmParser)
        return domain_error(request, exc.__cause__)
    codes = {
        400: "bad_request",
        401: "not_authenticated",
        403: "permission_denied",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        429: "throttled",
    }
    return _respond(
        request, exc.status_code, error_body(codes.get(exc.status_code, "error"), exc.message)
    )


@api.exception_handler(Exception)
def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    import logging

    logging.getLogger("crm.api").exception("unhandled API error")
    return _respond(
        request,
        500,
        error_body(
            "server_error", _("Something went wrong on our side. The error has been logged.")
        ),
    )


def mount_routers() -> None:
    """Mount every app's router under /api/v1/<app>/ (called once, from crm.urls)."""
    from crm.activities.api import router as activities_router
    from crm.core.api_routes import router as core_router
    from crm.core.collab_api import router as collab_router
    from crm.customers.api import router as customers_router
    from crm.leads.api import router as leads_router
    from crm.org.api import router as org_router
    from crm.pipeline.api import router as pipeline_router
    from crm.pipeline.opportunity_api import router as opportunities_router

    api.add_router("/v1/org/", org_router, tags=["org"])
    api.add_router("/v1/core/", core_router, tags=["core"])
    api.add_router("/v1/collab/", collab_router, tags=["collab"])
    api.add_router("/v1/customers/", customers_router, tags=["customers"])
    api.add_router("/v1/leads/", leads_router, tags=["leads"])
    api.add_router("/v1/pipeline/", pipeline_router, tags=["pipeline"])
    api.add_router("/v1/opportunities/", opportunities_router, tags=["opportunities"])
    api.add_router("/v1/activities/", activities_router, tags=["activities"])
    api.add_router("/v1/imports/", "crm.imports.api.router", tags=["imports"])  # H-IMPORT
    api.add_router("/v1/sales/", "crm.sales.quote_api.router", tags=["sales"])  # H-QUOTES
    from crm.sales.contract_api import router as contracts_router  # H-CONTRACTS

    api.add_router("/v1/contracts/", contracts_router, tags=["contracts"])
    api.add_router("/v1/finance/", "crm.finance.api.router", tags=["finance"])  # H-FINANCE
    api.add_router("/v1/analytics/", "crm.analytics.dash_api.router", tags=["analytics"])
    api.add_router("/v1/forecast/", "crm.analytics.forecast_api.router", tags=["forecast"])
    api.add_router("/v1/reports/", "crm.analytics.report_api.router", tags=["reports"])
    api.add_router("/v1/winloss/", "crm.analytics.winloss_api.router", tags=["win-loss"])
    api.add_router("/v1/webhooks/", "crm.core.webhook_api.router", tags=["webhooks"])
    api.add_router("/v1/service/", "crm.service.api.router", tags=["service"])
    api.add_router("/v1/knowledge/", "crm.knowledge.api.router", tags=["knowledge"])
    api.add_router("/v1/marketing/", "crm.marketing.api.router", tags=["marketing"])
    api.add_router("/v1/mailing/", "crm.mailing.api.router", tags=["mailing"])
    api.add_router("/v1/scoring/", "crm.scoring.api.router", tags=["scoring"])
    api.add_router(  # H-CF
        "/v1/custom-fields/", "crm.core.custom_field_api.router", tags=["custom-fields"]
    )
