"""Approval flows and steps through the API (issue 7, R10.1 api-gaps): the settings pages'
``flow_services`` — create, replace, move, steps added, changed, moved and removed — with the
``approval_flow.*`` audit events; sales:configure only, other organisations 404."""

from __future__ import annotations

import json
from typing import Any

from crm.core.models import Event
from crm.core.testing.world import World
from crm.sales.models import ApprovalFlow, ApprovalStep


def _json(client: Any, method: str, url: str, body: dict[str, Any]) -> Any:
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


BASE = "/api/v1/contracts"


def test_an_administrator_builds_a_flow_with_steps(world: World, api_client: Any) -> None:
    # R10.1: each change through flow_services, each leaving its approval_flow.* event
    admin = api_client(world.admin)
    r = _json(
        admin,
        "post",
        f"{BASE}/approval-flows",
        {"name": "大额合同", "subject": "contract", "min_amount": "100000"},
    )
    assert r.status_code == 201, r.content
    flow = r.json()
    assert flow["min_amount"] == "100000.00" and flow["steps"] == []
    url = f"{BASE}/approval-flows/{flow['id']}"
    r = _json(admin, "post", f"{url}/steps", {"name": "经理", "approver_kind": "manager"})
    assert r.status_code == 201, r.content
    r = _json(
        admin,
        "post",
        f"{url}/steps",
        {"name": "总监", "approver_kind": "user", "user_id": world.users["director"].pk},
    )
    steps = r.json()["steps"]
    assert [s["name"] for s in steps] == ["经理", "总监"]
    assert steps[1]["user_id"] == world.users["director"].pk
    r = _json(admin, "post", f"{BASE}/approval-steps/{steps[1]['id']}/move", {"direction": "up"})
    assert [s["name"] for s in r.json()["steps"]] == ["总监", "经理"]
    r = _json(
        admin,
        "put",
        f"{BASE}/approval-steps/{steps[0]['id']}",
        {"name": "部门经理", "approver_kind": "manager"},
    )
    assert r.status_code == 200 and "部门经理" in [s["name"] for s in r.json()["steps"]]
    r = admin.delete(f"{BASE}/approval-steps/{steps[1]['id']}")
    assert r.status_code == 200 and len(r.json()["steps"]) == 1
    r = _json(admin, "put", url, {"name": "大额合同", "subject": "contract", "is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert r.json()["min_amount"] is None
    listed = admin.get(f"{BASE}/approval-flows?subject=contract").json()
    assert [f["id"] for f in listed["items"]] == [flow["id"]]
    verbs = set(
        Event.objects.filter(
            object_id=str(flow["id"]), verb__startswith="approval_flow."
        ).values_list("verb", flat=True)
    )
    assert verbs == {
        "approval_flow.created",
        "approval_flow.step_added",
        "approval_flow.step_moved",
        "approval_flow.step_changed",
        "approval_flow.step_removed",
        "approval_flow.updated",
    }


def test_flows_need_the_configure_permission_and_stay_in_their_organisation(
    world: World, other_world: World, api_client: Any
) -> None:
    # R10.1: a rep 403; another organisation's flow or step 404; a bad approver 400
    flow = ApprovalFlow.objects.create(org=world.org, name="退货", subject="return")
    step = ApprovalStep.objects.create(
        org=world.org, flow=flow, sort_order=1, name="经理", approver_kind="manager"
    )
    rep = api_client(world.users["rep_east"])
    assert rep.get(f"{BASE}/approval-flows").status_code == 403
    body = {"name": "x", "subject": "return"}
    assert _json(rep, "post", f"{BASE}/approval-flows", body).status_code == 403
    outsider = api_client(other_world.admin)
    assert outsider.get(f"{BASE}/approval-flows/{flow.pk}").status_code == 404
    assert outsider.delete(f"{BASE}/approval-steps/{step.pk}").status_code == 404
    r = _json(
        outsider,
        "post",
        f"{BASE}/approval-flows/{flow.pk}/steps",
        {"name": "偷加", "approver_kind": "manager"},
    )
    assert r.status_code == 404
    admin = api_client(world.admin)
    r = _json(
        admin,
        "post",
        f"{BASE}/approval-flows/{flow.pk}/steps",
        {"name": "外人", "approver_kind": "user", "user_id": other_world.admin.pk},
    )
    assert r.status_code == 404
    r = _json(
        admin,
        "post",
        f"{BASE}/approval-flows/{flow.pk}/steps",
        {"name": "空", "approver_kind": "user"},
    )
    assert r.status_code == 400
    assert ApprovalStep.objects.filter(flow=flow).count() == 1
