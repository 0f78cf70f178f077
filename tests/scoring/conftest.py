"""Fixtures of the win-probability tests: a world (crm.core.testing.world) with a generated
closed history in which winning depends on the number of follow-ups (a real signal), plus a few
open opportunities to score."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from crm.activities.models import FollowUp
from crm.core.testing.world import World, build_world
from crm.customers.services import create_customer
from crm.pipeline.choices import OpportunityStatus, StageKind
from crm.pipeline.models import Opportunity, Pipeline, Stage, StageHistory

REPS = ("rep_east", "rep_east2", "rep_south", "rep_sales2")


@dataclass
class History:
    world: World
    pipeline: Pipeline
    open_stages: list[Stage]
    won: Stage
    lost: Stage
    customers: dict[str, Any] = field(default_factory=dict)
    closed: list[Opportunity] = field(default_factory=list)
    open: list[Opportunity] = field(default_factory=list)


def setup_history(world: World) -> History:
    pipeline = Pipeline.objects.for_org(world.org.pk).get(is_default=True)
    stages = list(
        Stage.objects.for_org(world.org.pk)
        .filter(pipeline=pipeline, parent__isnull=True, is_active=True)
        .order_by("sort_order", "pk")
    )
    h = History(
        world=world,
        pipeline=pipeline,
        open_stages=[s for s in stages if s.kind == StageKind.OPEN],
        won=next(s for s in stages if s.kind == StageKind.WON),
        lost=next(s for s in stages if s.kind == StageKind.LOST),
    )
    for key in REPS:
        h.customers[key] = create_customer(
            actor=world.users[key], data={"name": f"客户-{key}-{world.org.pk}"}
        )
    return h


def _opportunity(h: History, key: str, name: str, **fields: Any) -> Opportunity:
    return Opportunity(
        org=h.world.org,
        name=name,
        customer=h.customers[key],
        pipeline=h.pipeline,
        owner=h.world.users[key],
        created_by=h.world.users[key],
        **fields,
    )


def add_closed(
    h: History,
    n: int,
    *,
    seed: int = 7,
    won_rate: float | None = None,
    end: datetime | None = None,
) -> None:
    """``n`` closed deals over the two years before ``end``; each spends half its life in the
    first open stage and half in the second, gets 0–8 follow-ups in its first fifth, and is
    won with probability sigmoid(0.8 × (follow-ups − 4)) (or ``won_rate`` when given)."""
    rng = random.Random(seed)
    end = end or timezone.now() - timedelta(days=30)
    first, second = h.open_stages[0], h.open_stages[1]
    rows, plans = [], []
    for i in range(n):
        key = REPS[i % len(REPS)]
        opened = end - timedelta(days=730) + timedelta(days=700 * i / n, hours=rng.random())
        life = timedelta(days=rng.uniform(10, 60))
        closed = opened + life
        k = rng.randint(0, 8)
        p = won_rate if won_rate is not None else 1 / (1 + math.exp(-0.8 * (k - 4)))
        won = rng.random() < p
        rows.append(
            _opportunity(
                h,
                key,
                f"历史商机{i}",
                stage=h.won if won else h.lost,
                stage_entered_at=closed,
                status=OpportunityStatus.WON if won else OpportunityStatus.LOST,
                expected_amount=Decimal(rng.choice([5000, 20000, 80000])),
                actual_amount=Decimal(20000) if won else None,
                closed_at=closed,
                actual_close_date=timezone.localdate(closed),
                source=rng.choice(["exhibition", "referral", "web"]),
            )
        )
        plans.append((opened, life, closed, k))
    Opportunity.objects.bulk_create(rows)
    history, followups = [], []
    for opp, (opened, life, closed, k) in zip(rows, plans, strict=True):
        middle = opened + life / 2
        for stage, start, stop in (
            (first, opened, middle),
            (second, middle, closed),
            (opp.stage, closed, None),
        ):
            history.append(
                StageHistory(
                    org=h.world.org,
                    opportunity=opp,
                    pipeline=h.pipeline,
                    stage=stage,
                    entered_at=start,
                    left_at=stop,
                )
            )
        for j in range(k):
            followups.append(
                FollowUp(
                    org=h.world.org,
                    customer=opp.customer,
                    opportunity=opp,
                    owner=opp.owner,
                    method="call",
                    content=f"跟进{j}",
                    happened_at=opened + life / 5 * (j + 0.5) / max(k, 1),
                )
            )
    StageHistory.objects.bulk_create(history)
    FollowUp.objects.bulk_create(followups)
    h.closed.extend(rows)


def add_open(
    h: History, followups: int, key: str = "rep_east", name: str = "在谈商机"
) -> Opportunity:
    """An open deal in the first stage for ten days with ``followups`` follow-ups."""
    now = timezone.now()
    opened = now - timedelta(days=10)
    opp = _opportunity(
        h,
        key,
        name,
        stage=h.open_stages[0],
        stage_entered_at=opened,
        status=OpportunityStatus.CONTINUE,
        expected_amount=Decimal(20000),
        source="web",
    )
    opp.save()
    StageHistory.objects.create(
        org=h.world.org, opportunity=opp, pipeline=h.pipeline, stage=opp.stage, entered_at=opened
    )
    FollowUp.objects.bulk_create(
        FollowUp(
            org=h.world.org,
            customer=opp.customer,
            opportunity=opp,
            owner=opp.owner,
            method="call",
            content="跟进",
            happened_at=opened + timedelta(days=1, hours=j),
        )
        for j in range(followups)
    )
    h.open.append(opp)
    return opp


@pytest.fixture
def history(db: None) -> History:
    h = setup_history(build_world())
    add_closed(h, 320)
    return h


@pytest.fixture
def thin(db: None) -> History:
    h = setup_history(build_world())
    add_closed(h, 60)
    return h
