"""The customers resource, set-based (R10.3, R11.2): ``find_customer`` and ``create_customer``
of ``crm.imports.resources`` for a whole batch, through ``crm.customers.bulk``.

Per window of rows: every duplicate candidate of every row (a few indexed queries), which of
them the importer may edit and which confidential ones they see, and the tags the rows name.
Each row is then checked by the same functions as row by row (``_first_contact``,
``_customer_data``, ``_owner_for``, then ``CustomerBuilder.build``: ``create_customer``'s
checks); customers accepted earlier in the batch are candidates of the next rows, as if
written. The accepted ones are written by ``bulk.create_customers``. Handed to the per-row
path: a row whose duplicate is both a customer of the batch and one the importer may edit
(which of the two wins depends on whether they may edit the new one), a refused duplicate of a
customer of the batch (describing it needs it written), a tag to create by someone who may not
create tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .batch import NeedsRow, Row, chunks
from .registry import RowContext


@dataclass
class _State:
    index: Any  # crm.customers.bulk.DuplicateIndex
    builder: Any  # crm.customers.bulk.CustomerBuilder
    editable: set[int]
    seen: set[int]
    tags: dict[str, Any]
    owners: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Pending:
    new: Any  # crm.customers.bulk.NewCustomer
    tag_names: list[str]


def _probe(values: dict[str, str]) -> tuple[str, list[str], list[str]]:
    """The name, phones and e-mails ``find_customer`` looks for."""
    return (
        values.get("name", ""),
        [values.get("phone", ""), values.get("contact_mobile", "")],
        [values.get("email", ""), values.get("contact_email", "")],
    )


def _visible_ids(qs: Any, pks: list[int]) -> set[int]:
    found: set[int] = set()
    for part in chunks(pks):
        found.update(qs.filter(pk__in=part).values_list("pk", flat=True))
    return found


class CustomerBatch:
    """The batch handler of the customers resource (``crm.imports.batch.BatchHandler``)."""

    def begin(self, ctx: RowContext, rows: list[Row]) -> _State:
        from crm.customers import bulk
        from crm.customers.models import Customer, Tag

        from .resources import tag_names

        actor = ctx.actor
        index = bulk.DuplicateIndex(int(actor.org_id), [_probe(r.values) for r in rows])
        candidates = index.customers
        editable = (
            _visible_ids(Customer.objects.visible_to(actor, "edit"), [c.pk for c in candidates])
            if candidates
            else set()
        )
        confidential = [c.pk for c in candidates if c.is_confidential]
        seen = (
            _visible_ids(Customer.objects.visible_to(actor), confidential)
            if confidential
            else set()
        )
        names = {n[:40] for r in rows for n in tag_names(r.values.get("tags", ""))}
        tags = (
            {t.name: t for t in Tag.objects.visible_to(actor).filter(name__in=sorted(names))}
            if names
            else {}
        )
        return _State(index, bulk.CustomerBuilder(actor, index), editable, seen, tags)

    def find(self, ctx: RowContext, state: _State, row: Row) -> Any:
        """``resources.find_customer``: of the duplicate candidates (most recently changed
        first: customers accepted earlier in the batch come first), the first one the importer
        may edit, else the first that is not a confidential customer they do not see."""
        from crm.customers import bulk

        name, phones, emails = _probe(row.values)
        try:
            found = state.index.find(name=name, phones=phones, emails=emails)
        except bulk.NotSetBased as why:
            raise NeedsRow(str(why)) from None
        if any(c.customer.pk is None for c in found) and any(
            c.customer.pk in state.editable for c in found
        ):
            # a customer of this batch comes first: whether the importer may edit it decides
            # between the two, and that is known once it is written
            raise NeedsRow("a duplicate of a customer of the same batch")
        for candidate in found:
            if candidate.customer.pk in state.editable:
                return candidate.customer
        for candidate in found:
            if not candidate.customer.is_confidential or candidate.customer.pk in state.seen:
                return candidate.customer
        return None

    def build(self, ctx: RowContext, state: _State, row: Row) -> _Pending:
        """``resources.create_customer`` up to the write, in the same order."""
        from crm.customers import bulk

        from . import resources

        values = row.values
        contact = resources._first_contact(values)
        data = resources._customer_data(ctx, values)
        owner_cell = values.get("owner", "")
        owner = state.owners.get(owner_cell)
        if owner is None:
            owner = resources._owner_for(ctx, values, "customers")
            if owner is not None:  # the same colleague for the rest of the batch
                state.owners[owner_cell] = owner
        names = resources.tag_names(values.get("tags", ""))
        if any(n[:40] not in state.tags for n in names) and not ctx.actor.can("customers", "edit"):
            raise NeedsRow("a new tag")  # creating it is refused: the row says so, row by row
        try:
            new = state.builder.build(
                data=data,
                owner=owner,
                contacts=[contact] if contact else None,
                allow_duplicate=ctx.allow_duplicate,
            )
        except bulk.NotSetBased as why:
            raise NeedsRow(str(why)) from None
        return _Pending(new, names)

    def write(self, ctx: RowContext, state: _State, pending: list[_Pending]) -> list[Any]:
        """The tags (created as ``_tags`` does, in row order), then the customers."""
        from crm.customers import bulk, services

        for item in pending:
            tags = []
            for name in item.tag_names:
                tag = state.tags.get(name[:40])
                if tag is None:
                    tag = services.create_tag(actor=ctx.actor, name=name)
                    state.tags[name[:40]] = tag
                tags.append(tag)
            item.new.tags = tags
        return bulk.create_customers(
            actor=ctx.actor, items=[p.new for p in pending], source_event="customer.imported"
        )
