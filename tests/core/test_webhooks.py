"""Webhooks (issue 7, R10.1 / R10.2): signed deliveries from the event outbox to a real HTTP
receiver on 127.0.0.1 (its endpoint has the administrator's private-host allowance), retries
with backoff, dead letters, redelivery, rollback safety, once-only delivery under concurrent
sweeps, and the administrator-only API and pages."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from crm.core import webhooks
from crm.core.errors import PermissionDenied, ValidationFailed
from crm.core.models import Event, WebhookDelivery, WebhookEndpoint
from crm.core.testing.world import World, build_world
from crm.customers import services as customer_services
from crm.customers.models import Customer
from crm.pipeline import opportunities as opportunity_services
from crm.pipeline.models import Stage
from tests.conftest import login_client

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"

#: the documented retry schedule, written out independently of crm.core.webhooks.BACKOFF
EXPECTED_WAITS = [
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=12),
]


class Receiver:
    """A real HTTP server on loopback that records every request and answers the queued codes."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.codes: list[int] = []
        self.default = 200
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.requests.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                    )
                    code = outer.codes.pop(0) if outer.codes else outer.default
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def subscribe(world: World, receiver: Receiver, types: list[str], **extra: Any) -> Any:
    endpoint, secret = webhooks.create_endpoint(
        actor=world.admin,
        data={
            "name": "ERP",
            "url": receiver.url,
            "event_types": types,
            "allowed_private_host": True,
            **extra,
        },
    )
    return endpoint, secret


def new_customer(world: World, name: str) -> Customer:
    return customer_services.create_customer(actor=world.admin, data={"name": name})


def documented_verify() -> Any:
    """The verification snippet of docs/webhooks.md, run as written."""
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"<!-- verify-snippet -->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/webhooks.md lost its verification snippet"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), str(DOCS), "exec"), namespace)  # noqa: S102
    return namespace["verify"]


# --- Signature and payload ---------------------------------------------------------------------
def test_a_delivery_is_signed_and_the_documented_check_verifies_it(
    world: World, receiver: Receiver
) -> None:
    # R10.2: HMAC-SHA256 over timestamp + "." + body, checked by the snippet in the docs
    endpoint, secret = subscribe(world, receiver, ["customer.created"])
    customer = new_customer(world, "签名测试客户")
    webhooks.sweep()
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    headers, body = request["headers"], request["body"]
    event = Event.objects.get(verb="customer.created", object_id=str(customer.pk))
    assert headers["X-CRM-Event"] == "customer.created"
    assert headers["X-CRM-Delivery"] == str(event.pk)
    assert abs(int(headers["X-CRM-Timestamp"]) - time.time()) < 60
    assert headers["Content-Type"].startswith("application/json")
    verify = documented_verify()
    assert verify(secret, headers, body) is True
    assert verify("whsec_wrong", headers, body) is False
    assert verify(secret, headers, body + b" ") is False
    stale = {**headers, "X-CRM-Timestamp": str(int(headers["X-CRM-Timestamp"]) - 3600)}
    assert verify(secret, stale, body) is False
    # the documented payload, compared with the event row
    assert json.loads(body) == {
        "id": event.pk,
        "type": "customer.created",
        "created_at": event.created_at.isoformat(),
        "org": world.org.pk,
        "object": {"type": "customers.customer", "id": str(customer.pk), "repr": "签名测试客户"},
        "changes": event.changes,
        "data": event.data,
    }
    assert json.loads(body)["changes"]["name"] == [None, "签名测试客户"]
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("sent", 1, 200)
    assert delivery.delivered_at is not None


def test_each_subscribed_event_type_is_delivered_with_its_payload(
    world: World, receiver: Receiver
) -> None:
    # R10.2: customer and opportunity events (created, updated, stage changed); nothing else
    subscribe(world, receiver, ["customer.*", "opportunity.stage_changed", "opportunity.created"])
    before = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    customer = new_customer(world, "负载客户")
    customer = customer_services.update_customer(
        actor=world.admin, customer=customer, data={"name": "负载客户（改）"}
    )
    opportunity = opportunity_services.create_opportunity(
        actor=world.admin, customer=customer, data={"name": "负载商机", "expected_amount": "1000"}
    )
    stages = list(
        Stage.objects.filter(pipeline=opportunity.pipeline, parent=None, kind="open").order_by(
            "sort_order", "pk"
        )
    )
    opportunity_services.move_stage(actor=world.admin, opportunity=opportunity, stage=stages[1])
    webhooks.sweep()
    # independent expectation: the events written since, filtered in plain Python
    wanted = [
        e
        for e in Event.objects.filter(pk__gt=before).order_by("pk")
        if e.verb.startswith("customer.")
        or e.verb in ("opportunity.stage_changed", "opportunity.created")
    ]
    got = sorted(receiver.payloads(), key=lambda p: p["id"])
    assert [p["id"] for p in got] == [e.pk for e in wanted]
    assert {"customer.created", "customer.updated", "opportunity.created"} <= {
        p["type"] for p in got
    }
    assert "opportunity.stage_changed" in {p["type"] for p in got}
    for payload, event in zip(got, wanted, strict=True):
        assert payload["type"] == event.verb
        assert payload["object"] == {
            "type": event.object_type,
            "id": event.object_id,
            "repr": event.object_repr,
        }
        assert (payload["changes"], payload["data"]) == (event.changes, event.data)
    updated = next(p for p in got if p["type"] == "customer.updated")
    assert updated["changes"]["name"] == ["负载客户", "负载客户（改）"]
    moved = next(p for p in got if p["type"] == "opportunity.stage_changed")
    assert moved["object"]["id"] == str(opportunity.pk)


def test_events_before_the_subscription_and_of_other_organisations_are_not_sent(
    world: World, receiver: Receiver
) -> None:
    # R10.2: a new webhook starts with the events after it; another tenant's never reach it
    new_customer(world, "订阅之前")
    subscribe(world, receiver, ["*"])
    other = build_world("别家公司")
    customer_services.create_customer(actor=other.admin, data={"name": "别家客户"})
    new_customer(world, "订阅之后")
    webhooks.sweep()
    reprs = [p["object"]["repr"] for p in receiver.payloads()]
    assert "订阅之后" in reprs
    assert "订阅之前" not in reprs and "别家客户" not in reprs
    assert all(p["org"] == world.org.pk for p in receiver.payloads())
    # security-relevant events (users, tokens, webhooks themselves) are never subscribable
    assert not any(
        p["type"].split(".")[0] in ("user", "token", "webhook") for p in receiver.payloads()
    )


# --- Retries, dead letters, redelivery ------------------------------------------------------------
def test_a_failed_delivery_is_retried_after_the_backoff(world: World, receiver: Receiver) -> None:
    # R10.2: a 500 is retried (after a minute), with the same delivery id
    endpoint, _secret = subscribe(world, receiver, ["customer.created"])
    receiver.codes = [500]
    start = timezone.now()
    new_customer(world, "重试客户")
    webhooks.sweep()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("failed", 1, 500)
    assert delivery.last_error == "HTTP 500"
    wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert EXPECTED_WAITS[0] <= wait < EXPECTED_WAITS[0] + dt.timedelta(seconds=10)
    webhooks.sweep()  # not due yet
    assert len(receiver.requests) == 1
    with time_machine.travel(start + dt.timedelta(seconds=75), tick=True):
        webhooks.sweep()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("sent", 2, 200)
    ids = [r["headers"]["X-CRM-Delivery"] for r in receiver.requests]
    assert len(ids) == 2 and ids[0] == ids[1] == str(delivery.event_id)


def test_a_delivery_is_dead_after_the_last_attempt_and_can_be_redelivered(
    world: World, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    # R10.2: 1 min, 5 min, 30 min, 2 h, 12 h between six attempts, then dead; an administrator
    # sends it again by hand (the on-commit trigger delivers it at once)
    endpoint, _secret = subscribe(world, receiver, ["customer.created"])
    receiver.default = 503
    new_customer(world, "放弃客户")
    now = timezone.now()
    webhooks.sweep()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    for attempt, wait in enumerate(EXPECTED_WAITS, start=1):
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("failed", attempt)
        measured = delivery.next_attempt_at - delivery.last_attempt_at
        assert wait <= measured < wait + dt.timedelta(seconds=10)
        now = delivery.next_attempt_at + dt.timedelta(seconds=1)
        with time_machine.travel(now, tick=True):
            webhooks.sweep()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("dead", 6, None)
    assert len(receiver.requests) == 6
    with time_machine.travel(now + dt.timedelta(days=2), tick=True):
        webhooks.sweep()
    assert len(receiver.requests) == 6  # dead stays dead
    # manual redelivery from the deliveries page
    receiver.default = 200
    client = login_client(world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(reverse("webhooks:redeliver", args=[delivery.pk]))
    assert r.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("sent", 1, 200)
    assert len(receiver.requests) == 7
    assert receiver.requests[-1]["headers"]["X-CRM-Delivery"] == str(delivery.event_id)
    assert Event.objects.filter(verb="webhook.redelivered").count() == 1


def test_a_redirect_is_a_failure_and_is_not_followed(world: World, receiver: Receiver) -> None:
    # R10.2 / F1: 3xx answers are recorded, never followed
    endpoint, _secret = subscribe(world, receiver, ["customer.created"])
    receiver.codes = [302]
    new_customer(world, "跳转客户")
    webhooks.sweep()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.last_response_code) == ("failed", 302)
    assert len(receiver.requests) == 1


def test_a_name_that_now_resolves_privately_is_refused_at_delivery(
    world: World, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R10.2 / F1: the check runs again at every delivery (DNS may change after saving)
    from crm.core import ssrf

    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["93.184.216.34"])
    port = receiver.server.server_address[1]
    endpoint, _secret = webhooks.create_endpoint(
        actor=world.admin,
        data={
            "name": "公网",
            "url": f"http://hooks.example.com:{port}/hook",
            "event_types": ["customer.created"],
        },
    )
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["127.0.0.1"])
    new_customer(world, "重新解析")
    webhooks.sweep()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == "failed" and delivery.last_response_code is None
    assert delivery.last_error
    assert receiver.requests == []


def test_a_paused_webhook_sends_nothing(world: World, receiver: Receiver) -> None:
    # R10.2
    endpoint, _secret = subscribe(world, receiver, ["customer.created"])
    webhooks.update_endpoint(actor=world.admin, endpoint=endpoint, data={"is_active": False})
    new_customer(world, "暂停期间")
    webhooks.sweep()
    assert receiver.requests == []
    webhooks.update_endpoint(actor=world.admin, endpoint=endpoint, data={"is_active": True})
    new_customer(world, "恢复之后")
    webhooks.sweep()
    assert [p["object"]["repr"] for p in receiver.payloads()] == ["恢复之后"]


# --- Outbox guarantees ---------------------------------------------------------------------------
def test_an_event_of_a_rolled_back_transaction_is_never_sent(
    world: World, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    # R10.2 (DESIGN: transactional outbox): nothing is sent for a change that rolled back
    subscribe(world, receiver, ["customer.created"])
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        new_customer(world, "回滚客户")
        raise RuntimeError("rolled back")
    assert callbacks == []
    webhooks.sweep()
    assert receiver.requests == []
    assert not Customer.objects.filter(name="回滚客户").exists()
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_commit_of_an_event_triggers_its_delivery(receiver: Receiver) -> None:
    # R10.2: the on-commit trigger delivers without waiting for the sweep
    world = build_world()
    subscribe(world, receiver, ["customer.created"])
    customer = new_customer(world, "提交即发")
    assert [p["object"]["id"] for p in receiver.payloads()] == [str(customer.pk)]
    webhooks.sweep()  # the sweep finds nothing left to send
    assert len(receiver.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_each_event_is_delivered_once_even_when_two_sweeps_run_at_once(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R10.2, RELIABILITY 4.5: two schedulers sweeping at the same moment post every event once
    from crm.core import webhook_tasks

    monkeypatch.setattr(webhook_tasks.webhooks, "has_active_endpoints", lambda org_id: False)
    world = build_world()
    endpoint, _secret = subscribe(world, receiver, ["customer.created"])
    second = subscribe(world, receiver, ["customer.*"])[0]
    names = [f"并发客户{i}" for i in range(6)]
    for name in names:
        new_customer(world, name)
    assert receiver.requests == []
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            webhooks.sweep()
            webhooks.sweep()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    per_endpoint = Counter(
        (r["path"], r["headers"]["X-CRM-Delivery"], r["headers"]["X-CRM-Signature"])
        for r in receiver.requests
    )
    assert all(n == 1 for n in per_endpoint.values()), per_endpoint
    created = list(
        Event.objects.filter(org=world.org, verb="customer.created", object_repr__in=names)
    )
    ids = Counter(r["headers"]["X-CRM-Delivery"] for r in receiver.requests)
    # each customer.created event went to both endpoints exactly once
    assert {str(e.pk) for e in created} <= set(ids)
    assert all(ids[str(e.pk)] == 2 for e in created)
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == len(names)
    assert WebhookDelivery.objects.filter(endpoint=second, status="sent").count() == len(
        receiver.requests
    ) - len(names)


@pytest.mark.django_db(transaction=True)
def test_one_delivery_claimed_by_many_senders_is_posted_once(receiver: Receiver) -> None:
    # R10.2: the conditional UPDATE lets exactly one sender have a due delivery
    world = build_world()
    endpoint, _secret = subscribe(world, receiver, ["customer.created"])
    webhooks.update_endpoint(actor=world.admin, endpoint=endpoint, data={"is_active": False})
    new_customer(world, "争抢客户")
    webhooks.update_endpoint(actor=world.admin, endpoint=endpoint, data={"is_active": True})
    event = Event.objects.get(verb="customer.created", object_repr="争抢客户")
    delivery = WebhookDelivery.objects.create(
        org=world.org, endpoint=endpoint, event=event, next_attempt_at=timezone.now()
    )
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            barrier.wait()
            results.append(webhooks.send_delivery(delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results, key=str) == [None, None, None, True]
    assert len(receiver.requests) == 1


# --- Administration: services, API, pages ---------------------------------------------------------
def test_only_administrators_manage_webhooks_and_urls_are_checked(world: World) -> None:
    # R10.2: settings:configure only; private URLs need the explicit allowance; types checked
    rep = world.users["rep_east"]
    data = {"name": "x", "url": "https://erp.example.com/h", "event_types": ["customer.*"]}
    with pytest.raises(PermissionDenied):
        webhooks.create_endpoint(actor=rep, data=data)
    for url in ("http://127.0.0.1/h", "http://169.254.169.254/", "ftp://x.example.com/"):
        with pytest.raises(ValidationFailed) as info:
            webhooks.create_endpoint(actor=world.admin, data={**data, "url": url})
        assert "url" in info.value.field_errors
    with pytest.raises(ValidationFailed) as info:
        webhooks.create_endpoint(
            actor=world.admin,
            data={**data, "url": "http://169.254.169.254/", "allowed_private_host": True},
        )
    for bad in (["user.created"], ["token.*"], [], ["customer"]):
        with pytest.raises(ValidationFailed) as info:
            webhooks.create_endpoint(actor=world.admin, data={**data, "event_types": bad})
        assert "event_types" in info.value.field_errors
    endpoint, secret = webhooks.create_endpoint(
        actor=world.admin, data={**data, "url": "http://10.0.0.5/h", "allowed_private_host": True}
    )
    assert secret.startswith("whsec_") and len(secret) > 30
    created = Event.objects.get(verb="webhook.created", object_id=str(endpoint.pk))
    assert created.data == {"private_host_allowed": True}
    assert secret not in json.dumps(created.changes)
    new = webhooks.rotate_secret(actor=world.admin, endpoint=endpoint)
    assert new != secret and WebhookEndpoint.objects.get(pk=endpoint.pk).secret == new


def test_the_api_manages_webhooks_for_administrators_only(
    world: World, api_client: Any, receiver: Receiver
) -> None:
    # R10.1 / R10.2: CRUD, rotate, deliveries, redeliver; others 403/404/empty; other org 404
    admin = api_client(world.admin)
    body = {
        "name": "财务系统",
        "url": receiver.url,
        "event_types": ["receipt.*", "customer.created"],
        "allowed_private_host": True,
    }
    r = admin.post("/api/v1/webhooks/endpoints", body, content_type="application/json")
    assert r.status_code == 201, r.content
    created = r.json()
    assert created["secret"].startswith("whsec_")
    hook_id = created["id"]
    r = admin.get(f"/api/v1/webhooks/endpoints/{hook_id}")
    assert r.status_code == 200 and "secret" not in r.json()
    assert admin.get("/api/v1/webhooks/endpoints").json()["count"] == 1
    r = admin.patch(
        f"/api/v1/webhooks/endpoints/{hook_id}",
        {"event_types": ["customer.*"]},
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["event_types"] == ["customer.*"]
    r = admin.patch(
        f"/api/v1/webhooks/endpoints/{hook_id}",
        {"url": "http://[::1]/x", "allowed_private_host": False},
        content_type="application/json",
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "url"
    r = admin.post(f"/api/v1/webhooks/endpoints/{hook_id}/rotate-secret")
    secret = r.json()["secret"]
    assert WebhookEndpoint.objects.get(pk=hook_id).secret == secret
    kinds = {t["value"] for t in admin.get("/api/v1/webhooks/event-types").json()}
    assert {"*", "customer.*", "customer.created", "opportunity.stage_changed"} <= kinds
    assert not any(k.startswith(("user.", "token.", "role.")) for k in kinds)
    # a delivery, then its log and a redelivery
    receiver.codes = [500]
    new_customer(world, "接口客户")
    webhooks.sweep()
    r = admin.get(f"/api/v1/webhooks/endpoints/{hook_id}/deliveries?status=failed")
    (row,) = r.json()["items"]
    assert (row["event_type"], row["last_response_code"], row["attempts"]) == (
        "customer.created",
        500,
        1,
    )
    r = admin.post(f"/api/v1/webhooks/deliveries/{row['id']}/redeliver")
    assert r.status_code == 200 and r.json()["status"] == "pending"
    webhooks.sweep()
    assert WebhookDelivery.objects.get(pk=row["id"]).status == "sent"
    # a rep: 403 on writes, empty list, 404 on the record
    rep = api_client(world.users["director"])
    assert (
        rep.post("/api/v1/webhooks/endpoints", body, content_type="application/json").status_code
        == 403
    )
    assert rep.get("/api/v1/webhooks/endpoints").json()["items"] == []
    assert rep.get(f"/api/v1/webhooks/endpoints/{hook_id}").status_code == 404
    assert rep.post(f"/api/v1/webhooks/endpoints/{hook_id}/rotate-secret").status_code == 403
    # another organisation's administrator: 404, nothing changes
    other = api_client(build_world("别家").admin)
    assert other.get(f"/api/v1/webhooks/endpoints/{hook_id}").status_code == 404
    assert other.delete(f"/api/v1/webhooks/endpoints/{hook_id}").status_code == 404
    assert other.post(f"/api/v1/webhooks/deliveries/{row['id']}/redeliver").status_code == 404
    assert WebhookEndpoint.objects.filter(pk=hook_id).exists()
    assert admin.delete(f"/api/v1/webhooks/endpoints/{hook_id}").status_code == 204
    assert not WebhookDelivery.objects.filter(endpoint_id=hook_id).exists()


def test_the_pages_create_show_the_secret_once_and_list_deliveries(
    world: World, receiver: Receiver
) -> None:
    # R10.2: settings pages for administrators; the secret appears only on the create answer
    client = login_client(world.admin)
    assert client.get(reverse("webhooks:list")).status_code == 200
    r = client.get(reverse("webhooks:create"))
    assert r.status_code == 200 and b"private-host-warning" in r.content
    r = client.post(
        reverse("webhooks:create"),
        {"name": "页面钩子", "url": "http://127.0.0.1:1/x", "event_types": ["customer.created"]},
    )
    assert r.status_code == 400  # loopback without the allowance
    r = client.post(
        reverse("webhooks:create"),
        {
            "name": "页面钩子",
            "url": receiver.url,
            "event_types": ["customer.created", "lead.*"],
            "is_active": "on",
            "allowed_private_host": "on",
        },
    )
    assert r.status_code == 200
    endpoint = WebhookEndpoint.objects.get(name="页面钩子")
    assert endpoint.secret in r.content.decode()
    assert endpoint.event_types == ["customer.created", "lead.*"]
    assert "no-store" in r.headers["Cache-Control"]
    edit = client.get(reverse("webhooks:edit", args=[endpoint.pk]))
    assert edit.status_code == 200 and endpoint.secret not in edit.content.decode()
    new_customer(world, "页面客户")
    webhooks.sweep()
    r = client.get(reverse("webhooks:deliveries", args=[endpoint.pk]))
    assert r.status_code == 200
    text = r.content.decode()
    assert "customer.created" in text and "200" in text and "页面客户" in text
    listing = client.get(reverse("webhooks:list")).content.decode()
    assert "页面钩子" in listing
    rep = login_client(world.users["rep_east"])
    assert rep.get(reverse("webhooks:list")).status_code == 403
    assert rep.get(reverse("webhooks:edit", args=[endpoint.pk])).status_code in (403, 404)
