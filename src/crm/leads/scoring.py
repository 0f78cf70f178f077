"""Lead scoring by rules (R2.5).

An administrator (``leads:configure``) defines :class:`~crm.leads.models.LeadScoringRule` rows:

- **attribute** rules give their points once when the lead's field passes the operator:
  ``equals`` (one value), ``in`` (any of the values), ``contains`` (the field contains any of
  the values) or ``is_set`` (the field is not empty). Text is compared without surrounding
  spaces and case. Fields: see :data:`FIELDS`, plus ``custom:<key>`` for a lead custom field.
- **behaviour** rules give their points per occurrence of an event (:data:`EVENTS`), counted at
  most ``cap`` times. Occurrences are counted in ``Lead.score_events``: a web form submission
  when the public form created the lead, each follow-up logged on the lead (by method), and a
  campaign response when the lead came from a campaign.

A lead's score is the sum of the points of the active rules; ``Lead.score_breakdown`` keeps
which rule gave how many points, so the lead page can explain it. The score is recomputed
when a lead is created or edited and when a follow-up is logged; changing the rules rescores
every lead of the organisation in a background job (:func:`rescore_org`, in batches of 1,000:
leads sharing a breakdown are written with one ``UPDATE``, the rest with ``bulk_update``).
Rescoring never changes a lead's ``version`` (the score is derived data, so it never makes
someone's open edit form stale).

Grades: A ≥ 80, B ≥ 50, C ≥ 20, otherwise D (:data:`GRADES`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.activities.choices import Method
from crm.core import audit, custom_fields
from crm.core.errors import NotFound, PermissionDenied, ValidationFailed
from crm.core.scoping import assert_in_scope
from crm.org.models import User

from .models import Lead, LeadScoringRule, ScoringKind

#: attribute fields a rule may test (``custom:<key>`` adds the lead custom fields)
FIELDS: dict[str, Any] = {
    "industry": gettext_lazy("Industry"),
    "region": gettext_lazy("Region"),
    "source": gettext_lazy("Source"),
    "title": gettext_lazy("Title"),
    "product_line": gettext_lazy("Product line"),
    "company": gettext_lazy("Company"),
    "campaign_type": gettext_lazy("Campaign type"),
    "email": gettext_lazy("E-mail"),
    "mobile": gettext_lazy("Mobile"),
    "phone": gettext_lazy("Phone"),
}
CUSTOM_PREFIX = "custom:"

OPERATORS: dict[str, Any] = {
    "equals": gettext_lazy("equals"),
    "in": gettext_lazy("is one of"),
    "contains": gettext_lazy("contains"),
    "is_set": gettext_lazy("is filled in"),
}

FORM_SUBMISSION = "form_submission"
FOLLOWUP = "followup"
CAMPAIGN_RESPONSE = "campaign_response"
EVENTS: dict[str, Any] = {
    FORM_SUBMISSION: gettext_lazy("Web form submission"),
    FOLLOWUP: gettext_lazy("Follow-up logged"),
    CAMPAIGN_RESPONSE: gettext_lazy("Campaign response"),
}

#: (grade, lowest score) from the best; below the last threshold the grade is D
GRADES: list[tuple[str, int]] = [("A", 80), ("B", 50), ("C", 20)]
GRADE_COLORS = {"A": "green", "B": "azure", "C": "yellow", "D": "secondary"}

MAX_POINTS = 1000
MAX_CAP = 1000
MAX_VALUES = 50
MAX_VALUE_LENGTH = 100
#: leads rescored per batch (one SELECT, then one UPDATE per distinct breakdown or a bulk_update)
BATCH_SIZE = 1000
#: leads sharing a breakdown from which one ``UPDATE … WHERE id IN`` beats ``bulk_update``
GROUP_UPDATE_MIN = 5

_COLUMNS = [
    "pk",
    "industry",
    "region",
    "source",
    "title",
    "product_line",
    "company",
    "email",
    "mobile",
    "phone",
    "custom",
    "score",
    "score_breakdown",
    "score_events",
]


def grade(score: int) -> str:
    """The letter grade of a score (A ≥ 80, B ≥ 50, C ≥ 20, else D)."""
    for letter, lowest in GRADES:
        if score >= lowest:
            return letter
    return "D"


def _norm(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_norm(v) for v in value)
    if value is None or value is False:
        return ""
    return str(value).strip().casefold()


# --- evaluation --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compiled:
    """A rule ready to evaluate many leads."""

    pk: int
    name: str
    kind: str
    field: str
    operator: str
    values: tuple[str, ...]
    event: str
    method: str
    points: int
    cap: int | None

    @classmethod
    def of(cls, rule: LeadScoringRule) -> Compiled:
        return cls(
            pk=rule.pk or 0,
            name=rule.name,
            kind=rule.kind,
            field=rule.field,
            operator=rule.operator,
            values=tuple(_norm(v) for v in rule.values or [] if _norm(v)),
            event=rule.event,
            method=rule.method,
            points=rule.points,
            cap=rule.cap,
        )

    def attribute_matches(self, row: dict[str, Any]) -> bool:
        if self.field.startswith(CUSTOM_PREFIX):
            value = _norm((row.get("custom") or {}).get(self.field[len(CUSTOM_PREFIX) :]))
        else:
            value = _norm(row.get(self.field))
        if self.operator == "is_set":
            return bool(value)
        if not value:
            return False
        if self.operator == "contains":
            return any(v in value for v in self.values)
        if self.operator == "equals":
            return bool(self.values) and value == self.values[0]
        return value in self.values  # "in"

    def occurrences(self, row: dict[str, Any]) -> int:
        events = row.get("score_events") or {}
        if self.event == CAMPAIGN_RESPONSE:
            count = 1 if row.get("campaign_type") else 0
            count = max(count, int(events.get(CAMPAIGN_RESPONSE, 0) or 0))
        elif self.event == FOLLOWUP and self.method:
            count = int(events.get(f"{FOLLOWUP}:{self.method}", 0) or 0)
        else:
            count = int(events.get(self.event, 0) or 0)
        return min(count, self.cap) if self.cap is not None else count

    def points_for(self, row: dict[str, Any]) -> int:
        if self.kind == ScoringKind.ATTRIBUTE:
            return self.points if self.attribute_matches(row) else 0
        return self.points * self.occurrences(row)


def evaluate(rules: Iterable[Compiled], row: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """(score, breakdown) of one lead (``row`` holds the lead's fields, ``campaign_type``,
    ``custom`` and ``score_events``). The breakdown lists the rules that gave points."""
    total = 0
    breakdown: list[dict[str, Any]] = []
    for rule in rules:
        points = rule.points_for(row)
        if points:
            total += points
            breakdown.append({"rule": rule.pk, "name": rule.name, "points": points})
    return total, breakdown


def active_rules(org_id: int) -> list[Compiled]:
    return [
        Compiled.of(r)
        for r in LeadScoringRule.objects.filter(org_id=org_id, is_active=True).order_by(
            "kind", "name", "pk"
        )
    ]


def _row_of(lead: Lead) -> dict[str, Any]:
    row = {name: getattr(lead, name) for name in _COLUMNS if name != "pk"}
    campaign = getattr(lead, "campaign", None) if lead.campaign_id else None
    row["campaign_type"] = getattr(campaign, "campaign_type", "") if campaign else ""
    return row


def rescore_lead(lead: Lead, rules: list[Compiled] | None = None) -> Lead:
    """Recompute one lead's score and breakdown and store them (no version change)."""
    rules = active_rules(lead.org_id) if rules is None else rules
    score, breakdown = evaluate(rules, _row_of(lead))
    if score != lead.score or breakdown != lead.score_breakdown:
        Lead.objects.filter(pk=lead.pk).update(score=score, score_breakdown=breakdown)
        lead.score, lead.score_breakdown = score, breakdown
    return lead


def score_new_lead(lead: Lead, *, form_submission: bool = False) -> Lead:
    """Called by lead creation (before the assignment rules run, so they can use the score):
    count the web form submission and score the lead."""
    if form_submission:
        events = dict(lead.score_events or {})
        events[FORM_SUBMISSION] = int(events.get(FORM_SUBMISSION, 0) or 0) + 1
        Lead.objects.filter(pk=lead.pk).update(score_events=events)
        lead.score_events = events
    return rescore_lead(lead)


def _rows(qs: Any) -> Any:
    return qs.annotate(campaign_kind=F("campaign__campaign_type")).values(
        *_COLUMNS, "campaign_kind"
    )


def rescore_org(org_id: int, *, batch_size: int = BATCH_SIZE) -> int:
    """Rescore every lead of an organisation in batches (keyset pagination by id, each batch
    its own transaction; only leads whose score or breakdown changes are written). Returns how
    many leads changed."""
    rules = active_rules(org_id)
    changed = 0
    last = 0
    while True:
        batch = list(
            _rows(Lead.objects.filter(org_id=org_id, pk__gt=last).order_by("pk"))[:batch_size]
        )
        if not batch:
            return changed
        last = batch[-1]["pk"]
        # Leads that end up with the same breakdown share one UPDATE … WHERE id IN (…); the
        # few with a breakdown of their own go through one bulk_update.
        groups: dict[str, tuple[int, list[dict[str, Any]], list[int]]] = {}
        for row in batch:
            row["campaign_type"] = row.pop("campaign_kind") or ""
            score, breakdown = evaluate(rules, row)
            if score != row["score"] or breakdown != row["score_breakdown"]:
                key = json.dumps(breakdown, sort_keys=True)
                groups.setdefault(key, (score, breakdown, []))[2].append(row["pk"])
        if groups:
            singles: list[Lead] = []
            with transaction.atomic():
                for score, breakdown, pks in groups.values():
                    if len(pks) >= GROUP_UPDATE_MIN:
                        Lead.objects.filter(pk__in=pks).update(
                            score=score, score_breakdown=breakdown
                        )
                    else:
                        singles.extend(
                            Lead(pk=pk, score=score, score_breakdown=breakdown) for pk in pks
                        )
                if singles:
                    Lead.objects.bulk_update(singles, ["score", "score_breakdown"], batch_size=200)
            changed += sum(len(pks) for _s, _b, pks in groups.values())


def schedule_rescore(org_id: int) -> None:
    """Queue :func:`rescore_org` after the current transaction commits."""

    def enqueue() -> None:
        from .scoring_tasks import rescore_leads

        rescore_leads(org_id)

    transaction.on_commit(enqueue)


# --- rules --------------------------------------------------------------------------------------
RULE_FIELDS = [
    "name",
    "is_active",
    "kind",
    "field",
    "operator",
    "values",
    "event",
    "method",
    "points",
    "cap",
]


def _require_configure(actor: User) -> None:
    if actor is None or not actor.org_id or not actor.can("leads", "configure"):
        raise PermissionDenied()


def field_choices(org_id: int) -> list[tuple[str, Any]]:
    """The attribute fields of the organisation (built-in, then the lead custom fields)."""
    choices: list[tuple[str, Any]] = list(FIELDS.items())
    for definition in custom_fields.definitions(org_id, "lead"):
        choices.append((f"{CUSTOM_PREFIX}{definition.key}", definition.label))
    return choices


def _int(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and low <= value <= high else None


def clean_rule(org_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Validate a whole rule (every field, defaults for the missing ones)."""
    clean: dict[str, Any] = {
        "name": str(data.get("name") or "").strip(),
        "is_active": bool(data.get("is_active", True)),
        "kind": str(data.get("kind") or ""),
        "field": "",
        "operator": "",
        "values": [],
        "event": "",
        "method": "",
        "cap": None,
    }
    errors: dict[str, list[str]] = {}
    if not clean["name"]:
        errors["name"] = [_("Enter a name.")]
    elif len(clean["name"]) > 100:
        errors["name"] = [_("At most %(max)d characters.") % {"max": 100}]
    points = _int(data.get("points"), -MAX_POINTS, MAX_POINTS)
    if points is None or points == 0:
        errors["points"] = [
            _("Enter a whole number from -%(max)d to %(max)d, not 0.") % {"max": MAX_POINTS}
        ]
    clean["points"] = points
    if clean["kind"] == ScoringKind.ATTRIBUTE:
        field = str(data.get("field") or "")
        if field not in dict(field_choices(org_id)):
            errors["field"] = [_("Choose a field from the list.")]
        operator = str(data.get("operator") or "")
        if operator not in OPERATORS:
            errors["operator"] = [_("Choose an operator from the list.")]
        raw = data.get("values") or []
        if isinstance(raw, str):
            raw = raw.split(",")
        if not isinstance(raw, list) or len(raw) > MAX_VALUES:
            errors["values"] = [_("Give at most %(max)d values.") % {"max": MAX_VALUES}]
            raw = []
        values = [str(v).strip() for v in raw if str(v).strip()]
        if any(len(v) > MAX_VALUE_LENGTH for v in values):
            errors["values"] = [
                _("Each value has at most %(max)d characters.") % {"max": MAX_VALUE_LENGTH}
            ]
        elif operator == "equals" and len(values) != 1:
            errors["values"] = [_("“Equals” compares with exactly one value.")]
        elif operator in ("in", "contains") and not values:
            errors["values"] = [_("Give at least one value.")]
        clean.update(field=field, operator=operator, values=[] if operator == "is_set" else values)
    elif clean["kind"] == ScoringKind.BEHAVIOUR:
        event = str(data.get("event") or "")
        if event not in EVENTS:
            errors["event"] = [_("Choose an event from the list.")]
        method = str(data.get("method") or "")
        if method and (event != FOLLOWUP or method not in Method.values):
            errors["method"] = [_("A method applies to follow-ups only; choose one from the list.")]
        cap = data.get("cap")
        if cap not in (None, ""):
            cap = _int(cap, 1, MAX_CAP)
            if cap is None:
                errors["cap"] = [
                    _("Enter a whole number from 1 to %(max)d, or leave it empty.")
                    % {"max": MAX_CAP}
                ]
        clean.update(event=event, method=method, cap=cap or None)
    else:
        errors["kind"] = [_("Choose attribute or behaviour.")]
    if errors:
        raise ValidationFailed(field_errors=errors)
    return clean


@transaction.atomic
def save_rule(
    *, actor: User, rule: LeadScoringRule | None = None, data: dict[str, Any]
) -> LeadScoringRule:
    """Create or replace a scoring rule (``leads:configure``); every lead is rescored after."""
    _require_configure(actor)
    org_id = actor.org_id
    assert org_id is not None
    if rule is not None and rule.org_id != org_id:
        raise NotFound()
    clean = clean_rule(org_id, data)
    if (
        LeadScoringRule.objects.filter(org_id=org_id, name=clean["name"])
        .exclude(pk=rule.pk if rule else 0)
        .exists()
    ):
        raise ValidationFailed(field_errors={"name": [_("A rule with this name already exists.")]})
    before = audit.snapshot(rule, RULE_FIELDS) if rule else {}
    rule = rule or LeadScoringRule(org_id=org_id)
    for key, value in clean.items():
        setattr(rule, key, value)
    rule.save()
    audit.record(
        actor=actor,
        obj=rule,
        verb="leadscoring.saved" if before else "leadscoring.created",
        changes=audit.diff(before, audit.snapshot(rule, RULE_FIELDS)),
    )
    schedule_rescore(org_id)
    return rule


@transaction.atomic
def delete_rule(*, actor: User, rule: LeadScoringRule) -> None:
    """Delete a scoring rule; every lead is rescored after."""
    _require_configure(actor)
    if rule.org_id != actor.org_id:
        raise NotFound()
    audit.record(
        actor=actor,
        obj=rule,
        verb="leadscoring.deleted",
        changes=audit.diff(audit.snapshot(rule, RULE_FIELDS), {}),
    )
    org_id = rule.org_id
    rule.delete()
    schedule_rescore(org_id)


def preview(
    actor: User, data: dict[str, Any], *, rule: LeadScoringRule | None = None
) -> dict[str, Any]:
    """What a draft rule would do, without saving it: how many leads it gives points to,
    how many leads would get how many points from it, and the grade counts before and after
    (with the draft replacing ``rule`` when editing), over the leads the actor may see."""
    _require_configure(actor)
    org_id = actor.org_id
    assert org_id is not None
    clean = clean_rule(org_id, data)
    draft = Compiled.of(LeadScoringRule(pk=rule.pk if rule else None, org_id=org_id, **clean))
    others = [r for r in active_rules(org_id) if not rule or r.pk != rule.pk]
    points: Counter[int] = Counter()
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    total = 0
    for row in _rows(Lead.objects.visible_to(actor)):
        row["campaign_type"] = row.pop("campaign_kind") or ""
        total += 1
        gained = draft.points_for(row) if clean["is_active"] else 0
        points[gained] += 1
        before[grade(row["score"])] += 1
        after[grade(evaluate(others, row)[0] + gained)] += 1
    letters = [g for g, _low in GRADES] + ["D"]
    return {
        "leads": total,
        "matched": total - points.get(0, 0),
        "points": [{"points": p, "leads": n} for p, n in sorted(points.items()) if p],
        "grades": [{"grade": g, "before": before[g], "after": after[g]} for g in letters],
    }


# --- behaviour: follow-ups logged on a lead ------------------------------------------------------
@transaction.atomic
def log_followup(*, actor: User, lead: Lead, method: str, note: str = "") -> Lead:
    """Log a follow-up with a lead (call, visit, WeChat, e-mail reply, meeting…) by whoever may
    edit it: counted for the behaviour rules, recorded in the lead's history, and the lead is
    rescored."""
    if actor is None or lead.org_id != actor.org_id:
        raise NotFound()
    assert_in_scope(actor, lead, "view")
    if not actor.can("leads", "edit"):
        raise PermissionDenied()
    assert_in_scope(actor, lead, "edit")
    errors: dict[str, list[str]] = {}
    if method not in Method.values:
        errors["method"] = [_("Choose a method from the list.")]
    note = (note or "").strip()
    if len(note) > 300:
        errors["note"] = [_("At most %(max)d characters.") % {"max": 300}]
    if errors:
        raise ValidationFailed(field_errors=errors)
    locked = Lead.objects.select_for_update().get(pk=lead.pk)
    events = dict(locked.score_events or {})
    for key in (FOLLOWUP, f"{FOLLOWUP}:{method}"):
        events[key] = int(events.get(key, 0) or 0) + 1
    Lead.objects.filter(pk=lead.pk).update(score_events=events, updated_at=timezone.now())
    lead.score_events = events
    audit.record(
        actor=actor,
        obj=lead,
        verb="lead.followup",
        data={"method": method, "note": note},
    )
    return rescore_lead(lead)
