"""Request id (for the audit trail), the request's memo, mapping of domain errors raised in
page views, and the login redirect of an htmx request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url

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


class HtmxLoginMiddleware:
    """An htmx request (a section fetched after its page, a filter, a board move) whose session
    has ended is answered by a redirect to the login page, which the browser's XHR would follow
    and htmx would swap into a card. Answer 401 with ``HX-Redirect`` instead: the whole window
    goes to the login page, which then returns to the page the user was on. After
    ``django_htmx.middleware.HtmxMiddleware``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        htmx: Any = getattr(request, "htmx", None)
        if not htmx or response.status_code not in (301, 302, 303, 307, 308):
            return response
        login = resolve_url(settings.LOGIN_URL)
        if urlsplit(response.get("Location", "")).path != login:
            return response
        page = htmx.current_url_abs_path or "/"
        answer = HttpResponse(status=401)
        answer["HX-Redirect"] = f"{login}?{urlencode({'next': page})}"
        return answer
