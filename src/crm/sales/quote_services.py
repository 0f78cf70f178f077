"""Every write on quotes (报价单, R6.1).

Life cycle: ``draft → sent → accepted | rejected``; a sent quote ``expired`` once its validity
date has passed; revising a sent (or rejected, or expired) quote makes a new ``draft`` revision
with the same number, ``revision + 1``, a link to the previous one and a copy of its lines, and
the previous one becomes ``superseded`` (it stays readable). Rules kept here:

- only a draft is edited, under optimistic locking (``version``): a stale save is refused with
  what changed since (``EditConflict``); every status change is a conditional update on the
  status (and version) the quote must be in, so two clicks cannot both succeed;
- amounts come from :mod:`crm.sales.pricing` only (prices exclusive of tax; see there);
- numbers ``BJ-YYYY-00001`` come from :func:`crm.core.numbering.next_number`; revisions keep the
  number, and the ``(org, number, revision)`` unique constraint refuses a second, concurrent
  revision of the same quote;
- sending starts the organisation's ``quote`` approval flow that matches the total and the largest
  line discount (:mod:`crm.sales.approvals`): with no matching flow the quote is sent at once,
  otherwise it stays a draft, locked against edits, until the approval ends (approved → sent,
  rejected or withdrawn → it stays a draft to change and send again);
- expiry is a periodic job (:func:`expire_quotes`, hourly, in each organisation's time zone): a
  sent quote whose ``valid_until`` lies before today becomes ``expired``; accepting a sent quote
  after its validity date is refused as well, even before the job ran.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from crm.core.locking import EditConflict, changes_since, check_version
from crm.core.money import MAX_AMOUNT, money, parse_money
from crm.core.numbering import next_number
from crm.core.scoping import assert_in_scope
from crm.org.models import User

from . import approvals, pricing
from .choices import ApprovalSubject, DiscountKind, QuoteStatus
from .models import PriceList, Product, Quote, QuoteLine
from .product_services import parse_rate, price_for

#: Fields the editor of a draft sets (status, owner, number and amounts move apart).
EDITABLE_FIELDS = ["title", "contact", "price_list", "valid_until", "terms", "notes"]
#: Statuses a quote is revised from.
REVISABLE = (QuoteStatus.SENT, QuoteStatus.REJECTED, QuoteStatus.EXPIRED)
MAX_LINES = 200
MAX_QUANTITY = Decimal("999999999999")
#: Days a new quote stays valid unless the editor says otherwise.
DEFAULT_VALIDITY_DAYS = 30
#: The tax rate of a line without a catalogue product (China's standard VAT rate).
DEFAULT_TAX_RATE = Decimal("13.00")
NUMBER_PREFIX = "BJ"
STATUS_COLORS: dict[str, str] = {
    QuoteStatus.DRAFT: "secondary",
    QuoteStatus.SENT: "blue",
    QuoteStatus.ACCEPTED: "green",
    QuoteStatus.REJECTED: "red",
    QuoteStatus.EXPIRED: "orange",
    QuoteStatus.SUPERSEDED: "muted",
}
LINE_FIELDS = (
    "product",
    "description",
    "unit",
    "quantity",
    "unit_price",
    "discount_kind",
    "discount_value",
    "tax_rate",
)


# --- helpers -------------------------------------------------------------------------------------
def _org(actor: User) -> int:
    if not actor.org_id:
        raise PermissionDenied()
    return actor.org_id


def _require(actor: User, action: str) -> None:
    if not actor.can("sales", action):
        raise PermissionDenied()


def quote_url(quote: Any) -> str:
    return reverse("sales:quote_detail", args=[quote.pk])


def today() -> date:
    """Today in the active time zone (the organisation's, set per request)."""
    return timezone.localdate()


def default_valid_until() -> date:
    """The validity date a new quote starts with."""
    return today() + timedelta(days=DEFAULT_VALIDITY_DAYS)


def _org_today(org: Any) -> date:
    try:
        zone = zoneinfo.ZoneInfo(org.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        return timezone.localdate()
    return timezone.localtime(timezone.now(), zone).date()


def _clean_date(value: Any, field: str, errors: dict[str, list[str]]) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        parsed = parse_date(str(value).strip())
    except ValueError:
        parsed = None
    if parsed is None:
        errors[field] = [_("Enter a valid date (YYYY-MM-DD).")]
    return parsed


def _decimal(value: Any) -> Decimal | None:
    """A number as people type it (``1,234.5``, ``¥12``); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        number = value
    else:
        text = str(value if value is not None else "").strip()
        text = text.replace(",", "").replace("，", "").replace(" ", "")
        text = text.removeprefix("¥").removeprefix("￥").rstrip("%")
        if not text:
            return None
        try:
            number = Decimal(text)
        except (InvalidOperation, ValueError):
            return None
    return number if number.is_finite() else None


def pending_request(quote: Quote) -> Any:
    """The approval under way for the quote, if any."""
    return approvals.pending_request(ApprovalSubject.QUOTE, quote)


# --- lines ---------------------------------------------------------------------------------------
def clean_lines(
    org_id: int,
    lines: Iterable[dict[str, Any]],
    *,
    kept_products: Iterable[int] = (),
) -> list[dict[str, Any]]:
    """Validated lines with their amounts (:func:`crm.sales.pricing.line_amounts`).

    A line needs a description (the product's name when a product is chosen), a quantity above
    0, a unit price of 0 or more, a discount (percent up to 100, or an amount up to the line's
    subtotal) and a tax rate from 0 to 100 %. Products must be active products of the
    organisation; ``kept_products`` (the ones already on the quote) may be inactive.
    Quantities and prices have at most two decimals (rounded half-up to them).
    """
    kept = set(kept_products)
    result = []
    errors: list[str] = []
    for index, line in enumerate(lines, start=1):
        problems: list[str] = []
        product = line.get("product")
        if product is not None and (
            not isinstance(product, Product)
            or product.org_id != org_id
            or (not product.is_active and product.pk not in kept)
        ):
            problems.append(_("Line %(n)s: choose an active product.") % {"n": index})
            product = None
        description = str(line.get("description") or "").strip()
        if not description and product is not None:
            description = product.name
        if not description:
            problems.append(_("Line %(n)s: enter a description.") % {"n": index})
        unit = str(line.get("unit") or "").strip()
        if not unit and product is not None:
            unit = product.unit
        quantity = _decimal(line.get("quantity"))
        if quantity is None or quantity <= 0 or quantity > MAX_QUANTITY:
            problems.append(_("Line %(n)s: enter a quantity above 0.") % {"n": index})
            quantity = None
        else:
            quantity = money(quantity)
            if quantity <= 0:
                problems.append(_("Line %(n)s: enter a quantity above 0.") % {"n": index})
                quantity = None
        try:
            price = parse_money(line.get("unit_price"))
        except ValueError:
            price = None
        if price is None:
            problems.append(_("Line %(n)s: enter a unit price of 0 or more.") % {"n": index})
        kind = str(line.get("discount_kind") or DiscountKind.PERCENT)
        if kind not in DiscountKind.values:
            problems.append(_("Line %(n)s: choose percent or amount.") % {"n": index})
            kind = DiscountKind.PERCENT
        raw_discount = line.get("discount_value")
        if raw_discount in (None, ""):
            discount_value: Decimal | None = Decimal("0.00")
        else:
            try:
                discount_value = parse_money(raw_discount)
            except ValueError:
                discount_value = None
        if discount_value is None:
            problems.append(_("Line %(n)s: enter a discount of 0 or more.") % {"n": index})
        elif kind == DiscountKind.PERCENT and discount_value > 100:
            problems.append(_("Line %(n)s: a discount is at most 100 %%.") % {"n": index})
        raw_rate = line.get("tax_rate")
        tax_rate: Decimal | None
        if raw_rate in (None, ""):
            tax_rate = product.tax_rate if product is not None else DEFAULT_TAX_RATE
        else:
            tax_rate = parse_rate(raw_rate)
        if tax_rate is None:
            problems.append(_("Line %(n)s: enter a tax rate from 0 to 100 %%.") % {"n": index})
        if problems:
            errors.extend(problems)
            continue
        assert quantity is not None and price is not None and discount_value is not None
        assert tax_rate is not None
        amounts = pricing.line_amounts(quantity, price, kind, discount_value, tax_rate)
        if amounts.subtotal > MAX_AMOUNT or amounts.total > MAX_AMOUNT:
            errors.append(_("Line %(n)s: the amount is too large.") % {"n": index})
            continue
        if kind == DiscountKind.AMOUNT and discount_value > amounts.subtotal:
            errors.append(
                _("Line %(n)s: the discount (%(discount)s) is more than the line's %(subtotal)s.")
                % {"n": index, "discount": discount_value, "subtotal": amounts.subtotal}
            )
            continue
        result.append(
            {
                "product": product,
                "description": description[:300],
                "unit": unit[:20],
                "quantity": quantity,
                "unit_price": price,
                "discount_kind": kind,
                "discount_value": discount_value,
                "tax_rate": tax_rate,
                **amounts._asdict(),
            }
        )
    if len(result) + len(errors) > MAX_LINES:
        errors = [_("At most %(n)s lines.") % {"n": MAX_LINES}]
    elif not errors and pricing.quote_totals(result).total > MAX_AMOUNT:
        errors = [_("The quote's total is too large.")]
    if errors:
        raise ValidationFailed(field_errors={"lines": errors})
    return result


def preview(org_id: int, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The amounts of lines as typed, for the form's live totals: each line's amounts or its
    problem, and the totals of the valid lines (the same arithmetic the save uses)."""
    rows: list[dict[str, Any]] = []
    good = []
    for line in lines:
        try:
            [clean] = clean_lines(org_id, [line], kept_products=_product_ids([line]))
        except ValidationFailed as exc:
            messages = [str(m) for m in exc.field_errors.get("lines", [])]
            rows.append({"error": " ".join(m.split(": ", 1)[-1] for m in messages)})
            continue
        good.append(clean)
        rows.append(
            {"amounts": pricing.LineAmounts(*(clean[k] for k in pricing.LineAmounts._fields))}
        )
    return {
        "lines": rows,
        "totals": pricing.quote_totals(good),
        "max_discount_percent": pricing.max_discount_percent(good),
    }


def _product_ids(lines: Iterable[dict[str, Any]]) -> list[int]:
    return [p.pk for line in lines if isinstance(p := line.get("product"), Product)]


def _write_lines(quote: Quote, lines: list[dict[str, Any]]) -> None:
    QuoteLine.objects.filter(quote=quote).delete()
    QuoteLine.objects.bulk_create(
        QuoteLine(org_id=quote.org_id, quote=quote, sort_order=i, **line)
        for i, line in enumerate(lines)
    )


def _apply_totals(quote: Quote, lines: list[dict[str, Any]]) -> None:
    totals = pricing.quote_totals(lines)
    quote.subtotal = totals.subtotal
    quote.discount_total = totals.discount
    quote.tax_total = totals.tax
    quote.total = totals.total
    quote.max_discount_percent = pricing.max_discount_percent(lines)


def _lines_snapshot(quote: Quote) -> list[str]:
    return [
        f"{line.description} × {line.quantity} @ {line.unit_price} = {line.total}"
        for line in quote.lines.order_by("sort_order", "pk")
    ]


TOTAL_FIELDS = ["subtotal", "discount_total", "tax_total", "total", "max_discount_percent"]


# --- header fields -------------------------------------------------------------------------------
def _clean_data(actor: User, data: dict[str, Any], customer_id: int) -> dict[str, Any]:
    """Validate the editable fields present in ``data`` (absent ones are left alone)."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for key in EDITABLE_FIELDS:
        if key in data:
            value = data[key]
            clean[key] = value.strip() if isinstance(value, str) else value
    if "title" in clean:
        clean["title"] = clean["title"] or ""
        if not clean["title"]:
            errors["title"] = [_("Enter the quote's title.")]
        elif len(clean["title"]) > 200:
            errors["title"] = [_("At most %(n)s characters.") % {"n": 200}]
    if "contact" in clean:
        contact = clean["contact"]
        if contact in ("", None):
            clean["contact"] = None
        elif getattr(contact, "customer_id", None) != customer_id or contact.org_id != actor.org_id:
            errors["contact"] = [_("Choose a contact of this customer.")]
    if "price_list" in clean:
        price_list = clean["price_list"]
        if price_list in ("", None):
            clean["price_list"] = None
        elif not isinstance(price_list, PriceList) or price_list.org_id != actor.org_id:
            errors["price_list"] = [_("Choose an active price list.")]
    if "valid_until" in clean:
        clean["valid_until"] = _clean_date(clean["valid_until"], "valid_until", errors)
    for key in ("terms", "notes"):
        if key in clean:
            clean[key] = str(clean[key] or "")[:10000]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _check_price_list(clean: dict[str, Any], current: PriceList | None) -> None:
    chosen = clean.get("price_list")
    if chosen is not None and chosen != current and not chosen.is_active:
        raise ValidationFailed(field_errors={"price_list": [_("Choose an active price list.")]})


def _check_validity(valid_until: date | None, *, changed: bool) -> None:
    if changed and valid_until is not None and valid_until < today():
        raise ValidationFailed(
            field_errors={"valid_until": [_("The validity date cannot lie in the past.")]}
        )


# --- create and edit -----------------------------------------------------------------------------
def _visible_customer(actor: User, customer: Any) -> None:
    from crm.customers.models import Customer

    if (
        customer is None
        or customer.org_id != actor.org_id
        or not Customer.objects.visible_to(actor).filter(pk=customer.pk).exists()
    ):
        raise ValidationFailed(field_errors={"customer": [_("Choose a customer.")]})
    if customer.merged_into_id:
        raise ValidationFailed(field_errors={"customer": [_("This customer was merged.")]})


def _visible_opportunity(actor: User, opportunity: Any) -> None:
    from crm.pipeline.models import Opportunity

    if (
        opportunity.org_id != actor.org_id
        or not Opportunity.objects.visible_to(actor).filter(pk=opportunity.pk).exists()
    ):
        raise ValidationFailed(field_errors={"opportunity": [_("Choose an opportunity.")]})


@transaction.atomic
def create_quote(
    *,
    actor: User,
    data: dict[str, Any],
    lines: list[dict[str, Any]],
    customer: Any = None,
    opportunity: Any = None,
    owner: User | None = None,
) -> Quote:
    """A new draft quote (revision 1) of ``customer``, or of the customer of ``opportunity``
    (which the actor must see), owned by ``owner`` (default: the actor)."""
    _require(actor, "create")
    org_id = _org(actor)
    if opportunity is not None:
        _visible_opportunity(actor, opportunity)
        if customer is not None and customer.pk != opportunity.customer_id:
            raise ValidationFailed(
                field_errors={"opportunity": [_("The opportunity belongs to another customer.")]}
            )
        customer = opportunity.customer
        if customer.merged_into_id:
            raise ValidationFailed(field_errors={"customer": [_("This customer was merged.")]})
    else:
        _visible_customer(actor, customer)
    owner = owner or actor
    if not isinstance(owner, User) or owner.org_id != org_id or not owner.is_active:
        raise ValidationFailed(field_errors={"owner": [_("Choose an active colleague.")]})
    data = dict(data)
    if not str(data.get("title") or "").strip():
        data["title"] = (opportunity.name if opportunity is not None else customer.name)[:200]
    clean = _clean_data(actor, data, customer.pk)
    _check_price_list(clean, None)
    if clean.get("valid_until") is None:
        clean["valid_until"] = default_valid_until()
    _check_validity(clean["valid_until"], changed=True)
    cleaned = clean_lines(org_id, lines)
    quote = Quote(
        org_id=org_id,
        created_by=actor,
        number=next_number(org_id, NUMBER_PREFIX),
        revision=1,
        customer=customer,
        opportunity=opportunity,
        owner=owner,
        currency=getattr(getattr(actor, "org", None), "currency", "CNY") or "CNY",
        **clean,
    )
    _apply_totals(quote, cleaned)
    quote.save()
    _write_lines(quote, cleaned)
    _record_created(actor, quote, "quote.created")
    assert_in_scope(actor, quote, "view")
    return quote


def _record_created(
    actor: Any, quote: Quote, verb: str, data: dict[str, Any] | None = None
) -> None:
    """The creation event: every initial value that is set, and the lines."""
    values = {k: v for k, v in audit.snapshot(quote).items() if v not in (None, "", [], {}, False)}
    changes = audit.diff({}, values)
    lines = _lines_snapshot(quote)
    if lines:
        changes["lines"] = [None, lines]
    audit.record(actor=actor, obj=quote, verb=verb, changes=changes, data=data)


def _locked_update(quote: Quote, version: int | None, fields: dict[str, Any], **match: Any) -> int:
    """Write ``fields`` only if the row is still at ``version`` (default: the one loaded) and
    matches ``match``. Returns the new version; raises EditConflict when it moved on."""
    expected = quote.version if version is None else int(version)
    updated = Quote.objects.filter(pk=quote.pk, version=expected, **match).update(
        **fields, version=expected + 1, updated_at=timezone.now()
    )
    if not updated:
        current = Quote.objects.get(pk=quote.pk)
        if current.version == expected:  # the version matched: the status did not
            raise InvalidTransition(_("This quote's status changed meanwhile. Reload it."))
        raise EditConflict(changes_since(current, expected), current.version)
    return expected + 1


def _require_draft(quote: Quote) -> None:
    if quote.status != QuoteStatus.DRAFT:
        raise InvalidTransition(
            _("Only a draft is edited. Revise the quote to change it (a new revision).")
        )
    if pending_request(quote) is not None:
        raise InvalidTransition(
            _("This quote is waiting for approval. Withdraw the approval to change it.")
        )


@transaction.atomic
def update_quote(
    *,
    actor: User,
    quote: Quote,
    data: dict[str, Any],
    lines: list[dict[str, Any]] | None = None,
    version: int | None = None,
) -> Quote:
    """Edit a draft's fields and (when given) replace its lines. ``version`` is the one the
    editor read: if someone saved in between, nothing is written and EditConflict says what
    changed."""
    _require(actor, "edit")
    assert_in_scope(actor, quote, "edit")
    check_version(quote, version)
    _require_draft(quote)
    clean = _clean_data(actor, data, quote.customer_id)
    _check_price_list(clean, quote.price_list)
    if "valid_until" in clean:
        _check_validity(clean["valid_until"], changed=clean["valid_until"] != quote.valid_until)
    before = audit.snapshot(quote)
    for key, value in clean.items():
        setattr(quote, key, value)
    extra: dict[str, list[Any]] = {}
    fields = list(clean)
    if lines is not None:
        kept = QuoteLine.objects.filter(quote=quote, product__isnull=False).values_list(
            "product_id", flat=True
        )
        cleaned = clean_lines(quote.org_id, lines, kept_products=list(kept))
        old = _lines_snapshot(quote)
        _write_lines(quote, cleaned)
        new = _lines_snapshot(quote)
        if old != new:
            extra["lines"] = [old, new]
        _apply_totals(quote, cleaned)
        fields += TOTAL_FIELDS
    columns = [f"{f}_id" if f in ("contact", "price_list") else f for f in fields]
    new_version = _locked_update(
        quote, version, {c: getattr(quote, c) for c in columns}, status=QuoteStatus.DRAFT
    )
    quote.refresh_from_db()
    changes = {**audit.diff(before, audit.snapshot(quote)), **extra}
    audit.record(
        actor=actor,
        obj=quote,
        verb="quote.updated",
        changes=changes,
        data={"version": new_version},
    )
    return quote


# --- status changes ------------------------------------------------------------------------------
def _transition(
    actor: Any,
    quote: Quote,
    *,
    allowed: Iterable[str],
    to: str,
    verb: str,
    version: int | None = None,
    fields: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> Quote:
    allowed = tuple(allowed)
    if quote.status not in allowed:
        raise InvalidTransition(
            _("A %(status)s quote cannot change this way.")
            % {"status": QuoteStatus(quote.status).label}
        )
    old = quote.status
    new_version = _locked_update(
        quote, version, {"status": to, **(fields or {})}, status__in=allowed
    )
    quote.refresh_from_db()
    audit.record(
        actor=actor,
        obj=quote,
        verb=verb,
        changes={"status": [old, to]},
        data={**(data or {}), "version": new_version},
    )
    return quote


@transaction.atomic
def send_quote(
    *, actor: User, quote: Quote, version: int | None = None, comment: str = ""
) -> tuple[Quote, Any]:
    """Send a draft to the customer. When an approval flow of the organisation applies (its
    amount range and least discount match the quote), the approval starts instead and the quote
    is sent when it is approved. Returns the quote and the approval request (None: sent now)."""
    _require(actor, "edit")
    assert_in_scope(actor, quote, "edit")
    check_version(quote, version)
    _require_draft(quote)
    if not QuoteLine.objects.filter(quote=quote).exists():
        raise ValidationFailed(_("Add at least one line before sending the quote."))
    if quote.valid_until is None or quote.valid_until < today():
        raise ValidationFailed(
            _("Set a validity date of today or later before sending the quote."),
            field_errors={"valid_until": [_("The validity date cannot lie in the past.")]},
        )
    request = approvals.submit(
        actor=actor,
        subject=ApprovalSubject.QUOTE,
        obj=quote,
        amount=quote.total,
        discount_percent=quote.max_discount_percent,
        comment=comment,
    )
    if request is not None:
        return quote, request
    quote = _transition(
        actor,
        quote,
        allowed=[QuoteStatus.DRAFT],
        to=QuoteStatus.SENT,
        verb="quote.sent",
        version=version,
        fields={"sent_at": timezone.now()},
    )
    return quote, None


def _approved(request: Any, actor: Any) -> None:
    """The quote's approval was granted: it is sent (inside the deciding transaction)."""
    quote = Quote.objects.filter(org_id=request.org_id, pk=request.subject_id).first()
    if quote is None or quote.status != QuoteStatus.DRAFT:
        return
    _transition(
        actor,
        quote,
        allowed=[QuoteStatus.DRAFT],
        to=QuoteStatus.SENT,
        verb="quote.sent",
        fields={"sent_at": timezone.now()},
        data={"approval": request.pk},
    )


def _returned(request: Any, actor: Any) -> None:
    """Rejected or withdrawn: the quote stays a draft, to change and send again."""


def _resolve(subject_id: str) -> tuple[Any, str]:
    quote = Quote.objects.filter(pk=subject_id).first()
    return quote, (quote_url(quote) if quote is not None else "")


def register_approval_outcomes() -> None:
    approvals.register_outcome(
        ApprovalSubject.QUOTE,
        approved=_approved,
        rejected=_returned,
        withdrawn=_returned,
        resolve=_resolve,
    )


def withdraw_approval(*, actor: User, quote: Quote) -> Any:
    """The submitter takes the quote's pending approval back (it stays a draft)."""
    _require(actor, "edit")
    assert_in_scope(actor, quote, "edit")
    request = pending_request(quote)
    if request is None:
        raise InvalidTransition(_("This quote is not waiting for approval."))
    return approvals.withdraw(actor=actor, request=request)


@transaction.atomic
def accept_quote(*, actor: User, quote: Quote, version: int | None = None, note: str = "") -> Quote:
    """The customer accepted a sent quote (within its validity)."""
    _require(actor, "edit")
    assert_in_scope(actor, quote, "edit")
    check_version(quote, version)
    if (
        quote.status == QuoteStatus.SENT
        and quote.valid_until is not None
        and quote.valid_until < today()
    ):
        raise InvalidTransition(
            _("This quote expired on %(date)s. Revise it to send a new one.")
            % {"date": quote.valid_until.isoformat()}
        )
    return _transition(
        actor,
        quote,
        allowed=[QuoteStatus.SENT],
        to=QuoteStatus.ACCEPTED,
        verb="quote.accepted",
        version=version,
        data={"note": note[:500]} if note else None,
    )


@transaction.atomic
def reject_quote(*, actor: User, quote: Quote, version: int | None = None, note: str = "") -> Quote:
    """The customer turned a sent (or expired) quote down; ``note`` says why."""
    _require(actor, "edit")
    assert_in_scope(actor, quote, "edit")
    check_version(quote, version)
    return _transition(
        actor,
        quote,
        allowed=[QuoteStatus.SENT, QuoteStatus.EXPIRED],
        to=QuoteStatus.REJECTED,
        verb="quote.rejected",
        version=version,
        data={"note": note[:500]} if note else None,
    )


@transaction.atomic
def revise_quote(*, actor: User, quote: Quote, version: int | None = None) -> Quote:
    """A new draft revision of a sent, rejected or expired quote: same number, revision + 1,
    linked to this one, with its lines copied. This one becomes superseded."""
    _require(actor, "edit")
    assert_in_scope(actor, quote, "edit")
    check_version(quote, version)
    if quote.status not in REVISABLE:
        raise InvalidTransition(
            _("Only a sent, rejected or expired quote is revised; a draft is edited directly.")
        )
    old_status = quote.status
    _transition(
        actor,
        quote,
        allowed=[old_status],
        to=QuoteStatus.SUPERSEDED,
        verb="quote.superseded",
        version=version,
    )
    latest = Quote.objects.filter(org_id=quote.org_id, number=quote.number).aggregate(
        n=Max("revision")
    )["n"]
    valid_until = quote.valid_until
    if valid_until is None or valid_until < today():
        valid_until = default_valid_until()
    revision = Quote(
        org_id=quote.org_id,
        created_by=actor,
        number=quote.number,
        revision=(latest or quote.revision) + 1,
        previous=quote,
        title=quote.title,
        opportunity_id=quote.opportunity_id,
        customer_id=quote.customer_id,
        contact_id=quote.contact_id,
        owner_id=quote.owner_id,
        price_list_id=quote.price_list_id,
        currency=quote.currency,
        valid_until=valid_until,
        terms=quote.terms,
        notes=quote.notes,
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        tax_total=quote.tax_total,
        total=quote.total,
        max_discount_percent=quote.max_discount_percent,
    )
    try:
        with transaction.atomic():
            revision.save()
    except IntegrityError:
        raise Conflict(_("Someone revised this quote at the same time. Reload it.")) from None
    QuoteLine.objects.bulk_create(
        QuoteLine(
            org_id=line.org_id,
            quote=revision,
            sort_order=line.sort_order,
            **{f: getattr(line, f) for f in (*LINE_FIELDS, *pricing.LineAmounts._fields)},
        )
        for line in QuoteLine.objects.filter(quote=quote).order_by("sort_order", "pk")
    )
    _record_created(
        actor,
        revision,
        "quote.revised",
        data={"previous": quote.pk, "previous_status": old_status},
    )
    return revision


@transaction.atomic
def delete_quote(*, actor: User, quote: Quote) -> None:
    """Delete a draft (not one waiting for approval). A deleted revision gives its previous
    revision back the status it had before it was revised."""
    _require(actor, "delete")
    assert_in_scope(actor, quote, "delete")
    _require_draft(quote)
    if quote.previous_id:
        origin = audit.history_for(quote).filter(verb="quote.revised").order_by("-pk").first()
        status = (origin.data or {}).get("previous_status") if origin else None
        previous = Quote.objects.filter(pk=quote.previous_id).first()
        if previous is not None and previous.status == QuoteStatus.SUPERSEDED:
            restored = status if status in REVISABLE else QuoteStatus.SENT
            _transition(
                actor,
                previous,
                allowed=[QuoteStatus.SUPERSEDED],
                to=restored,
                verb="quote.restored",
                data={"deleted_revision": quote.revision},
            )
    audit.record(actor=actor, obj=quote, verb="quote.deleted")
    _count, deleted = Quote.objects.filter(
        pk=quote.pk, status=QuoteStatus.DRAFT, version=quote.version
    ).delete()
    if not deleted.get(Quote._meta.label):
        raise InvalidTransition(_("This quote's status changed meanwhile. Reload it."))


# --- expiry (periodic) ---------------------------------------------------------------------------
def expire_quotes(org: Any, *, on: date | None = None) -> int:
    """Mark the organisation's sent quotes whose validity ended before ``on`` (default: today
    in the organisation's time zone) expired. Idempotent; returns how many changed."""
    day = on or _org_today(org)
    count = 0
    due = Quote.objects.filter(org_id=org.pk, status=QuoteStatus.SENT, valid_until__lt=day)
    for quote in due.order_by("pk"):
        with transaction.atomic():
            updated = Quote.objects.filter(
                pk=quote.pk, status=QuoteStatus.SENT, version=quote.version
            ).update(status=QuoteStatus.EXPIRED, version=quote.version + 1)
            if updated:
                audit.record(
                    actor=None,
                    obj=quote,
                    verb="quote.expired",
                    changes={"status": [QuoteStatus.SENT, QuoteStatus.EXPIRED]},
                    data={"version": quote.version + 1},
                )
                count += 1
    return count


# --- prefill, transfer, merge --------------------------------------------------------------------
def _match_product(org_id: int, value: str, label: str) -> Product | None:
    products = Product.objects.filter(org_id=org_id, is_active=True)
    return (
        products.filter(code__iexact=value).first()
        or products.filter(name=label).first()
        or products.filter(name=value).first()
    )


def lines_from_opportunity(
    opportunity: Any, *, price_list: PriceList | None = None
) -> list[dict[str, Any]]:
    """The opportunity's product lines as quote lines: a line whose product names a catalogue
    product (by code or name) takes that product's unit and tax rate; its price stays the
    opportunity's unit price. The caller checked that the user may see the opportunity."""
    from crm.pipeline import dictionaries
    from crm.pipeline.models import DictionaryKind, OpportunityLine

    labels = dict(
        dictionaries.choices(opportunity.org_id, DictionaryKind.PRODUCT, include_inactive=True)
    )
    rows = []
    for line in OpportunityLine.objects.filter(opportunity=opportunity).order_by(
        "sort_order", "pk"
    ):
        label = labels.get(line.product, line.product)
        product = _match_product(opportunity.org_id, line.product, label)
        description = product.name if product is not None else label
        if line.notes:
            description = f"{description}（{line.notes}）"
        rows.append(
            {
                "product": product,
                "description": description[:300],
                "unit": product.unit if product is not None else "",
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "discount_kind": DiscountKind.PERCENT,
                "discount_value": Decimal("0.00"),
                "tax_rate": product.tax_rate if product is not None else DEFAULT_TAX_RATE,
            }
        )
    return rows


def default_price(product: Product, price_list: PriceList | None) -> Decimal:
    """The unit price a new line of ``product`` starts at today."""
    return price_for(product, price_list, today())


def transfer_all_of(*, actor: User, from_user: User, to_user: User) -> int:
    """Move a deactivated user's open quotes (draft, sent) to a colleague."""
    rows = list(
        Quote.objects.filter(
            org_id=from_user.org_id,
            owner=from_user,
            status__in=[QuoteStatus.DRAFT, QuoteStatus.SENT],
        )
    )
    for quote in rows:
        Quote.objects.filter(pk=quote.pk).update(
            owner=to_user, version=quote.version + 1, updated_at=timezone.now()
        )
        audit.record(
            actor=actor,
            obj=quote,
            verb="quote.transferred",
            changes={"owner": [from_user.pk, to_user.pk]},
            data={"version": quote.version + 1},
        )
    return len(rows)


def move_to_customer(*, source: Any, target: Any) -> dict[str, int]:
    """A merge moves the source customer's quotes to the target customer."""
    moved = Quote.objects.filter(org_id=source.org_id, customer=source).update(customer=target)
    return {"quotes": moved}
