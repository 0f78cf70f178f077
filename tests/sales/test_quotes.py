"""Quotes (R6.1): created from an opportunity (prefilled) or a customer, edited only as drafts under
optimistic locking, live totals from the server, sent (through the quote approval flow when one
applies), accepted, rejected, expired by the periodic job, revised into a new revision with the
same number; numbers from the organisation's sequence; sections on the opportunity and customer
pages; every page answers 404 to another tenant and to an out-of-scope colleague with nothing
changed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from crm.core.errors import InvalidTransition, ValidationFailed
from crm.core.locking import EditConflict
from crm.core.models import Event
from crm.core.testing.pages import with_sections
from crm.core.testing.world import World
from crm.sales import approvals, quote_services
from crm.sales.choices import ApprovalStatus, QuoteStatus
from crm.sales.models import ApprovalRequest, Quote, QuoteLine

from .quote_helpers import (
    flow,
    grant_sales,
    line,
    make_customer,
    make_opportunity,
    make_product,
    make_quote,
    u,
)

pytestmark = pytest.mark.django_db


def row(obj: Any) -> dict[str, Any]:
    return type(obj)._base_manager.filter(pk=obj.pk).values().first()


@pytest.fixture
def sales_world(world: World) -> World:
    return grant_sales(world)


# --- create ---------------------------------------------------------------------------------------
def test_numbers_come_from_the_organisations_sequence(sales_world: World) -> None:
    # R6.1: BJ-YYYY-00001, per organisation, one after the other
    year = timezone.localdate().year
    first = make_quote(sales_world)
    second = make_quote(sales_world)
    assert first.number == f"BJ-{year}-00001"
    assert second.number == f"BJ-{year}-00002"
    assert (first.revision, first.status) == (1, QuoteStatus.DRAFT)


def test_create_from_an_opportunity_prefills_customer_contact_and_lines(
    sales_world: World, client_for: Any
) -> None:
    # R6.1: a quote from the opportunity page starts with its customer, contact and lines
    rep = u(sales_world, "rep_east")
    product = make_product(sales_world, code="hardware", name="服务器", unit="台", tax_rate="13")
    opportunity = make_opportunity(
        sales_world,
        rep,
        lines=[
            {"product": "hardware", "quantity": "2", "unit_price": "68000"},
            {"product": "定制开发", "quantity": "10", "unit_price": "1500", "notes": "人天"},
        ],
    )
    client = client_for(rep)
    r = client.get(reverse("sales:quote_create") + f"?opportunity={opportunity.pk}")
    assert r.status_code == 200
    body = r.content.decode()
    assert opportunity.customer.name in body
    assert f'value="{product.pk}" selected' in body
    assert "68000.00" in body and "定制开发（人天）" in body
    r = client.post(
        reverse("sales:quote_create"),
        {
            "opportunity": opportunity.pk,
            "title": "服务器采购报价",
            "valid_until": (timezone.localdate() + timedelta(days=10)).isoformat(),
            "line-product": [str(product.pk), ""],
            "line-description": ["服务器", "定制开发"],
            "line-unit": ["台", "人天"],
            "line-quantity": ["2", "10"],
            "line-unit_price": ["68000", "1500"],
            "line-discount_kind": ["percent", "amount"],
            "line-discount_value": ["10", "1000"],
            "line-tax_rate": ["13", "6"],
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    quote = Quote.objects.get(opportunity=opportunity)
    assert r["Location"] == reverse("sales:quote_detail", args=[quote.pk])
    assert quote.customer_id == opportunity.customer_id
    assert quote.owner_id == rep.pk
    # 136000 − 13600 = 122400 + 15912 tax; 15000 − 1000 = 14000 + 840 tax
    assert quote.subtotal == Decimal("151000.00")
    assert quote.discount_total == Decimal("14600.00")
    assert quote.tax_total == Decimal("16752.00")
    assert quote.total == Decimal("153152.00")
    assert quote.max_discount_percent == Decimal("10.00")
    assert Event.objects.filter(verb="quote.created", object_id=str(quote.pk)).exists()


def test_create_from_a_customer_and_choosing_the_customer(
    sales_world: World, client_for: Any
) -> None:
    # R6.1: ?customer= fixes the customer; without it the form asks for one
    rep = u(sales_world, "rep_east")
    customer = make_customer(sales_world, rep)
    client = client_for(rep)
    r = client.get(reverse("sales:quote_create") + f"?customer={customer.pk}")
    assert r.status_code == 200 and customer.name in r.content.decode()
    r = client.get(reverse("sales:quote_create"))
    assert r.status_code == 200 and "data-customer-search" in r.content.decode()
    r = client.post(
        reverse("sales:quote_create"),
        {
            "customer": customer.pk,
            "line-description": ["年度维保"],
            "line-quantity": ["1"],
            "line-unit_price": ["36000"],
            "line-discount_kind": ["percent"],
            "line-tax_rate": ["6"],
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    quote = Quote.objects.get(customer=customer)
    assert quote.title == customer.name
    assert quote.total == Decimal("38160.00")


def test_line_errors_are_shown_and_nothing_is_saved(sales_world: World, client_for: Any) -> None:
    # R6.1: bad lines are refused with one message per problem
    rep = u(sales_world, "rep_east")
    customer = make_customer(sales_world, rep)
    r = client_for(rep).post(
        reverse("sales:quote_create"),
        {
            "customer": customer.pk,
            "line-description": ["A", "B", "C"],
            "line-quantity": ["0", "1", "1"],
            "line-unit_price": ["10", "abc", "10"],
            "line-discount_kind": ["percent", "percent", "amount"],
            "line-discount_value": ["", "", "11"],
            "line-tax_rate": ["", "", "13"],
        },
    )
    assert r.status_code == 200
    body = r.content.decode()
    assert "第 1 行" in body or "Line 1" in body
    assert Quote.objects.filter(customer=customer).count() == 0


def test_a_customer_or_opportunity_out_of_scope_cannot_be_quoted(sales_world: World) -> None:
    # R1.3: a quote only for records the actor sees
    other = u(sales_world, "rep_east2")
    opportunity = make_opportunity(sales_world, u(sales_world, "rep_east"))
    with pytest.raises(ValidationFailed):
        quote_services.create_quote(actor=other, opportunity=opportunity, data={}, lines=[])
    with pytest.raises(ValidationFailed):
        quote_services.create_quote(actor=other, customer=opportunity.customer, data={}, lines=[])
    assert Quote.objects.count() == 0


def test_inactive_and_foreign_products_are_refused(sales_world: World, other_world: World) -> None:
    # R6.1: new lines take active products of the organisation only
    rep = u(sales_world, "rep_east")
    old = make_product(sales_world, is_active=False)
    foreign = make_product(other_world)
    customer = make_customer(sales_world, rep)
    for product in (old, foreign):
        with pytest.raises(ValidationFailed) as exc:
            quote_services.create_quote(
                actor=rep, customer=customer, data={}, lines=[line(product)]
            )
        assert "lines" in exc.value.field_errors


# --- edit -----------------------------------------------------------------------------------------
def test_a_draft_is_edited_and_a_stale_version_is_refused(
    sales_world: World, client_for: Any
) -> None:
    # R6.1 R11.2: edits carry the version; the second editor sees the first one's change
    quote = make_quote(sales_world)
    rep = u(sales_world, "rep_east")
    quote_services.update_quote(
        actor=rep,
        quote=quote,
        data={"title": "第一次修改"},
        lines=[line(unit_price="50", quantity="2")],
        version=1,
    )
    quote.refresh_from_db()
    assert (quote.title, quote.version, quote.total) == ("第一次修改", 2, Decimal("113.00"))
    before = row(quote)
    with pytest.raises(EditConflict) as exc:
        quote_services.update_quote(
            actor=rep, quote=Quote.objects.get(pk=quote.pk), data={"title": "过期"}, version=1
        )
    assert "title" in exc.value.field_errors
    assert row(quote) == before
    # the page: a stale post shows the conflict and keeps the current values
    r = client_for(rep).post(
        reverse("sales:quote_edit", args=[quote.pk]),
        {
            "version": "1",
            "title": "页面过期",
            "line-description": ["X"],
            "line-quantity": ["1"],
            "line-unit_price": ["1"],
            "line-discount_kind": ["percent"],
        },
    )
    assert r.status_code == 200
    assert "第一次修改" in r.content.decode()
    assert row(quote) == before


def test_only_drafts_are_edited(sales_world: World, client_for: Any) -> None:
    # R6.1: a sent quote changes only through a new revision
    quote = make_quote(sales_world)
    rep = u(sales_world, "rep_east")
    quote, _pending = quote_services.send_quote(actor=rep, quote=quote)
    assert quote.status == QuoteStatus.SENT
    with pytest.raises(InvalidTransition):
        quote_services.update_quote(actor=rep, quote=quote, data={"title": "不行"})
    r = client_for(rep).get(reverse("sales:quote_edit", args=[quote.pk]))
    assert r.status_code == 302 and r["Location"] == reverse("sales:quote_detail", args=[quote.pk])


def test_the_preview_prices_lines_with_the_server_service(
    sales_world: World, client_for: Any
) -> None:
    # R6.1: live totals are the server's (one implementation), per line and in total
    rep = u(sales_world, "rep_east")
    r = client_for(rep).post(
        reverse("sales:quote_preview"),
        {
            "line-description": ["A", "", "B"],
            "line-quantity": ["3", "", "x"],
            "line-unit_price": ["33.33", "", "1"],
            "line-discount_kind": ["percent", "percent", "percent"],
            "line-discount_value": ["10", "", ""],
            "line-tax_rate": ["13", "", ""],
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert body["lines"][0]["amounts"]["total"] == "¥101.69"
    assert "error" in body["lines"][1]
    assert body["totals"] == {
        "subtotal": "¥99.99",
        "discount": "¥10.00",
        "tax": "¥11.70",
        "total": "¥101.69",
    }


# --- sending and approval -------------------------------------------------------------------------
def test_send_without_a_flow_sends_at_once(sales_world: World, client_for: Any) -> None:
    # R6.1: no matching approval flow → sent
    quote = make_quote(sales_world)
    rep = u(sales_world, "rep_east")
    r = client_for(rep).post(reverse("sales:quote_send", args=[quote.pk]), {"version": "1"})
    assert r.status_code == 302
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.SENT and quote.sent_at is not None


def test_send_with_a_matching_flow_waits_for_approval(sales_world: World) -> None:
    # R6.1 R9.1: a discount beyond the flow's threshold needs the manager; approved → sent;
    # rejected → it stays a draft to change and send again; edits wait while it is pending
    manager = u(sales_world, "manager1")
    flow(
        sales_world, {"approver_kind": "user", "user": manager}, min_discount_percent=Decimal("15")
    )
    rep = u(sales_world, "rep_east")
    small = make_quote(sales_world, lines=[line(discount_value="10")])
    small, pending = quote_services.send_quote(actor=rep, quote=small)
    assert pending is None and small.status == QuoteStatus.SENT

    deep = make_quote(sales_world, lines=[line(discount_value="20")])
    deep, pending = quote_services.send_quote(actor=rep, quote=deep)
    assert pending is not None and deep.status == QuoteStatus.DRAFT
    with pytest.raises(InvalidTransition):
        quote_services.update_quote(actor=rep, quote=deep, data={"title": "等待中"})
    approvals.reject(actor=manager, request=pending, comment="折扣太大")
    deep.refresh_from_db()
    assert deep.status == QuoteStatus.DRAFT
    quote_services.update_quote(
        actor=rep, quote=deep, data={}, lines=[line(discount_value="18")], version=deep.version
    )
    deep.refresh_from_db()
    deep, pending = quote_services.send_quote(actor=rep, quote=deep)
    assert pending is not None
    approvals.approve(actor=manager, request=pending)
    deep.refresh_from_db()
    assert deep.status == QuoteStatus.SENT and deep.sent_at is not None
    assert ApprovalRequest.objects.get(pk=pending.pk).status == ApprovalStatus.APPROVED


def test_withdrawing_the_approval_keeps_the_draft(sales_world: World, client_for: Any) -> None:
    # R9.1: the submitter takes the approval back from the quote page
    flow(sales_world, {"approver_kind": "user", "user": u(sales_world, "manager1")})
    quote = make_quote(sales_world)
    rep = u(sales_world, "rep_east")
    quote_services.send_quote(actor=rep, quote=quote)
    client = client_for(rep)
    page = client.get(reverse("sales:quote_detail", args=[quote.pk])).content.decode()
    assert 'id="action-withdraw"' in page and 'id="quote-edit"' not in page
    r = client.post(reverse("sales:quote_withdraw", args=[quote.pk]))
    assert r.status_code == 302
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.DRAFT
    assert quote_services.pending_request(quote) is None


# --- customer's answer and expiry -----------------------------------------------------------------
def test_accept_and_reject_a_sent_quote(sales_world: World, client_for: Any) -> None:
    # R6.1: sent → accepted / rejected; a draft cannot be accepted
    rep = u(sales_world, "rep_east")
    client = client_for(rep)
    draft = make_quote(sales_world)
    r = client.post(reverse("sales:quote_accept", args=[draft.pk]))
    assert r.status_code == 302
    draft.refresh_from_db()
    assert draft.status == QuoteStatus.DRAFT
    quote, _ = quote_services.send_quote(actor=rep, quote=make_quote(sales_world))
    client.post(reverse("sales:quote_accept", args=[quote.pk]), {"version": quote.version})
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.ACCEPTED
    other, _ = quote_services.send_quote(actor=rep, quote=make_quote(sales_world))
    client.post(reverse("sales:quote_reject", args=[other.pk]), {"note": "价格高"})
    other.refresh_from_db()
    assert other.status == QuoteStatus.REJECTED
    event = Event.objects.filter(verb="quote.rejected", object_id=str(other.pk)).get()
    assert event.data["note"] == "价格高"


def test_quotes_expire_after_their_validity_date(sales_world: World) -> None:
    # R6.1: the periodic job marks sent quotes past valid_until expired; accepting one late is
    # refused even before the job ran
    rep = u(sales_world, "rep_east")
    today = timezone.localdate()
    quote = make_quote(sales_world, valid_until=today + timedelta(days=3))
    quote, _ = quote_services.send_quote(actor=rep, quote=quote)
    assert quote_services.expire_quotes(sales_world.org) == 0
    with time_machine.travel(timezone.now() + timedelta(days=5)):
        with pytest.raises(InvalidTransition):
            quote_services.accept_quote(actor=rep, quote=Quote.objects.get(pk=quote.pk))
        assert quote_services.expire_quotes(sales_world.org) == 1
        assert quote_services.expire_quotes(sales_world.org) == 0
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.EXPIRED
    assert Event.objects.filter(verb="quote.expired", object_id=str(quote.pk)).count() == 1


def test_the_expiry_job_runs(sales_world: World) -> None:
    # R6.1: the registered periodic job expires due quotes in every organisation
    from crm.sales.quote_tasks import expire_quotes

    rep = u(sales_world, "rep_east")
    quote = make_quote(sales_world, valid_until=timezone.localdate())
    quote, _ = quote_services.send_quote(actor=rep, quote=quote)
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        expire_quotes.call_local()
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.EXPIRED


# --- revisions ------------------------------------------------------------------------------------
def test_revising_keeps_the_number_copies_the_lines_and_supersedes(
    sales_world: World, client_for: Any
) -> None:
    # R6.1: a sent quote's revision: same number, revision + 1, previous link, lines copied
    rep = u(sales_world, "rep_east")
    product = make_product(sales_world)
    quote = make_quote(sales_world, lines=[line(product, quantity="3"), line(unit_price="9.99")])
    quote, _ = quote_services.send_quote(actor=rep, quote=quote)
    r = client_for(rep).post(reverse("sales:quote_revise", args=[quote.pk]))
    revision = Quote.objects.get(number=quote.number, revision=2)
    assert r["Location"] == reverse("sales:quote_detail", args=[revision.pk])
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.SUPERSEDED
    assert (revision.status, revision.previous_id, revision.total) == (
        QuoteStatus.DRAFT,
        quote.pk,
        quote.total,
    )
    copied = list(QuoteLine.objects.filter(quote=revision).values_list("description", "total"))
    original = list(QuoteLine.objects.filter(quote=quote).values_list("description", "total"))
    assert copied == original and len(copied) == 2
    with pytest.raises(InvalidTransition):
        quote_services.revise_quote(actor=rep, quote=quote)
    page = client_for(rep).get(reverse("sales:quote_detail", args=[revision.pk])).content.decode()
    assert 'data-revision="1"' in page and 'data-revision="2"' in page
    # deleting the new draft gives the previous revision its status back
    quote_services.delete_quote(actor=rep, quote=revision)
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.SENT
    assert not Quote.objects.filter(pk=revision.pk).exists()


def test_a_draft_is_deleted_but_not_a_sent_quote(sales_world: World, client_for: Any) -> None:
    # R6.1: only drafts are deleted
    rep = u(sales_world, "rep_east")
    client = client_for(rep)
    sent, _ = quote_services.send_quote(actor=rep, quote=make_quote(sales_world))
    client.post(reverse("sales:quote_delete", args=[sent.pk]))
    assert Quote.objects.filter(pk=sent.pk).exists()
    draft = make_quote(sales_world)
    r = client.post(reverse("sales:quote_delete", args=[draft.pk]))
    assert r.status_code == 302 and not Quote.objects.filter(pk=draft.pk).exists()


# --- pages ----------------------------------------------------------------------------------------
def test_list_detail_and_sections(sales_world: World, client_for: Any) -> None:
    # R6.1: the list, the page, and the Quotes sections of the opportunity and customer pages
    rep = u(sales_world, "rep_east")
    opportunity = make_opportunity(sales_world, rep)
    quote = make_quote(sales_world, opportunity=opportunity, title="数据中心报价")
    client = client_for(rep)
    body = client.get(reverse("sales:quote_list")).content.decode()
    assert "数据中心报价" in body
    body = client.get(reverse("sales:quote_list") + "?q=不存在的").content.decode()
    assert "数据中心报价" not in body
    body = client.get(reverse("sales:quote_detail", args=[quote.pk])).content.decode()
    assert quote.number in body and 'id="action-send"' in body
    body = with_sections(
        client, reverse("opportunities:detail", args=[opportunity.pk])
    ).content.decode()
    assert 'id="section-quotes"' in body and "数据中心报价" in body
    assert f"{reverse('sales:quote_create')}?opportunity={opportunity.pk}" in body
    body = with_sections(
        client, reverse("customers:detail", args=[opportunity.customer_id])
    ).content.decode()
    assert 'id="section-quotes"' in body and "数据中心报价" in body


def test_menu_has_the_quote_entries(sales_world: World, client_for: Any) -> None:
    # R6.1: 销售 → quotes, products, price lists
    body = client_for(u(sales_world, "rep_east")).get(reverse("sales:quote_list")).content.decode()
    for name in ("sales:quote_list", "sales:product_list", "sales:pricelist_list"):
        assert f'href="{reverse(name)}"' in body
    assert reverse("sales:template_list") not in body


def test_without_the_sales_permission_pages_refuse(world: World, client_for: Any) -> None:
    # R1.3: no sales role → 403 on the list and the form, no section on the customer page
    rep = world.users["rep_east"]
    client = client_for(rep)
    assert client.get(reverse("sales:quote_list")).status_code == 403
    assert client.get(reverse("sales:quote_create")).status_code == 403
    customer = make_customer(world, rep)
    body = with_sections(client, reverse("customers:detail", args=[customer.pk])).content.decode()
    assert 'id="section-quotes"' not in body


QUOTE_PAGES = [
    ("sales:quote_detail", "get"),
    ("sales:quote_edit", "get"),
    ("sales:quote_edit", "post"),
    ("sales:quote_send", "post"),
    ("sales:quote_withdraw", "post"),
    ("sales:quote_accept", "post"),
    ("sales:quote_reject", "post"),
    ("sales:quote_revise", "post"),
    ("sales:quote_delete", "post"),
    ("sales:quote_print", "get"),
    ("sales:quote_docx", "get"),
]


def test_other_tenants_and_out_of_scope_colleagues_get_404_and_change_nothing(
    sales_world: World, other_world: World, client_for: Any
) -> None:
    # R1.3 A1 A2: every quote page and action answers 404, nothing changes
    quote = make_quote(sales_world)
    before, lines, events = row(quote), QuoteLine.objects.count(), Event.objects.count()
    intruders = [
        other_world.admin,
        u(sales_world, "rep_east2"),
        u(sales_world, "rep_south"),
        other_world.users["director"],
    ]
    for user in intruders:
        client = client_for(user)
        for name, method in QUOTE_PAGES:
            url = reverse(name, args=[quote.pk])
            r = getattr(client, method)(url, {"version": "1", "title": "越权"})
            assert r.status_code in (403, 404), (user, name, r.status_code)
            if user.can("sales", "view") and (
                user == other_world.admin or name == "sales:quote_detail"
            ):
                assert r.status_code == 404, (user, name)
    assert row(quote) == before
    assert QuoteLine.objects.count() == lines
    assert Event.objects.count() == events
    # in scope: the owner's manager (department tree) reads it
    assert (
        client_for(u(sales_world, "manager1"))
        .get(reverse("sales:quote_detail", args=[quote.pk]))
        .status_code
        == 200
    )


def test_transfer_and_merge_move_quotes(sales_world: World) -> None:
    # R3.5: a deactivated owner's open quotes move with the rest; a merge moves the customer's
    rep = u(sales_world, "rep_east")
    other = u(sales_world, "rep_east2")
    quote = make_quote(sales_world)
    assert (
        quote_services.transfer_all_of(actor=sales_world.admin, from_user=rep, to_user=other) == 1
    )
    quote.refresh_from_db()
    assert quote.owner_id == other.pk
    target = make_customer(sales_world, other)
    assert quote_services.move_to_customer(source=quote.customer, target=target) == {"quotes": 1}
