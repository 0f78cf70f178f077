"""API fuzzing (RELIABILITY D1, D2, D4): Schemathesis generates requests for every operation of
``/api/openapi.json`` — valid ones and invalid ones (wrong types, missing fields, odd unicode,
NUL bytes, huge numbers) — and sends them in-process through Django's WSGI handler with the
bearer token of a rep and of an organisation admin, in a world of two organisations with
canary-named records. Every response must pass every Schemathesis check (no 5xx, documented
status codes, content types, headers and bodies, valid input accepted, invalid input refused)
and must never show a traceback, SQL, a driver's name or a setting (``no_internal_details``).

The fast tier runs in ``make test``: ``CRM_FUZZ_EXAMPLES`` examples per operation for the admin
(15 by default, every phase) and ``CRM_FUZZ_REP_EXAMPLES`` for the rep (5, no coverage phase),
derandomised with a fixed seed so a failure reproduces. The long tier is ``make fuzz-long``
(see docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from ninja import Schema
from pydantic import TypeAdapter, ValidationError
from schemathesis import Case
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from crm.org.services import create_token
from tests.security.conftest import Tenant, build_tenant, fresh

EXAMPLES = int(os.environ.get("CRM_FUZZ_EXAMPLES", "15"))
SEED = int(os.environ.get("CRM_FUZZ_SEED", "20261124"))
#: the coverage phase's deterministic boundary and wrong-type cases are the same requests for
#: every role; the fast tier sends them as the admin (who reaches every service behind them) and
#: gives the rep the example and fuzzing phases. The long tier (more examples) sends all to both.
REP_COVERAGE = os.environ.get("CRM_FUZZ_REP_COVERAGE", "1" if EXAMPLES > 15 else "0") == "1"
#: and fewer examples to the rep, most of whose requests end at a 403 or 404 (same rule)
REP_EXAMPLES = int(os.environ.get("CRM_FUZZ_REP_EXAMPLES", str(EXAMPLES if EXAMPLES > 15 else 5)))


def _config(coverage: bool, examples: int = EXAMPLES) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",  # valid and invalid requests
                "max-examples": examples,
                "deterministic": True,
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": coverage},
                "fuzzing": {"enabled": True},
            },
            "checks": {
                # A schema cannot say every business rule ("this stage belongs to another
                # pipeline", "the name is taken"): a schema-valid request may get the documented
                # 400 of a refused rule, never a 422 (that would be the schema lying).
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "400", "401", "403", "404", "409"]
                },
            },
        }
    )


#: the in-process application the schema is loaded from and every request goes to
APP = WSGIHandler()


def _load(coverage: bool, examples: int = EXAMPLES) -> Any:
    return schemathesis.openapi.from_wsgi(
        "/api/openapi.json", APP, config=_config(coverage, examples)
    ).exclude(tag="test")  # tests/urls.py's memo router: a test fixture, not the product


schema = _load(coverage=True)
rep_schema = _load(coverage=REP_COVERAGE, examples=REP_EXAMPLES)


#: values of path parameters that name real records (filled by ``fuzz_world``)
KNOWN_IDS: dict[str, list[Any]] = {}

#: how each path parameter maps to the records it names (path prefix, target label)
PATH_TARGETS: dict[str, list[tuple[str, str]]] = {
    "dept_id": [("", "org.Department")],
    "user_id": [("", "org.User")],
    "role_id": [("", "org.Role")],
    "token_id": [("", "org.ApiToken")],
    "notification_id": [("", "core.Notification")],
    "comment_id": [("", "core.Comment")],
    "attachment_id": [("", "core.Attachment")],
    "customer_id": [("", "customers.Customer")],
    "contact_id": [("", "customers.Contact")],
    "pool_id": [
        ("/api/v1/customers/", "customers.PublicPool"),
        ("/api/v1/leads/", "leads.LeadPool"),
    ],
    "lead_id": [("", "leads.Lead")],
    "rule_id": [
        ("/api/v1/leads/", "leads.AssignmentRule"),
        ("/api/v1/activities/", "activities.ReminderRule"),
    ],
    "pipeline_id": [("", "pipeline.Pipeline")],
    "stage_id": [("", "pipeline.Stage")],
    "item_id": [("", "pipeline.DictionaryItem")],
    "query_id": [("", "pipeline.SavedQuery")],
    "opportunity_id": [("", "pipeline.Opportunity")],
    "followup_id": [("", "activities.FollowUp")],
    "plan_id": [
        ("/api/v1/activities/", "activities.VisitPlan"),
        ("/api/v1/finance/", "finance.ReceivablePlan"),
    ],
    "reminder_id": [("", "activities.Reminder")],
    # >>> H-DASH
    # <<< H-DASH
    # >>> H-FORECAST
    "commit_id": [("/api/v1/forecast/", "analytics.ForecastCommit")],
    # <<< H-FORECAST
    # >>> H-REPORTS
    "report_id": [("/api/v1/reports/", "analytics.SavedReport")],
    "schedule_id": [("/api/v1/reports/", "analytics.ReportSchedule")],
    # <<< H-REPORTS
    # >>> H-HOOKS
    "endpoint_id": [("/api/v1/webhooks/", "core.WebhookEndpoint")],
    "delivery_id": [("/api/v1/webhooks/", "core.WebhookDelivery")],
    # <<< H-HOOKS
    # >>> H-SVC
    "ticket_id": [("/api/v1/service/", "service.Ticket")],
    "visit_id": [("/api/v1/service/", "service.ReturnVisit")],
    # <<< H-SVC
    # >>> H-KB
    "article_id": [("/api/v1/knowledge/", "knowledge.Article")],
    "category_id": [("/api/v1/knowledge/", "knowledge.Category")],  # kb-categories
    # <<< H-KB
    # >>> H-CF
    "field_id": [("/api/v1/custom-fields/", "core.CustomField")],
    # <<< H-CF
    # >>> H-CAMP
    "campaign_id": [("/api/v1/marketing/", "marketing.Campaign")],
    # <<< H-CAMP
    # >>> H-MAIL
    "email_campaign_id": [("/api/v1/mailing/", "mailing.EmailCampaign")],
    "unsubscribe_id": [("/api/v1/mailing/", "mailing.Unsubscribe")],  # mailing-bounces
    # <<< H-MAIL
    # >>> H-LSCORE
    "scoring_rule_id": [("/api/v1/leads/scoring/", "leads.LeadScoringRule")],
    # <<< H-LSCORE
    # >>> H-WINP
    # <<< H-WINP
    # >>> H-CONF
    # <<< H-CONF
    # >>> H-FIELD
    # <<< H-FIELD
    # >>> H-PLAT
    # <<< H-PLAT
    # >>> H-PERF
    # <<< H-PERF
    # >>> H-FIX
    "product_id": [("/api/v1/sales/", "sales.Product")],
    "price_list_id": [("/api/v1/sales/", "sales.PriceList")],
    "quote_id": [("/api/v1/sales/", "sales.Quote")],
    "contract_id": [  # the contract itself and its finance view (plans, receipts, balance)
        ("/api/v1/contracts/", "sales.Contract"),
        ("/api/v1/finance/", "sales.Contract"),
    ],
    "order_id": [("/api/v1/contracts/", "sales.Order")],
    "return_id": [("/api/v1/contracts/", "sales.ReturnRequest")],
    "request_id": [("/api/v1/contracts/", "sales.ApprovalRequest")],
    "receipt_id": [("/api/v1/finance/", "finance.Receipt")],
    "invoice_id": [("/api/v1/finance/", "finance.Invoice")],
    "job_id": [("/api/v1/imports/", "imports.ImportJob")],
    "mapping_id": [("/api/v1/imports/", "imports.ImportTemplate")],  # api-gaps
    "flow_id": [("/api/v1/contracts/", "sales.ApprovalFlow")],  # api-gaps
    "step_id": [("/api/v1/contracts/", "sales.ApprovalStep")],  # api-gaps
    # <<< H-FIX
}


def map_path_parameters(context: Any, path_parameters: dict[str, Any]) -> dict[str, Any]:
    """Point about half of the generated record ids at real records (the caller's own, a
    colleague's and the other organisation's), so writes reach the services, not just 404."""
    if not path_parameters:
        return path_parameters
    path = context.operation.path
    for name, value in list(path_parameters.items()):
        if name == "kind" and isinstance(value, str) and len(value) % 2:
            path_parameters[name] = "industry"
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value % 2:
            continue
        if not 1 <= value <= 2**63 - 1:
            continue  # a negative case's out-of-range id stays what the case is testing
        for prefix, label in PATH_TARGETS.get(name, []):
            candidates = KNOWN_IDS.get(label) if path.startswith(prefix) else None
            if candidates:
                path_parameters[name] = candidates[(value // 2) % len(candidates)]
                break
    return path_parameters


schema.hook(map_path_parameters)
rep_schema.hook(map_path_parameters)


# --- Checks --------------------------------------------------------------------------------------
#: text no response may contain: tracebacks, SQL, database drivers, settings
LEAK_MARKERS = (
    "Traceback",
    'File "/',
    "django.db",
    "SELECT ",
    "INSERT INTO",
    "psycopg",
    "sqlite3",
    "IntegrityError",
    "OperationalError",
    "SECRET_KEY",
    "DATABASES",
    "ALLOWED_HOSTS",
    "INSTALLED_APPS",
    "DJANGO_SETTINGS_MODULE",
)


def no_internal_details(ctx: Any, response: Any, case: Case) -> bool | None:
    """D2: no body shows a traceback, SQL, a driver, a setting's name or the secret key — other
    than the caller's own input echoed back (a dictionary item labelled "test.sqlite3" is
    saved and shown as such)."""
    text = response.content.decode("utf-8", "replace")
    sent = repr((case.body, case.query, case.path_parameters, case.headers))
    markers = (*LEAK_MARKERS, django_settings.SECRET_KEY)
    found = [m for m in markers if m in text and m not in sent]
    if found:
        raise AssertionError(f"response {response.status_code} shows {found}: {text[:300]}")
    return None


#: JSON schema types and the Python types the API's validation (pydantic) reads them into
_LAX_TYPES: dict[tuple[str, str | None], Any] = {
    ("boolean", None): bool,
    ("integer", None): int,
    ("number", None): float,
    ("string", "date-time"): datetime,
    ("string", "date"): date,
}


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema.raw_schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    for option in node.get("anyOf", []):
        option = _resolve(option)
        if option.get("type") != "null":
            return option
    return node


def _declared(case: Case, location: str, name: str) -> dict[str, Any] | None:
    definition = case.operation.definition.raw
    if location == "body":
        body = definition.get("requestBody", {}).get("content", {}).get("application/json", {})
        props = _resolve(body.get("schema", {})).get("properties", {})
        return _resolve(props[name]) if name in props else None
    for param in definition.get("parameters", []):
        if param.get("in") == location and param.get("name") == name:
            return _resolve(param.get("schema", {}))
    return None


def _python_type(declared: dict[str, Any]) -> Any:
    if declared.get("type") == "array":
        item = _python_type(_resolve(declared.get("items", {})))
        return None if item is None else list[item]  # type: ignore[valid-type]
    return _LAX_TYPES.get((declared.get("type", ""), declared.get("format")))


def _lax_value(case: Case, location: str, name: str) -> bool:
    """Whether the value sent for ``name`` is one pydantic's lax mode reads as the declared
    type (0/1 for a boolean, a Unix time for a date-time, "5" for an integer...)."""
    declared = _declared(case, location, name)
    container = case.body if location == "body" else getattr(case, location, None)
    if declared is None or not isinstance(container, dict) or name not in container:
        return False
    python_type = _python_type(declared)
    if python_type is None:
        return False
    value = container[name] if location == "body" else str(container[name])
    try:
        TypeAdapter(python_type).validate_python(value)
    except ValidationError:
        return False
    return True


#: how Schemathesis describes a value of the wrong type ("order: Incorrect type", "offsets ->
#: Array with invalid items: Incorrect type", "violates `type` at /properties/order ...")
_WRONG_TYPE = re.compile(
    r"^(?:(?P<name>\w+)(?: -> Array with invalid items)?: )?Incorrect type$"
    r"|violates `type` at /properties/(?P<path>\w+)(?:/items)? "
)


def _wrong_types(case: Case) -> list[tuple[str, str]] | None:
    """(location, name) of each value the negative case made of a wrong type; None when the
    case changed anything else."""
    data = case.meta.phase.data if case.meta else None
    if data is None:
        return None
    mutations = getattr(data, "mutations", ()) or ()
    if mutations:
        found = []
        for m in mutations:
            location = m.parameter_location.value
            name = str(m.path[0]) if location == "body" and m.path else m.parameter
            if m.keywords != ("type",) or not name:
                return None
            found.append((location, name))
        return found
    match = _WRONG_TYPE.search(data.description or "")
    location = data.parameter_location.value if data.parameter_location else ""
    if not match:
        return None
    # a body's "parameter" is its media type: the field is in the description
    name = (match.group("name") or match.group("path")) if location == "body" else data.parameter
    return [(location, name)] if name else None


def negative_data_refused(ctx: Any, response: Any, case: Case) -> bool | None:
    """Schemathesis's negative_data_rejection, except where the only "invalid" values are ones
    the API reads by design in pydantic's lax mode (documented in docs/reliability.md)."""
    try:
        return negative_data_rejection(ctx, response, case)
    except AcceptedNegativeData:
        wrong = _wrong_types(case)
        if not wrong or not all(_lax_value(case, location, name) for location, name in wrong):
            raise
        return None


def _is_decimal(node: dict[str, Any]) -> bool:
    """pydantic documents a Decimal as ``anyOf: [number, string]``, the string without a
    pattern, though only decimal text is one."""
    while "$ref" in node:
        node = schema.raw_schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    types = {option.get("type") for option in node.get("anyOf", [])}
    return {"number", "string"} <= types


def _body_field(case: Case, dotted: str) -> dict[str, Any] | None:
    body = case.operation.definition.raw.get("requestBody", {}).get("content", {})
    node = _resolve(body.get("application/json", {}).get("schema", {}))
    for part in dotted.split("."):
        if part.isdigit():
            node = _resolve(node.get("items", {}))
        elif part in node.get("properties", {}):
            node = node["properties"][part]
            if part != dotted.rsplit(".", 1)[-1]:
                node = _resolve(node)
        else:
            return None
    return node


def positive_data_accepted(ctx: Any, response: Any, case: Case) -> bool | None:
    """Schemathesis's positive_data_acceptance, except for a 422 that only refuses text in
    decimal fields which is no number (the document cannot say so: see ``_is_decimal``)."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        try:
            fields = [error["field"] for error in response.json()["errors"]]
        except (ValueError, KeyError, TypeError):
            raise
        declared = [_body_field(case, field) for field in fields]
        if response.status_code != 422 or not fields:
            raise
        if not all(node is not None and _is_decimal(node) for node in declared):
            raise
        return None


# --- The world -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, str]]:
    """Two organisations with canary records and a bearer token per role, built once for the
    module in an outer transaction; each test runs in a savepoint inside it (``db``) and rolls
    back, so every operation starts from the same world."""
    # The WSGI handler would close the test's connection after each request, as a server does.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with django_db_blocker.unblock(), transaction.atomic():
            a, b = build_tenant("甲方科技有限公司"), build_tenant("乙方贸易有限公司")
            KNOWN_IDS.clear()
            for tenant in (a, b):
                for label, records in tenant.targets.items():
                    KNOWN_IDS.setdefault(label, []).extend(r.pk for r in records)
            KNOWN_IDS["org.User"] += [a.rep.pk, a.admin.pk]
            tokens = {
                "rep": create_token(actor=fresh(a.owner), name="fuzz")[1],
                "admin": create_token(actor=fresh(a.admin), name="fuzz")[1],
            }
            yield tokens
            transaction.set_rollback(True)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        KNOWN_IDS.clear()


CHECKS = [no_internal_details, negative_data_refused, positive_data_accepted]


def _fuzz(case: Case, token: str) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
        additional_checks=CHECKS,
        excluded_checks=[negative_data_rejection, positive_data_acceptance],
    )


# (the role parameter gives each operation's item its own node id: xdist needs them unique)
@pytest.mark.parametrize("role", ["admin"])
@schema.parametrize()
@hypothesis_settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_every_operation_survives_fuzzing_as_admin(
    case: Case, role: str, fuzz_world: dict[str, str], db: None
) -> None:
    """D1/D2/D4: every check passes for every generated request of every phase, as an admin."""
    _fuzz(case, fuzz_world[role])


@pytest.mark.parametrize("role", ["rep"])
@rep_schema.parametrize()
@hypothesis_settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_every_operation_survives_fuzzing_as_rep(
    case: Case, role: str, fuzz_world: dict[str, str], db: None
) -> None:
    """D1/D2/D4: every check passes for every generated request as a sales rep (examples and
    fuzzing; the coverage phase too in the long tier, see ``REP_COVERAGE``)."""
    _fuzz(case, fuzz_world[role])


# --- Regressions of what the fuzzer found ---------------------------------------------------------
def _schema_classes() -> Iterator[type[Schema]]:
    todo = list(Schema.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("crm."):
            yield cls


def test_schema_names_are_unique() -> None:
    """D1: two API schemas of one name overwrite each other in the OpenAPI document (the leads
    pool's fields were documented as the customer pool's)."""
    seen: dict[str, str] = {}
    for cls in _schema_classes():
        if cls.__name__ in ("Input", "Output"):
            continue  # pagination's inner classes: the document names them by operation
        shape = str(cls.model_json_schema())
        assert seen.setdefault(cls.__name__, shape) == shape, f"two schemas named {cls.__name__}"


def _post(client: Any, url: str, body: str) -> Any:
    return client.post(url, data=body, content_type="application/json")


def test_a_body_must_be_a_json_object(tenant: Tenant, api_client: Any) -> None:
    """D1: a list or a bare value is refused (400), not read as an object of defaults; broken
    JSON too."""
    client = api_client(tenant.admin)
    for body in ("[null, null]", "3", '"text"', "{"):
        response = client.patch(
            "/api/v1/org/organization", data=body, content_type="application/json"
        )
        assert response.status_code == 400, body
        assert response.json()["code"] == "validation_error"
    conditions = {"name": "规则", "conditions": [None, None], "strategy": "round_robin"}
    response = _post(client, "/api/v1/leads/rules", json.dumps(conditions))
    assert response.status_code == 422  # a nested object given as a list


def test_nul_characters_are_refused(tenant: Tenant, api_client: Any) -> None:
    """D1: PostgreSQL cannot store NUL: text with one is refused with a clear 400 everywhere."""
    client = api_client(tenant.admin)
    response = _post(client, "/api/v1/customers/tags", json.dumps({"name": "a\x00b"}))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "name"
    response = client.get("/api/v1/customers/customers", {"search": "a\x00b"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "search"


def test_out_of_range_ids_and_pages_are_refused(tenant: Tenant, api_client: Any) -> None:
    """D1/D3: ids beyond bigint and absurd page numbers answer 422, not 500 (SQLite raised
    OverflowError on them)."""
    client = api_client(tenant.admin)
    huge = 2**70
    response = _post(client, "/api/v1/leads/leads/bulk/invalid", json.dumps({"lead_ids": [huge]}))
    assert response.status_code == 422
    response = _post(
        client, "/api/v1/customers/customers/transfer", json.dumps({"ids": [huge], "to_user_id": 1})
    )
    assert response.status_code == 422
    response = client.get("/api/v1/customers/pools", {"page": 10**18})
    assert response.status_code == 422


def test_filter_ids_may_be_written_as_whole_numbers_in_any_notation(
    tenant: Tenant, api_client: Any
) -> None:
    """D1: JSON Schema's integer 1e16 reaches a query string as ``1e+16``; every list filter
    reads it as the id it is (a pool's customer list answered 422)."""
    client = api_client(tenant.admin)
    for url, name in (
        ("/api/v1/customers/customers", "owner_id"),
        ("/api/v1/customers/contacts", "customer_id"),
        ("/api/v1/leads/leads", "campaign_id"),
        ("/api/v1/core/events", "actor_id"),
    ):
        response = client.get(url, {name: "1e+16"})
        assert response.status_code == 200, (url, response.content[:200])
        assert response.json()["items"] == []


def test_api_errors_raised_before_a_route_are_json(tenant: Tenant, api_client: Any) -> None:
    """D1: an invalid Host header or an unknown path under /api/ answers the API's JSON error,
    not the HTML error page (pages keep theirs)."""
    client = api_client(tenant.admin)
    response = client.post(
        "/api/v1/leads/scoring/rules", data="{}", content_type="application/json", HTTP_HOST="*x"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    response = client.get("/api/v1/no-such-module/things")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_null_flags_of_a_lead_pool_mean_unchanged(tenant: Tenant, api_client: Any) -> None:
    """D1: ``"is_active": null`` on a lead pool no longer reaches a NOT NULL column (500)."""
    client = api_client(tenant.admin)
    body = {"name": "空值线索池", "is_active": None, "form_enabled": None}
    response = _post(client, "/api/v1/leads/pools", json.dumps(body))
    assert response.status_code == 201
    assert response.json()["is_active"] is True


#: path parameters that name no record (a dictionary kind), and paths of the test-only router
NOT_RECORDS = {"kind"}


def test_every_path_parameter_names_known_records(tenant: Tenant) -> None:
    """D1: every record id in a path of the document maps (by name and path prefix) to a model
    of which ``build_tenant`` makes canary records, so the fuzzer reaches real records behind
    every operation — a new route's ids must be added to PATH_TARGETS."""
    missing = []
    for path, operations in schema.raw_schema["paths"].items():
        if all("test" in op.get("tags", []) for op in operations.values()):
            continue
        for name in re.findall(r"{(\w+)}", path):
            if name in NOT_RECORDS:
                continue
            labels = [
                label for prefix, label in PATH_TARGETS.get(name, []) if path.startswith(prefix)
            ]
            if not labels:
                missing.append(f"{name} in {path}: no PATH_TARGETS entry")
            elif not tenant.targets.get(labels[0]) and labels[0] != "org.User":
                missing.append(f"{name} in {path}: build_tenant makes no {labels[0]}")
    assert missing == []


def test_every_operation_documents_its_errors() -> None:
    """D1: each operation declares the error answers it may give, in the {code, message,
    errors} shape (Schemathesis's status_code_conformance)."""
    for path, operations in schema.raw_schema["paths"].items():
        for method, operation in operations.items():
            declared = set(operation["responses"])
            assert {"400", "401", "403", "404", "422"} <= declared, (method, path)
            if method != "get":
                assert "409" in declared, (method, path)


#: the four list operations that were excluded from fuzzing until issue 9 was fixed, with filter
#: values the fuzzer generated (or that are in the same class) and the answer each must get
HUGE, TOP = str(2**70), str(2**63 - 1)
LIST_FILTERS: dict[str, list[tuple[dict[str, str], int]]] = {
    "/api/v1/opportunities/": [
        *[({name: HUGE}, 422) for name in ("pipeline_id", "stage_id", "owner_id", "customer_id")],
        *[({name: "0"}, 422) for name in ("pipeline_id", "customer_id", "saved_query_id")],
        ({"saved_query_id": HUGE}, 422),
        ({"pipeline_id": TOP}, 200),
        ({"owner_id": TOP}, 200),
        ({"saved_query_id": TOP}, 404),
        ({"status": "bogus"}, 422),
        ({"builtin": "bogus"}, 422),
        ({"page": str(10**18)}, 422),
        ({"updated_since": "0001-01-01T00:00:00+14:00"}, 200),
        ({"updated_since": "9999-12-31T23:59:59-14:00"}, 200),
        ({"updated_since": "0001-01-01T00:00:00"}, 200),
        ({"updated_since": "2026-01-01T08:00:00"}, 200),
        ({"updated_since": "not a time"}, 422),
        ({"expected_close_from": "0001-01-01", "expected_close_to": "9999-12-31"}, 200),
        ({"conditions": "{"}, 400),
        ({"conditions": '{"rules": [{"field": "stage", "op": "eq", "value": ' + HUGE + "}]}"}, 400),
        ({"sort": "bogus"}, 400),
    ],
    "/api/v1/activities/followups": [
        *[({name: HUGE}, 422) for name in ("customer_id", "opportunity_id", "owner_id")],
        ({"owner_id": TOP}, 200),
        ({"customer_id": TOP}, 404),
        # JSON Schema's integer may be written 1e+16 or 12.0 (the fuzzer does): a whole number
        ({"opportunity_id": "1e+16"}, 404),
        ({"owner_id": "1e+3"}, 200),
        ({"owner_id": "12.0"}, 200),
        ({"owner_id": "1.5"}, 422),
        ({"owner_id": "1e+40"}, 422),
        ({"method": "bogus"}, 422),
        ({"since": "0001-01-01T00:00:00+14:00"}, 200),
        ({"until": "9999-12-31T23:59:59-14:00"}, 200),
        ({"since": "0001-01-01T00:00:00", "until": "9999-12-31T23:59:59"}, 200),
        ({"page": str(10**18)}, 422),
        ({"sort": "bogus"}, 400),
    ],
    "/api/v1/sales/quotes": [
        *[({name: HUGE}, 422) for name in ("customer_id", "opportunity_id")],
        ({"customer_id": TOP}, 200),
        ({"status": "bogus"}, 422),
        ({"latest": "2"}, 422),
        ({"q": "x" * 101}, 422),
        ({"page": str(10**18)}, 422),
        ({"sort": "bogus"}, 400),
    ],
    "/api/v1/finance/receipts": [
        *[({name: HUGE}, 422) for name in ("contract_id", "customer_id", "owner_id")],
        ({"owner_id": TOP}, 200),
        ({"status": "bogus"}, 422),
        ({"method": "bogus"}, 422),
        ({"from": "0001-01-01", "to": "9999-12-31"}, 200),
        ({"from": "2026-13-45"}, 422),
        ({"from": "0.0"}, 422),  # a number is not a date (pydantic read it as a Unix time)
        ({"page": str(10**18)}, 422),
        ({"sort": "bogus"}, 400),
    ],
    # the long tier of 2026-11-25: an id written as 1e+16 (a JSON Schema integer) was refused
    # as "not a whole number"
    "/api/v1/sales/products": [({"price_list_id": "1e+16"}, 404)],
}


def test_a_date_filter_refuses_a_number(tenant: Tenant, api_client: Any) -> None:
    """D1 (issue 9, long tier of 2026-11-25): a date written as a number (which pydantic read as
    a Unix time) is refused with 422 like any other text that is not a date."""
    client = api_client(tenant.admin)
    for path, params, status in (
        ("/api/v1/marketing/campaigns", {"end": "0.0"}, 422),
        ("/api/v1/marketing/campaigns", {"start": "20260101"}, 422),
        ("/api/v1/marketing/campaigns", {"start": "2026-01-01", "end": "2026-12-31"}, 200),
        ("/api/v1/opportunities/", {"expected_close_from": "0"}, 422),
        ("/api/v1/opportunities/", {"expected_close_from": "2026-01-01"}, 200),
    ):
        response = client.get(path, params)
        assert response.status_code == status, (path, params, response.content[:300])
        if status == 422:
            assert "YYYY-MM-DD" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/forecast/?department_id=1e%2B16",
        "/api/v1/forecast/funnel?department_id=1e%2B16",
        "/api/v1/forecast/accuracy?department_id=1e%2B16",
        "/api/v1/winloss/?department_id=1e%2B16",
    ],
)
def test_report_filters_read_an_id_written_as_an_exponent(
    path: str, tenant: Tenant, api_client: Any
) -> None:
    """D1 (issue 9, long tier of 2026-11-25): ``1e+16`` is a valid integer of the schema; the
    answer is the one for an unknown department (not 422 "enter a whole number")."""
    response = api_client(tenant.admin).get(path)
    assert response.status_code != 422 or "whole number" not in response.content.decode()
    assert response.status_code < 500


def test_uploaded_files_are_documented_as_at_least_one_byte() -> None:
    """D1 (issue 9, long tier of 2026-11-25): an empty file is refused (400), so the schema says
    ``minLength: 1`` on every file of a multipart body."""
    from crm.api import api

    files = []
    for operations in api.get_openapi_schema()["paths"].values():
        for operation in operations.values():
            body = operation.get("requestBody", {}).get("content", {})
            props = body.get("multipart/form-data", {}).get("schema", {}).get("properties", {})
            for prop in props.values():
                for node in [prop, *prop.get("anyOf", [])]:
                    if node.get("format") == "binary":
                        files.append(node)
    assert len(files) >= 2 and all(node["minLength"] == 1 for node in files)


@pytest.mark.parametrize("path", list(LIST_FILTERS))
def test_list_filters_refuse_bad_values_with_4xx(
    path: str, tenant: Tenant, api_client: Any
) -> None:
    """D1/D3 (issue 9): ids beyond bigint in a list filter, unknown enum values, absurd pages and
    time bounds at the ends of the calendar answer a clear 4xx with the ``ErrorOut`` body, or
    200 where the value is valid — never 500 (SQLite raised OverflowError on the ids, both
    databases on converting year 1 at +14:00 or year 9999 at -14:00 to UTC)."""
    for user in (tenant.owner, tenant.admin):
        client = api_client(user)
        for params, status in LIST_FILTERS[path]:
            response = client.get(path, params)
            assert response.status_code == status, (user.username, params, response.content[:300])
            body = response.json()
            if status == 200:
                assert isinstance(body["items"], list)
                continue
            assert set(body) == {"code", "message", "errors"}, body
            assert body["message"], body
            if status == 422:
                assert body["code"] == "validation_error"
                assert body["errors"] and all(e["message"] for e in body["errors"]), body


def test_time_bounds_of_list_filters_select_the_right_rows(tenant: Tenant, api_client: Any) -> None:
    """D1 (issue 9): a bound at the end of the calendar is clamped, not refused: "since year 1
    at +14:00" selects every follow-up and "until year 9999 at -14:00" too, "since year 9999"
    none; a bound without an offset is in the organisation's time zone."""
    from django.utils import timezone

    from crm.activities.models import FollowUp

    client = api_client(tenant.owner)
    mine = FollowUp.objects.visible_to(fresh(tenant.owner)).count()
    assert mine > 0

    def total(params: dict[str, str]) -> int:
        response = client.get("/api/v1/activities/followups", params)
        assert response.status_code == 200, response.content[:300]
        return int(response.json()["count"])

    assert total({"since": "0001-01-01T00:00:00+14:00"}) == mine
    assert total({"until": "9999-12-31T23:59:59-14:00"}) == mine
    assert total({"since": "9999-12-31T23:59:59-14:00"}) == 0
    latest = FollowUp.objects.visible_to(fresh(tenant.owner)).latest("happened_at").happened_at
    local = timezone.localtime(latest).replace(tzinfo=None)  # the org's wall-clock time
    assert total({"since": (local + timedelta(minutes=1)).isoformat()}) == 0
    assert total({"since": (local - timedelta(minutes=1)).isoformat()}) >= 1
