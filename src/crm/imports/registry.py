"""The resource registry: what can be imported, with which columns, through which services.

A module joins with :func:`register_resource` (``crm.imports.resources`` registers customers,
contacts, leads, opportunities and follow-ups). A resource names its fields (with the Chinese
and English column titles that suggest them), the permission an import needs, and three
functions that call the module's real services, so every validation, duplicate and scope rule
of a hand-made record applies to an imported one:

``find(ctx, values)``
    the existing record a row duplicates (the module's duplicate rules), or None;
``create(ctx, values)``
    create the record (``ctx.allow_duplicate`` is set in "create anyway" mode);
``update(ctx, record, values)``
    update it with the row's non-empty values.

They raise ``DomainError`` for a row that cannot be imported; the message is shown to the user
with the row's line number.

A resource may also have a ``batch`` handler (``crm.imports.batch.BatchHandler``): the set-based
path that decides and writes a whole batch of rows in a few statements with the same result as
the three functions row by row (R11.2). Rows it cannot decide go through ``find``/``create``/
``update`` one by one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from django.utils import translation

#: the field key of the external id column every resource takes
EXTERNAL_ID = "external_id"


@dataclass(frozen=True)
class ImportField:
    """One importable field: ``aliases`` are column titles (any language) that map to it."""

    key: str
    label: Any
    aliases: tuple[str, ...] = ()
    required: bool = False
    example: str = ""
    help: Any = ""


@dataclass
class RowContext:
    """What a row handler gets besides the row: the acting user, the job's options, and a
    cache for look-ups shared by the rows of one run (users by name, stages, dictionaries)."""

    actor: Any
    resource: Resource
    duplicate_mode: str = "skip"
    allow_duplicate: bool = False
    cache: dict[Any, Any] = field(default_factory=dict)

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


@dataclass(frozen=True)
class Resource:
    """An importable kind of record. ``module``/``action`` is the permission an import needs
    (updating also needs ``module:edit``); ``model_label`` the records it writes."""

    key: str
    label: Any
    module: str
    model_label: str
    fields: tuple[ImportField, ...]
    find: Callable[[RowContext, dict[str, str]], Any]
    create: Callable[[RowContext, dict[str, str]], Any]
    update: Callable[[RowContext, Any, dict[str, str]], Any]
    action: str = "create"
    describe: Callable[[Any], str] = str
    #: service field names whose errors belong to another import field ("mobile" of the
    #: first contact of a customer is the column "contact_mobile")
    error_fields: dict[str, str] = field(default_factory=dict)
    #: the custom-field record kind (``crm.core.custom_fields``) whose fields are importable
    #: as extra columns ``custom.<key>`` (H-CF); "" for none
    custom_target: str = ""
    #: the set-based batch handler (``crm.imports.batch.BatchHandler``), or None: row by row
    batch: Any = None

    def field_named(self, key: str) -> ImportField | None:
        return next((f for f in self.fields if f.key == key), None)

    def label_of(self, service_field: str) -> str:
        """The column label a service's field error belongs to ("" when none)."""
        found = self.field_named(self.error_fields.get(service_field, service_field))
        return str(found.label) if found else ""

    @property
    def keys(self) -> list[str]:
        return [f.key for f in self.fields]

    @property
    def required(self) -> list[ImportField]:
        return [f for f in self.fields if f.required]

    def may_import(self, user: Any) -> bool:
        return bool(getattr(user, "is_authenticated", False)) and user.can(self.module, self.action)

    def may_update(self, user: Any) -> bool:
        return bool(user.can(self.module, "edit"))


RESOURCES: dict[str, Resource] = {}


def register_resource(resource: Resource) -> Resource:
    """Make ``resource`` importable (a later registration of the same key replaces it)."""
    RESOURCES[resource.key] = resource
    return resource


def get_resource(key: str, org_id: int | None = None) -> Resource | None:
    """The resource ``key``; with ``org_id``, including that organisation's custom fields."""
    resource = RESOURCES.get(key)
    if resource is not None and org_id:
        resource = with_custom_fields(resource, org_id)
    return resource


def resources_for(user: Any) -> list[Resource]:
    """The resources ``user`` may import into, in registration order (with the custom fields
    of the user's organisation)."""
    org_id = getattr(user, "org_id", None)
    return [
        with_custom_fields(r, org_id) if org_id else r
        for r in RESOURCES.values()
        if r.may_import(user)
    ]


#: the import field key of a custom field's column
CUSTOM_PREFIX = "custom."


def with_custom_fields(resource: Resource, org_id: int) -> Resource:
    """``resource`` with one more field per active custom field of ``org_id`` (H-CF): key
    ``custom.<key>``, suggested for a column titled with the field's label or key; required
    when the field is required and has no default. The row handlers read them with
    ``custom_values``; ``clean_custom`` validates them (errors reported per line)."""
    if not resource.custom_target:
        return resource
    from crm.core.custom_fields import definitions

    extra = tuple(
        ImportField(
            CUSTOM_PREFIX + f.key,
            f.label,
            (f.label, f.key),
            required=f.required and f.default is None,
            example=", ".join(f.choices[:1]),
            help=f.help_text,
        )
        for f in definitions(org_id, resource.custom_target)
    )
    return replace(resource, fields=resource.fields + extra) if extra else resource


def custom_values(ctx: RowContext, values: dict[str, str]) -> dict[str, Any]:
    """The row's non-empty custom-field cells (``custom.<key>``), as values ``clean_custom``
    takes (colleagues by name, several choices split)."""
    from crm.core.custom_fields import definitions, import_cell

    given = {
        k.removeprefix(CUSTOM_PREFIX): v
        for k, v in values.items()
        if k.startswith(CUSTOM_PREFIX) and v not in (None, "")
    }
    if not given or not ctx.resource.custom_target:
        return {}
    org_id = int(ctx.actor.org_id or 0)
    fields = ctx.cached(
        ("custom-fields", ctx.resource.custom_target),
        lambda: {f.key: f for f in definitions(org_id, ctx.resource.custom_target)},
    )
    return {
        key: import_cell(org_id, fields[key], raw) if key in fields else raw
        for key, raw in given.items()
    }


# --- mapping suggestions ---------------------------------------------------------------------
_DECORATION = re.compile(r"[\s_\-:：*＊()（）\[\]【】]|必填|选填|required|optional")


def normalise_header(text: str) -> str:
    """A column title reduced for comparison: full-width folded, lower case, without spaces,
    punctuation, ``*`` and "(必填)" marks."""
    folded = unicodedata.normalize("NFKC", str(text or "")).lower()
    return _DECORATION.sub("", folded)


def _names(f: ImportField) -> set[str]:
    names = {f.key, *f.aliases}
    for language in ("zh-hans", "en"):
        with translation.override(language):
            names.add(str(f.label))
    return {normalise_header(n) for n in names if n}


def suggest(resource: Resource, headers: list[str]) -> list[str]:
    """A field key (or "") for each column title: a title equal to a field's label or one of
    its aliases, in Chinese or English; each field is suggested for one column at most."""
    table: dict[str, str] = {}
    for f in resource.fields:
        for name in _names(f):
            table.setdefault(name, f.key)
    used: set[str] = set()
    result: list[str] = []
    for header in headers:
        key = table.get(normalise_header(header), "")
        if key in used:
            key = ""
        if key:
            used.add(key)
        result.append(key)
    return result


def apply_template(resource: Resource, headers: list[str], columns: dict[str, str]) -> list[str]:
    """The mapping a saved template gives ``headers`` (matched by normalised title); columns
    the template does not know get the suggestion."""
    saved = {normalise_header(k): v for k, v in columns.items() if v in resource.keys or v == ""}
    suggested = suggest(resource, headers)
    result: list[str] = []
    used: set[str] = set()
    for header, guess in zip(headers, suggested, strict=True):
        norm = normalise_header(header)
        key = saved.get(norm, guess)
        if key in used:
            key = ""
        if key:
            used.add(key)
        result.append(key)
    return result
