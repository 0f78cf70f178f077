"""POST /api/v1/customers/customers/release (issue 7, R10.1 api-gaps): the list page's bulk
"release to the pool" through the API — all or nothing, through ``pool_services.release``."""

from __future__ import annotations

import itertools
import json
from typing import Any

from crm.core.models import Event
from crm.core.testing.world import World
from crm.customers.models import Customer
from crm.customers.services import create_customer
from crm.org.models import User

URL = "/api/v1/customers/customers/release"


def _post(client: Any, body: dict[str, Any]) -> Any:
    return client.post(URL, json.dumps(body), content_type="application/json")


_seq = itertools.count(1)


def _mine(world: World, key: str, n: int) -> list[Customer]:
    user = User.objects.get(pk=world.users[key].pk)
    return [
        create_customer(actor=user, data={"name": f"释放客户{key}{next(_seq)}"}) for _ in range(n)
    ]


def test_bulk_release_puts_every_customer_in_the_pool_with_its_event(
    world: World, api_client: Any
) -> None:
    # R10.1: same service as the page; each release leaves customer.released
    customers = _mine(world, "rep_east", 2)
    ids = [c.pk for c in customers]
    r = _post(api_client(world.users["rep_east"]), {"ids": ids, "reason": "无法联系"})
    assert r.status_code == 200, r.content
    assert r.json() == {"count": 2}
    assert not Customer.objects.filter(pk__in=ids, owner__isnull=False).exists()
    assert Event.objects.filter(verb="customer.released", object_id__in=map(str, ids)).count() == 2


def test_bulk_release_is_all_or_nothing(world: World, api_client: Any) -> None:
    # R10.1: someone else's customer (out of scope) → 404 and nothing moves; a confidential
    # one is refused by the service and the others stay owned too
    mine = _mine(world, "rep_east", 1)
    theirs = _mine(world, "rep_sales2", 1)
    client = api_client(world.users["rep_east"])
    r = _post(client, {"ids": [mine[0].pk, theirs[0].pk], "reason": "x"})
    assert r.status_code == 404
    assert Customer.objects.get(pk=mine[0].pk).owner_id == world.users["rep_east"].pk
    r = _post(client, {"ids": [mine[0].pk], "reason": ""})
    assert r.status_code == 422
    confidential = _mine(world, "rep_east", 1)[0]
    Customer.objects.filter(pk=confidential.pk).update(is_confidential=True)
    r = _post(client, {"ids": [mine[0].pk, confidential.pk], "reason": "x"})
    assert r.status_code == 400
    assert Customer.objects.get(pk=mine[0].pk).owner_id == world.users["rep_east"].pk
    assert not Event.objects.filter(verb="customer.released").exists()
    r = _post(api_client(world.users["nobody"]), {"ids": [mine[0].pk], "reason": "x"})
    assert r.status_code == 403
