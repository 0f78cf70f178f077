"""Contracts (R6.2, R9.1): created from an opportunity, an accepted quote or a customer, numbered
race-free, the life cycle draft → pending → approved → signed → executing → completed (and
terminated) with every refused transition, signing marks the opportunity won exactly once,
approval flows with any-one and all-of-them steps, rejection, withdrawal and resubmission,
optimistic locking of drafts, amendments of locked contracts applied only on approval, and the
contract pages with their scope (other tenants and out-of-scope users get 404, nothing changes)
and the finance role's read-only access."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.core.errors import InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from crm.core.locking import EditConflict
from crm.core.models import Event
from crm.core.testing.pages import with_sections
from crm.core.testing.world import World, make_role, make_user
from crm.pipeline import opportunities
from crm.pipeline.choices import OpportunityStatus
from crm.pipeline.models import Opportunity
from crm.sales import approvals
from crm.sales import contract_services as svc
from crm.sales.choices import ApprovalStatus, ContractStatus, QuoteStatus, TaskStatus
from crm.sales.models import ApprovalTask, Contract, ContractAmendment, Quote
from tests.sales.contract_helpers import (
    contract,
    customer,
    flow,
    fresh,
    grant_sales,
    opportunity,
    reload,
    signed,
    u,
)


@pytest.fixture
def w(world: World) -> World:
    return grant_sales(world)


def today() -> Any:
    return timezone.localdate()


# --- creation -------------------------------------------------------------------------------------
def test_from_an_opportunity_the_name_amount_and_customer_are_prefilled(w: World) -> None:
    # R6.2: a contract from an opportunity takes its customer, name and expected amount
    cust = customer(w)
    opp = opportunity(w, cust, amount="88000.5")
    c = svc.create_contract(actor=u(w, "rep_east"), opportunity=opp, data={})
    assert (c.customer_id, c.opportunity_id, c.name) == (cust.pk, opp.pk, opp.name)
    assert c.amount == Decimal("88000.50")
    assert c.status == ContractStatus.DRAFT and c.owner_id == w.users["rep_east"].pk
    year = today().year
    assert c.number == f"HT-{year}-00001"
    assert contract(w).number == f"HT-{year}-00002"
    assert Event.objects.filter(object_id=str(c.pk), verb="contract.created").count() == 1


def _quote(w: World, cust: Any, opp: Any, status: str) -> Quote:
    return Quote.objects.create(
        org=w.org,
        number="BJ-2026-00001",
        title="报价：服务器",
        customer=cust,
        opportunity=opp,
        owner=w.users["rep_east"],
        status=status,
        total=Decimal("12345.67"),
        max_discount_percent=Decimal("15"),
    )


def test_from_a_quote_only_an_accepted_one_and_the_amount_is_its_total(w: World) -> None:
    # R6.2: amount = quote total; the quote's opportunity is linked; draft quotes are refused
    cust = customer(w)
    opp = opportunity(w, cust)
    draft = _quote(w, cust, opp, QuoteStatus.SENT)
    with pytest.raises(ValidationFailed) as exc:
        svc.create_contract(actor=u(w, "rep_east"), quote=draft, data={})
    assert "quote" in exc.value.field_errors
    Quote.objects.filter(pk=draft.pk).update(status=QuoteStatus.ACCEPTED)
    c = svc.create_contract(actor=u(w, "rep_east"), quote=reload(draft), data={})
    assert (c.amount, c.quote_id, c.opportunity_id, c.customer_id) == (
        Decimal("12345.67"),
        draft.pk,
        opp.pk,
        cust.pk,
    )
    assert c.name == "报价：服务器"


def test_create_needs_a_visible_customer_an_amount_and_the_permission(w: World) -> None:
    cust = customer(w)
    with pytest.raises(ValidationFailed) as exc:  # rep_east2 (own records) cannot see it
        svc.create_contract(actor=u(w, "rep_east2"), customer=cust, data={"name": "x", "amount": 1})
    assert "customer" in exc.value.field_errors
    with pytest.raises(ValidationFailed) as exc:
        svc.create_contract(actor=u(w, "rep_east"), customer=cust, data={"name": "x"})
    assert "amount" in exc.value.field_errors
    with pytest.raises(ValidationFailed):
        svc.create_contract(
            actor=u(w, "rep_east"), customer=cust, data={"name": "x", "amount": "-5"}
        )
    with pytest.raises(PermissionDenied):
        svc.create_contract(actor=u(w, "finance"), customer=cust, data={"name": "x", "amount": 1})
    assert Contract.objects.count() == 0


# --- life cycle -----------------------------------------------------------------------------------
def test_life_cycle_without_a_flow_and_signing_wins_the_opportunity(w: World) -> None:
    # R6.2: draft → (no flow) approved → signed → executing → completed; the opportunity is won
    # with the contract amount and the signing date
    rep = u(w, "rep_east")
    opp = opportunity(w, customer(w))
    c = contract(w, opp=opp, amount="95000")
    c = svc.submit_contract(actor=rep, contract=c)
    assert c.status == ContractStatus.APPROVED
    day = today() - timedelta(days=2)
    c = svc.sign_contract(actor=rep, contract=c, signed_on=day, customer_signer="王经理")
    assert (c.status, c.signed_on, c.customer_signer) == (ContractStatus.SIGNED, day, "王经理")
    won = Opportunity.objects.get(pk=opp.pk)
    assert won.status == OpportunityStatus.WON
    assert (won.actual_amount, won.actual_close_date) == (Decimal("95000.00"), day)
    c = svc.start_contract(actor=rep, contract=c)
    assert c.status == ContractStatus.EXECUTING and c.starts_on == today()
    c = svc.complete_contract(actor=rep, contract=c)
    assert c.status == ContractStatus.COMPLETED
    verbs = list(
        Event.objects.filter(object_type="sales.contract", object_id=str(c.pk))
        .order_by("pk")
        .values_list("verb", flat=True)
    )
    assert verbs == [
        "contract.created",
        "contract.submitted",
        "contract.approved",
        "contract.signed",
        "contract.started",
        "contract.completed",
    ]


def test_every_refused_transition_changes_nothing(w: World) -> None:
    # R6.2: each action is allowed from its statuses only
    rep = u(w, "rep_east")
    c = contract(w)
    for action in (
        lambda: svc.sign_contract(actor=rep, contract=reload(c), signed_on=today()),
        lambda: svc.start_contract(actor=rep, contract=reload(c)),
        lambda: svc.complete_contract(actor=rep, contract=reload(c)),
        lambda: svc.terminate_contract(actor=rep, contract=reload(c), reason="不要了"),
        lambda: svc.withdraw_contract(actor=rep, contract=reload(c)),
        lambda: svc.propose_amendment(
            actor=rep, contract=reload(c), changes={"amount": "1"}, reason="改"
        ),
    ):
        with pytest.raises(InvalidTransition):
            action()
    assert reload(c).status == ContractStatus.DRAFT and reload(c).version == 1
    c = svc.submit_contract(actor=rep, contract=c)  # approved at once
    for action in (
        lambda: svc.submit_contract(actor=rep, contract=reload(c)),
        lambda: svc.start_contract(actor=rep, contract=reload(c)),
        lambda: svc.complete_contract(actor=rep, contract=reload(c)),
        lambda: svc.terminate_contract(actor=rep, contract=reload(c), reason="不要了"),
        lambda: svc.update_contract(actor=rep, contract=reload(c), data={"name": "改名"}),
    ):
        with pytest.raises(InvalidTransition):
            action()
    c = svc.sign_contract(actor=rep, contract=reload(c), signed_on=today())
    with pytest.raises(InvalidTransition):
        svc.sign_contract(actor=rep, contract=reload(c), signed_on=today())
    with pytest.raises(InvalidTransition):
        svc.complete_contract(actor=rep, contract=reload(c))
    svc.start_contract(actor=rep, contract=reload(c))
    with pytest.raises(ValidationFailed):
        svc.terminate_contract(actor=rep, contract=reload(c), reason="  ")
    c = svc.terminate_contract(actor=rep, contract=reload(c), reason="客户破产")
    assert c.status == ContractStatus.TERMINATED and c.termination_reason == "客户破产"
    assert c.terminated_at is not None
    for action in (
        lambda: svc.complete_contract(actor=rep, contract=reload(c)),
        lambda: svc.start_contract(actor=rep, contract=reload(c)),
        lambda: svc.terminate_contract(actor=rep, contract=reload(c), reason="再次"),
        lambda: svc.propose_amendment(
            actor=rep, contract=reload(c), changes={"amount": "1"}, reason="改"
        ),
    ):
        with pytest.raises(InvalidTransition):
            action()


def test_signing_needs_a_date_not_in_the_future(w: World) -> None:
    rep = u(w, "rep_east")
    c = svc.submit_contract(actor=rep, contract=contract(w))
    with pytest.raises(ValidationFailed):
        svc.sign_contract(actor=rep, contract=c, signed_on=None)
    with pytest.raises(ValidationFailed):
        svc.sign_contract(actor=rep, contract=c, signed_on=today() + timedelta(days=1))
    assert reload(c).status == ContractStatus.APPROVED


def test_signing_marks_the_opportunity_won_exactly_once(w: World) -> None:
    # R6.2: a second contract of a won opportunity leaves it as it is
    rep = u(w, "rep_east")
    opp = opportunity(w, customer(w))
    signed(w, opp=opp, amount="60000")
    second = signed(w, opp=reload(opp), amount="1000")
    assert second.status == ContractStatus.SIGNED
    won = Opportunity.objects.get(pk=opp.pk)
    assert won.actual_amount == Decimal("60000.00")
    assert Event.objects.filter(object_id=str(opp.pk), verb="opportunity.won").count() == 1
    # already won before any contract: nothing happens to it either
    other = opportunity(w, customer(w, name="另一客户"))
    opportunities.win_opportunity(
        actor=rep, opportunity=other, actual_amount="5", actual_close_date=today()
    )
    signed(w, opp=reload(other), amount="70000")
    assert Opportunity.objects.get(pk=other.pk).actual_amount == Decimal("5.00")
    assert Event.objects.filter(object_id=str(other.pk), verb="opportunity.won").count() == 1


def test_signing_a_contract_of_a_lost_opportunity_is_refused(w: World) -> None:
    # R6.2: reopening is a manager's action; signing does not do it behind their back
    rep = u(w, "rep_east")
    opp = opportunity(w, customer(w))
    c = svc.submit_contract(actor=rep, contract=contract(w, opp=opp))
    opportunities.lose_opportunity(actor=rep, opportunity=reload(opp), reason="price")
    with pytest.raises(InvalidTransition) as exc:
        svc.sign_contract(actor=rep, contract=c, signed_on=today())
    assert "reopen" in str(exc.value.message).lower() or "重新打开" in str(exc.value.message)
    assert reload(c).status == ContractStatus.APPROVED
    assert Opportunity.objects.get(pk=opp.pk).status == OpportunityStatus.LOST
    opportunities.reopen_opportunity(actor=fresh(w.admin), opportunity=reload(opp))
    svc.sign_contract(actor=rep, contract=reload(c), signed_on=today())
    assert Opportunity.objects.get(pk=opp.pk).status == OpportunityStatus.WON


def test_draft_edits_are_locked_by_version(w: World) -> None:
    rep = u(w, "rep_east")
    c = contract(w)
    svc.update_contract(actor=rep, contract=c, data={"name": "新名字"}, version=1)
    with pytest.raises(EditConflict) as exc:
        svc.update_contract(actor=rep, contract=reload(c), data={"amount": "5"}, version=1)
    assert "name" in exc.value.field_errors
    c = reload(c)
    assert (c.name, c.amount, c.version) == ("新名字", Decimal("100000.00"), 2)
    with pytest.raises(ValidationFailed):
        svc.update_contract(
            actor=rep, contract=c, data={"starts_on": "2026-05-01", "ends_on": "2026-04-01"}
        )


# --- approvals ------------------------------------------------------------------------------------
def test_flows_with_any_one_and_all_of_them_steps(w: World) -> None:
    # R9.1: step 1 the manager (department head), step 2 every approver of a role (会签);
    # the contract stays pending until the last one agrees, then it is approved
    admin = w.admin
    legal = make_role(admin, "法务", "all", ["sales:view"])
    l1 = make_user(admin, "法务甲", w.depts["root"], [legal])
    l2 = make_user(admin, "法务乙", w.depts["root"], [legal])
    from crm.org.models import User

    User.objects.filter(pk=w.users["rep_east"].pk).update(manager=w.users["dept_east"])
    flow(
        w,
        "contract",
        {"approver_kind": "manager"},
        {"approver_kind": "role", "role": legal, "mode": "all"},
        min_amount=Decimal("50000"),
    )
    rep = u(w, "rep_east")
    small = svc.submit_contract(actor=rep, contract=contract(w, amount="49999.99"))
    assert small.status == ContractStatus.APPROVED  # below the flow's range: no approval
    c = svc.submit_contract(actor=rep, contract=contract(w, amount="80000"))
    assert c.status == ContractStatus.PENDING
    request = approvals.pending_request("contract", c)
    assert request is not None and request.amount == Decimal("80000.00")
    boss = u(w, "dept_east")
    approvals.approve(actor=boss, request=request, comment="同意")
    assert reload(c).status == ContractStatus.PENDING
    approvals.approve(actor=User.objects.get(pk=l1.pk), request=request)
    assert reload(c).status == ContractStatus.PENDING
    approvals.approve(actor=User.objects.get(pk=l2.pk), request=request)
    c = reload(c)
    assert c.status == ContractStatus.APPROVED
    assert Event.objects.filter(object_id=str(c.pk), verb="contract.approved").count() == 1
    statuses = set(ApprovalTask.objects.filter(request=request).values_list("status", flat=True))
    assert statuses == {TaskStatus.APPROVED}


def test_any_one_of_a_role_rejection_and_resubmission_and_withdrawal(w: World) -> None:
    # R9.1: one approval of an any-one step is enough; rejection (with comment) and withdrawal
    # return the contract to draft; it is edited and resubmitted
    admin = w.admin
    approvers = make_role(admin, "合同审批", "all", ["sales:view"])
    a = make_user(admin, "审批甲", w.depts["root"], [approvers])
    make_user(admin, "审批乙", w.depts["root"], [approvers])
    flow(w, "contract", {"approver_kind": "role", "role": approvers, "mode": "any"})
    rep = u(w, "rep_east")
    c = svc.submit_contract(actor=rep, contract=contract(w), comment="请审批")
    request = approvals.pending_request("contract", c)
    assert request is not None
    from crm.org.models import User

    approver = User.objects.get(pk=a.pk)
    with pytest.raises(InvalidTransition):  # locked while pending
        svc.update_contract(actor=rep, contract=reload(c), data={"name": "改"})
    with pytest.raises(ValidationFailed):
        approvals.reject(actor=approver, request=request, comment="")
    approvals.reject(actor=approver, request=request, comment="金额过高")
    c = reload(c)
    assert c.status == ContractStatus.DRAFT
    svc.update_contract(actor=rep, contract=c, data={"amount": "90000"}, version=c.version)
    c = svc.submit_contract(actor=rep, contract=reload(c))
    assert c.status == ContractStatus.PENDING
    c = svc.withdraw_contract(actor=rep, contract=c)
    assert c.status == ContractStatus.DRAFT
    c = svc.submit_contract(actor=rep, contract=c)
    approvals.approve(actor=approver, request=approvals.pending_request("contract", c))
    assert reload(c).status == ContractStatus.APPROVED
    history = approvals.requests_for("contract", c)
    assert [r.status for r in history] == [
        ApprovalStatus.APPROVED,
        ApprovalStatus.WITHDRAWN,
        ApprovalStatus.REJECTED,
    ]
    verbs = set(Event.objects.filter(object_id=str(c.pk)).values_list("verb", flat=True))
    assert {"contract.rejected", "contract.withdrawn", "approval.rejected"} <= verbs


def test_only_the_submitter_withdraws(w: World) -> None:
    flow(w, "contract", {"approver_kind": "user", "user": w.users["director"]})
    c = svc.submit_contract(actor=u(w, "rep_east"), contract=contract(w))
    with pytest.raises(PermissionDenied):
        svc.withdraw_contract(actor=u(w, "manager1"), contract=reload(c))
    assert reload(c).status == ContractStatus.PENDING


# --- amendments -----------------------------------------------------------------------------------
def test_an_amendment_is_applied_only_when_approved(w: World) -> None:
    # R6.2: a locked contract changes only through an approved amendment, with audit
    flow(w, "amendment", {"approver_kind": "user", "user": w.users["director"]})
    rep = u(w, "rep_east")
    c = signed(w, amount="100000")
    with pytest.raises(InvalidTransition):
        svc.update_contract(actor=rep, contract=c, data={"amount": "120000"})
    with pytest.raises(ValidationFailed):  # nothing changes
        svc.propose_amendment(actor=rep, contract=c, changes={"amount": "100000"}, reason="同")
    with pytest.raises(ValidationFailed):  # a reason is required
        svc.propose_amendment(actor=rep, contract=c, changes={"amount": "120000"}, reason=" ")
    amendment = svc.propose_amendment(
        actor=rep,
        contract=c,
        changes={"amount": "120000", "renewal_on": "2027-06-30"},
        reason="增加服务范围",
    )
    assert amendment.status == ApprovalStatus.PENDING
    assert amendment.changes == {
        "amount": ["100000.00", "120000.00"],
        "renewal_on": [None, "2027-06-30"],
    }
    assert reload(c).amount == Decimal("100000.00")  # not yet
    with pytest.raises(InvalidTransition):  # one pending amendment at a time
        svc.propose_amendment(actor=rep, contract=reload(c), changes={"notes": "x"}, reason="y")
    approvals.approve(
        actor=u(w, "director"), request=approvals.pending_request("amendment", amendment)
    )
    c = reload(c)
    assert c.amount == Decimal("120000.00") and str(c.renewal_on) == "2027-06-30"
    assert c.status == ContractStatus.SIGNED
    assert reload(amendment).status == ApprovalStatus.APPROVED
    assert reload(amendment).applied_at is not None
    event = Event.objects.get(object_id=str(c.pk), verb="contract.amended")
    assert event.changes["amount"] == ["100000.00", "120000.00"]
    assert event.data["reason"] == "增加服务范围"


def test_a_rejected_or_withdrawn_amendment_changes_nothing(w: World) -> None:
    flow(w, "amendment", {"approver_kind": "user", "user": w.users["director"]})
    rep = u(w, "rep_east")
    c = signed(w)
    first = svc.propose_amendment(actor=rep, contract=c, changes={"notes": "补充"}, reason="a")
    approvals.reject(
        actor=u(w, "director"),
        request=approvals.pending_request("amendment", first),
        comment="不同意",
    )
    assert reload(first).status == ApprovalStatus.REJECTED
    second = svc.propose_amendment(
        actor=rep, contract=reload(c), changes={"notes": "再补充"}, reason="b"
    )
    svc.withdraw_amendment(actor=rep, amendment=second)
    assert reload(second).status == ApprovalStatus.WITHDRAWN
    assert reload(c).notes == "" and reload(c).version == c.version


def test_without_a_flow_an_amendment_applies_at_once_but_not_below_receipts(w: World) -> None:
    rep = u(w, "rep_east")
    c = signed(w, amount="100000")
    amendment = svc.propose_amendment(
        actor=rep, contract=c, changes={"ends_on": "2027-12-31"}, reason="延期"
    )
    assert amendment.status == ApprovalStatus.APPROVED
    assert str(reload(c).ends_on) == "2027-12-31"
    Contract.objects.filter(pk=c.pk).update(received_amount=Decimal("30000"))
    with pytest.raises(ValidationFailed) as exc:
        svc.propose_amendment(
            actor=rep, contract=reload(c), changes={"amount": "29999.99"}, reason="降价"
        )
    assert "amount" in exc.value.field_errors
    assert reload(c).amount == Decimal("100000.00")
    assert ContractAmendment.objects.filter(contract=c).count() == 1


def test_out_of_scope_users_cannot_act(w: World) -> None:
    c = contract(w)
    with pytest.raises(NotFound):
        svc.submit_contract(actor=u(w, "rep_east2"), contract=c)
    with pytest.raises(PermissionDenied):
        svc.submit_contract(actor=u(w, "finance"), contract=c)
    assert reload(c).status == ContractStatus.DRAFT


# --- pages ----------------------------------------------------------------------------------------
def test_contract_pages_render_and_act(w: World, client_for: Any) -> None:
    # R6.2: list, create from an opportunity, detail, submit, sign, sections on the customer
    # and opportunity pages
    rep = w.users["rep_east"]
    client = client_for(rep)
    cust = customer(w)
    opp = opportunity(w, cust)
    page = client.get(reverse("sales:contract_create") + f"?opportunity={opp.pk}")
    assert page.status_code == 200 and opp.name in page.content.decode()
    r = client.post(
        reverse("sales:contract_create") + f"?opportunity={opp.pk}",
        {"name": "页面合同", "amount": "1,234.5", "payment_terms": "分两期"},
    )
    c = Contract.objects.get(name="页面合同")
    assert r.status_code == 302 and r["Location"] == reverse("sales:contract_detail", args=[c.pk])
    assert (c.amount, c.opportunity_id) == (Decimal("1234.50"), opp.pk)
    detail = client.get(reverse("sales:contract_detail", args=[c.pk])).content.decode()
    assert "页面合同" in detail and 'id="action-submit"' in detail
    assert "¥1,234.50" in detail
    client.post(reverse("sales:contract_submit", args=[c.pk]), {"version": c.version})
    c = reload(c)
    assert c.status == ContractStatus.APPROVED
    r = client.post(
        reverse("sales:contract_sign", args=[c.pk]),
        {"version": c.version, "signed_on": today().isoformat(), "customer_signer": "张总"},
    )
    assert reload(c).status == ContractStatus.SIGNED
    listing = client.get(reverse("sales:contract_list"), {"status": "signed"}).content.decode()
    assert c.number in listing
    assert (
        c.number
        not in client.get(reverse("sales:contract_list"), {"status": "draft"}).content.decode()
    )
    customer_page = with_sections(
        client, reverse("customers:detail", args=[cust.pk])
    ).content.decode()
    assert c.number in customer_page
    opp_page = with_sections(
        client, reverse("opportunities:detail", args=[opp.pk])
    ).content.decode()
    assert c.number in opp_page
    edit = client.get(reverse("sales:contract_edit", args=[c.pk]))
    assert edit.status_code == 302  # locked: back to the page with a message


def test_contract_list_filters_renewal_and_signed_period(w: World, client_for: Any) -> None:
    rep = u(w, "rep_east")
    soon = signed(w, name="快到期合同")
    Contract.objects.filter(pk=soon.pk).update(renewal_on=today() + timedelta(days=10))
    later = signed(w, name="远期合同")
    Contract.objects.filter(pk=later.pk).update(renewal_on=today() + timedelta(days=90))
    draft = contract(w, name="草稿合同")
    Contract.objects.filter(pk=draft.pk).update(renewal_on=today() + timedelta(days=5))
    client = client_for(rep)
    page = client.get(reverse("sales:contract_list"), {"renewal_within_days": "30"})
    body = page.content.decode()
    assert "快到期合同" in body and "远期合同" not in body and "草稿合同" not in body
    page = client.get(
        reverse("sales:contract_list"),
        {"signed_from": today().isoformat(), "sort": "-amount"},
    ).content.decode()
    assert "快到期合同" in page and "草稿合同" not in page
    bad = client.get(reverse("sales:contract_list"), {"renewal_within_days": "-3"})
    assert bad.status_code == 200 and "快到期合同" not in bad.content.decode()


def test_draft_edit_page_shows_a_conflict(w: World, client_for: Any) -> None:
    c = contract(w)
    svc.update_contract(actor=u(w, "rep_east"), contract=c, data={"name": "别人改的"})
    r = client_for(w.users["rep_east"]).post(
        reverse("sales:contract_edit", args=[c.pk]),
        {"name": "我改的", "amount": "5", "version": 1},
    )
    assert r.status_code == 200 and "别人改的" in r.content.decode()
    assert reload(c).name == "别人改的"


def _pages(c: Contract) -> list[tuple[str, str, dict[str, Any]]]:
    pk = c.pk
    return [
        ("get", reverse("sales:contract_detail", args=[pk]), {}),
        ("get", reverse("sales:contract_edit", args=[pk]), {}),
        ("post", reverse("sales:contract_edit", args=[pk]), {"name": "越权", "amount": "1"}),
        ("post", reverse("sales:contract_submit", args=[pk]), {}),
        ("post", reverse("sales:contract_withdraw", args=[pk]), {}),
        ("post", reverse("sales:contract_sign", args=[pk]), {"signed_on": "2026-01-01"}),
        ("post", reverse("sales:contract_start", args=[pk]), {}),
        ("post", reverse("sales:contract_complete", args=[pk]), {}),
        ("post", reverse("sales:contract_terminate", args=[pk]), {"reason": "越权"}),
        ("get", reverse("sales:contract_amend", args=[pk]), {}),
        ("post", reverse("sales:contract_amend", args=[pk]), {"reason": "越权", "amount": "1"}),
        ("get", reverse("sales:order_create", args=[pk]), {}),
        ("post", reverse("sales:order_create", args=[pk]), {}),
        ("get", reverse("sales:return_create", args=[pk]), {}),
        ("post", reverse("sales:return_create", args=[pk]), {"reason": "other", "amount": "1"}),
    ]


def test_other_tenants_and_out_of_scope_users_get_404_and_change_nothing(
    w: World, other_world: World, client_for: Any
) -> None:
    # R1.3: every contract page and action, for a record the caller may not see
    grant_sales(other_world)
    draft = contract(w, name="越权靶子草稿")
    done = signed(w, name="越权靶子已签")
    for c in (draft, done):
        before = (reload(c).version, reload(c).status, Event.objects.count())
        for user in (other_world.admin, w.users["rep_east2"], w.users["rep_sales2"]):
            client = client_for(user)
            for method, url, data in _pages(c):
                r = getattr(client, method)(url, data)
                assert r.status_code == 404, (user, method, url, r.status_code)
                assert "越权靶子" not in r.content.decode()
        assert (reload(c).version, reload(c).status, Event.objects.count()) == before
    for user in (other_world.admin, w.users["rep_east2"]):
        listing = client_for(user).get(reverse("sales:contract_list")).content.decode()
        assert "越权靶子" not in listing


def test_finance_reads_contracts_but_edits_neither_them_nor_opportunities(
    w: World, client_for: Any
) -> None:
    # R6.2 / issue 5: the finance role reads contracts (sales:view) but may not change them or
    # the opportunities
    opp = opportunity(w, customer(w))
    c = contract(w, opp=opp, name="财务可读合同")
    client = client_for(w.users["finance"])
    assert "财务可读合同" in client.get(reverse("sales:contract_list")).content.decode()
    detail = client.get(reverse("sales:contract_detail", args=[c.pk])).content.decode()
    assert "财务可读合同" in detail
    assert 'id="action-submit"' not in detail and 'id="contract-edit"' not in detail
    before = Event.objects.count()
    assert client.get(reverse("sales:contract_edit", args=[c.pk])).status_code == 403
    assert client.post(reverse("sales:contract_submit", args=[c.pk]), {}).status_code == 403
    assert client.post(reverse("sales:contract_create"), {"name": "x"}).status_code == 403
    assert client.get(reverse("opportunities:edit", args=[opp.pk])).status_code in (403, 404)
    assert client.post(
        reverse("opportunities:win", args=[opp.pk]),
        {"actual_amount": "1", "actual_close_date": "2026-01-01"},
    ).status_code in (403, 404)
    assert Event.objects.count() == before
    assert reload(c).status == ContractStatus.DRAFT
    assert Opportunity.objects.get(pk=opp.pk).status == OpportunityStatus.CONTINUE


def test_merges_and_deactivations_carry_contracts_orders_and_returns(w: World) -> None:
    # R6.2: a customer merge moves the contracts (and their orders and returns) to the target;
    # a deactivated rep's contracts go to the colleague taking over
    from crm.customers.services import merge_customers
    from crm.org.services import deactivate_user
    from crm.sales import order_services, return_services
    from crm.sales.models import Order, ReturnRequest

    rep = u(w, "rep_east")
    c = signed(w)
    order = order_services.create_order(actor=rep, contract=c)
    ret = return_services.create_return(
        actor=rep, contract=c, data={"reason": "other", "amount": "1"}
    )
    target = customer(w)
    merge_customers(actor=fresh(w.admin), source=c.customer, target=target)
    assert reload(c).customer_id == target.pk
    assert Order.objects.get(pk=order.pk).customer_id == target.pk
    assert ReturnRequest.objects.get(pk=ret.pk).customer_id == target.pk
    moved = deactivate_user(actor=fresh(w.admin), user=rep, transfer_to=w.users["rep_east2"])
    assert moved.get("contracts") == 1
    assert reload(c).owner_id == w.users["rep_east2"].pk
    assert Order.objects.get(pk=order.pk).owner_id == w.users["rep_east2"].pk
    assert Event.objects.filter(object_id=str(c.pk), verb="contract.transferred").count() == 1


def test_an_opportunity_with_contracts_is_not_deleted(w: World) -> None:
    opp = opportunity(w, customer(w))
    contract(w, opp=opp)
    with pytest.raises(InvalidTransition):
        opportunities.delete_opportunity(actor=fresh(w.admin), opportunity=opp)
    assert Opportunity.objects.filter(pk=opp.pk).exists()
