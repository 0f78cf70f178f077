"""/api/v1/pipeline/ (R4.4, R4.5): pipelines with their stage trees and the dictionaries.
Anyone who may view opportunities reads pipelines; writes need a configure permission (403);
another organisation's ids answer 404 on read and write and change nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from crm.core.models import Event
from crm.core.testing.world import World
from crm.org.models import User
from crm.pipeline import services
from crm.pipeline.models import DictionaryItem, DictionaryKind, Pipeline, Stage

from .conftest import b2b_pipeline, it_pipeline, state, top

BASE = "/api/v1/pipeline"


def call(client: Client, method: str, path: str, body: Any = None) -> Any:
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs = {"data": json.dumps(body), "content_type": "application/json"}
    return getattr(client, method)(f"{BASE}{path}", **kwargs)


@pytest.fixture
def as_admin(world: World, api_client: Any) -> Client:
    return api_client(world.admin)


# --- reading -------------------------------------------------------------------------------------


def test_anonymous_gets_401(world: World) -> None:
    # R10.1 R11.2: every operation needs authentication
    it = it_pipeline(world.org)
    for method, path in [
        ("get", "/pipelines"),
        ("get", f"/pipelines/{it.pk}"),
        ("post", "/pipelines"),
        ("get", "/dictionaries/loss_reason"),
    ]:
        assert call(Client(), method, path, {} if method == "post" else None).status_code == 401


def test_list_pipelines(world: World, api_client: Any, rep: User) -> None:
    # R4.4: a rep (opportunities:view) reads the organisation's pipelines in order
    body = call(api_client(rep), "get", "/pipelines").json()
    it, b2b = it_pipeline(world.org), b2b_pipeline(world.org)
    assert body["count"] == 2
    assert [(p["id"], p["is_default"], p["business_type"]) for p in body["items"]] == [
        (it.pk, True, "project"),
        (b2b.pk, False, "product"),
    ]
    body = call(api_client(rep), "get", "/pipelines?sort=-name").json()
    assert [p["id"] for p in body["items"]] == sorted(
        [it.pk, b2b.pk], key=lambda pk: Pipeline.objects.get(pk=pk).name, reverse=True
    )
    assert call(api_client(rep), "get", "/pipelines?sort=secret").status_code == 400


def test_without_opportunities_view_nothing_is_visible(world: World, api_client: Any) -> None:
    # R1.3: a role with customer permissions only sees no pipelines
    from crm.core.testing.world import make_role, make_user

    customers_only = make_role(world.admin, "只管客户", "self", ["customers:view"])
    client = api_client(
        make_user(world.admin, "只管客户的人", world.depts["east"], [customers_only])
    )
    assert call(client, "get", "/pipelines").json()["count"] == 0
    assert call(client, "get", f"/pipelines/{it_pipeline(world.org).pk}").status_code == 404


def test_pipeline_detail_has_the_stage_tree(world: World, as_admin: Client) -> None:
    # R4.4 R4.5: stages in order with kind, probability, stalled days, guidance and nodes
    it = it_pipeline(world.org)
    body = call(as_admin, "get", f"/pipelines/{it.pk}").json()
    stages = top(it)
    assert [s["id"] for s in body["stages"]] == [s.pk for s in stages]
    assert [(s["kind"], s["default_probability"], s["max_days"]) for s in body["stages"]] == [
        (s.kind, s.default_probability, s.max_days) for s in stages
    ]
    approval = body["stages"][4]
    assert [n["name"] for n in approval["nodes"]] == list(
        Stage.objects.filter(parent_id=approval["id"])
        .order_by("sort_order")
        .values_list("name", flat=True)
    )
    assert len(approval["nodes"]) == 5
    assert [len(s["nodes"]) for s in body["stages"]] == [0, 0, 0, 0, 5, 4, 0, 0, 0, 0]
    assert approval["guidance"] == stages[4].guidance
    # the same tree on its own
    tree = call(as_admin, "get", f"/pipelines/{it.pk}/stages").json()
    assert tree == body["stages"]


# --- writing -------------------------------------------------------------------------------------


def test_create_update_and_copy_a_pipeline(world: World, as_admin: Client) -> None:
    # R4.4: POST, PATCH, copy
    response = call(
        as_admin, "post", "/pipelines", {"name": "渠道销售", "business_type": "service"}
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["business_type"], body["is_default"], body["sort_order"]) == (
        "渠道销售",
        "service",
        False,
        3,
    )
    assert [s["kind"] for s in body["stages"]] == ["won", "lost"]
    response = call(as_admin, "patch", f"/pipelines/{body['id']}", {"description": "经销商"})
    assert (response.status_code, response.json()["description"]) == (200, "经销商")
    response = call(as_admin, "post", f"/pipelines/{body['id']}/copy", {"name": "渠道销售二"})
    assert response.status_code == 201
    assert [s["kind"] for s in response.json()["stages"]] == ["won", "lost"]
    assert Pipeline.objects.filter(org=world.org).count() == 4


def test_validation_errors_answer_400_and_change_nothing(world: World, as_admin: Client) -> None:
    # R4.4: the shared error shape with field messages
    it = it_pipeline(world.org)
    won = next(s for s in top(it) if s.kind == "won")
    before = state(world.org)
    cases = [
        ("post", "/pipelines", {"name": it.name}, "name"),
        ("patch", f"/pipelines/{it.pk}", {"is_active": False}, "is_active"),
        ("post", f"/pipelines/{it.pk}/stages", {"name": "x", "default_probability": 101}, None),
        ("post", f"/pipelines/{it.pk}/stages", {"name": "x", "max_days": 0}, "max_days"),
        ("post", f"/pipelines/{it.pk}/stages", {"name": "x", "kind": "won"}, "kind"),
        ("post", f"/pipelines/{it.pk}/stages", {"name": "x", "parent_id": won.pk}, "parent"),
        ("patch", f"/stages/{won.pk}", {"is_active": False}, "kind"),
        ("patch", f"/stages/{won.pk}", {"default_probability": -1}, "default_probability"),
    ]
    for method, path, payload, field in cases:
        response = call(as_admin, method, path, payload)
        assert response.status_code == 400, (path, payload, response.content)
        body = response.json()
        assert body["code"] == "validation_error"
        if field:
            assert [e["field"] for e in body["errors"]] == [field] * len(body["errors"])
    assert state(world.org) == before
    response = call(as_admin, "post", f"/pipelines/{it.pk}/stages", {"name": "x", "kind": "won"})
    assert response.json()["errors"] == [
        {"field": "kind", "message": "A pipeline has exactly one active won stage."}
    ]


def test_stage_crud(world: World, as_admin: Client) -> None:
    # R4.4: add a stage and a node, change, reorder, retire, restore, delete
    b2b = b2b_pipeline(world.org)
    response = call(
        as_admin,
        "post",
        f"/pipelines/{b2b.pk}/stages",
        {"name": "签约", "default_probability": 90, "max_days": 7, "guidance": "盖章"},
    )
    assert response.status_code == 201
    stage = response.json()
    assert (stage["kind"], stage["sort_order"], stage["max_days"], stage["nodes"]) == (
        "open",
        5,
        7,
        [],
    )
    response = call(
        as_admin,
        "post",
        f"/pipelines/{b2b.pk}/stages",
        {"name": "法务审核", "parent_id": stage["id"]},
    )
    assert response.status_code == 201
    node = response.json()
    assert (node["parent_id"], node["default_probability"], node["sort_order"]) == (
        stage["id"],
        90,
        1,
    )
    body = call(as_admin, "get", f"/stages/{stage['id']}").json()
    assert [n["id"] for n in body["nodes"]] == [node["id"]]
    body = call(
        as_admin, "patch", f"/stages/{stage['id']}", {"max_days": None, "name": "签约盖章"}
    ).json()
    assert (body["name"], body["max_days"]) == ("签约盖章", None)
    ids = [s.pk for s in top(b2b)]
    new = [ids[4], *ids[:4], *ids[5:]]
    body = call(as_admin, "post", f"/pipelines/{b2b.pk}/stages/reorder", {"ids": new}).json()
    assert [s["id"] for s in body] == new
    body = call(as_admin, "post", f"/stages/{node['id']}/retire").json()
    assert body["is_active"] is False
    body = call(as_admin, "patch", f"/stages/{node['id']}", {"is_active": True}).json()
    assert body["is_active"] is True
    assert call(as_admin, "delete", f"/stages/{stage['id']}").status_code == 204
    assert not Stage.objects.filter(pk__in=[stage["id"], node["id"]]).exists()


def test_a_stage_in_use_answers_409_on_delete(world: World, as_admin: Client) -> None:
    # R4.4: stages in use cannot be deleted, only retired
    it = it_pipeline(world.org)
    tender = top(it)[7]
    services.register_stage_in_use(lambda stage: stage.pk == tender.pk)
    before = state(world.org)
    response = call(as_admin, "delete", f"/stages/{tender.pk}")
    assert (response.status_code, response.json()["code"]) == (409, "conflict")
    assert state(world.org) == before
    assert call(as_admin, "post", f"/stages/{tender.pk}/retire").json()["is_active"] is False


def test_dictionaries(world: World, as_admin: Client, api_client: Any, rep: User) -> None:
    # R4.4: the lists, their items, add, rename, deactivate, reorder
    kinds = call(api_client(rep), "get", "/dictionaries").json()
    assert [k["kind"] for k in kinds] == list(DictionaryKind.values)
    items = call(api_client(rep), "get", "/dictionaries/probability_level").json()
    assert [i["value"] for i in items] == ["very_high", "high", "medium", "low"]
    assert call(as_admin, "get", "/dictionaries/nonsense").status_code == 404
    response = call(
        as_admin, "post", "/dictionaries/feedback_cycle", {"label": "双周", "value": "15d"}
    )
    assert response.status_code == 201
    item = response.json()
    assert (item["kind"], item["value"], item["label"], item["is_active"]) == (
        "feedback_cycle",
        "15d",
        "双周",
        True,
    )
    body = call(
        as_admin, "patch", f"/dictionaries/feedback_cycle/{item['id']}", {"label": "半月"}
    ).json()
    assert (body["value"], body["label"]) == ("15d", "半月")
    body = call(
        as_admin, "patch", f"/dictionaries/feedback_cycle/{item['id']}", {"is_active": False}
    ).json()
    assert body["is_active"] is False
    active = call(as_admin, "get", "/dictionaries/feedback_cycle?include_inactive=false").json()
    assert [i["value"] for i in active] == ["1d", "3d", "7d", "14d", "30d"]
    # an item of another list under this list's path is not found
    other = DictionaryItem.objects.get(org=world.org, kind="loss_reason", value="price")
    assert (
        call(
            as_admin, "patch", f"/dictionaries/feedback_cycle/{other.pk}", {"label": "x"}
        ).status_code
        == 404
    )
    ids = [i["id"] for i in call(as_admin, "get", "/dictionaries/probability_level").json()]
    body = call(as_admin, "post", "/dictionaries/probability_level/reorder", {"ids": ids[::-1]})
    assert [i["value"] for i in body.json()] == ["low", "medium", "high", "very_high"]


# --- permissions and other organisations ---------------------------------------------------------


def write_calls(world: World) -> list[tuple[str, str, Any]]:
    it = it_pipeline(world.org)
    stage = top(it)[0]
    item = DictionaryItem.objects.get(org=world.org, kind="loss_reason", value="price")
    return [
        ("patch", f"/pipelines/{it.pk}", {"name": "改名"}),
        ("post", f"/pipelines/{it.pk}/copy", {"name": "副本"}),
        ("post", f"/pipelines/{it.pk}/stages", {"name": "新阶段"}),
        ("post", f"/pipelines/{it.pk}/stages/reorder", {"ids": [s.pk for s in top(it)]}),
        ("patch", f"/stages/{stage.pk}", {"name": "改名"}),
        ("post", f"/stages/{stage.pk}/retire", None),
        ("post", f"/stages/{stage.pk}/restore", None),
        ("delete", f"/stages/{stage.pk}", None),
        ("patch", f"/dictionaries/loss_reason/{item.pk}", {"label": "改名"}),
    ]


def test_a_rep_gets_403_on_every_write(world: World, api_client: Any, rep: User) -> None:
    # R1.3 R4.4: writes need opportunities:configure or settings:configure
    client = api_client(rep)
    before = state(world.org)
    calls = [
        *write_calls(world),
        ("post", "/pipelines", {"name": "新流程"}),
        ("post", "/dictionaries/loss_reason", {"label": "天气"}),
        ("post", "/dictionaries/loss_reason/reorder", {"ids": []}),
    ]
    for method, path, payload in calls:
        response = call(client, method, path, payload)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied"), path
    assert state(world.org) == before


def test_another_organisations_ids_answer_404(
    world: World, other_world: World, api_client: Any
) -> None:
    # R1.1: read and write of foreign pipelines, stages and items: 404, nothing changes
    client = api_client(other_world.admin)
    it = it_pipeline(world.org)
    stage = top(it)[4]
    item = DictionaryItem.objects.get(org=world.org, kind="loss_reason", value="price")
    mine, theirs = state(world.org), state(other_world.org)
    events = Event.objects.count()
    reads = [
        f"/pipelines/{it.pk}",
        f"/pipelines/{it.pk}/stages",
        f"/stages/{stage.pk}",
    ]
    for path in reads:
        assert call(client, "get", path).status_code == 404, path
    for method, path, payload in write_calls(world):
        response = call(client, method, path, payload)
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), path
    # a foreign parent stage under the outsider's own pipeline is not found either
    own = it_pipeline(other_world.org)
    response = call(
        client, "post", f"/pipelines/{own.pk}/stages", {"name": "x", "parent_id": stage.pk}
    )
    assert response.status_code == 404
    response = call(
        client, "post", f"/pipelines/{own.pk}/stages/reorder", {"ids": [], "parent_id": stage.pk}
    )
    assert response.status_code == 404
    assert call(client, "get", "/dictionaries/loss_reason").json()[0]["id"] != item.pk
    assert (state(world.org), state(other_world.org), Event.objects.count()) == (
        mine,
        theirs,
        events,
    )
