"""The features of an opportunity at a point in time (R2.5), computed set-based.

One call reads the organisation's opportunities, stage history, follow-ups, product lines and
closed deals with a handful of queries (never one per opportunity) and answers the features of
many *snapshots* ``(opportunity, moment, stage, in stage since)`` at once.

Leak-free by construction: at a snapshot moment ``t`` only what happened before ``t`` counts —
follow-ups before ``t``, the owner's record from deals closed before ``t`` — and training
snapshots of a closed deal are taken while it was still open (see :func:`training_snapshots`).
Attributes that have no history (amount, source, product, key flag, customer grade and
industry) are taken as they are now.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.utils import timezone

from crm.activities.models import FollowUp
from crm.org.models import Organization
from crm.pipeline.choices import CLOSED_STATUSES, OPEN_STATUSES, OpportunityStatus, StageKind
from crm.pipeline.models import Opportunity, OpportunityLine, Stage, StageHistory

#: Numeric features (name → how the value is shown in a factor: days, count, money, percent…).
NUMERIC = {
    "stage_rank": "rank",
    "stage_probability": "percent",
    "days_in_stage": "days",
    "age_days": "days",
    "followups": "count",
    "days_since_followup": "days",
    "log_amount": "money",
    "is_key": "flag",
    "owner_win_rate": "percent",
    "owner_closed": "count",
}
#: Categorical features (one-hot encoded by the model).
CATEGORICAL = ("stage", "source", "product", "grade", "industry")
#: Longest span counted in days (older is the same as ten years).
MAX_DAYS = 3650.0
#: Prior of the owner's win rate: ``(wins + PRIOR_WINS) / (closed + PRIOR_N)``.
PRIOR_WINS, PRIOR_N = 2.5, 5.0


@dataclass(frozen=True)
class Snapshot:
    """An opportunity as it stood at ``at``: in stage ``stage_id`` since ``entered``."""

    opportunity_id: int
    at: datetime
    stage_id: int | None
    entered: datetime


@dataclass
class Sample:
    snapshot: Snapshot
    features: dict[str, Any]
    shown: dict[str, Any]  # raw values for the factor texts (amount in yuan, not its log)
    won: bool | None = None
    closed_at: datetime | None = None


def _days(delta: Any) -> float:
    return min(max(delta.total_seconds() / 86400.0, 0.0), MAX_DAYS)


def close_time(row: dict[str, Any], tz: ZoneInfo) -> datetime | None:
    """When a closed deal closed: ``closed_at``, else midnight of its close date."""
    if row.get("closed_at"):
        return row["closed_at"]
    if row.get("actual_close_date"):
        return timezone.make_aware(datetime.combine(row["actual_close_date"], time()), tz)
    return None


def _rows(qs: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in qs]


class OrgData:
    """Everything the features of one organisation's snapshots need, read set-based."""

    def __init__(self, org_id: int, opportunities: QuerySet[Opportunity]) -> None:
        org = Organization.objects.get(pk=org_id)
        self.tz = ZoneInfo(org.time_zone or "Asia/Shanghai")
        ids = opportunities.values("pk")
        self.opps: dict[int, dict[str, Any]] = {
            row["id"]: row
            for row in _rows(
                opportunities.values(
                    "id",
                    "created_at",
                    "closed_at",
                    "actual_close_date",
                    "status",
                    "stage_id",
                    "stage_entered_at",
                    "pipeline_id",
                    "expected_amount",
                    "source",
                    "is_key",
                    "owner_id",
                    "customer__grade",
                    "customer__industry",
                )
            )
        }
        self.stages: dict[int, dict[str, Any]] = {}
        open_by_pipeline: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in _rows(
            Stage.objects.for_org(org_id)
            .filter(parent__isnull=True)
            .order_by("sort_order", "pk")
            .values("id", "pipeline_id", "name", "default_probability", "kind")
        ):
            self.stages[row["id"]] = row
            if row["kind"] == StageKind.OPEN:
                open_by_pipeline[row["pipeline_id"]].append(row)
        for pipeline_stages in open_by_pipeline.values():
            last = len(pipeline_stages) - 1
            for i, stage in enumerate(pipeline_stages):
                stage["rank"] = i / last if last > 0 else 0.0
        self.history: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in _rows(
            StageHistory.objects.for_org(org_id)
            .filter(opportunity__in=ids)
            .order_by("entered_at", "pk")
            .values("opportunity_id", "stage_id", "entered_at", "left_at")
        ):
            self.history[row["opportunity_id"]].append(row)
        self.followups: dict[int, list[datetime]] = defaultdict(list)
        for opp_id, happened in (
            FollowUp.objects.for_org(org_id)
            .filter(opportunity__in=ids)
            .order_by("happened_at")
            .values_list("opportunity_id", "happened_at")
        ):
            self.followups[opp_id].append(happened)
        self.product: dict[int, str] = {}
        best: dict[int, Any] = {}
        for opp_id, product, amount in (
            OpportunityLine.objects.for_org(org_id)
            .filter(opportunity__in=ids)
            .order_by("sort_order", "pk")
            .values_list("opportunity_id", "product", "amount")
        ):
            if opp_id not in best or amount > best[opp_id]:
                best[opp_id], self.product[opp_id] = amount, product
        # the owners' records: every closed deal of the organisation, by owner and close time
        closes: dict[int, list[tuple[datetime, bool]]] = defaultdict(list)
        closed_rows: Any = (
            Opportunity.objects.for_org(org_id)
            .filter(status__in=CLOSED_STATUSES)
            .values("owner_id", "closed_at", "actual_close_date", "status")
        )
        for closed in closed_rows:
            at = close_time(closed, self.tz)
            if at is not None:
                closes[closed["owner_id"]].append((at, closed["status"] == OpportunityStatus.WON))
        self.owner_times: dict[int, list[datetime]] = {}
        self.owner_wins: dict[int, list[int]] = {}  # cumulative wins, aligned with times
        for owner, owner_closes in closes.items():
            owner_closes.sort(key=lambda r: r[0])
            self.owner_times[owner] = [at for at, _won in owner_closes]
            total, cumulative = 0, [0]
            for _at, won in owner_closes:
                total += int(won)
                cumulative.append(total)
            self.owner_wins[owner] = cumulative

    def opened(self, opp_id: int) -> datetime:
        """When the deal started: its creation or its first stage entry, whichever is first
        (loaded history can predate the row's creation)."""
        row = self.opps[opp_id]
        first = self.history.get(opp_id)
        start: datetime = row["created_at"]
        if first and first[0]["entered_at"] < start:
            start = first[0]["entered_at"]
        if row["stage_entered_at"] and row["stage_entered_at"] < start:
            start = row["stage_entered_at"]
        return start

    def owner_record(self, owner_id: int, at: datetime) -> tuple[float, int]:
        """(smoothed win rate, number closed) of the owner's deals closed strictly before ``at``."""
        times = self.owner_times.get(owner_id, [])
        n = bisect_left(times, at)
        wins = self.owner_wins[owner_id][n] if times else 0
        return (wins + PRIOR_WINS) / (n + PRIOR_N), n

    def sample(self, snap: Snapshot) -> Sample:
        row = self.opps[snap.opportunity_id]
        stage = self.stages.get(snap.stage_id) if snap.stage_id else None
        times = self.followups.get(snap.opportunity_id, [])
        n_follow = bisect_left(times, snap.at)
        age = _days(snap.at - min(self.opened(snap.opportunity_id), snap.at))
        since = _days(snap.at - times[n_follow - 1]) if n_follow else age
        amount = row["expected_amount"]
        rate, n_closed = self.owner_record(row["owner_id"], snap.at)
        features: dict[str, Any] = {
            "stage_rank": float(stage.get("rank", 1.0)) if stage else 0.0,
            "stage_probability": (stage["default_probability"] / 100.0) if stage else 0.0,
            "days_in_stage": _days(snap.at - min(snap.entered, snap.at)),
            "age_days": age,
            "followups": float(n_follow),
            "days_since_followup": since,
            "log_amount": math.log1p(float(amount)) if amount else 0.0,
            "is_key": 1.0 if row["is_key"] else 0.0,
            "owner_win_rate": rate,
            "owner_closed": math.log1p(n_closed),
            "stage": stage["name"] if stage else "",
            "source": row["source"] or "",
            "product": self.product.get(snap.opportunity_id, ""),
            "grade": row["customer__grade"] or "",
            "industry": row["customer__industry"] or "",
        }
        shown = {**features, "log_amount": amount, "owner_closed": n_closed}
        return Sample(snapshot=snap, features=features, shown=shown)


def training_snapshots(data: OrgData) -> list[tuple[Snapshot, bool, datetime]]:
    """Snapshots of the closed deals, each taken while the deal was still open.

    One snapshot per stay in an open stage: at the middle of the stay (between entering the
    stage and leaving it, or closing if earlier). The label (won or not: lost and abandoned
    count as not won) is never part of the features, and nothing after the snapshot is read.
    A deal with no open-stage stay before it closed gives no snapshot.
    """
    out: list[tuple[Snapshot, bool, datetime]] = []
    for opp_id, row in data.opps.items():
        if row["status"] not in CLOSED_STATUSES:
            continue
        closed = close_time(row, data.tz)
        if closed is None:
            continue
        won = row["status"] == OpportunityStatus.WON
        for stay in data.history.get(opp_id, []):
            stage = data.stages.get(stay["stage_id"])
            if stage is None or stage["kind"] != StageKind.OPEN or stay["entered_at"] >= closed:
                continue
            left = min(stay["left_at"] or closed, closed)
            at = stay["entered_at"] + (left - stay["entered_at"]) / 2
            out.append((Snapshot(opp_id, at, stay["stage_id"], stay["entered_at"]), won, closed))
    return out


def training_set(org_id: int) -> tuple[list[Sample], dict[str, int]]:
    """The training samples of an organisation, with counts of the closed deals they cover."""
    data = OrgData(org_id, Opportunity.objects.for_org(org_id).filter(status__in=CLOSED_STATUSES))
    samples = []
    covered: dict[int, bool] = {}
    for snap, won, closed in training_snapshots(data):
        sample = data.sample(snap)
        sample.won, sample.closed_at = won, closed
        samples.append(sample)
        covered[snap.opportunity_id] = won
    counts = {
        "closed": len(covered),
        "won": sum(covered.values()),
        "lost": len(covered) - sum(covered.values()),
    }
    return samples, counts


def open_samples(org_id: int, ids: list[int] | None = None) -> list[Sample]:
    """The open opportunities (or those of ``ids`` that are open) as they stand now."""
    qs = Opportunity.objects.for_org(org_id).filter(status__in=OPEN_STATUSES)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    data = OrgData(org_id, qs)
    now = timezone.now()
    return [
        data.sample(Snapshot(opp_id, now, row["stage_id"], row["stage_entered_at"] or now))
        for opp_id, row in data.opps.items()
    ]
