"""Approval pages (R9.1): the inbox "待我审批" with approve and reject (a rejection needs a
comment), my submissions and withdrawal, a request's page seen only by its submitter and its
approvers, the pending approvals on My day, and the settings of the flows (create with
conditions, ordered steps to a person, the manager or a role, any one or all, activate and
deactivate, reorder) for whoever configures sales; everyone else gets 403, other tenants 404."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from crm.core.models import Event
from crm.core.testing.world import World, make_role, make_user
from crm.sales import approvals
from crm.sales import contract_services as svc
from crm.sales.choices import ApprovalStatus, ContractStatus
from crm.sales.models import ApprovalFlow, ApprovalRequest, ApprovalStep
from tests.sales.contract_helpers import contract, flow, fresh, grant_sales, reload, u


@pytest.fixture
def w(world: World) -> World:
    return grant_sales(world)


def _pending(w: World, name: str = "审批页合同") -> Any:
    flow(w, "contract", {"approver_kind": "user", "user": w.users["director"]})
    c = svc.submit_contract(actor=u(w, "rep_east"), contract=contract(w, name=name))
    request = approvals.pending_request("contract", c)
    assert request is not None
    return c, request


def test_inbox_lists_my_pending_approvals_and_approves(w: World, client_for: Any) -> None:
    # R9.1: the approver sees it in 待我审批 and approves from there
    c, request = _pending(w)
    director = client_for(w.users["director"])
    page = director.get(reverse("sales:approval_inbox")).content.decode()
    assert c.number in page and f'data-approve="{request.pk}"' in page
    assert 'id="approval-count"' in page
    other = client_for(w.users["manager1"]).get(reverse("sales:approval_inbox")).content.decode()
    assert c.number not in other
    r = director.post(
        reverse("sales:approval_approve", args=[request.pk]),
        {"comment": "同意", "next": reverse("sales:approval_inbox")},
    )
    assert r.status_code == 302 and r["Location"] == reverse("sales:approval_inbox")
    assert reload(c).status == ContractStatus.APPROVED
    after = director.get(reverse("sales:approval_inbox")).content.decode()
    assert f'data-approve="{request.pk}"' not in after


def test_rejecting_needs_a_comment(w: World, client_for: Any) -> None:
    c, request = _pending(w)
    director = client_for(w.users["director"])
    director.post(reverse("sales:approval_reject", args=[request.pk]), {"comment": ""})
    assert reload(c).status == ContractStatus.PENDING
    director.post(reverse("sales:approval_reject", args=[request.pk]), {"comment": "价格不对"})
    assert reload(c).status == ContractStatus.DRAFT
    assert reload(request).status == ApprovalStatus.REJECTED


def test_my_submissions_detail_and_withdrawal(w: World, client_for: Any) -> None:
    c, request = _pending(w)
    rep = client_for(w.users["rep_east"])
    page = rep.get(reverse("sales:approval_inbox"), {"tab": "submitted"}).content.decode()
    assert c.number in page
    detail = rep.get(reverse("sales:approval_detail", args=[request.pk])).content.decode()
    assert 'id="approval-withdraw"' in detail and 'id="decision-approve"' not in detail
    approver_page = client_for(w.users["director"]).get(
        reverse("sales:approval_detail", args=[request.pk])
    )
    assert 'id="decision-approve"' in approver_page.content.decode()
    # the submitter cannot approve their own request
    rep.post(reverse("sales:approval_approve", args=[request.pk]), {})
    assert reload(c).status == ContractStatus.PENDING
    rep.post(reverse("sales:approval_withdraw", args=[request.pk]), {})
    assert reload(c).status == ContractStatus.DRAFT
    assert reload(request).status == ApprovalStatus.WITHDRAWN


def test_pending_approvals_appear_on_my_day(w: World, client_for: Any) -> None:
    _pending(w, name="我的一天合同")
    page = client_for(w.users["director"]).get(reverse("activities:my_day")).content.decode()
    assert 'id="my-day-approvals"' in page and "我的一天合同" in page


def test_approval_requests_answer_404_to_everyone_else(
    w: World, other_world: World, client_for: Any
) -> None:
    # R1.3: neither another tenant nor a colleague who is not in the flow sees or decides it
    grant_sales(other_world)
    c, request = _pending(w, name="越权靶子审批")
    before = (Event.objects.count(), reload(request).status)
    for user in (other_world.admin, w.users["manager1"], w.users["rep_east2"], w.admin):
        client = client_for(user)
        for method, name in (
            ("get", "sales:approval_detail"),
            ("post", "sales:approval_approve"),
            ("post", "sales:approval_reject"),
            ("post", "sales:approval_withdraw"),
        ):
            r = getattr(client, method)(reverse(name, args=[request.pk]), {"comment": "越权"})
            assert r.status_code == 404, (user, name, r.status_code)
            assert "越权靶子" not in r.content.decode()
    assert (Event.objects.count(), reload(request).status) == before
    assert reload(c).status == ContractStatus.PENDING


# --- flow settings --------------------------------------------------------------------------------
def test_an_admin_builds_a_flow_with_steps_and_reorders_it(w: World, client_for: Any) -> None:
    # R9.1: flows per subject with amount conditions; steps to a person, the manager, a role
    client = client_for(w.admin)
    assert client.get(reverse("sales:flow_list")).status_code == 200
    r = client.post(
        reverse("sales:flow_create"),
        {
            "name": "大额合同",
            "subject": "contract",
            "min_amount": "100,000",
            "max_amount": "",
            "is_active": "on",
        },
    )
    big = ApprovalFlow.objects.get(name="大额合同")
    assert r["Location"] == reverse("sales:flow_edit", args=[big.pk])
    assert (big.min_amount, big.max_amount, big.is_active) == (Decimal("100000.00"), None, True)
    client.post(
        reverse("sales:step_create", args=[big.pk]),
        {"name": "经理", "approver_kind": "manager", "mode": "any"},
    )
    legal = make_role(w.admin, "法务部", "all", ["sales:view"])
    client.post(
        reverse("sales:step_create", args=[big.pk]),
        {"name": "法务会签", "approver_kind": "role", "role": legal.pk, "mode": "all"},
    )
    bad = client.post(
        reverse("sales:step_create", args=[big.pk]),
        {"name": "指定人", "approver_kind": "user", "mode": "any"},
    )
    assert bad.status_code == 200  # a named-person step needs the person
    steps = list(ApprovalStep.objects.filter(flow=big).order_by("sort_order"))
    assert [(s.name, s.approver_kind, s.mode) for s in steps] == [
        ("经理", "manager", "any"),
        ("法务会签", "role", "all"),
    ]
    client.post(reverse("sales:step_move", args=[steps[1].pk, "up"]))
    assert [s.name for s in ApprovalStep.objects.filter(flow=big).order_by("sort_order")] == [
        "法务会签",
        "经理",
    ]
    client.post(
        reverse("sales:step_edit", args=[steps[0].pk]),
        {
            "name": "直属经理",
            "approver_kind": "user",
            "user": w.users["director"].pk,
            "mode": "all",
        },
    )
    edited = reload(steps[0])
    assert (edited.name, edited.user_id, edited.mode) == ("直属经理", w.users["director"].pk, "any")
    client.post(reverse("sales:step_delete", args=[steps[1].pk]))
    assert not ApprovalStep.objects.filter(pk=steps[1].pk).exists()
    small = ApprovalFlow.objects.create(
        org=w.org, name="小额合同", subject="contract", sort_order=9
    )
    client.post(reverse("sales:flow_move", args=[small.pk, "up"]))
    order = list(
        ApprovalFlow.objects.filter(subject="contract")
        .order_by("sort_order")
        .values_list("name", flat=True)
    )
    assert order == ["小额合同", "大额合同"]
    client.post(reverse("sales:flow_toggle", args=[big.pk]))
    assert reload(big).is_active is False
    assert approvals.find_flow(w.org.pk, "contract", amount=Decimal("200000")) is None
    listing = client.get(reverse("sales:flow_list")).content.decode()
    assert "大额合同" in listing and "小额合同" in listing
    bad = client.post(
        reverse("sales:flow_edit", args=[big.pk]),
        {"name": "大额合同", "min_amount": "500", "max_amount": "100"},
    )
    assert bad.status_code == 200 and reload(big).min_amount == Decimal("100000.00")


def test_flow_settings_need_the_configure_permission(
    w: World, other_world: World, client_for: Any
) -> None:
    f = flow(w, "return", {"approver_kind": "manager"})
    step = ApprovalStep.objects.get(flow=f)
    urls = [
        ("get", reverse("sales:flow_list")),
        ("get", reverse("sales:flow_create")),
        ("get", reverse("sales:flow_edit", args=[f.pk])),
        ("post", reverse("sales:flow_toggle", args=[f.pk])),
        ("post", reverse("sales:flow_move", args=[f.pk, "up"])),
        ("get", reverse("sales:step_create", args=[f.pk])),
        ("get", reverse("sales:step_edit", args=[step.pk])),
        ("post", reverse("sales:step_delete", args=[step.pk])),
        ("post", reverse("sales:step_move", args=[step.pk, "down"])),
    ]
    manager = client_for(w.users["manager1"])  # sales:approve, not configure
    for method, url in urls:
        assert getattr(manager, method)(url).status_code == 403, url
    stranger = client_for(other_world.admin)  # configures their own organisation only
    for method, url in urls[2:]:
        assert getattr(stranger, method)(url).status_code == 404, url
    assert ApprovalStep.objects.filter(pk=step.pk).exists() and reload(f).is_active
    configurer = make_user(
        w.admin,
        "销售运营",
        w.depts["root"],
        [make_role(w.admin, "销售配置", "all", ["sales:view", "sales:configure"])],
    )
    assert client_for(fresh(configurer)).get(reverse("sales:flow_list")).status_code == 200
    assert ApprovalRequest.objects.count() == 0
