"""Every write on customers and contacts: create and edit with duplicate checks, tags,
transfer between owners, merge. Pool moves (claim, release, assign, sweep) are in pool_services.

Services take ``actor`` first, check the action, write in one transaction and record events.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core import audit, custom_fields, fieldaccess
from crm.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from crm.core.scoping import assert_in_scope
from crm.org.models import User
from crm.pipeline import dictionaries
from crm.pipeline.models import DictionaryKind

from .choices import MoveKind
from .duplicates import describe, find_duplicates
from .models import Contact, Customer, OwnershipMove, PublicPool, Tag
from .normalize import normalize_email, normalize_name, phone_digits, pinyin_of

CUSTOMER_FIELDS = [
    "name",
    "short_name",
    "customer_type",
    "category",
    "business_category",
    "industry",
    "source",
    "phone",
    "email",
    "website",
    "region",
    "address",
    "notes",
    "invoice_title",
    "tax_number",
    "invoice_address_phone",
    "bank_name",
    "bank_account",
]
DICTIONARY_FIELDS = {
    "customer_type": DictionaryKind.CUSTOMER_TYPE,
    "category": DictionaryKind.CUSTOMER_CATEGORY,
    "business_category": DictionaryKind.BUSINESS_CATEGORY,
    "industry": DictionaryKind.INDUSTRY,
    "source": DictionaryKind.SOURCE,
}
CONTACT_FIELDS = [
    "name",
    "superior_unit",
    "department",
    "title",
    "office_phone",
    "mobile",
    "fax",
    "email",
    "birthday",
    "is_primary",
    "notes",
]


class DuplicateCustomer(ValidationFailed):
    """Looks like an existing customer; ``candidates`` (masked if out of scope) say which."""

    code = "duplicate"

    def __init__(self, candidates: list[dict[str, Any]], message: Any = None):
        self.candidates = candidates
        super().__init__(
            message or _("A customer with the same name, phone or e-mail exists."),
            field_errors={
                "name": [
                    _("Possible duplicate: %(names)s")
                    % {"names": "、".join(c["name"] for c in candidates)}
                ]
            },
        )


def _org_id(actor: User) -> int:
    if not actor.org_id:
        raise PermissionDenied()
    return actor.org_id


def _require(actor: User, action: str) -> None:
    if not actor.can("customers", action):
        raise PermissionDenied()


def _clean_customer_data(actor: User, data: dict[str, Any]) -> dict[str, Any]:
    clean = {
        k: (v.strip() if isinstance(v, str) else v) for k, v in data.items() if k in CUSTOMER_FIELDS
    }
    errors: dict[str, list[str]] = {}
    if "name" in clean and not clean["name"]:
        errors["name"] = [_("Enter the customer's name.")]
    if clean.get("email"):
        clean["email"] = normalize_email(clean["email"])
        if "@" not in clean["email"]:
            errors["email"] = [_("Enter a valid e-mail address.")]
    if "phone" in clean and clean["phone"] and len(phone_digits(clean["phone"])) < 5:
        errors["phone"] = [_("Enter a valid phone number.")]
    for field, kind in DICTIONARY_FIELDS.items():
        value = clean.get(field)
        if value and not dictionaries.is_valid(_org_id(actor), kind, value):
            errors[field] = [_("Choose a value from the list.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _derive(customer: Customer) -> None:
    customer.normalized_name = normalize_name(customer.name)
    customer.name_pinyin, customer.name_initials = pinyin_of(customer.name)
    customer.phone_digits = phone_digits(customer.phone)


def check_duplicates(
    actor: User, *, name: str, phones: list[str], emails: list[str], exclude_id: int | None = None
) -> list[dict[str, Any]]:
    """Duplicate candidates as ``actor`` may see them (masked when out of scope)."""
    found = find_duplicates(
        _org_id(actor), name=name, phones=phones, emails=emails, exclude_id=exclude_id
    )
    return [describe(c, actor) for c in found]


@transaction.atomic
def create_customer(
    *,
    actor: User,
    data: dict[str, Any],
    owner: User | None = None,
    tags: list[Tag] | None = None,
    contacts: list[dict[str, Any]] | None = None,
    parent: Customer | None = None,
    allow_duplicate: bool = False,
    source_event: str = "",
) -> Customer:
    """Create a customer owned by ``owner`` (default: the actor), with optional first contacts.

    Raises DuplicateCustomer when the name, phone or an e-mail matches an existing customer,
    unless ``allow_duplicate`` is given and no *other* person owns the match (撞单 is never allowed:
    a customer someone else owns cannot be created twice).
    """
    _require(actor, "create")
    clean = _clean_customer_data(actor, data)
    if not clean.get("name"):
        raise ValidationFailed(field_errors={"name": [_("Enter the customer's name.")]})
    clean["custom"] = custom_fields.clean_custom(_org_id(actor), "customer", data.get("custom"))
    owner = owner or actor
    if owner.org_id != actor.org_id or not owner.is_active:
        raise ValidationFailed(field_errors={"owner": [_("Choose an active colleague.")]})
    contacts = contacts or []
    phones = [clean.get("phone", "")] + [c.get("mobile", "") for c in contacts]
    emails = [clean.get("email", "")] + [c.get("email", "") for c in contacts]
    found = find_duplicates(_org_id(actor), name=clean["name"], phones=phones, emails=emails)
    if found:
        owned_by_other = [c for c in found if c.customer.owner_id not in (None, owner.pk)]
        if not allow_duplicate or owned_by_other:
            raise DuplicateCustomer([describe(c, actor) for c in found])
    if parent is not None and parent.org_id != actor.org_id:
        raise NotFound()
    now = timezone.now()
    home_pool = (
        PublicPool.objects.filter(org_id=actor.org_id, is_active=True)
        .order_by("-is_default", "pk")
        .first()
    )
    customer = Customer(
        org_id=_org_id(actor),
        created_by=actor,
        owner=owner,
        owner_since=now,
        parent=parent,
        pool=home_pool,
        **clean,
    )
    _derive(customer)
    customer.save()
    if tags:
        customer.tags.set(_same_org_tags(actor, tags))
    for contact_data in contacts:
        _create_contact(actor, customer, contact_data)
    OwnershipMove.objects.create(
        org_id=customer.org_id, customer=customer, kind=MoveKind.CREATE, to_user=owner, actor=actor
    )
    audit.record_created(actor=actor, obj=customer, verb=source_event or "customer.created")
    assert_in_scope(actor, customer, "view")
    return customer


def _same_org_tags(actor: User, tags: list[Tag]) -> list[Tag]:
    for tag in tags:
        if tag.org_id != actor.org_id:
            raise NotFound()
    return tags


def _check_version(obj: Any, version: int | None) -> None:
    if version is not None and version != obj.version:
        raise Conflict(
            _(
                "This record was changed by someone else since you opened it. "
                "Reload it to see their changes, then make yours again."
            )
        )


@transaction.atomic
def update_customer(
    *,
    actor: User,
    customer: Customer,
    data: dict[str, Any],
    version: int | None = None,
    tags: list[Tag] | None = None,
    parent: Customer | Any | None = ...,
) -> Customer:
    """Edit a customer's fields (never owner or pool: those move through their own services).

    ``version`` is the one the editor read; a stale one raises Conflict (nothing is written).
    """
    _require(actor, "edit")
    assert_in_scope(actor, customer, "edit")
    fieldaccess.guard_write(actor, customer, data)  # H-FIELD: field-level permissions
    clean = _clean_customer_data(actor, data)
    if "custom" in data:
        clean["custom"] = custom_fields.clean_custom(
            _org_id(actor), "customer", data["custom"], current=customer.custom, partial=True
        )
    before = {
        **audit.snapshot(customer),
        "tags": sorted(customer.tags.values_list("pk", flat=True)),
    }
    if "name" in clean or "phone" in clean or "email" in clean:
        found = find_duplicates(
            _org_id(actor),
            name=clean.get("name", ""),
            phones=[clean.get("phone", "")],
            emails=[clean.get("email", "")],
            exclude_id=customer.pk,
        )
        others = [
            c
            for c in found
            if (c.customer.owner_id not in (None, customer.owner_id))
            or ("name" in c.reasons and "name" in clean)
        ]
        if others:
            raise DuplicateCustomer([describe(c, actor) for c in others])
    for key, value in clean.items():
        setattr(customer, key, value)
    if parent is not ...:
        if parent is not None and (parent.org_id != actor.org_id or parent.pk == customer.pk):
            raise ValidationFailed(field_errors={"parent": [_("Choose another customer.")]})
        customer.parent = parent
    _derive(customer)
    expected = customer.version if version is None else version
    customer.version = expected + 1
    fields = [
        *clean.keys(),
        "normalized_name",
        "name_pinyin",
        "name_initials",
        "phone_digits",
        "version",
    ]
    updated = Customer.objects.filter(pk=customer.pk, version=expected).update(
        **{f: getattr(customer, f) for f in fields},
        parent=customer.parent,
        updated_at=timezone.now(),
    )
    if not updated:
        raise Conflict(
            _(
                "This record was changed by someone else since you opened it. "
                "Reload it to see their changes, then make yours again."
            )
        )
    if tags is not None:
        customer.tags.set(_same_org_tags(actor, tags))
    customer.refresh_from_db()
    after = {**audit.snapshot(customer), "tags": sorted(customer.tags.values_list("pk", flat=True))}
    audit.record(
        actor=actor, obj=customer, verb="customer.updated", changes=audit.diff(before, after)
    )
    return customer


@transaction.atomic
def transfer_customers(
    *, actor: User, customers: list[Customer], to_user: User, reason: str = ""
) -> int:
    """Give owned customers to another colleague (needs the transfer permission on each).

    Returns how many changed hands. Customers in a pool move with ``assign_from_pool``.
    """
    _require(actor, "transfer")
    if to_user.org_id != actor.org_id or not to_user.is_active:
        raise ValidationFailed(field_errors={"to_user": [_("Choose an active colleague.")]})
    moved = 0
    now = timezone.now()
    for customer in customers:
        assert_in_scope(actor, customer, "transfer")
        if customer.owner_id is None:
            raise ValidationFailed(
                _("“%(name)s” is in the public pool: assign it from there.")
                % {"name": customer.name}
            )
        if customer.owner_id == to_user.pk:
            continue
        previous = customer.owner_id
        changed = Customer.objects.filter(pk=customer.pk, owner_id=previous).update(
            owner=to_user,
            owner_since=now,
            version=F("version") + 1,
            updated_at=now,
            return_warned_at=None,
        )
        if not changed:
            raise Conflict()
        Contact.objects.filter(customer=customer, owner_id=previous).update(owner=to_user)
        OwnershipMove.objects.create(
            org_id=customer.org_id,
            customer=customer,
            kind=MoveKind.TRANSFER,
            from_user_id=previous,
            to_user=to_user,
            actor=actor,
            reason=reason[:300],
        )
        audit.record(
            actor=actor,
            obj=customer,
            verb="customer.transferred",
            changes={"owner": [previous, to_user.pk]},
            data={"reason": reason},
        )
        moved += 1
    return moved


def transfer_all_of(*, actor: User, from_user: User, to_user: User) -> int:
    """Ownership transfer for a deactivated user (registered with the org app)."""
    now = timezone.now()
    ids = list(
        Customer.objects.filter(org_id=from_user.org_id, owner=from_user).values_list(
            "pk", flat=True
        )
    )
    Customer.objects.filter(pk__in=ids, owner=from_user).update(
        owner=to_user, owner_since=now, version=F("version") + 1, updated_at=now
    )
    Contact.objects.filter(org_id=from_user.org_id, owner=from_user).update(owner=to_user)
    OwnershipMove.objects.bulk_create(
        [
            OwnershipMove(
                org_id=_org_id(from_user),
                customer_id=pk,
                kind=MoveKind.TRANSFER,
                from_user=from_user,
                to_user=to_user,
                actor=actor,
                reason="deactivated",
            )
            for pk in ids
        ]
    )
    for pk in ids:
        audit.record(
            actor=actor,
            obj=Customer(pk=pk, org_id=_org_id(from_user)),
            verb="customer.transferred",
            changes={"owner": [from_user.pk, to_user.pk]},
            data={"reason": "deactivated"},
        )
    return len(ids)


# --- Contacts -----------------------------------------------------------------------------------
def _clean_contact(data: dict[str, Any]) -> dict[str, Any]:
    clean = {
        k: (v.strip() if isinstance(v, str) else v) for k, v in data.items() if k in CONTACT_FIELDS
    }
    errors: dict[str, list[str]] = {}
    if "name" in clean and not clean["name"]:
        errors["name"] = [_("Enter the contact's name.")]
    if clean.get("email"):
        clean["email"] = normalize_email(clean["email"])
        if "@" not in clean["email"]:
            errors["email"] = [_("Enter a valid e-mail address.")]
    if clean.get("mobile") and len(phone_digits(clean["mobile"])) < 7:
        errors["mobile"] = [_("Enter a valid mobile number.")]
    birthday = clean.get("birthday")
    if isinstance(birthday, date) and birthday > timezone.localdate():
        errors["birthday"] = [_("The birthday cannot be in the future.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


def _create_contact(actor: User, customer: Customer, data: dict[str, Any]) -> Contact:
    clean = _clean_contact(data)
    if not clean.get("name"):
        raise ValidationFailed(field_errors={"name": [_("Enter the contact's name.")]})
    clean["custom"] = custom_fields.clean_custom(customer.org_id, "contact", data.get("custom"))
    contact = Contact(
        org_id=customer.org_id,
        customer=customer,
        created_by=actor,
        owner_id=customer.owner_id,
        **clean,
    )
    contact.mobile_digits = phone_digits(contact.mobile)
    contact.save()
    audit.record_created(actor=actor, obj=contact, verb="contact.created")
    return contact


@transaction.atomic
def create_contact(*, actor: User, customer: Customer, data: dict[str, Any]) -> Contact:
    """Add a contact to a customer the actor may edit."""
    _require(actor, "edit")
    assert_in_scope(actor, customer, "edit")
    if customer.owner_id is None:
        raise ValidationFailed(_("Claim the customer from the pool before adding contacts."))
    clean = _clean_contact(data)
    found = find_duplicates(
        _org_id(actor),
        phones=[clean.get("mobile", "")],
        emails=[clean.get("email", "")],
        exclude_id=customer.pk,
    )
    if found:
        raise DuplicateCustomer(
            [describe(c, actor) for c in found],
            _("This contact's phone or e-mail belongs to another customer."),
        )
    return _create_contact(actor, customer, data)


@transaction.atomic
def update_contact(
    *, actor: User, contact: Contact, data: dict[str, Any], version: int | None = None
) -> Contact:
    _require(actor, "edit")
    assert_in_scope(actor, contact, "edit")
    _check_version(contact, version)
    fieldaccess.guard_write(actor, contact, data)  # H-FIELD: field-level permissions
    clean = _clean_contact(data)
    if "custom" in data:
        clean["custom"] = custom_fields.clean_custom(
            contact.org_id, "contact", data["custom"], current=contact.custom, partial=True
        )
    before = audit.snapshot(contact)
    for key, value in clean.items():
        setattr(contact, key, value)
    contact.mobile_digits = phone_digits(contact.mobile)
    contact.version += 1
    updated = Contact.objects.filter(pk=contact.pk, version=contact.version - 1).update(
        **{k: getattr(contact, k) for k in [*clean.keys(), "mobile_digits", "version"]},
        updated_at=timezone.now(),
    )
    if not updated:
        raise Conflict()
    contact.refresh_from_db()
    audit.record(
        actor=actor,
        obj=contact,
        verb="contact.updated",
        changes=audit.diff(before, audit.snapshot(contact)),
    )
    return contact


@transaction.atomic
def delete_contact(*, actor: User, contact: Contact) -> None:
    _require(actor, "delete")
    assert_in_scope(actor, contact, "delete")
    audit.record(
        actor=actor,
        obj=contact,
        verb="contact.deleted",
        changes=audit.diff(audit.snapshot(contact), {}),
    )
    contact.delete()


# --- Merge --------------------------------------------------------------------------------------
#: other modules register ``fn(source, target) -> int`` to move their rows when customers merge
merge_handlers: list[Any] = []


@transaction.atomic
def merge_customers(*, actor: User, source: Customer, target: Customer) -> Customer:
    """Merge ``source`` into ``target``: contacts, moves and everything other modules attach
    move to the target; empty fields of the target are filled from the source; the source is
    kept as a merged tombstone (its history stays readable) and leaves every list."""
    _require(actor, "edit")
    _require(actor, "delete")
    if source.pk == target.pk:
        raise ValidationFailed(_("Choose two different customers."))
    assert_in_scope(actor, source, "delete")
    assert_in_scope(actor, target, "edit")
    if source.merged_into_id or target.merged_into_id:
        raise ValidationFailed(_("One of these customers was already merged."))
    before = audit.snapshot(target)
    filled = {}
    for field in CUSTOMER_FIELDS:
        if field != "name" and not getattr(target, field) and getattr(source, field):
            filled[field] = getattr(source, field)
            setattr(target, field, getattr(source, field))
    _derive(target)
    target.version += 1
    target.save()
    moved = {"contacts": Contact.objects.filter(customer=source).update(customer=target)}
    OwnershipMove.objects.filter(customer=source).update(customer=target)
    for tag in source.tags.all():
        target.tags.add(tag)
    for user_id in source.collaborators.values_list("pk", flat=True):
        target.collaborators.add(user_id)
    for handler in merge_handlers:
        moved.update(handler(source=source, target=target) or {})
    Customer.objects.filter(parent=source).update(parent=target)
    Customer.objects.filter(pk=source.pk).update(
        merged_into=target,
        owner=None,
        pool=None,
        name=f"{source.name} → {target.name}"[:200],
        normalized_name="",
        phone_digits="",
        email="",
        version=F("version") + 1,
        updated_at=timezone.now(),
    )
    OwnershipMove.objects.create(
        org_id=target.org_id,
        customer=target,
        kind=MoveKind.MERGE,
        actor=actor,
        reason=f"merged #{source.pk}",
    )
    audit.record(
        actor=actor,
        obj=target,
        verb="customer.merged",
        changes=audit.diff(before, audit.snapshot(target)),
        data={
            "source": source.pk,
            "source_name": source.name,
            "moved": moved,
            "filled": list(filled),
        },
    )
    audit.record(actor=actor, obj=source, verb="customer.merged_away", data={"target": target.pk})
    return target


@transaction.atomic
def set_collaborators(*, actor: User, customer: Customer, users: list[User]) -> Customer:
    _require(actor, "edit")
    assert_in_scope(actor, customer, "edit")
    for u in users:
        if u.org_id != actor.org_id:
            raise NotFound()
    before = sorted(customer.collaborators.values_list("pk", flat=True))
    customer.collaborators.set(users)
    audit.record(
        actor=actor,
        obj=customer,
        verb="customer.collaborators",
        changes={"collaborators": [before, sorted(u.pk for u in users)]},
    )
    return customer


@transaction.atomic
def tag_customers(
    *, actor: User, customers: list[Customer], tags: list[Tag], remove: bool = False
) -> int:
    _require(actor, "edit")
    _same_org_tags(actor, tags)
    for customer in customers:
        assert_in_scope(actor, customer, "edit")
        for tag in tags:
            (customer.tags.remove if remove else customer.tags.add)(tag)
        audit.record(
            actor=actor,
            obj=customer,
            verb="customer.untagged" if remove else "customer.tagged",
            data={"tags": [t.name for t in tags]},
        )
    return len(customers)


@transaction.atomic
def create_tag(*, actor: User, name: str, color: str = "blue") -> Tag:
    _require(actor, "edit")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(field_errors={"name": [_("Enter a name.")]})
    tag, _created = Tag.objects.get_or_create(
        org_id=_org_id(actor), name=name[:40], defaults={"color": color}
    )
    return tag
