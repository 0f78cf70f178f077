"""Idempotency-Key on API writes (R10.1): a retried POST with the same key and body answers the
first answer and writes once; the same key with another body is refused (422); keys belong to
their caller; server errors are not remembered."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.test import Client
from django.utils import timezone

from crm.core.idempotency import IdempotencyRecord, purge_expired
from crm.core.testing.world import World
from crm.customers.models import Customer


def post(client: Client, body: dict[str, Any], key: str | None) -> Any:
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(
        "/api/v1/customers/customers", json.dumps(body), content_type="application/json", **extra
    )


def test_a_retried_post_creates_one_record_and_answers_the_same(
    world: World, api_client: Any
) -> None:
    # R10.1: same key + same body → one effect, the same answer, marked as a replay
    client = api_client(world.users["rep_east"])
    first = post(client, {"name": "幂等测试有限公司"}, "order-7f3a")
    assert first.status_code == 201, first.content
    again = post(client, {"name": "幂等测试有限公司"}, "order-7f3a")
    assert again.status_code == 201
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert Customer.objects.filter(name="幂等测试有限公司").count() == 1


def test_the_same_key_with_another_body_is_refused(world: World, api_client: Any) -> None:
    # R10.1: same key, different body → 422 and nothing written
    client = api_client(world.users["rep_east"])
    assert post(client, {"name": "甲方一号公司"}, "k-1").status_code == 201
    refused = post(client, {"name": "甲方二号公司"}, "k-1")
    assert refused.status_code == 422
    assert refused.json()["code"] == "idempotency_key_reused"
    assert not Customer.objects.filter(name="甲方二号公司").exists()


def test_keys_belong_to_their_caller(world: World, api_client: Any) -> None:
    # a colleague using the same key runs their own request, never sees the first answer
    mine = api_client(world.users["rep_east"])
    theirs = api_client(world.users["rep_east2"])
    a = post(mine, {"name": "各自的公司甲"}, "shared-key")
    b = post(theirs, {"name": "各自的公司甲"}, "shared-key")
    assert a.status_code == 201 and b.status_code in (201, 409, 422)
    assert "Idempotent-Replayed" not in b
    assert b.content != a.content


def test_errors_are_replayed_but_requests_without_a_key_are_not_affected(
    world: World, api_client: Any
) -> None:
    client = api_client(world.users["rep_east"])
    bad = post(client, {"name": ""}, "bad-1")
    assert bad.status_code == 422
    assert post(client, {"name": ""}, "bad-1").content == bad.content
    assert post(client, {"name": "无键公司"}, None).status_code == 201
    assert post(client, {"name": "无键公司二"}, None).status_code == 201
    too_long = post(client, {"name": "x"}, "k" * 201)
    assert too_long.status_code == 400
    assert too_long.json()["code"] == "invalid_idempotency_key"


def test_a_running_request_answers_409_and_old_keys_are_forgotten(
    world: World, api_client: Any
) -> None:
    client = api_client(world.users["rep_east"])
    first = post(client, {"name": "进行中公司"}, "slow")
    assert first.status_code == 201
    record = IdempotencyRecord.objects.get(key="slow")
    IdempotencyRecord.objects.filter(pk=record.pk).update(status_code=None)  # as if still running
    busy = post(client, {"name": "进行中公司"}, "slow")
    assert busy.status_code == 409 and busy.json()["code"] == "idempotency_in_progress"
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert purge_expired() == 1
    assert not IdempotencyRecord.objects.exists()
