"""Set-based creation of many customers at once (R10.3, R11.2): the import's batch path.

``create_customer`` checks and writes one customer in about twenty statements. The import
creates hundreds per batch, so this module splits the same work in three steps that give the
same result:

:class:`DuplicateIndex`
    the duplicate candidates of a whole batch in two queries; :meth:`DuplicateIndex.find`
    answers exactly what ``find_duplicates`` would for one row (same rules, order and limit);
:class:`CustomerBuilder`
    checks one customer after another exactly as ``create_customer`` does (same steps, same
    order, same errors) and returns it unsaved; the customers it accepted become candidates
    of the next ones;
:func:`create_customers`
    writes the accepted customers with their first contacts, tags, ownership moves and
    creation events in a handful of ``bulk_create`` statements, sends the model signals that
    ``save()`` would have sent (the webhooks of the events among them) and re-checks the scope
    of what it wrote.

Whatever the set-based answer could get wrong is refused with :class:`NotSetBased` (a row that
looks like a customer accepted earlier in the same batch, a value the index was not built
for): the caller then creates that customer through ``create_customer`` itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models, router
from django.db.models.signals import m2m_changed, post_save, pre_save
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core import audit, custom_fields
from crm.core.bulk_copy import insert_rows
from crm.core.errors import NotFound, ValidationFailed
from crm.core.models import Event
from crm.org.models import User
from crm.pipeline import dictionaries

from . import services
from .choices import MoveKind
from .duplicates import Candidate, describe
from .models import Contact, Customer, OwnershipMove, PublicPool, Tag
from .normalize import normalize_email, normalize_name, phone_digits

#: the most candidates ``find_duplicates`` returns
LIMIT = 10
#: values per ``IN (…)`` list: short enough for PostgreSQL to use the b-tree indexes (with some
#: 500 values it turns to the search's trigram indexes, a thousand times slower for equality)
CHUNK = 200


class NotSetBased(Exception):
    """The set-based answer could differ from ``create_customer``'s for this customer: create
    it with the service instead."""


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    items = sorted(values)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def probe_keys(
    name: str, phones: Iterable[str], emails: Iterable[str]
) -> tuple[str, list[str], list[str]]:
    """What ``find_duplicates`` compares: the normalised name, phone digits (7 or more) and
    e-mails (with an @)."""
    key = normalize_name(name) if name else ""
    digits = [d for d in (phone_digits(p) for p in phones or []) if len(d) >= 7]
    mails = [m for m in (normalize_email(e) for e in emails or []) if "@" in m]
    return key, digits, mails


class DuplicateIndex:
    """The duplicate candidates of many customers to be, read once (``find_duplicates`` for a
    whole batch). Built from the names, phones and e-mails of every row; ``find`` then answers
    for one of them. ``add`` makes an accepted customer (not written yet) a candidate of the
    next ones, as it would be had it been created: the most recent of all."""

    def __init__(self, org_id: int, probes: Iterable[tuple[str, list[str], list[str]]]) -> None:
        self.org_id = org_id
        self.names: set[str] = set()
        self.digits: set[str] = set()
        self.mails: set[str] = set()
        for name, phones, emails in probes:
            key, digits, mails = probe_keys(name, phones, emails)
            if key:
                self.names.add(key)
            self.digits.update(digits)
            self.mails.update(mails)
        self.contact_digits: dict[str, set[int]] = {}
        self.contact_mails: dict[str, set[int]] = {}
        self.by_name: dict[str, list[Customer]] = {}
        self.by_phone: dict[str, list[Customer]] = {}
        self.by_email: dict[str, list[Customer]] = {}
        self.by_pk: dict[int, Customer] = {}
        #: accepted customers by what finds them (name, phone, e-mail, a contact's phone or
        #: e-mail), each list in the order they were accepted
        self.pending: dict[tuple[str, str], list[NewCustomer]] = {}
        self.accepted = 0
        self._probes: dict[tuple[str, tuple[str, ...], tuple[str, ...]], tuple] = {}
        self._load()

    def _load(self) -> None:
        """The contacts, then the customers, that match any value of the index: one indexed
        look-up per kind of value (a list too long lets PostgreSQL prefer the trigram index
        of the search, which is far slower for equality: hence the short lists)."""
        contact_ids: set[int] = set()
        contacts = Contact.objects.filter(org_id=self.org_id)
        for part in _chunks(self.digits):
            for customer_id, digits in contacts.filter(mobile_digits__in=part).values_list(
                "customer_id", "mobile_digits"
            ):
                self.contact_digits.setdefault(digits, set()).add(customer_id)
                contact_ids.add(customer_id)
        for part in _chunks(self.mails):
            for customer_id, email in contacts.filter(email__in=part).values_list(
                "customer_id", "email"
            ):
                self.contact_mails.setdefault(email, set()).add(customer_id)
                contact_ids.add(customer_id)
        customers = Customer.objects.filter(
            org_id=self.org_id, merged_into__isnull=True
        ).select_related("owner")
        for lookup, values in (
            ("normalized_name__in", self.names),
            ("phone_digits__in", self.digits),
            ("email__in", self.mails),
            ("pk__in", contact_ids),
        ):
            for part in _chunks(values):
                for customer in customers.filter(**{lookup: part}):
                    self.by_pk.setdefault(customer.pk, customer)
        for customer in self.by_pk.values():
            if customer.normalized_name in self.names:
                self.by_name.setdefault(customer.normalized_name, []).append(customer)
            if customer.phone_digits in self.digits:
                self.by_phone.setdefault(customer.phone_digits, []).append(customer)
            if customer.email in self.mails:
                self.by_email.setdefault(customer.email, []).append(customer)

    @property
    def customers(self) -> list[Customer]:
        """Every existing candidate read (of any row)."""
        return list(self.by_pk.values())

    def find(
        self, *, name: str = "", phones: list[str] | None = None, emails: list[str] | None = None
    ) -> list[Candidate]:
        """What ``find_duplicates(org_id, name=…, phones=…, emails=…)`` would return were the
        accepted customers created: same candidates, reasons, order (most recently changed
        first: the accepted ones, latest first, then the existing ones) and limit. An accepted
        customer is a candidate without a pk. NotSetBased when the index was not built for
        these values."""
        asked = (name, tuple(phones or ()), tuple(emails or ()))
        if asked not in self._probes:  # each row asks twice (find_customer, create_customer)
            self._probes = {asked: probe_keys(*asked)}
        key, digits, mails = self._probes[asked]
        if (key and key not in self.names) or not (
            self.digits.issuperset(digits) and self.mails.issuperset(mails)
        ):
            raise NotSetBased("values outside the index")
        contact_ids: set[int] = set()
        for d in digits:
            contact_ids |= self.contact_digits.get(d, set())
        for m in mails:
            contact_ids |= self.contact_mails.get(m, set())
        if not (key or digits or mails):
            return []
        chosen: dict[int, Customer] = {}
        for customer in self.by_name.get(key, []) if key else []:
            chosen[customer.pk] = customer
        for d in digits:
            for customer in self.by_phone.get(d, []):
                chosen[customer.pk] = customer
        for m in mails:
            for customer in self.by_email.get(m, []):
                chosen[customer.pk] = customer
        for pk in contact_ids:
            if pk in self.by_pk:
                chosen[pk] = self.by_pk[pk]
        existing = sorted(chosen.values(), key=lambda c: (c.updated_at, c.pk), reverse=True)
        # accepted customers: which match, and which of them through a contact
        accepted: dict[int, tuple[int, NewCustomer]] = {}
        through_contact: set[int] = set()
        probes = [("name", key)] if key else []
        probes += [(kind, d) for d in digits for kind in ("phone", "contact_phone")]
        probes += [(kind, m) for m in mails for kind in ("email", "contact_email")]
        for kind, value in probes:
            for new in self.pending.get((kind, value), []):
                accepted[id(new)] = (new.order, new)
                if kind.startswith("contact_"):
                    through_contact.add(id(new))
        ordered = [
            (new.customer, id(new) in through_contact)
            for _order, new in sorted(accepted.values(), key=lambda item: -item[0])
        ]
        ordered += [(customer, customer.pk in contact_ids) for customer in existing]
        result = []
        for customer, by_contact in ordered[:LIMIT]:
            reasons = []
            if key and customer.normalized_name == key:
                reasons.append("name")
            if digits and (customer.phone_digits in digits or by_contact):
                reasons.append("phone")
            if mails and (customer.email in mails or by_contact):
                reasons.append("email")
            result.append(Candidate(customer=customer, reasons=reasons or ["contact"]))
        return result

    def add(self, new: NewCustomer) -> None:
        """``new`` is accepted: from now on it is a candidate of the next ones (the latest)."""
        self.accepted += 1
        new.order = self.accepted
        customer = new.customer
        keys = [
            ("name", customer.normalized_name),
            ("phone", customer.phone_digits),
            ("email", customer.email),
        ]
        for contact in new.contacts:
            keys += [("contact_phone", contact.mobile_digits), ("contact_email", contact.email)]
        for key in dict.fromkeys(k for k in keys if k[1]):
            self.pending.setdefault(key, []).append(new)


@dataclass
class NewCustomer:
    """A customer that passed ``create_customer``'s checks, with its first contacts; not
    written yet. ``tags`` are set before :func:`create_customers` writes it."""

    customer: Customer
    contacts: list[Contact]
    owner: User
    tags: list[Tag] = field(default_factory=list)
    #: its rank among the accepted customers (the later, the more recent)
    order: int = 0


class CustomerBuilder:
    """``create_customer``'s checks, one customer after another, without writing: what the
    organisation's lists, custom fields and pools hold is read once."""

    def __init__(self, actor: User, index: DuplicateIndex) -> None:
        self.actor = actor
        self.index = index
        self.org_id = actor.org_id or 0
        self.home_pool = (
            PublicPool.objects.filter(org_id=self.org_id, is_active=True)
            .order_by("-is_default", "pk")
            .first()
        )
        self.customer_fields = custom_fields.definitions(
            self.org_id, "customer", include_retired=True
        )
        self.contact_fields = custom_fields.definitions(
            self.org_id, "contact", include_retired=True
        )
        self._valid: dict[tuple[str, str], bool] = {}

    def _is_valid(self, kind: str, value: str) -> bool:
        if (kind, value) not in self._valid:
            self._valid[kind, value] = dictionaries.is_valid(self.org_id, kind, value)
        return self._valid[kind, value]

    def _clean(self, data: dict[str, Any]) -> dict[str, Any]:
        """``services._clean_customer_data``, the list values checked once per value."""
        plain = {k: v for k, v in data.items() if k not in services.DICTIONARY_FIELDS}
        errors: dict[str, list[Any]] = {}
        try:
            clean = services._clean_customer_data(self.actor, plain)
        except ValidationFailed as exc:
            errors = dict(exc.field_errors)
            clean = {}
        listed = {
            k: (v.strip() if isinstance(v, str) else v)
            for k, v in data.items()
            if k in services.DICTIONARY_FIELDS
        }
        for name, kind in services.DICTIONARY_FIELDS.items():
            value = listed.get(name)
            if value and not self._is_valid(kind, value):
                errors[name] = [_("Choose a value from the list.")]
        if errors:
            raise ValidationFailed(field_errors=errors)
        return {**clean, **listed}

    def build(
        self,
        *,
        data: dict[str, Any],
        owner: User | None = None,
        contacts: list[dict[str, Any]] | None = None,
        allow_duplicate: bool = False,
    ) -> NewCustomer:
        """Check a customer as ``create_customer(actor=…, data=…, owner=…, contacts=…,
        allow_duplicate=…)`` does, in the same order with the same errors, and return it
        unsaved (it then counts as a candidate of the next ones)."""
        actor = self.actor
        services._require(actor, "create")
        clean = self._clean(data)
        if not clean.get("name"):
            raise ValidationFailed(field_errors={"name": [_("Enter the customer's name.")]})
        clean["custom"] = custom_fields.clean_custom(
            services._org_id(actor), "customer", data.get("custom"), fields=self.customer_fields
        )
        owner = owner or actor
        if owner.org_id != actor.org_id or not owner.is_active:
            raise ValidationFailed(field_errors={"owner": [_("Choose an active colleague.")]})
        contacts = contacts or []
        phones = [clean.get("phone", "")] + [c.get("mobile", "") for c in contacts]
        emails = [clean.get("email", "")] + [c.get("email", "") for c in contacts]
        found = self.index.find(name=clean["name"], phones=phones, emails=emails)
        if found:
            owned_by_other = [c for c in found if c.customer.owner_id not in (None, owner.pk)]
            if not allow_duplicate or owned_by_other:
                if any(c.customer.pk is None for c in found):
                    # describing an accepted customer needs it written
                    raise NotSetBased("a duplicate of a customer of the same batch")
                raise services.DuplicateCustomer([describe(c, actor) for c in found])
        customer = Customer(
            org_id=services._org_id(actor),
            created_by=actor,
            owner=owner,
            owner_since=timezone.now(),
            parent=None,
            pool=self.home_pool,
            **clean,
        )
        services._derive(customer)
        new = NewCustomer(customer=customer, contacts=[], owner=owner)
        for contact_data in contacts:
            new.contacts.append(self._contact(customer, contact_data))
        self.index.add(new)
        return new

    def _contact(self, customer: Customer, data: dict[str, Any]) -> Contact:
        """``services._create_contact`` without the write."""
        clean = services._clean_contact(data)
        if not clean.get("name"):
            raise ValidationFailed(field_errors={"name": [_("Enter the contact's name.")]})
        clean["custom"] = custom_fields.clean_custom(
            customer.org_id, "contact", data.get("custom"), fields=self.contact_fields
        )
        contact = Contact(
            org_id=customer.org_id,
            customer=customer,
            created_by=self.actor,
            owner_id=customer.owner_id,
            **clean,
        )
        contact.mobile_digits = phone_digits(contact.mobile)
        return contact


def _created_event(actor: User, obj: models.Model, verb: str) -> Event:
    """``audit.record_created`` without the write."""
    values = {k: v for k, v in audit.snapshot(obj).items() if v not in (None, "", [], {}, False)}
    return audit.event_for(actor=actor, obj=obj, verb=verb, changes=audit.diff({}, values))


def _insert(model: type[models.Model], objs: list[Any]) -> None:
    """``bulk_create`` (by COPY on PostgreSQL: ``crm.core.bulk_copy``) with the
    ``pre_save``/``post_save`` signals ``save()`` sends (the webhooks of events listen to
    ``post_save``)."""
    if not objs:
        return
    using = router.db_for_write(model)
    for obj in objs:
        pre_save.send(sender=model, instance=obj, raw=False, using=using, update_fields=None)
    insert_rows(model, objs)
    for obj in objs:
        post_save.send(
            sender=model, instance=obj, created=True, raw=False, using=using, update_fields=None
        )


def _tags_changed(through: Any, action: str, customer: Customer, ids: set[int], using: str) -> None:
    m2m_changed.send(
        sender=through,
        action=action,
        instance=customer,
        reverse=False,
        model=Tag,
        pk_set=set(ids),
        using=using,
    )


def create_customers(
    *, actor: User, items: list[NewCustomer], source_event: str = ""
) -> list[Customer]:
    """Write customers accepted by :class:`CustomerBuilder` as ``create_customer`` would have,
    one after another: the customer, its tags, its contacts (each with a ``contact.created``
    event), the ownership move and the creation event (``source_event`` or
    ``customer.created``); then check that the actor sees each of them (NotFound otherwise).
    Call inside a transaction."""
    if not items:
        return []
    customers = [item.customer for item in items]
    _insert(Customer, customers)
    through = Customer.tags.through
    using = router.db_for_write(through)
    tagged = [
        (item.customer, {t.pk for t in services._same_org_tags(actor, item.tags)})
        for item in items
        if item.tags
    ]
    for customer, ids in tagged:  # what ``customer.tags.set(tags)`` sends around its insert
        _tags_changed(through, "pre_add", customer, ids, using)
    through.objects.bulk_create(
        [through(customer_id=c.pk, tag_id=pk) for c, ids in tagged for pk in sorted(ids)]
    )
    for customer, ids in tagged:
        _tags_changed(through, "post_add", customer, ids, using)
    contacts = []
    for item in items:
        for contact in item.contacts:
            contact.customer = item.customer  # its id, now that the customer has one
            contacts.append(contact)
    _insert(Contact, contacts)
    _insert(
        OwnershipMove,
        [
            OwnershipMove(
                org_id=item.customer.org_id,
                customer=item.customer,
                kind=MoveKind.CREATE,
                to_user=item.owner,
                actor=actor,
            )
            for item in items
        ],
    )
    events: list[Event] = []
    verb = source_event or "customer.created"
    for item in items:
        events.extend(_created_event(actor, c, "contact.created") for c in item.contacts)
        events.append(_created_event(actor, item.customer, verb))
    _insert(Event, events)
    pks = [c.pk for c in customers]
    seen: set[int] = set()
    for part in _chunks(pks):
        seen.update(
            Customer.objects.visible_to(actor, "view")
            .filter(pk__in=part)
            .values_list("pk", flat=True)
        )
    if len(seen) != len(pks):
        raise NotFound()
    return customers
