"""POST /api/v1/opportunities/bulk/transfer (issue 7, R10.1 api-gaps): the list page's bulk
transfer through the API — all or nothing, through ``transfer_opportunities`` with its events."""

from __future__ import annotations

import json
from typing import Any

from crm.core.models import Event
from crm.core.testing.world import World
from crm.customers.services import create_customer
from crm.org.models import User
from crm.pipeline import opportunities as services
from crm.pipeline.models import Opportunity

URL = "/api/v1/opportunities/bulk/transfer"


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def _opportunities(world: World, n: int) -> list[Opportunity]:
    admin = fresh(world.admin)
    customer = create_customer(actor=admin, data={"name": "批量转移客户"})
    return [
        services.create_opportunity(
            actor=admin, customer=customer, data={"name": f"批量商机{i}", "expected_amount": "1"}
        )
        for i in range(n)
    ]


def _post(client: Any, body: dict[str, Any]) -> Any:
    return client.post(URL, json.dumps(body), content_type="application/json")


def test_bulk_transfer_moves_every_opportunity_with_its_event(
    world: World, api_client: Any
) -> None:
    # R10.1: same service as the page, one opportunity.transferred event each
    opps = _opportunities(world, 3)
    to = world.users["director"]
    r = _post(api_client(world.admin), {"ids": [o.pk for o in opps], "to_user_id": to.pk})
    assert r.status_code == 200, r.content
    assert r.json() == {"count": 3}
    assert set(
        Opportunity.objects.filter(pk__in=[o.pk for o in opps]).values_list("owner_id", flat=True)
    ) == {to.pk}
    assert Event.objects.filter(verb="opportunity.transferred").count() == 3


def test_bulk_transfer_is_all_or_nothing_and_needs_the_permission(
    world: World, other_world: World, api_client: Any
) -> None:
    # R10.1: an id of another organisation makes the whole request 404 and nothing moves;
    # a rep without opportunities:transfer gets 403
    opps = _opportunities(world, 2)
    foreign = _opportunities(other_world, 1)[0]
    ids = [o.pk for o in opps]
    to = world.users["director"]
    r = _post(api_client(world.admin), {"ids": [*ids, foreign.pk], "to_user_id": to.pk})
    assert r.status_code == 404
    assert set(Opportunity.objects.filter(pk__in=ids).values_list("owner_id", flat=True)) == {
        world.admin.pk
    }
    r = _post(api_client(world.users["rep_east"]), {"ids": ids, "to_user_id": to.pk})
    assert r.status_code == 403
    r = _post(api_client(world.admin), {"ids": ids, "to_user_id": other_world.admin.pk})
    assert r.status_code == 404
    assert not Event.objects.filter(verb="opportunity.transferred").exists()
