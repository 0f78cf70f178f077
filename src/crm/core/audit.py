"""Writing and reading the event stream (audit trail and outbox).

Services call :func:`record` in the same transaction as their change. :func:`snapshot` and
:func:`diff` turn model state into the ``changes`` mapping ``field -> [old, new]``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from .context import job_label_var, request_id_var
from .models import Event


def to_json(value: Any) -> Any:
    """A JSON-safe rendering of a field value (money stays exact as a string)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple | set):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return str(value)


SKIPPED_FIELDS = {"id", "org", "created_at", "updated_at", "password", "version", "created_by"}


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """Concrete field values of ``obj`` (foreign keys as ids), for before/after comparison."""
    result: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        # Derived and bookkeeping columns (search keys, paths, tokens) are not changes people make.
        if field.name in SKIPPED_FIELDS or (not field.editable and fields is None):
            continue
        result[field.name] = to_json(getattr(obj, field.attname))
    return result


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``field -> [old, new]`` for every field whose value changed."""
    keys = set(before) | set(after)
    return {k: [before.get(k), after.get(k)] for k in sorted(keys) if before.get(k) != after.get(k)}


def record(
    *,
    actor: Any,
    obj: models.Model,
    verb: str,
    changes: dict[str, list[Any]] | None = None,
    data: dict[str, Any] | None = None,
    org_id: int | None = None,
) -> Event:
    """Append one event for ``obj``. Call inside the service's transaction."""
    event = event_for(actor=actor, obj=obj, verb=verb, changes=changes, data=data, org_id=org_id)
    event.save()
    return event


def event_for(
    *,
    actor: Any,
    obj: models.Model,
    verb: str,
    changes: dict[str, list[Any]] | None = None,
    data: dict[str, Any] | None = None,
    org_id: int | None = None,
) -> Event:
    """An unsaved event, for set-based services that ``Event.objects.bulk_create`` many."""
    actor_user = (
        actor if getattr(actor, "pk", None) and getattr(actor, "is_authenticated", False) else None
    )
    return Event(
        org_id=org_id or obj.org_id,  # type: ignore[attr-defined]
        actor=actor_user,
        actor_label=job_label_var.get() or ("" if actor_user else "system"),
        verb=verb,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        changes=to_json(changes or {}),
        data=to_json(data or {}),
        request_id=request_id_var.get(),
    )


def record_created(*, actor: Any, obj: models.Model, verb: str = "created") -> Event:
    """An event whose changes list every initial value that is set, as ``[None, value]``."""
    values = {k: v for k, v in snapshot(obj).items() if v not in (None, "", [], {}, False)}
    return record(actor=actor, obj=obj, verb=verb, changes=diff({}, values))


def history_for(obj: models.Model) -> models.QuerySet[Event]:
    """Events of one record. The caller must already have checked that the user sees ``obj``."""
    from .fieldaccess import redact_history  # H-FIELD: changes masked as the record is

    qs = Event.objects.filter(org_id=obj.org_id).for_object(obj).select_related("actor")  # type: ignore[attr-defined]
    return redact_history(qs, obj)


#: verb -> translated label, registered by each app (``register_verbs``) for the audit pages.
VERB_LABELS: dict[str, Any] = {}


def register_verbs(labels: dict[str, Any]) -> None:
    VERB_LABELS.update(labels)


# R10.2 (W4): the verbs written by core services for records of other modules
# (``crm.core.confidential``), so that they are listed by the audit pages and as webhook types.
register_verbs(
    {
        "customer.confidentiality": _("Customer confidentiality changed"),
        "opportunity.confidentiality": _("Opportunity confidentiality changed"),
    }
)


def verb_label(verb: str) -> Any:
    return VERB_LABELS.get(verb, verb)


def field_label(object_type: str, field: str) -> Any:
    """The translated name of ``field`` of the model ``object_type`` ("app.model")."""
    from django.apps import apps
    from django.core.exceptions import FieldDoesNotExist

    try:
        model = apps.get_model(object_type)
        model_field = model._meta.get_field(field)
        if model_field.auto_created and model_field.related_model is not None:
            # a reverse relation, e.g. a quote's "lines": named after the related rows
            return model_field.related_model._meta.verbose_name_plural
        return model_field.verbose_name
    except (LookupError, ValueError, FieldDoesNotExist, AttributeError):
        return field


def type_label(object_type: str) -> Any:
    from django.apps import apps

    try:
        return apps.get_model(object_type)._meta.verbose_name
    except (LookupError, ValueError):
        return object_type


#: (object type, field) -> a function ``(org_id, value) -> label`` for values that are codes of
#: an organisation's list (dictionary values): registered by the module that owns the list.
VALUE_LABELERS: dict[tuple[str, str], Any] = {}


def register_value_labeler(object_type: str, fields: Iterable[str], fn: Any) -> None:
    """Show the recorded values of ``fields`` of ``object_type`` through ``fn(org_id, value)``."""
    for field in fields:
        VALUE_LABELERS[object_type, field] = fn


def _relation(object_type: str, field: str) -> Any:
    """The model field of ``object_type.field`` when its recorded values are ids of records
    (shown by name), else None."""
    from django.apps import apps
    from django.core.exceptions import FieldDoesNotExist

    try:
        model_field = apps.get_model(object_type)._meta.get_field(field)
    except (LookupError, ValueError, FieldDoesNotExist):
        return None
    if (
        model_field.is_relation
        and model_field.related_model is not None
        and not model_field.auto_created
    ):
        return model_field
    return None


#: model label -> (ids asked for, id -> name): the names :func:`value_label` shows
Names = dict[str, tuple[set[str], dict[str, str]]]


def read_names(events: Iterable[Event]) -> Names:
    """The names of every record the changes of ``events`` refer to (an owner, a stage, a
    customer…), one query per kind of record rather than one per value shown (R11.2). Each
    event keeps them as ``value_names`` for :func:`value_label`."""
    events = list(events)
    wanted: dict[Any, set[str]] = {}
    for event in events:
        changes = event.changes if isinstance(event.changes, dict) else {}
        for field, pair in changes.items():
            model_field = _relation(event.object_type, field)
            if model_field is None:
                continue
            for value in pair if isinstance(pair, list | tuple) else [pair]:
                for one in value if isinstance(value, list) else [value]:
                    if one not in (None, "") and not isinstance(one, dict | list | bool):
                        wanted.setdefault(model_field.related_model, set()).add(str(one))
    names: Names = {}
    for model, ids in wanted.items():
        try:
            found = {str(o.pk): str(o) for o in model._base_manager.filter(pk__in=ids)}
        except (ValueError, TypeError):  # a masked or malformed value: shown one by one
            continue
        names[model._meta.label] = (ids, found)
    for event in events:
        event.value_names = names  # type: ignore[attr-defined]
    return names


def value_label(
    object_type: str,
    field: str,
    value: Any,
    org_id: int | None = None,
    names: Names | None = None,
) -> Any:
    """How a recorded value reads: related records by name, yes/no for booleans, choice labels,
    dates and times in the current time zone, list codes by their label (with ``org_id``).
    ``names``: the record names :func:`read_names` read for the events shown."""
    from django.apps import apps
    from django.core.exceptions import FieldDoesNotExist
    from django.utils import formats, timezone
    from django.utils.dateparse import parse_datetime
    from django.utils.translation import gettext

    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, dict | list) and not value:
        return "—"
    try:
        model_field = apps.get_model(object_type)._meta.get_field(field)
    except (LookupError, ValueError, FieldDoesNotExist):
        return value
    # (reverse relations such as a record's "lines" hold a text snapshot, not ids)
    if (
        model_field.is_relation
        and model_field.related_model is not None
        and not model_field.auto_created
    ):
        ids = value if isinstance(value, list) else [value]
        asked, known = (names or {}).get(model_field.related_model._meta.label, (set(), {}))
        if not all(str(i) in asked for i in ids):
            manager = model_field.related_model._base_manager
            known = {str(o.pk): str(o) for o in manager.filter(pk__in=ids)}
        return "、".join(known.get(str(i), f"#{i}") for i in ids)
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    if model_field.get_internal_type() == "DateTimeField" and isinstance(value, str):
        moment = parse_datetime(value)
        if moment is not None:
            if timezone.is_aware(moment):
                moment = timezone.localtime(moment)
            return formats.date_format(moment, "SHORT_DATETIME_FORMAT")
    labeler = VALUE_LABELERS.get((object_type, field))
    if labeler is not None and org_id is not None:
        return labeler(org_id, value) or value
    choices = dict(getattr(model_field, "flatchoices", None) or [])
    return choices.get(value, value)
