"""Request id (for the audit trail), the request's memo, and mapping of domain errors raised in
page views."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .context import new_request_id, request_id_var, request_memo_scope
from .errors import DomainError


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = request.headers.get("X-Request-Id", "")[:64] or new_request_id()
        if not rid.replace("-", "").isalnum():
            rid = new_request_id()
        token = request_id_var.set(rid)
        try:
            with request_memo_scope():
                response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-Id"] = rid
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DomainError) and not request.path.startswith("/api/"):
            from .views import domain_error_response

            return domain_error_response(request, exception)
        return None
