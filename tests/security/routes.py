"""The route inventory of the security tier: every page from Django's URL resolver and every API
operation from ``/api/openapi.json`` (RELIABILITY §6.3), plus request bodies built from the
OpenAPI schemas, so the matrices grow with each new page and operation by themselves."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

#: an id that no record has: what a refusal must look like
MISSING_ID = 987_654_321
#: test-only routers mounted by tests/urls.py (not part of the product)
TEST_ONLY_PREFIX = "tests_"
UNSAFE = ("post", "put", "patch", "delete")
_PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class PageRoute:
    """One URL pattern: its namespaced name, its route text and its path parameters."""

    name: str | None
    route: str
    params: tuple[tuple[str, str], ...]  # (converter, name)
    module: str

    @property
    def takes_id(self) -> bool:
        return any(conv == "int" for conv, _name in self.params)

    def url(self, **kwargs: Any) -> str:
        assert self.name is not None
        return reverse(self.name, kwargs=kwargs)


@dataclass(frozen=True)
class ApiOp:
    """One API operation of the OpenAPI schema."""

    op_id: str
    method: str
    path: str
    path_params: tuple[str, ...]
    id_params: tuple[str, ...]  # the integer ones: record ids
    body_schema: dict[str, Any] | None
    is_list: bool

    def url(self, **values: Any) -> str:
        return self.path.format(**values)


def _walk(resolver: URLResolver, prefix: str, ns: tuple[str, ...], out: list[PageRoute]) -> None:
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            inner = (*ns, p.namespace) if p.namespace else ns
            _walk(p, prefix + str(p.pattern), inner, out)
        elif isinstance(p, URLPattern):
            route = prefix + str(p.pattern)
            params = tuple(
                (m.group("conv") or "str", m.group("name")) for m in _PARAM.finditer(route)
            )
            name = ":".join((*ns, p.name)) if p.name else None
            module = getattr(p.callback, "__module__", "") or ""
            out.append(PageRoute(name=name, route=route, params=params, module=module))


def all_url_patterns() -> list[PageRoute]:
    """Every URL pattern, recursively through includes (API operations included)."""
    out: list[PageRoute] = []
    _walk(get_resolver(), "", (), out)
    return out


def is_api_operation(route: PageRoute) -> bool:
    """A URL pattern that serves API operations (classified by operation id instead)."""
    return route.module.startswith("ninja.") and route.route.startswith("api/v")


def page_routes() -> list[PageRoute]:
    return [r for r in all_url_patterns() if not is_api_operation(r)]


@cache
def openapi() -> dict[str, Any]:
    from crm.api import api

    return api.get_openapi_schema()


def api_operations(*, include_test_only: bool = False) -> list[ApiOp]:
    ops: list[ApiOp] = []
    for path, methods in openapi()["paths"].items():
        for method, op in methods.items():
            op_id = op["operationId"]
            if op_id.startswith(TEST_ONLY_PREFIX) and not include_test_only:
                continue
            path_params = [p for p in op.get("parameters", []) if p["in"] == "path"]
            params = tuple(p["name"] for p in path_params)
            ids = tuple(
                p["name"]
                for p in path_params
                if _resolve(p.get("schema", {})).get("type") == "integer"
            )
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            responses = op.get("responses", {})
            ok = responses.get(200, responses.get("200", {}))
            ok_schema = ok.get("content", {}).get("application/json", {}).get("schema", {})
            ops.append(
                ApiOp(
                    op_id=op_id,
                    method=method,
                    path=path,
                    path_params=params,
                    id_params=ids,
                    body_schema=body.get("schema"),
                    is_list=method == "get" and _is_list_schema(ok_schema),
                )
            )
    return ops


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = openapi()["components"]["schemas"][name]
    return schema


def _is_list_schema(schema: dict[str, Any]) -> bool:
    schema = _resolve(schema)
    return schema.get("type") == "array" or (
        "items" in schema.get("properties", {}) and "count" in schema.get("properties", {})
    )


def example(schema: dict[str, Any], hints: dict[str, Any], field: str = "") -> Any:
    """A valid value for ``schema``: required fields only; integers named like an id take the
    value ``hints`` gives for that field name (so the request gets past validation)."""
    schema = _resolve(schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s).get("type") != "null"]
            return example(options[0], hints, field)
    if field in hints:
        return hints[field]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {
            name: example(props[name], hints, name)
            for name in schema.get("required", [])
            if name in props
        }
    if kind == "array":
        n = schema.get("minItems", 0)
        return [example(schema.get("items", {}), hints, field) for _ in range(n)]
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    if "enum" in schema:
        return schema["enum"][0]
    fmt = schema.get("format")
    if fmt == "date":
        return "2030-01-01"
    if fmt == "date-time":
        return "2030-01-01T00:00:00+08:00"
    return "安全测试"


def api_body(op: ApiOp, hints: dict[str, Any]) -> str | None:
    """The body of a request to ``op``: its required fields, and for an edit whose fields are
    all optional its first text field too (an empty edit changes nothing and proves nothing)."""
    if op.body_schema is None:
        return None
    body = example(op.body_schema, hints)
    if body == {}:
        props = _resolve(op.body_schema).get("properties", {})
        for name, prop in props.items():
            if example(prop, {}, name) == "安全测试":
                body[name] = "安全测试"
                break
    return json.dumps(body)


def call_api(client: Client, op: ApiOp, url: str, body: str | None) -> Any:
    method = getattr(client, op.method)
    if body is None:
        return method(url)
    return method(url, data=body, content_type="application/json")


def login(user: Any, **kwargs: Any) -> Client:
    """A browser-like client with ``user``'s session (exceptions become 500 responses)."""
    client = Client(raise_request_exception=False, **kwargs)
    client.force_login(user, backend="crm.org.backends.LoginBackend")
    return client


def bearer(user: Any) -> Client:
    """An API client with a fresh personal token of ``user``."""
    from crm.org.services import create_token

    raw = create_token(actor=user, name="security-tier")[1]
    return Client(
        raise_request_exception=False,
        HTTP_AUTHORIZATION=f"Bearer {raw}",
        HTTP_ACCEPT_LANGUAGE="en",
    )


def text_of(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


#: sample values of path parameters that are not record ids, per URL name (or any route)
STRING_ARGS: dict[str, dict[str, list[str]]] = {
    "leads:lead_action": {
        "action": [
            "claim",
            "release",
            "contacted",
            "qualified",
            "invalid",
            "reopen",
            "assign",
            "delete",
        ]
    },
    "org:password_reset_confirm": {"uidb64": ["MQ"], "token": ["set-password"]},
    # comments and attachments of a record: the kind of record named by the path (H-COLLAB)
    "collab:comment_add": {"target": ["customer"]},
    "collab:attachment_add": {"target": ["customer"]},
    # the public unsubscribe page of campaign mails: a forged token (H-MAIL)
    "mailing:unsubscribe": {"token": ["forged-token"]},
    # the public campaign form link: a forged token (H-CAMP)
    "marketing:webform": {"token": ["forged-token"]},
    "*": {"direction": ["up"], "kind": ["industry"]},
}


def _samples(route: str, name: str) -> list[str]:
    return STRING_ARGS.get(route, {}).get(name) or STRING_ARGS["*"][name]


def route_kwargs(route: PageRoute, tenant: Any, target: Any = None) -> list[dict[str, Any]]:
    """Every set of path arguments to request ``route`` with: record ids from ``target`` (or
    the tenant's first record of the declared model), other values from STRING_ARGS."""
    from crm.core.access import OBJECTS

    assert route.name is not None
    combos: list[dict[str, Any]] = [{}]
    for conv, name in route.params:
        if conv == "int":
            obj = target if target is not None else tenant.first(OBJECTS[route.name])
            values: list[Any] = [obj.pk]
        elif route.name == "leads:webform":
            values = [tenant.first("leads.LeadPool").form_token]
        else:
            values = _samples(route.name, name)
        combos = [{**c, name: v} for c in combos for v in values]
    return combos


def op_url(op: ApiOp, tenant: Any, target: Any = None, record_id: int | None = None) -> str:
    """The operation's URL: ids of ``target`` (or ``record_id``, or the tenant's first record of
    the declared model), other path values from STRING_ARGS."""
    from crm.core.access import OBJECTS

    values: dict[str, Any] = {}
    for name in op.path_params:
        if name in op.id_params:
            if record_id is not None:
                values[name] = record_id
            else:
                obj = target if target is not None else tenant.first(OBJECTS[op.op_id])
                values[name] = obj.pk
        else:
            values[name] = _samples(op.op_id, name)[0]
    return op.url(**values)
