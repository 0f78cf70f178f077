"""Every write of the customer service module (R3.7): tickets and their life cycle with SLA
deadlines, the overdue sweep, return visits, and the SLA settings.

Deadlines are ``opened_at + SLA(priority) + time spent waiting for the customer``: entering
*waiting for customer* stamps ``paused_at``; leaving it adds the pause to ``paused_seconds`` and
moves both deadlines. First response is the first move out of *open*. Every change records an
event in its own transaction and bumps the optimistic-lock version.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from crm.core.locking import check_version
from crm.core.models import Event, Notification
from crm.core.notifications import notification_for
from crm.core.numbering import next_number
from crm.core.scoping import assert_in_scope
from crm.org.models import User

from .choices import (
    ACTIVE_STATUSES,
    DEFAULT_SLA,
    TRANSITIONS,
    Priority,
    TicketStatus,
    TicketType,
    VisitSource,
    VisitStatus,
)
from .models import ReturnVisit, ServiceSettings, Ticket

log = logging.getLogger("crm.service")

NUMBER_PREFIX = "FW"
MAX_SUBJECT = 200
MAX_TEXT = 10000
#: bounds of an SLA entry, in minutes (one minute to one year)
SLA_MIN, SLA_MAX = 1, 525600
MAX_VISIT_DAYS = 365
TICKET_FIELDS = ["type", "priority", "subject", "description"]


def _require(actor: User, action: str) -> None:
    if not actor.org_id or not actor.can("service", action):
        raise PermissionDenied()


def ticket_url(ticket: Any) -> str:
    try:
        return reverse("service:ticket_detail", args=[ticket.pk])
    except NoReverseMatch:
        return ""


# --- settings ---------------------------------------------------------------------------------
def get_settings(org_id: int) -> ServiceSettings:
    """The organisation's service settings (created with the defaults on first use)."""
    found = ServiceSettings.objects.filter(org_id=org_id).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return ServiceSettings.objects.create(org_id=org_id, sla=default_sla())
    except IntegrityError:
        return ServiceSettings.objects.get(org_id=org_id)


def default_sla() -> dict[str, list[int]]:
    return {k: [v[0], v[1]] for k, v in DEFAULT_SLA.items()}


def sla_of(settings_row: ServiceSettings) -> dict[str, tuple[int, int]]:
    """priority -> (response minutes, resolution minutes); defaults fill gaps."""
    result: dict[str, tuple[int, int]] = {}
    stored = settings_row.sla or {}
    for priority in Priority.values:
        value = stored.get(priority)
        try:
            response, resolution = int(value[0]), int(value[1])  # type: ignore[index]
        except (TypeError, ValueError, IndexError):
            response, resolution = DEFAULT_SLA[priority]
        result[priority] = (response, resolution)
    return result


def _may_configure(actor: User) -> bool:
    return actor.can("settings", "configure")


@transaction.atomic
def save_settings(*, actor: User, data: dict[str, Any]) -> ServiceSettings:
    """Admins set the minutes to first response and to resolution per priority, and when
    return visits fall due. ``data``: ``{"<priority>_response": int, "<priority>_resolution":
    int, "visit_days_after_contract": int, "visit_days_after_ticket": int}``."""
    if not actor.org_id or not _may_configure(actor):
        raise PermissionDenied()
    row = ServiceSettings.objects.select_for_update().filter(pk=get_settings(actor.org_id).pk)[0]
    before = audit.snapshot(row)
    errors: dict[str, list[str]] = {}
    sla = dict(sla_of(row))

    def number(key: str, low: int, high: int) -> int | None:
        value = data.get(key)
        if value in (None, ""):
            return None
        try:
            parsed = int(value)
        except (TypeError, ValueError):
            errors[key] = [_("Enter a whole number.")]
            return None
        if not low <= parsed <= high:
            errors[key] = [
                _("Enter a number from %(low)s to %(high)s.") % {"low": low, "high": high}
            ]
            return None
        return parsed

    for priority in Priority.values:
        response = number(f"{priority}_response", SLA_MIN, SLA_MAX)
        resolution = number(f"{priority}_resolution", SLA_MIN, SLA_MAX)
        current = sla[priority]
        pair = (response or current[0], resolution or current[1])
        if pair[1] < pair[0] and f"{priority}_resolution" not in errors:
            errors[f"{priority}_resolution"] = [
                _("The resolution time cannot be shorter than the response time.")
            ]
        sla[priority] = pair
    for key in ("visit_days_after_contract", "visit_days_after_ticket"):
        value = number(key, 0, MAX_VISIT_DAYS)
        if value is not None:
            setattr(row, key, value)
    if errors:
        raise ValidationFailed(field_errors=errors)
    row.sla = {k: [v[0], v[1]] for k, v in sla.items()}
    row.save()
    audit.record(
        actor=actor,
        obj=row,
        verb="service.settings_saved",
        changes=audit.diff(before, audit.snapshot(row)),
    )
    return row


# --- tickets: validation ------------------------------------------------------------------------
def _clean(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key in TICKET_FIELDS:
        if key in data and data[key] is not None:
            value = data[key]
            clean[key] = value.strip() if isinstance(value, str) else value
    if ("type" in clean or not partial) and clean.get("type") not in TicketType.values:
        errors["type"] = [_("Choose the type of request.")]
    if not partial and not clean.get("priority"):
        clean["priority"] = Priority.NORMAL
    if "priority" in clean and clean["priority"] not in Priority.values:
        errors["priority"] = [_("Choose a priority.")]
    if "subject" in clean or not partial:
        subject = clean.get("subject") or ""
        if not subject:
            errors["subject"] = [_("Say in a few words what the customer needs.")]
        elif len(subject) > MAX_SUBJECT:
            errors["subject"] = [_("At most %(n)s characters.") % {"n": MAX_SUBJECT}]
    if "description" in clean and len(clean["description"] or "") > MAX_TEXT:
        errors["description"] = [_("At most %(n)s characters.") % {"n": MAX_TEXT}]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _check_links(
    actor: User, customer: Any, contact: Any, contract: Any, product: Any
) -> dict[str, list[str]]:
    from crm.customers.models import Customer

    errors: dict[str, list[str]] = {}
    if (
        customer is None
        or customer.org_id != actor.org_id
        or getattr(customer, "merged_into_id", None) is not None
        or not Customer.objects.visible_to(actor).filter(pk=customer.pk).exists()
    ):
        errors["customer"] = [_("Choose a customer.")]
        return errors
    if contact is not None and (
        contact.org_id != actor.org_id or contact.customer_id != customer.pk
    ):
        errors["contact"] = [_("Choose a contact of this customer.")]
    if contract is not None:
        from crm.sales.models import Contract

        if (
            contract.org_id != actor.org_id
            or contract.customer_id != customer.pk
            or not Contract.objects.visible_to(actor).filter(pk=contract.pk).exists()
        ):
            errors["contract"] = [_("Choose a contract of this customer.")]
    if product is not None and (product.org_id != actor.org_id or not product.is_active):
        errors["product"] = [_("Choose an active product.")]
    return errors


def _colleague(actor: User, user: Any, field: str, errors: dict[str, list[str]]) -> None:
    if not isinstance(user, User) or user.org_id != actor.org_id or not user.is_active:
        errors[field] = [_("Choose an active colleague.")]


def _deadlines(ticket: Ticket) -> None:
    response, resolution = sla_of(get_settings(ticket.org_id))[ticket.priority]
    pause = timedelta(seconds=ticket.paused_seconds)
    ticket.response_due_at = ticket.opened_at + timedelta(minutes=response)
    ticket.resolution_due_at = ticket.opened_at + timedelta(minutes=resolution) + pause


def _seconds(start: datetime, end: datetime, minus: int = 0) -> int:
    return max(int((end - start).total_seconds()) - minus, 0)


# --- tickets: writes ----------------------------------------------------------------------------
@transaction.atomic
def create_ticket(
    *,
    actor: User,
    customer: Any,
    data: dict[str, Any],
    contact: Any = None,
    contract: Any = None,
    product: Any = None,
    owner: User | None = None,
    collaborators: list[User] | None = None,
) -> Ticket:
    """Open a ticket for a customer the actor sees. The assignee defaults to the actor;
    assigning someone else needs ``service:transfer``. Deadlines follow the SLA."""
    _require(actor, "create")
    clean = _clean(data, partial=False)
    errors = _check_links(actor, customer, contact, contract, product)
    owner = owner or actor
    _colleague(actor, owner, "owner", errors)
    if owner.pk != actor.pk and not actor.can("service", "transfer") and "owner" not in errors:
        errors["owner"] = [_("You may only open tickets for yourself.")]
    for person in collaborators or []:
        _colleague(actor, person, "collaborators", errors)
    if errors:
        raise ValidationFailed(field_errors=errors)
    now = timezone.now()
    org_id: int = actor.org_id  # type: ignore[assignment]  # checked by _require
    ticket = Ticket(
        org_id=org_id,
        created_by=actor,
        number=next_number(org_id, NUMBER_PREFIX),
        customer=customer,
        contact=contact,
        contract=contract,
        product=product,
        owner=owner,
        opened_at=now,
        **clean,
    )
    _deadlines(ticket)
    ticket.save()
    if collaborators:
        ticket.collaborators.set(collaborators)
    audit.record_created(actor=actor, obj=ticket, verb="ticket.created")
    if owner.pk != actor.pk:
        Notification.objects.bulk_create(
            [
                notification_for(
                    recipient=owner,
                    verb="ticket.assigned",
                    message=_("%(who)s assigned you ticket %(number)s: %(subject)s")
                    % {
                        "who": actor.display_name,
                        "number": ticket.number,
                        "subject": ticket.subject,
                    },
                    actor=actor,
                    url=ticket_url(ticket),
                    target=ticket,
                )
            ]
        )
    return ticket


def _locked(actor: User, ticket: Ticket, action: str, version: int | None) -> Ticket:
    _require(actor, action)
    assert_in_scope(actor, ticket, action)
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    check_version(locked, version)
    return locked


@transaction.atomic
def update_ticket(
    *,
    actor: User,
    ticket: Ticket,
    data: dict[str, Any],
    version: int | None = None,
    contact: Any = ...,
    contract: Any = ...,
    product: Any = ...,
    collaborators: list[User] | None = None,
) -> Ticket:
    """Edit type, priority (deadlines follow), subject, description, links, collaborators."""
    ticket = _locked(actor, ticket, "edit", version)
    if ticket.status == TicketStatus.CLOSED:
        raise InvalidTransition(_("A closed ticket cannot be changed."))
    clean = _clean(data, partial=True)
    before = audit.snapshot(ticket)
    errors = _check_links(
        actor,
        ticket.customer,
        ticket.contact if contact is ... else contact,
        ticket.contract if contract is ... else contract,
        None if product is ... or product is None else product,
    )
    for person in collaborators or []:
        _colleague(actor, person, "collaborators", errors)
    if errors:
        raise ValidationFailed(field_errors=errors)
    for key, value in clean.items():
        setattr(ticket, key, value)
    if contact is not ...:
        ticket.contact = contact
    if contract is not ...:
        ticket.contract = contract
    if product is not ...:
        ticket.product = product
    if "priority" in clean:
        _deadlines(ticket)
    ticket.version += 1
    ticket.save()
    if collaborators is not None:
        ticket.collaborators.set(collaborators)
    audit.record(
        actor=actor,
        obj=ticket,
        verb="ticket.updated",
        changes=audit.diff(before, audit.snapshot(ticket)),
        data={"version": ticket.version},
    )
    return ticket


@transaction.atomic
def change_status(
    *,
    actor: User,
    ticket: Ticket,
    status: str,
    version: int | None = None,
    note: str = "",
    now: datetime | None = None,
) -> Ticket:
    """Move a ticket along its life cycle (``choices.TRANSITIONS``). The first move out of
    *open* is the first response; waiting for the customer pauses the deadlines; closing plans a
    return visit."""
    ticket = _locked(actor, ticket, "edit", version)
    if status not in TicketStatus.values:
        raise ValidationFailed(field_errors={"status": [_("Choose a status.")]})
    if len(note or "") > MAX_TEXT:
        raise ValidationFailed(
            field_errors={"note": [_("At most %(n)s characters.") % {"n": MAX_TEXT}]}
        )
    if status not in TRANSITIONS[ticket.status]:
        raise InvalidTransition(
            _("A ticket that is “%(from)s” cannot become “%(to)s”.")
            % {
                "from": TicketStatus(ticket.status).label,
                "to": TicketStatus(status).label,
            }
        )
    now = now or timezone.now()
    before = audit.snapshot(ticket)
    old = ticket.status
    if old == TicketStatus.WAITING_CUSTOMER and ticket.paused_at is not None:
        ticket.paused_seconds += _seconds(ticket.paused_at, now)
        ticket.paused_at = None
        _deadlines(ticket)
    if ticket.first_response_at is None and status != TicketStatus.OPEN:
        ticket.first_response_at = now
        ticket.response_seconds = _seconds(ticket.opened_at, now)
        if now > ticket.response_due_at:
            ticket.response_breached = True
    if status == TicketStatus.WAITING_CUSTOMER:
        ticket.paused_at = now
    if status in (TicketStatus.RESOLVED, TicketStatus.CLOSED) and ticket.resolved_at is None:
        ticket.resolved_at = now
        ticket.resolution_seconds = _seconds(ticket.opened_at, now, ticket.paused_seconds)
        if now > ticket.resolution_due_at:
            ticket.resolution_breached = True
    if status == TicketStatus.IN_PROGRESS and old == TicketStatus.RESOLVED:
        ticket.resolved_at = None
        ticket.resolution_seconds = None
    if status == TicketStatus.CLOSED:
        ticket.closed_at = now
    ticket.status = status
    ticket.version += 1
    ticket.save()
    audit.record(
        actor=actor,
        obj=ticket,
        verb=f"ticket.{status}",
        changes=audit.diff(before, audit.snapshot(ticket)),
        data={"version": ticket.version, "note": (note or "").strip()[:500]},
    )
    if status == TicketStatus.CLOSED:
        schedule_visit_for_ticket(ticket)
    return ticket


@transaction.atomic
def transfer_ticket(
    *, actor: User, ticket: Ticket, to_user: Any, version: int | None = None
) -> Ticket:
    """Hand a ticket to a colleague (``service:transfer``); the new assignee is told."""
    ticket = _locked(actor, ticket, "transfer", version)
    errors: dict[str, list[str]] = {}
    _colleague(actor, to_user, "owner", errors)
    if errors:
        raise ValidationFailed(field_errors=errors)
    before = audit.snapshot(ticket)
    ticket.owner = to_user
    ticket.version += 1
    ticket.save()
    audit.record(
        actor=actor,
        obj=ticket,
        verb="ticket.transferred",
        changes=audit.diff(before, audit.snapshot(ticket)),
        data={"version": ticket.version},
    )
    if to_user.pk != actor.pk:
        Notification.objects.bulk_create(
            [
                notification_for(
                    recipient=to_user,
                    verb="ticket.assigned",
                    message=_("%(who)s assigned you ticket %(number)s: %(subject)s")
                    % {
                        "who": actor.display_name,
                        "number": ticket.number,
                        "subject": ticket.subject,
                    },
                    actor=actor,
                    url=ticket_url(ticket),
                    target=ticket,
                )
            ]
        )
    return ticket


@transaction.atomic
def delete_ticket(*, actor: User, ticket: Ticket) -> None:
    _require(actor, "delete")
    assert_in_scope(actor, ticket, "delete")
    audit.record(
        actor=actor,
        obj=ticket,
        verb="ticket.deleted",
        data={"number": ticket.number, "subject": ticket.subject},
    )
    ReturnVisit.objects.filter(ticket=ticket, status=VisitStatus.PLANNED).delete()
    ticket.delete()


def overdue_q(now: datetime | None = None) -> Q:
    """Tickets whose clock runs and that are past a deadline right now."""
    now = now or timezone.now()
    return Q(status__in=ACTIVE_STATUSES) & (
        Q(first_response_at__isnull=True, response_due_at__lt=now) | Q(resolution_due_at__lt=now)
    )


def missed_q(now: datetime | None = None) -> Q:
    """Tickets that missed a deadline (flagged, or overdue now and not yet swept)."""
    return Q(response_breached=True) | Q(resolution_breached=True) | overdue_q(now)


def _manager_of(user: Any) -> Any:
    manager = user.manager or (
        user.department.head if user.department_id and user.department else None
    )
    if manager is not None and manager.pk != user.pk and manager.is_active:
        return manager
    return None


def sweep_overdue(org_id: int, now: datetime | None = None) -> int:
    """Flag tickets that just missed a deadline and tell the assignee and their manager, each
    deadline exactly once: the flag and stamp are one conditional UPDATE (``… WHERE
    notified_at IS NULL``), and only the rows this run stamped are notified."""
    now = now or timezone.now()
    sent = 0
    kinds = (
        (
            "response",
            Q(status__in=ACTIVE_STATUSES, first_response_at__isnull=True, response_due_at__lt=now),
            _("Ticket %(number)s (%(subject)s) has had no response by its deadline %(due)s."),
        ),
        (
            "resolution",
            Q(status__in=ACTIVE_STATUSES, resolution_due_at__lt=now),
            _("Ticket %(number)s (%(subject)s) is not resolved by its deadline %(due)s."),
        ),
    )
    for kind, due_q, text in kinds:
        stamp = timezone.now()
        with transaction.atomic():
            claimed = (
                Ticket.objects.for_org(org_id)
                .filter(due_q, **{f"{kind}_notified_at__isnull": True})
                .update(**{f"{kind}_notified_at": stamp, f"{kind}_breached": True})
            )
            if not claimed:
                continue
            tickets = (
                Ticket.objects.for_org(org_id)
                .filter(**{f"{kind}_notified_at": stamp})
                .select_related("owner", "owner__manager", "owner__department__head")
            )
            notes = []
            events = []
            for ticket in tickets:
                due = getattr(ticket, f"{kind}_due_at")
                message = text % {
                    "number": ticket.number,
                    "subject": ticket.subject,
                    "due": timezone.localtime(due).strftime("%Y-%m-%d %H:%M"),
                }
                recipients = [ticket.owner]
                manager = _manager_of(ticket.owner)
                if manager is not None:
                    recipients.append(manager)
                for person in recipients:
                    notes.append(
                        notification_for(
                            recipient=person,
                            verb=f"ticket.{kind}_overdue",
                            message=message,
                            url=ticket_url(ticket),
                            target=ticket,
                        )
                    )
                events.append(
                    audit.event_for(
                        actor=None,
                        obj=ticket,
                        verb=f"ticket.{kind}_overdue",
                        data={"due": due.isoformat()},
                    )
                )
            Notification.objects.bulk_create(notes)
            Event.objects.bulk_create(events)
            sent += len(notes)
    return sent


# --- return visits ------------------------------------------------------------------------------
def schedule_visit_for_ticket(ticket: Ticket) -> ReturnVisit | None:
    """A return visit to the customer N days after the ticket closed (once per ticket)."""
    days = get_settings(ticket.org_id).visit_days_after_ticket
    return _schedule(
        org_id=ticket.org_id,
        customer_id=ticket.customer_id,
        owner_id=ticket.owner_id,
        source=VisitSource.TICKET,
        due_on=timezone.localdate() + timedelta(days=days),
        ticket_id=ticket.pk,
        contract_id=ticket.contract_id,
    )


def schedule_visit_for_contract(contract: Any) -> ReturnVisit | None:
    """A return visit N days after a contract was signed (once per contract), for its owner."""
    days = get_settings(contract.org_id).visit_days_after_contract
    signed = contract.signed_on or timezone.localdate()
    return _schedule(
        org_id=contract.org_id,
        customer_id=contract.customer_id,
        owner_id=contract.owner_id,
        source=VisitSource.CONTRACT,
        due_on=signed + timedelta(days=days),
        contract_id=contract.pk,
    )


def _schedule(
    *,
    org_id: int,
    customer_id: int,
    owner_id: int,
    source: str,
    due_on: date,
    ticket_id: int | None = None,
    contract_id: int | None = None,
) -> ReturnVisit | None:
    key = {"ticket_id": ticket_id} if source == VisitSource.TICKET else {"contract_id": contract_id}
    if ReturnVisit.objects.filter(org_id=org_id, source=source, **key).exists():
        return None
    try:
        with transaction.atomic():
            visit = ReturnVisit.objects.create(
                org_id=org_id,
                customer_id=customer_id,
                owner_id=owner_id,
                source=source,
                due_on=due_on,
                ticket_id=ticket_id,
                contract_id=contract_id,
            )
            audit.record(actor=None, obj=visit, verb="returnvisit.scheduled", org_id=org_id)
            return visit
    except IntegrityError:  # scheduled by a concurrent writer
        return None


def on_event_saved(sender: Any, instance: Event, created: bool, **kwargs: Any) -> None:
    """Signal receiver: a contract's ``contract.signed`` event schedules its return visit in the
    signing transaction. A failure here never blocks the signing: the sweep catches up."""
    if not created or instance.verb != "contract.signed":
        return
    from crm.sales.models import Contract

    try:
        with transaction.atomic():
            contract = Contract.objects.filter(
                org_id=instance.org_id, pk=int(instance.object_id)
            ).first()
            if contract is not None:
                schedule_visit_for_contract(contract)
    except Exception:  # the periodic sweep schedules it later
        log.exception("could not schedule the return visit of contract %s", instance.object_id)


def schedule_contract_visits(org_id: int, since_days: int = 30) -> int:
    """Catch-up sweep: a return visit for every contract signed (``contract.signed`` events of
    the last ``since_days``) that has none yet. Idempotent (unique per contract)."""
    from crm.sales.models import Contract

    since = timezone.now() - timedelta(days=since_days)
    ids = (
        Event.objects.for_org(org_id)
        .filter(verb="contract.signed", created_at__gte=since)
        .values_list("object_id", flat=True)
    )
    contract_ids = {int(i) for i in ids if str(i).isdigit()}
    if not contract_ids:
        return 0
    done = set(
        ReturnVisit.objects.for_org(org_id)
        .filter(source=VisitSource.CONTRACT, contract_id__in=contract_ids)
        .values_list("contract_id", flat=True)
    )
    count = 0
    for contract in Contract.objects.for_org(org_id).filter(pk__in=contract_ids - done):
        if schedule_visit_for_contract(contract) is not None:
            count += 1
    return count


def _clean_day(value: Any, field: str, errors: dict[str, list[str]]) -> date | None:
    if isinstance(value, date):
        return value
    parsed = None
    try:
        parsed = parse_date(str(value or "").strip())
    except ValueError:
        parsed = None
    if parsed is None:
        errors[field] = [_("Enter a valid date.")]
    return parsed


MAX_NOTE = 2000


def default_visit_owner(actor: User, customer: Any) -> User:
    """Who a hand-planned visit is for unless chosen: the customer's owner when that is the actor
    or the actor may assign visits to others (service:transfer) and they are active; else the
    actor."""
    owner = getattr(customer, "owner", None)
    if (
        isinstance(owner, User)
        and owner.is_active
        and owner.org_id == actor.org_id
        and (owner.pk == actor.pk or actor.can("service", "transfer"))
    ):
        return owner
    return actor


def _check_visit_owner(
    actor: User, owner: Any, customer: Any, errors: dict[str, list[str]]
) -> None:
    """An active colleague who may see the customer and return visits; others than the actor
    only for those who may transfer."""
    from crm.customers.models import Customer

    _colleague(actor, owner, "owner", errors)
    if "owner" in errors or "customer" in errors:
        return
    if owner.pk != actor.pk and not actor.can("service", "transfer"):
        errors["owner"] = [_("You may only plan return visits for yourself.")]
    elif not owner.can("service", "view") or not (
        Customer.objects.visible_to(owner).filter(pk=customer.pk).exists()
    ):
        errors["owner"] = [_("This colleague may not see the customer.")]


def _check_due(value: Any, errors: dict[str, list[str]]) -> date | None:
    day = _clean_day(value, "due_on", errors)
    if day is not None and day < timezone.localdate():
        errors["due_on"] = [_("The due date cannot be in the past.")]
    return day


def _clean_note(value: Any, errors: dict[str, list[str]]) -> str:
    note = str(value or "").strip()
    if len(note) > MAX_NOTE:
        errors["note"] = [_("At most %(n)s characters.") % {"n": MAX_NOTE}]
    return note


@transaction.atomic
def plan_visit(
    *,
    actor: User,
    customer: Any,
    due_on: Any,
    ticket: Ticket | None = None,
    owner: User | None = None,
    note: str = "",
) -> ReturnVisit:
    """Plan a return visit by hand: a customer the actor sees, a due date from today on, an
    owner (default: ``default_visit_owner``) who is an active colleague seeing the customer —
    others than the actor only with service:transfer — and a note of what to ask."""
    _require(actor, "create")
    errors = _check_links(actor, customer, None, None, None)
    day = _check_due(due_on, errors)
    if owner is None and "customer" not in errors:
        owner = default_visit_owner(actor, customer)
    _check_visit_owner(actor, owner or actor, customer, errors)
    text = _clean_note(note, errors)
    if ticket is not None and (ticket.org_id != actor.org_id or ticket.customer_id != customer.pk):
        errors["ticket"] = [_("Choose a ticket of this customer.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    assert day is not None and owner is not None
    org_id: int = actor.org_id  # type: ignore[assignment]  # checked by _require
    visit = ReturnVisit.objects.create(
        org_id=org_id,
        created_by=actor,
        customer=customer,
        owner=owner,
        source=VisitSource.MANUAL,
        due_on=day,
        ticket=ticket,
        note=text,
    )
    audit.record_created(actor=actor, obj=visit, verb="returnvisit.scheduled")
    return visit


@transaction.atomic
def reschedule_visit(
    *,
    actor: User,
    visit: ReturnVisit,
    due_on: Any,
    owner: User | None = None,
    note: str | None = None,
    version: int | None = None,
) -> ReturnVisit:
    """Move a planned return visit (automatic or by hand) to another day, optionally to
    another owner (service:transfer) and with another note."""
    _require(actor, "edit")
    assert_in_scope(actor, visit, "edit")
    visit = (
        ReturnVisit.objects.select_for_update().select_related("customer", "owner").get(pk=visit.pk)
    )
    check_version(visit, version)
    if visit.status != VisitStatus.PLANNED:
        raise InvalidTransition(_("Only a planned return visit can be rescheduled."))
    errors: dict[str, list[str]] = {}
    day = _check_due(due_on, errors)
    if owner is not None and owner.pk != visit.owner_id:
        _colleague(actor, owner, "owner", errors)
        if "owner" not in errors and not actor.can("service", "transfer"):
            errors["owner"] = [_("Only those who may transfer give a visit to someone else.")]
        elif "owner" not in errors:
            _check_visit_owner(actor, owner, visit.customer, errors)
    text = _clean_note(note, errors) if note is not None else visit.note
    if errors:
        raise ValidationFailed(field_errors=errors)
    before = audit.snapshot(visit)
    visit.due_on = day  # type: ignore[assignment]
    if owner is not None:
        visit.owner = owner
    visit.note = text
    visit.version += 1
    visit.save()
    audit.record(
        actor=actor,
        obj=visit,
        verb="returnvisit.rescheduled",
        changes=audit.diff(before, audit.snapshot(visit)),
        data={"version": visit.version},
    )
    return visit


@transaction.atomic
def complete_visit(
    *,
    actor: User,
    visit: ReturnVisit,
    satisfaction: Any,
    comment: str = "",
    version: int | None = None,
) -> ReturnVisit:
    """Record a return visit as done with the customer's satisfaction (1–5) and a comment."""
    _require(actor, "edit")
    assert_in_scope(actor, visit, "edit")
    visit = ReturnVisit.objects.select_for_update().get(pk=visit.pk)
    check_version(visit, version)
    if visit.status != VisitStatus.PLANNED:
        raise InvalidTransition(_("Only a planned return visit can be completed."))
    errors: dict[str, list[str]] = {}
    try:
        score = int(satisfaction)
    except (TypeError, ValueError):
        score = 0
    if not 1 <= score <= 5:
        errors["satisfaction"] = [_("Give a satisfaction score from 1 to 5.")]
    comment = (comment or "").strip()
    if len(comment) > MAX_TEXT:
        errors["comment"] = [_("At most %(n)s characters.") % {"n": MAX_TEXT}]
    if errors:
        raise ValidationFailed(field_errors=errors)
    before = audit.snapshot(visit)
    visit.status = VisitStatus.DONE
    visit.satisfaction = score
    visit.comment = comment
    visit.done_at = timezone.now()
    visit.version += 1
    visit.save()
    audit.record(
        actor=actor,
        obj=visit,
        verb="returnvisit.done",
        changes=audit.diff(before, audit.snapshot(visit)),
        data={"version": visit.version},
    )
    return visit


@transaction.atomic
def cancel_visit(*, actor: User, visit: ReturnVisit, version: int | None = None) -> ReturnVisit:
    _require(actor, "edit")
    assert_in_scope(actor, visit, "edit")
    visit = ReturnVisit.objects.select_for_update().get(pk=visit.pk)
    check_version(visit, version)
    if visit.status != VisitStatus.PLANNED:
        raise InvalidTransition(_("Only a planned return visit can be cancelled."))
    visit.status = VisitStatus.CANCELLED
    visit.version += 1
    visit.save()
    audit.record(
        actor=actor,
        obj=visit,
        verb="returnvisit.cancelled",
        changes={"status": [VisitStatus.PLANNED, VisitStatus.CANCELLED]},
        data={"version": visit.version},
    )
    return visit


# --- hand-over and merge ------------------------------------------------------------------------
def transfer_all_of(*, actor: User, from_user: User, to_user: User) -> int:
    """Deactivation hand-over: unfinished tickets and planned return visits move."""
    now = timezone.now()
    moved = (
        Ticket.objects.for_org(from_user.org_id)  # type: ignore[arg-type]
        .filter(owner=from_user)
        .exclude(status=TicketStatus.CLOSED)
        .update(owner=to_user, updated_at=now)
    )
    moved += (
        ReturnVisit.objects.for_org(from_user.org_id)  # type: ignore[arg-type]
        .filter(owner=from_user, status=VisitStatus.PLANNED)
        .update(owner=to_user, updated_at=now)
    )
    return moved


def move_to_customer(*, source: Any, target: Any) -> dict[str, int]:
    """Customer-merge handler: the merged customer's tickets and return visits follow it."""
    tickets = Ticket.objects.filter(org_id=source.org_id, customer=source).update(customer=target)
    visits = ReturnVisit.objects.filter(org_id=source.org_id, customer=source).update(
        customer=target
    )
    return {"tickets": tickets, "return_visits": visits}
