"""Extension points that later modules register into, so the base layer imports no domain app.

- ``ownership_transfers``: when a user is deactivated, each registered function moves that
  user's records to a colleague: ``fn(actor=..., from_user=..., to_user=...) -> int`` (count).
- ``record_sections``: sections of a record page (the customer 360 view and others),
  keyed by model label: ``(order, title, template, context_fn)``.
- ``search_providers``: global search in the top bar: ``fn(user, text, limit) -> list[dict]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TransferFn = Callable[..., int]
ownership_transfers: list[tuple[str, TransferFn]] = []
#: key -> translated name of the records a transfer moves (shown after a deactivation)
transfer_labels: dict[str, Any] = {}
search_providers: list[Callable[..., list[dict[str, Any]]]] = []
#: run when an organisation is created (inside its transaction): ``fn(org, admin) -> None``
org_initializers: list[Callable[..., Any]] = []


def register_org_initializer(fn: Callable[..., Any]) -> None:
    """Seed a new organisation with a module's defaults (dictionaries, pools, pipelines)."""
    if fn not in org_initializers:
        org_initializers.append(fn)


@dataclass(order=True)
class Section:
    order: int
    key: str = field(compare=False)
    title: Any = field(compare=False)
    template: str = field(compare=False)
    context: Callable[..., dict[str, Any] | None] = field(compare=False)


record_sections: dict[str, list[Section]] = {}

#: Blocks other modules add to the top of "My day" (pending approvals, receivables due…):
#: ``context(request, user) -> dict | None`` (None hides the block); the template renders the
#: body of a card and receives the context plus ``block`` and ``request``.
my_day_blocks: list[Section] = []


def register_my_day_block(block: Section) -> None:
    my_day_blocks[:] = [b for b in my_day_blocks if b.key != block.key] + [block]
    my_day_blocks.sort()


def register_ownership_transfer(key: str, fn: TransferFn, label: Any = None) -> None:
    """Register ``fn`` to move a deactivated user's records of kind ``key`` (e.g. "customers")."""
    if all(existing != key for existing, _fn in ownership_transfers):
        ownership_transfers.append((key, fn))
    transfer_labels[key] = label or key


def register_section(model_label: str, section: Section) -> None:
    sections = record_sections.setdefault(model_label, [])
    sections[:] = [s for s in sections if s.key != section.key] + [section]
    sections.sort()


def register_search(fn: Callable[..., list[dict[str, Any]]]) -> None:
    if fn not in search_providers:
        search_providers.append(fn)
