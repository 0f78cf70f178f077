"""In Chromium (issue 5; R6.1, R6.2, R9.1, R7.1, R7.2, R4.6): the whole way from an opportunity
to cash, through the real pages only. A rep quotes an opportunity, the customer accepts, the
quote becomes a contract, the rep submits it; the manager named in the organisation's contract
approval flow sees it in the notification bell and in My day, opens it and approves; the rep
signs (the opportunity is won); finance plans the installment and records a receipt against it;
the contract page shows what was received and what is outstanding — on a desktop and on a
390 px phone. Any script error or CSP violation fails the test (``new_page``)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.core.testing.world import PASSWORD, build_world
from crm.finance.models import Receipt, ReceivablePlan
from crm.org.models import User
from crm.pipeline.choices import OpportunityStatus
from crm.pipeline.models import Opportunity
from crm.sales.choices import ApprovalStatus, ContractStatus, QuoteStatus
from crm.sales.models import ApprovalRequest, Contract, Quote
from tests.browser.conftest import DESKTOP, PHONE, screenshot
from tests.sales.contract_helpers import flow, grant_sales, u
from tests.sales.quote_helpers import make_opportunity

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def log_in(page, user: User) -> None:
    page.goto("/login/")
    page.fill("#id_login", user.username)
    page.fill("#id_password", PASSWORD)
    page.locator("form:has(#id_login) button[type=submit]").first.click()
    page.wait_for_url("**/")


def contract_page(pk: int) -> re.Pattern[str]:
    """The contract's page, maybe scrolled to one of its sections (``#section-receipts``)."""
    return re.compile(rf"/sales/contracts/{pk}/(#[\w-]+)?$")


def cny(amount: Decimal) -> str:
    return f"¥{amount:,.2f}"


def test_opportunity_to_cash_through_the_pages(new_page, live_server) -> None:
    # issue 5: quote → contract → approval → signature → receipt, every step in the browser
    world = grant_sales(build_world())
    rep, manager, finance = u(world, "rep_east"), u(world, "manager1"), u(world, "finance")
    # the organisation's contract approval flow: one step, to the sales manager by name
    flow(world, "contract", {"approver_kind": "user", "user": manager})
    opportunity = make_opportunity(
        world, rep, lines=[{"product": "年度运维服务", "quantity": "4", "unit_price": "25000"}]
    )

    # --- the rep: a quote from the opportunity, accepted by the customer ---------------------
    rep_page = new_page(DESKTOP)
    log_in(rep_page, rep)
    rep_page.goto(f"/sales/quotes/new/?opportunity={opportunity.pk}")
    # 4 × 25,000 = 100,000, VAT 13 % → 113,000 (computed by the server while the form loads)
    rep_page.wait_for_function(
        "() => document.querySelector('[data-total=total]').textContent.includes('113,000.00')"
    )
    rep_page.click("#quote-save")
    rep_page.wait_for_url("**/sales/quotes/*/")
    quote = Quote.objects.get(opportunity=opportunity)
    total = quote.total
    assert total == Decimal("113000.00")
    rep_page.click("#action-send")
    rep_page.wait_for_selector("#action-accept")
    rep_page.click("#action-accept")
    rep_page.wait_for_selector("#quote-contract")
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.ACCEPTED

    # --- the quote becomes a contract (amount and name taken from the quote) -----------------
    rep_page.click("#quote-contract")
    rep_page.wait_for_selector("#contract-form")
    assert rep_page.input_value("#contract-form [name=amount]") == f"{total:.2f}"
    rep_page.click("#contract-save")
    rep_page.wait_for_url("**/sales/contracts/*/")
    contract = Contract.objects.get(quote=quote)
    assert contract.opportunity_id == opportunity.pk
    assert contract.status == ContractStatus.DRAFT

    # --- submitted for approval: the flow's approver is asked -------------------------------
    rep_page.click("#action-submit")
    rep_page.wait_for_selector("#modal-submit.show")
    rep_page.click("#submit-submit")
    rep_page.wait_for_selector("#contract-pending")
    request = ApprovalRequest.objects.get(subject="contract", subject_id=str(contract.pk))
    assert request.status == ApprovalStatus.PENDING
    assert rep_page.locator("#contract-decide").count() == 0  # the submitter does not decide

    # --- the manager: bell, My day, the contract, the decision --------------------------------
    boss = new_page(DESKTOP)
    log_in(boss, manager)
    assert boss.locator("#notification-count").inner_text().strip() == "1"
    boss.click("#notification-bell")
    boss.wait_for_url("**/notifications/**")
    boss.locator("a.list-group-item[href*='/notifications/']").first.click()
    boss.wait_for_url(f"**/sales/contracts/{contract.pk}/")  # the notification opens the contract
    assert boss.locator("#contract-pending").is_visible()
    boss.goto("/activities/my-day/")
    block = boss.locator("#my-day-approvals")
    assert block.is_visible()
    block.locator("a", has_text=request.subject_repr).first.click()
    boss.wait_for_url(f"**/sales/contracts/{contract.pk}/")
    boss.click("#contract-decide")
    boss.wait_for_url(f"**/sales/approvals/{request.pk}/")
    boss.fill("#decision-form textarea[name=comment]", "同意，按报价执行")
    boss.click("#decision-approve")
    boss.wait_for_load_state()
    assert ApprovalRequest.objects.get(pk=request.pk).status == ApprovalStatus.APPROVED
    assert Contract.objects.get(pk=contract.pk).status == ContractStatus.APPROVED
    boss.goto("/activities/my-day/")
    assert boss.locator("#my-day-approvals").count() == 0  # nothing waits any more

    # --- the rep signs: the opportunity is won ----------------------------------------------
    rep_page.goto(f"/sales/contracts/{contract.pk}/")
    rep_page.click("#action-sign")
    rep_page.wait_for_selector("#modal-sign.show")
    rep_page.click("#sign-submit")
    rep_page.wait_for_selector("#contract-signed-on:not(:has-text('—'))")
    contract = Contract.objects.get(pk=contract.pk)
    assert contract.status == ContractStatus.SIGNED
    assert contract.signed_on == timezone.localdate()
    won = Opportunity.objects.get(pk=opportunity.pk)
    assert won.status == OpportunityStatus.WON
    assert won.actual_close_date == timezone.localdate()

    # --- finance: plan one installment, record a receipt against it -------------------------
    clerk = new_page(DESKTOP)
    log_in(clerk, finance)
    clerk.goto(f"/sales/contracts/{contract.pk}/")
    clerk.click("#plan-edit")
    clerk.wait_for_selector("#plan-form")
    if clerk.locator("[data-plan-row]").count() == 0:
        clerk.click("#plan-add-row")
    clerk.fill("input[name='plans-0-due_on']", timezone.localdate().isoformat())
    clerk.fill("input[name='plans-0-amount']", f"{total:.2f}")
    clerk.wait_for_selector("#plan-sum.text-green")
    clerk.click("#plan-save")
    clerk.wait_for_url(contract_page(contract.pk))  # back to its section
    plan = ReceivablePlan.objects.get(contract=contract)
    assert plan.amount == total
    first = Decimal("40000.00")
    clerk.click("#receipt-record")
    clerk.wait_for_selector("#receipt-form")
    clerk.fill("#receipt-form [name=amount]", f"{first:.2f}")
    clerk.fill(f"#receipt-form [name=alloc_{plan.pk}]", f"{first:.2f}")
    clerk.fill("#receipt-form [name=reference]", "BANK-20261124-001")
    clerk.click("#receipt-save")
    clerk.wait_for_url(contract_page(contract.pk))
    receipt = Receipt.objects.get(contract=contract)
    assert receipt.amount == first
    assert ReceivablePlan.objects.get(pk=plan.pk).outstanding == total - first

    # --- the contract page: received and outstanding ----------------------------------------
    for viewer in (clerk, rep_page):
        viewer.goto(f"/sales/contracts/{contract.pk}/")
        assert viewer.inner_text("#amount-total") == cny(total)
        assert viewer.inner_text("#amount-received") == cny(first)
        assert viewer.inner_text("#amount-outstanding") == cny(total - first)
    assert receipt.number in clerk.inner_text("#contract-receipts")
    assert rep_page.inner_text("#contract-status") == str(ContractStatus.SIGNED.label)
    screenshot(rep_page, "sales-to-cash-contract")

    phone = new_page(PHONE)
    log_in(phone, rep)
    phone.goto(f"/sales/contracts/{contract.pk}/")
    assert phone.inner_text("#amount-outstanding") == cny(total - first)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the contract page is {width}px wide on a phone"
    screenshot(phone, "sales-to-cash-contract-phone")
