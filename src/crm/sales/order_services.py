"""Orders (R6.4): created from a signed or executing contract, with lines (the quote's lines
when the contract comes from a quote whose total is still the contract amount, else one line for
the whole contract), numbered ``DD-YYYY-00001``.

Shipment status: ``pending → shipped`` (carrier and tracking number) ``→ delivered``; a pending
order may be ``cancelled``. Downstream inventory and logistics systems set the status through
the API: a repeated request for the status the order already has (with the same tracking
details) changes nothing and succeeds, whatever version it names, so retries are safe; any other
change must name the current ``version`` (optimistic locking).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from crm.core.locking import EditConflict, changes_since
from crm.core.money import money, parse_money
from crm.core.numbering import next_number
from crm.core.scoping import assert_in_scope
from crm.org.models import User

from .choices import ContractStatus, ShipmentStatus
from .models import Contract, Order, OrderLine, QuoteLine

#: statuses of a contract that take new orders
ORDERABLE_STATUSES = (ContractStatus.SIGNED, ContractStatus.EXECUTING)
#: allowed moves of the shipment status
TRANSITIONS: dict[str, tuple[str, ...]] = {
    ShipmentStatus.PENDING: (ShipmentStatus.SHIPPED, ShipmentStatus.CANCELLED),
    ShipmentStatus.SHIPPED: (ShipmentStatus.DELIVERED,),
    ShipmentStatus.DELIVERED: (),
    ShipmentStatus.CANCELLED: (),
}
STATUS_COLORS: dict[str, str] = {
    ShipmentStatus.PENDING: "secondary",
    ShipmentStatus.SHIPPED: "blue",
    ShipmentStatus.DELIVERED: "green",
    ShipmentStatus.CANCELLED: "red",
}
TEXT_FIELDS = {
    "ship_to": 300,
    "carrier": 100,
    "tracking_number": 100,
    "external_ref": 100,
    "notes": 5000,
}
MAX_LINES = 200


def _require(actor: User, action: str) -> None:
    if not actor.can("sales", action):
        raise PermissionDenied()


def _texts(data: dict[str, Any], fields: dict[str, int]) -> dict[str, str]:
    clean: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for field, limit in fields.items():
        if field not in data:
            continue
        value = str(data[field] or "").strip()
        if len(value) > limit:
            errors[field] = [_("At most %(n)s characters.") % {"n": limit}]
        clean[field] = value
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _number(value: Any) -> Decimal | None:
    try:
        return parse_money(value)
    except ValueError:
        return None


def clean_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines as clients send them: description, quantity > 0, unit price ≥ 0; amount = quantity
    × unit price (rounded half-up to the fen) unless given."""
    result: list[dict[str, Any]] = []
    errors: list[str] = []
    for index, line in enumerate(lines):
        n = index + 1
        description = str(line.get("description") or "").strip()
        quantity = _number(line.get("quantity"))
        price = _number(line.get("unit_price"))
        if not description or len(description) > 300:
            errors.append(_("Line %(n)s: enter a description (at most 300 characters).") % {"n": n})
        if quantity is None or quantity <= 0:
            errors.append(_("Line %(n)s: enter a quantity above 0.") % {"n": n})
        if price is None:
            errors.append(_("Line %(n)s: enter a unit price of 0 or more.") % {"n": n})
        if quantity is None or price is None or quantity <= 0:
            continue
        result.append(
            {
                "description": description[:300],
                "quantity": quantity,
                "unit_price": price,
                "amount": money(quantity * price),
            }
        )
    if len(lines) > MAX_LINES:
        errors.append(_("At most %(n)s lines.") % {"n": MAX_LINES})
    if errors:
        raise ValidationFailed(field_errors={"lines": errors})
    return result


def default_lines(contract: Contract) -> list[dict[str, Any]]:
    """The quote's lines when their total is still the contract amount, else one line."""
    if contract.quote_id:
        quote_lines = list(
            QuoteLine.objects.filter(quote_id=contract.quote_id).order_by("sort_order", "pk")
        )
        total = money(sum((line.total for line in quote_lines), Decimal(0)))
        if quote_lines and total == contract.amount:
            return [
                {
                    "product_id": line.product_id,
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "amount": line.total,
                }
                for line in quote_lines
            ]
    return [
        {
            "product_id": None,
            "description": contract.name[:300],
            "quantity": Decimal("1.00"),
            "unit_price": contract.amount,
            "amount": contract.amount,
        }
    ]


@transaction.atomic
def create_order(
    *,
    actor: User,
    contract: Contract,
    data: dict[str, Any] | None = None,
    lines: list[dict[str, Any]] | None = None,
) -> Order:
    """A pending order of a signed or executing ``contract`` the actor may edit."""
    _require(actor, "create")
    assert_in_scope(actor, contract, "edit")
    if contract.status not in ORDERABLE_STATUSES:
        raise InvalidTransition(_("Orders are created from a signed or executing contract."))
    clean = _texts(data or {}, {k: TEXT_FIELDS[k] for k in ("ship_to", "external_ref", "notes")})
    rows = clean_lines(lines) if lines else default_lines(contract)
    if not rows:
        raise ValidationFailed(field_errors={"lines": [_("Add at least one line.")]})
    order = Order.objects.create(
        org_id=contract.org_id,
        created_by=actor,
        number=next_number(contract.org_id, "DD"),
        contract=contract,
        customer_id=contract.customer_id,
        owner=actor,
        currency=contract.currency,
        amount=money(sum((r["amount"] for r in rows), Decimal(0))),
        **clean,
    )
    OrderLine.objects.bulk_create(
        OrderLine(org_id=order.org_id, order=order, sort_order=i, **row)
        for i, row in enumerate(rows)
    )
    audit.record_created(actor=actor, obj=order, verb="order.created")
    assert_in_scope(actor, order, "view")
    return order


def _same(order: Order, status: str | None, clean: dict[str, str]) -> bool:
    if status is not None and status != order.status:
        return False
    return all(getattr(order, field) == value for field, value in clean.items())


@transaction.atomic
def update_order(
    *,
    actor: User,
    order: Order,
    data: dict[str, Any],
    status: str | None = None,
    version: int | None = None,
) -> Order:
    """Change the shipment status (with carrier and tracking number) and/or the order's details
    (ship-to address, carrier, tracking number, external reference, notes).

    The same status and details again: nothing changes (idempotent). Shipping needs the carrier
    and the tracking number; delivered follows shipped; only a pending order is cancelled."""
    _require(actor, "edit")
    assert_in_scope(actor, order, "edit")
    clean = _texts(data, TEXT_FIELDS)
    if status is not None and status not in ShipmentStatus.values:
        raise ValidationFailed(field_errors={"status": [_("Choose a valid shipment status.")]})
    if _same(order, status, clean):
        return order
    values: dict[str, Any] = dict(clean)
    now = timezone.now()
    moving = status is not None and status != order.status
    if moving:
        assert status is not None
        if status not in TRANSITIONS[order.status]:
            raise InvalidTransition(
                _("An order that is “%(from)s” cannot become “%(to)s”.")
                % {"from": order.get_status_display(), "to": ShipmentStatus(status).label}
            )
        values["status"] = status
        if status == ShipmentStatus.SHIPPED:
            carrier = clean.get("carrier", order.carrier)
            tracking = clean.get("tracking_number", order.tracking_number)
            errors: dict[str, list[str]] = {}
            if not carrier:
                errors["carrier"] = [_("Enter the carrier.")]
            if not tracking:
                errors["tracking_number"] = [_("Enter the tracking number.")]
            if errors:
                raise ValidationFailed(field_errors=errors)
            values["shipped_at"] = now
        elif status == ShipmentStatus.DELIVERED:
            values["delivered_at"] = now
    before = audit.snapshot(order)
    expected = order.version if version is None else int(version)
    updated = Order.objects.filter(pk=order.pk, version=expected, status=order.status).update(
        **values, version=expected + 1, updated_at=now
    )
    if not updated:
        current = Order.objects.get(pk=order.pk)
        if _same(current, status, clean):
            return current
        raise EditConflict(changes_since(current, expected), current.version)
    order.refresh_from_db()
    audit.record(
        actor=actor,
        obj=order,
        verb=f"order.{status}" if moving else "order.updated",
        changes=audit.diff(before, audit.snapshot(order)),
        data={"version": order.version},
    )
    return order
