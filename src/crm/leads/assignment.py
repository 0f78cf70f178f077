"""Automatic assignment of new leads by rules (R2.4).

:func:`apply_rules` takes the first active rule (by ``order``, then id) whose conditions all
match the lead and picks a rep with the rule's strategy:

- **round-robin**: the eligible reps in a fixed order (by id); starting at the rule's cursor,
  the first rep who is active, may view leads and holds fewer than ``cap`` open leads gets it,
  and the cursor moves past them. The cursor is advanced with a conditional
  ``UPDATE … WHERE cursor = <read value>``: concurrent creates never take the same turn.
- **least load**: the available rep with the fewest open leads (ties: the earlier in order).
- **fixed person**: the rule's person, if available.

The rule may move the lead to its target sub-pool. When no rule matches, or no rep is
available, the lead stays unassigned (in the target sub-pool, if the rule has one) and the note
says why. Every outcome is written to ``assignment_note`` and recorded as an event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.notifications import notify
from crm.org.models import User

from .choices import CONDITION_FIELDS, MAX_SCORE, MIN_SCORE, RuleObject, Strategy
from .models import AssignmentRule, Lead, LeadPool
from .selectors import open_loads

#: attempts to take a round-robin turn before giving up (each failed attempt means another
#: transaction took the turn first; the next attempt re-reads the cursor)
MAX_TURN_ATTEMPTS = 50


@dataclass
class Outcome:
    """What the rules decided for one lead."""

    rule: AssignmentRule | None
    user: User | None
    pool: LeadPool
    note: str
    skipped: list[str] = field(default_factory=list)


def _norm(value: Any) -> str:
    return str(value or "").strip().casefold()


def matches(rule: AssignmentRule, lead: Lead) -> bool:
    """Every condition of ``rule`` accepts the lead: for each of region, industry, source and
    product line, the list of allowed values is empty or contains the lead's value (compared
    without surrounding spaces and case); the lead's score is at least ``min_score`` and at
    most ``max_score`` when those are set."""
    conditions = rule.conditions or {}
    for name in CONDITION_FIELDS:
        allowed = [_norm(v) for v in conditions.get(name) or [] if _norm(v)]
        if allowed and _norm(getattr(lead, name)) not in allowed:
            return False
    # H-LSCORE: score range (crm.leads.scoring), both bounds inclusive
    low, high = conditions.get(MIN_SCORE), conditions.get(MAX_SCORE)
    if low is not None and lead.score < low:
        return False
    return not (high is not None and lead.score > high)


def candidates(rule: AssignmentRule, org_id: int) -> list[User]:
    """The rule's eligible reps in rotation order (by id); empty list means the target
    sub-pool's members."""
    users = list(rule.eligible_users.filter(org_id=org_id).order_by("pk"))
    if not users and rule.target_pool_id:
        pool = rule.target_pool
        assert pool is not None
        users = list(pool.members.filter(org_id=org_id).order_by("pk"))
    return users


def _unavailable(user: User, rule: AssignmentRule, loads: dict[int, int]) -> str | None:
    """Why ``user`` cannot take a lead now (None: they can)."""
    if not user.is_active:
        return _("inactive")
    if not user.can("leads", "view"):
        return _("no access to leads")
    if rule.cap is not None and loads.get(user.pk, 0) >= rule.cap:
        return _("at the cap of %(cap)d open leads") % {"cap": rule.cap}
    return None


def _skipped_text(skipped: list[str]) -> str:
    return _("; skipped: %(names)s") % {"names": ", ".join(skipped)} if skipped else ""


def _round_robin(
    rule: AssignmentRule, users: list[User], loads: dict[int, int]
) -> tuple[User | None, int, list[str]]:
    """(rep, 1-based position in the rotation, skipped reps with the reason)."""
    n = len(users)
    for _attempt in range(MAX_TURN_ATTEMPTS):
        cursor = AssignmentRule.objects.filter(pk=rule.pk).values_list("cursor", flat=True).first()
        if cursor is None:
            return None, 0, []
        skipped: list[str] = []
        for offset in range(n):
            index = (cursor + offset) % n
            user = users[index]
            why = _unavailable(user, rule, loads)
            if why:
                skipped.append(f"{user.display_name} ({why})")
                continue
            taken = AssignmentRule.objects.filter(pk=rule.pk, cursor=cursor).update(
                cursor=cursor + offset + 1
            )
            if taken:
                return user, index + 1, skipped
            break  # another transaction took this turn: read the cursor again
        else:
            return None, 0, skipped
    return None, 0, [_("too many concurrent assignments, try again")]


def _least_load(
    rule: AssignmentRule, users: list[User], loads: dict[int, int]
) -> tuple[User | None, list[str]]:
    skipped: list[str] = []
    best: User | None = None
    for user in users:
        why = _unavailable(user, rule, loads)
        if why:
            skipped.append(f"{user.display_name} ({why})")
        elif best is None or loads.get(user.pk, 0) < loads.get(best.pk, 0):
            best = user
    return best, skipped


def decide(lead: Lead) -> Outcome:
    """Pick the rule, the rep and the pool for ``lead`` (advances a round-robin cursor)."""
    rules = AssignmentRule.objects.filter(
        org_id=lead.org_id, is_active=True, object_type=RuleObject.LEAD
    ).order_by("order", "pk")
    rule = next((r for r in rules if matches(r, lead)), None)
    if rule is None:
        return Outcome(
            rule=None,
            user=None,
            pool=lead.pool,
            note=_("No assignment rule matches this lead; it waits in the pool “%(pool)s”.")
            % {"pool": lead.pool.name},
        )
    target = rule.target_pool if rule.target_pool and rule.target_pool.is_active else lead.pool
    user: User | None = None
    skipped: list[str] = []
    note = ""
    if rule.strategy == Strategy.FIXED_USER:
        person = rule.fixed_user
        if person is not None and person.org_id == lead.org_id:
            loads = open_loads(lead.org_id, [person.pk])
            why = _unavailable(person, rule, loads)
            if why:
                skipped = [f"{person.display_name} ({why})"]
            else:
                user = person
                note = _("Rule “%(rule)s”: fixed person → %(user)s") % {
                    "rule": rule.name,
                    "user": person.display_name,
                }
    else:
        # Serialise pickers of the same rule on PostgreSQL (SQLite already serialises writers).
        AssignmentRule.objects.select_for_update().filter(pk=rule.pk).first()
        users = candidates(rule, lead.org_id)
        loads = open_loads(lead.org_id, [u.pk for u in users])
        if rule.strategy == Strategy.LEAST_LOAD:
            user, skipped = _least_load(rule, users, loads)
            if user is not None:
                note = _(
                    "Rule “%(rule)s”: least open workload → %(user)s (%(load)d open leads)"
                ) % {"rule": rule.name, "user": user.display_name, "load": loads.get(user.pk, 0)}
        else:
            user, position, skipped = _round_robin(rule, users, loads)
            if user is not None:
                note = _("Rule “%(rule)s”: round-robin → %(user)s (position %(pos)d of %(n)d)") % {
                    "rule": rule.name,
                    "user": user.display_name,
                    "pos": position,
                    "n": len(users),
                }
    if user is None:
        note = _(
            "Rule “%(rule)s”: no eligible rep is available; the lead waits in the pool “%(pool)s”."
        ) % {"rule": rule.name, "pool": target.name}
    return Outcome(
        rule=rule,
        user=user,
        pool=target,
        note=(note + _skipped_text(skipped))[:300],
        skipped=skipped,
    )


def apply_rules(lead: Lead, *, actor: Any = None) -> Outcome:
    """Run the assignment rules on an unassigned lead and record the outcome on it.

    Call inside the creating service's transaction. The note is written in the organisation's
    default language (``CRM_LANGUAGE``), as it is stored text shown to everyone.
    """
    with translation.override(settings.LANGUAGE_CODE):
        outcome = decide(lead)
    now = timezone.now()
    before = {"owner": lead.owner_id, "pool": lead.pool_id}
    values: dict[str, Any] = {
        "pool": outcome.pool,
        "assignment_note": outcome.note,
        "assigned_by_rule": outcome.rule if outcome.user else None,
        "updated_at": now,
    }
    if outcome.user is not None:
        values.update(owner=outcome.user, assigned_at=now)
    Lead.objects.filter(pk=lead.pk, owner__isnull=True).update(**values, version=F("version") + 1)
    lead.refresh_from_db()
    after = {"owner": lead.owner_id, "pool": lead.pool_id}
    audit.record(
        actor=actor,
        obj=lead,
        verb="lead.assigned" if outcome.user else "lead.pooled",
        changes=audit.diff(before, after),
        data={"rule": outcome.rule.pk if outcome.rule else None, "note": outcome.note},
    )
    if outcome.user is not None:
        with translation.override(settings.LANGUAGE_CODE):
            message = _("A new lead “%(name)s” was assigned to you: %(note)s") % {
                "name": lead.display_name,
                "note": outcome.note,
            }
        notify(
            recipient=outcome.user,
            actor=actor,
            verb="lead.assigned",
            target=lead,
            url=f"/leads/{lead.pk}/",
            message=message,
        )
    return outcome
