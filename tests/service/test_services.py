"""Service ticket and return-visit services (R3.7): SLA deadlines per priority (and the editable
settings), the life cycle and its refused moves, the pause while waiting for the customer, first
response and resolution times, exactly-once overdue notices, return visits after a signed
contract and a closed ticket, satisfaction bounds, race-free numbering."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from crm.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from crm.core.models import Notification
from crm.core.testing.world import World
from crm.service import services
from crm.service.choices import TicketStatus, VisitSource, VisitStatus
from crm.service.models import ReturnVisit, Ticket

from .conftest import customer_of, fresh, grant_service

pytestmark = pytest.mark.django_db


def open_ticket(user: Any, customer: Any, priority: str = "normal", **data: Any) -> Ticket:
    return services.create_ticket(
        actor=fresh(user),
        customer=customer,
        data={"type": "repair", "priority": priority, "subject": "打印机坏了", **data},
    )


def reload(obj: Any) -> Any:
    return type(obj)._base_manager.get(pk=obj.pk)


# --- deadlines ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("priority", "response_h", "resolution_h"),
    [("urgent", 1, 8), ("high", 4, 24), ("normal", 8, 72), ("low", 24, 168)],
)
def test_deadlines_follow_the_default_sla_of_the_priority(
    svc: World, priority: str, response_h: int, resolution_h: int
) -> None:
    # R3.7: response and resolution deadlines per priority
    rep = svc.users["rep_east"]
    ticket = open_ticket(rep, customer_of(rep, "甲客户"), priority)
    assert ticket.response_due_at - ticket.opened_at == timedelta(hours=response_h)
    assert ticket.resolution_due_at - ticket.opened_at == timedelta(hours=resolution_h)
    assert ticket.number.startswith("FW-")
    assert ticket.status == TicketStatus.OPEN


def test_admins_edit_the_sla_and_new_tickets_follow_it(svc: World) -> None:
    # R3.7: the SLA is an organisation setting, admins only
    rep = svc.users["rep_east"]
    with pytest.raises(PermissionDenied):
        services.save_settings(actor=fresh(rep), data={"urgent_response": 30})
    services.save_settings(
        actor=fresh(svc.admin), data={"urgent_response": 30, "urgent_resolution": 240}
    )
    ticket = open_ticket(rep, customer_of(rep, "乙客户"), "urgent")
    assert ticket.response_due_at - ticket.opened_at == timedelta(minutes=30)
    assert ticket.resolution_due_at - ticket.opened_at == timedelta(minutes=240)
    with pytest.raises(ValidationFailed) as err:
        services.save_settings(
            actor=fresh(svc.admin), data={"low_response": 0, "high_resolution": 1}
        )
    assert "low_response" in err.value.field_errors
    assert "high_resolution" in err.value.field_errors  # shorter than the response time


def test_raising_the_priority_moves_the_deadlines(svc: World) -> None:
    rep = svc.users["rep_east"]
    ticket = open_ticket(rep, customer_of(rep, "丙客户"), "low")
    ticket = services.update_ticket(
        actor=fresh(rep), ticket=ticket, data={"priority": "urgent"}, version=ticket.version
    )
    assert ticket.resolution_due_at - ticket.opened_at == timedelta(hours=8)
    assert ticket.version == 2


# --- life cycle -----------------------------------------------------------------------------
def test_the_life_cycle_allows_only_its_moves(svc: World) -> None:
    # R3.7: open → in progress → waiting → resolved → closed; closed is final
    rep = svc.users["rep_east"]
    ticket = open_ticket(rep, customer_of(rep, "丁客户"))
    with pytest.raises(InvalidTransition):
        services.change_status(actor=fresh(rep), ticket=ticket, status="open")
    for status in ("in_progress", "waiting_customer", "in_progress", "resolved", "in_progress"):
        ticket = services.change_status(actor=fresh(rep), ticket=ticket, status=status)
        assert ticket.status == status
    ticket = services.change_status(actor=fresh(rep), ticket=ticket, status="closed")
    for status in TicketStatus.values:
        with pytest.raises(InvalidTransition):
            services.change_status(actor=fresh(rep), ticket=ticket, status=status)
    with pytest.raises(ValidationFailed):
        services.change_status(
            actor=fresh(rep), ticket=open_ticket(rep, ticket.customer), status="x"
        )


def test_a_stale_version_is_refused(svc: World) -> None:
    rep = svc.users["rep_east"]
    ticket = open_ticket(rep, customer_of(rep, "戊客户"))
    services.change_status(actor=fresh(rep), ticket=ticket, status="in_progress", version=1)
    from crm.core.locking import EditConflict

    with pytest.raises(EditConflict):
        services.update_ticket(actor=fresh(rep), ticket=ticket, data={"subject": "x"}, version=1)


def test_waiting_for_the_customer_pauses_the_resolution_deadline(svc: World) -> None:
    # R3.7: the clock stops while waiting for the customer
    rep = svc.users["rep_east"]
    ticket = open_ticket(rep, customer_of(rep, "己客户"), "high")
    t0 = ticket.opened_at
    due = ticket.resolution_due_at
    ticket = services.change_status(
        actor=fresh(rep), ticket=ticket, status="in_progress", now=t0 + timedelta(hours=1)
    )
    assert ticket.response_seconds == 3600 and not ticket.response_breached
    ticket = services.change_status(
        actor=fresh(rep), ticket=ticket, status="waiting_customer", now=t0 + timedelta(hours=2)
    )
    assert ticket.paused_at == t0 + timedelta(hours=2)
    # waiting tickets are not overdue, even long past the deadline
    assert not Ticket.objects.filter(services.overdue_q(due + timedelta(days=3)), pk=ticket.pk)
    ticket = services.change_status(
        actor=fresh(rep), ticket=ticket, status="in_progress", now=t0 + timedelta(hours=32)
    )
    assert ticket.paused_seconds == 30 * 3600
    assert ticket.resolution_due_at == due + timedelta(hours=30)
    ticket = services.change_status(
        actor=fresh(rep), ticket=ticket, status="resolved", now=t0 + timedelta(hours=40)
    )
    # 40 h elapsed, 30 h of them waiting: 10 h to resolve, inside the 24 h deadline
    assert ticket.resolution_seconds == 10 * 3600
    assert not ticket.resolution_breached


def test_late_response_and_resolution_are_flagged(svc: World) -> None:
    rep = svc.users["rep_east"]
    ticket = open_ticket(rep, customer_of(rep, "庚客户"), "urgent")
    t0 = ticket.opened_at
    ticket = services.change_status(
        actor=fresh(rep), ticket=ticket, status="in_progress", now=t0 + timedelta(hours=2)
    )
    assert ticket.response_breached
    ticket = services.change_status(
        actor=fresh(rep), ticket=ticket, status="closed", now=t0 + timedelta(hours=9)
    )
    assert ticket.resolution_breached
    assert ticket.resolved_at == ticket.closed_at


# --- overdue notices exactly once -----------------------------------------------------------
def test_a_missed_deadline_notifies_the_assignee_and_manager_once(svc: World) -> None:
    # R3.7: overdue flags; the periodic job tells the assignee and their manager once
    rep = svc.users["rep_east"]
    ticket = open_ticket(rep, customer_of(rep, "辛客户"), "urgent")
    assert services.sweep_overdue(svc.org.pk) == 0
    later = ticket.opened_at + timedelta(hours=2)
    assert services.sweep_overdue(svc.org.pk, now=later) == 2  # response: rep + manager
    assert services.sweep_overdue(svc.org.pk, now=later) == 0
    ticket = reload(ticket)
    assert ticket.response_breached and not ticket.resolution_breached
    much_later = ticket.opened_at + timedelta(hours=9)
    assert services.sweep_overdue(svc.org.pk, now=much_later) == 2  # resolution
    assert services.sweep_overdue(svc.org.pk, now=much_later) == 0
    notes = Notification.objects.filter(target_id=str(ticket.pk), verb__endswith="_overdue")
    assert sorted(notes.values_list("recipient_id", "verb")) == sorted(
        [
            (rep.pk, "ticket.response_overdue"),
            (svc.users["manager1"].pk, "ticket.response_overdue"),
            (rep.pk, "ticket.resolution_overdue"),
            (svc.users["manager1"].pk, "ticket.resolution_overdue"),
        ]
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_notify_once() -> None:
    from crm.core.testing.world import build_world

    svc = grant_service(build_world())
    rep = svc.users["rep_east"]
    customer = customer_of(rep, "并发客户")
    tickets = [open_ticket(rep, customer, "urgent") for _ in range(5)]
    later = tickets[0].opened_at + timedelta(hours=2)
    barrier = threading.Barrier(4)

    def sweep(_i: int) -> int:
        try:
            barrier.wait()
            return services.sweep_overdue(svc.org.pk, now=later)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        sent = list(pool.map(sweep, range(4)))
    assert sum(sent) == 10  # 5 tickets × (rep + manager), whoever sent them
    assert (
        Notification.objects.filter(verb="ticket.response_overdue", org_id=svc.org.pk).count() == 10
    )


@pytest.mark.django_db(transaction=True)
def test_numbers_are_unique_under_concurrency() -> None:
    from crm.core.testing.world import build_world

    svc = grant_service(build_world())
    rep = svc.users["rep_east"]
    customer = customer_of(rep, "编号客户")
    n = 8
    barrier = threading.Barrier(n)

    def create(_i: int) -> str:
        try:
            barrier.wait()
            for _attempt in range(20):
                try:
                    return open_ticket(rep, customer).number
                except Exception as exc:  # SQLite: database is locked under contention
                    if "locked" not in str(exc):
                        raise
            raise AssertionError("never got a number")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        numbers = list(pool.map(create, range(n)))
    assert len(set(numbers)) == n
    year = timezone.localdate().year
    assert sorted(numbers) == [f"FW-{year}-{i:05d}" for i in range(1, n + 1)]


# --- return visits --------------------------------------------------------------------------
def test_closing_a_ticket_plans_one_return_visit(svc: World) -> None:
    # R3.7: return visit after a ticket is closed
    rep = svc.users["rep_east"]
    ticket = open_ticket(rep, customer_of(rep, "壬客户"))
    services.change_status(actor=fresh(rep), ticket=ticket, status="closed")
    visit = ReturnVisit.objects.get(ticket=ticket)
    assert visit.source == VisitSource.TICKET and visit.owner_id == rep.pk
    assert visit.due_on == timezone.localdate() + timedelta(days=3)
    assert services.schedule_visit_for_ticket(reload(ticket)) is None  # once per ticket
    with pytest.raises(ValidationFailed):
        services.complete_visit(actor=fresh(rep), visit=visit, satisfaction=6)
    with pytest.raises(ValidationFailed):
        services.complete_visit(actor=fresh(rep), visit=visit, satisfaction="x")
    visit = services.complete_visit(actor=fresh(rep), visit=visit, satisfaction=4, comment="满意")
    assert visit.status == VisitStatus.DONE and visit.satisfaction == 4
    with pytest.raises(InvalidTransition):
        services.complete_visit(actor=fresh(rep), visit=visit, satisfaction=5)


def test_signing_a_contract_plans_one_return_visit(svc: World) -> None:
    # R3.7: return visit after a contract is signed (hook on the contract.signed event)
    from tests.sales.contract_helpers import grant_sales, signed

    grant_sales(svc)
    contract = signed(svc, "rep_east")
    visit = ReturnVisit.objects.get(contract=contract, source=VisitSource.CONTRACT)
    assert visit.owner_id == contract.owner_id
    assert visit.due_on == contract.signed_on + timedelta(days=30)
    # the catch-up sweep finds nothing more to do
    assert services.schedule_contract_visits(svc.org.pk) == 0
    ReturnVisit.objects.filter(pk=visit.pk).delete()
    assert services.schedule_contract_visits(svc.org.pk) == 1
    assert services.schedule_contract_visits(svc.org.pk) == 0


# --- permissions ----------------------------------------------------------------------------
def test_links_and_assignees_are_checked(svc: World, svc_other: World) -> None:
    rep = svc.users["rep_east"]
    theirs = customer_of(svc.users["rep_east2"], "别人的客户")
    with pytest.raises(ValidationFailed) as err:
        open_ticket(rep, theirs)
    assert "customer" in err.value.field_errors
    foreign = customer_of(svc_other.users["rep_east"], "外租户客户")
    with pytest.raises(ValidationFailed):
        open_ticket(rep, foreign)
    with pytest.raises(ValidationFailed) as err:
        services.create_ticket(
            actor=fresh(rep),
            customer=customer_of(rep, "自己的客户"),
            data={"type": "repair", "subject": "x"},
            owner=svc.users["rep_east2"],
        )
    assert "owner" in err.value.field_errors  # a rep may not assign others
    with pytest.raises(PermissionDenied):
        open_ticket(svc.users["nobody"], theirs)
    with pytest.raises(ValidationFailed) as err:
        services.create_ticket(
            actor=fresh(rep), customer=customer_of(rep, "空"), data={"type": "x", "subject": ""}
        )
    assert {"type", "subject"} <= set(err.value.field_errors)
