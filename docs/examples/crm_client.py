"""A small client of the CRM's JSON API, with nothing but the standard library.

    export CRM_URL=https://crm.example.com CRM_TOKEN=crm_...
    python crm_client.py

It shows the conventions of docs/api.md: the bearer token, paged lists, the error body
{"code", "message", "errors"}, a safe retry of a write with Idempotency-Key, and optimistic
locking (send the version you read; a stale one answers 409). The test suite runs it against a
live server (tests/core/test_client_example.py), so it stays correct.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any


class ApiError(Exception):
    """A 4xx/5xx answer: ``status``, ``code`` (e.g. "validation_error", "edit_conflict"),
    ``message`` (in the Accept-Language) and the field ``errors``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body.get('code')}: {body.get('message')}")
        self.status = status
        self.code = body.get("code", "")
        self.message = body.get("message", "")
        self.errors = body.get("errors", [])


class Crm:
    def __init__(self, base_url: str, token: str, language: str = "zh-hans") -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError("CRM_URL must be an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Accept-Language": language,
        }

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        url = f"{self.base_url}/api/v1/{path.lstrip('/')}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - http(s) only, checked above
        try:
            with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310 - http(s) only
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, json.loads(exc.read() or b"{}")) from None
        return json.loads(raw) if raw else None

    def paged(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list, page by page (at most 200 per page)."""
        page = 1
        while True:
            body = self.request("GET", path, params={**params, "page": page, "page_size": 100})
            yield from body["items"]
            if page * body["page_size"] >= body["count"]:
                return
            page += 1

    def create(self, path: str, body: dict[str, Any]) -> Any:
        """POST with an Idempotency-Key, retried once on a network error: never two records."""
        key = str(uuid.uuid4())
        try:
            return self.request("POST", path, body, idempotency_key=key)
        except (urllib.error.URLError, TimeoutError):
            return self.request("POST", path, body, idempotency_key=key)


def main() -> None:
    crm = Crm(os.environ["CRM_URL"], os.environ["CRM_TOKEN"])
    customer = crm.create("customers/customers", {"name": "苏州示例科技有限公司"})
    print("created", customer["id"], customer["name"])
    try:
        crm.create("customers/customers", {"name": ""})
    except ApiError as exc:
        print("refused:", exc.code, [e["field"] for e in exc.errors])
    renamed = crm.request(
        "PATCH",
        f"customers/customers/{customer['id']}",
        {"short_name": "苏州示例", "version": customer["version"]},
    )
    try:  # the same, stale version again: someone else's change would be overwritten
        crm.request(
            "PATCH",
            f"customers/customers/{customer['id']}",
            {"short_name": "旧版本", "version": customer["version"]},
        )
    except ApiError as exc:
        print("conflict:", exc.status, exc.code)
    print("short name", renamed["short_name"])
    print("customers I see:", sum(1 for _ in crm.paged("customers/customers")))


if __name__ == "__main__":
    main()
