"""The funnel's stays per stage (R8.4, issue 6) follow every write of stage history: each kind of
write through the opportunity services (create, move forward, skip, move back, node change,
win, lose, abandon, reopen, delete), a reorder of the pipeline's stages, the rebuild command.
After each, the stored stays equal a straightforward computation from the history in Python."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import time_machine
from django.core.management import call_command

from crm.analytics import stays
from crm.analytics.models import StageStay
from crm.pipeline import opportunities as svc
from crm.pipeline import services as pipeline_services
from crm.pipeline.choices import OpportunityStatus, StageKind
from crm.pipeline.models import Opportunity, Stage, StageHistory
from tests.analytics.test_funnel import Sales, at, build_sales

Row = tuple[int, int, datetime, datetime | None, datetime | None, bool, str]


def expected_stays(opportunity_id: int) -> list[Row]:
    """The stays of one opportunity from its history, computed row by row (the definition in
    crm.analytics.stays): (stage, pipeline, entered, left, previous stay entered, advanced,
    closed as)."""
    rows = list(
        StageHistory.objects.filter(opportunity_id=opportunity_id)
        .select_related("stage")
        .order_by("entered_at", "pk")
    )
    status = Opportunity.objects.get(pk=opportunity_id).status
    closed_as = status if status in stays.CLOSED_AS else ""

    def score(r: StageHistory) -> int | None:
        if r.stage.kind == StageKind.WON:
            return stays.WON_SCORE
        return r.stage.sort_order if r.stage.kind == StageKind.OPEN else None

    result: list[Row] = []
    starts: dict[int, list[datetime]] = {}
    for i, r in enumerate(rows):
        same = [p for p in rows[:i] if p.stage_id == r.stage_id]
        if r.stage.kind != StageKind.OPEN or (same and same[-1].left_at == r.entered_at):
            continue  # a closed stage, or a node change inside the stay
        # left: the first later row (from this one on) followed by another stage's row
        left = next(
            (
                rows[j + 1].entered_at
                for j in range(i, len(rows) - 1)
                if rows[j + 1].stage_id != rows[j].stage_id
            ),
            None,
        )
        if left is None:  # the last stay: closed in the stage (abandoned) or still open
            left = [p for p in rows if p.stage_id == r.stage_id][-1].left_at
        later = [score(p) for p in rows if p.entered_at >= r.entered_at]
        best = max((s for s in later if s is not None), default=None)
        earlier = [t for t in starts.get(r.stage_id, []) if t < r.entered_at]
        starts.setdefault(r.stage_id, []).append(r.entered_at)
        result.append(
            (
                r.stage_id,
                r.pipeline_id,
                r.entered_at,
                left,
                max(earlier) if earlier else None,
                best is not None and best > r.stage.sort_order,
                closed_as,
            )
        )
    return sorted(result, key=lambda row: (row[2], row[0]))


def stored(opportunity_id: int) -> list[Row]:
    return sorted(
        StageStay.objects.filter(opportunity_id=opportunity_id).values_list(
            "stage_id",
            "pipeline_id",
            "entered_at",
            "left_at",
            "previous_entered_at",
            "advanced",
            "closed_as",
        ),
        key=lambda row: (row[2], row[0]),
    )


def assert_exact(*opportunities: Any) -> list[Row]:
    for o in opportunities:
        got, want = stored(o.pk), expected_stays(o.pk)
        assert got == want, (o.pk, got, want)
        assert all(s.org_id == o.org_id for s in StageStay.objects.filter(opportunity_id=o.pk))
    return stored(opportunities[0].pk)


def with_nodes(s: Sales) -> int:
    return next(i for i, st in enumerate(s.stages) if Stage.objects.filter(parent=st).exists())


@pytest.mark.django_db
def test_stays_follow_every_kind_of_write() -> None:
    # R8.4: the stays stay exact after each write of stage history, in its transaction
    s = build_sales()
    n = with_nodes(s)
    other = 0 if n else 1  # another open stage
    o = s.opportunity("rep_a", at(0), stage=other)
    got = assert_exact(o)
    assert len(got) == 1 and got[0][3] is None and not got[0][5]  # open, not advanced
    s.move(o, n, at(2))  # to the stage with nodes (forward or back)
    assert_exact(o)
    s.node(o, at(3))  # a node change: no new stay
    assert len(assert_exact(o)) == 2
    s.move(o, len(s.stages) - 1, at(5))  # skip ahead to the last open stage
    assert_exact(o)
    s.move(o, 0, at(8))  # back to the first stage
    got = assert_exact(o)
    last = next(row for row in got if row[2] == at(5))
    assert not last[5] and last[3] == at(8)  # nothing later than the last open stage yet
    assert got[-1][0] == s.stages[0].pk and got[-1][3] is None and not got[-1][5]
    s.move(o, 1, at(9))  # forward again: the stay in the first stage advanced now
    got = assert_exact(o)
    assert got[-2][5] is True and got[-2][3] == at(9)
    s.win(o, at(12))
    got = assert_exact(o)
    assert all(row[6] == OpportunityStatus.WON for row in got) and all(row[5] for row in got)
    with time_machine.travel(at(15), tick=False):
        o = svc.reopen_opportunity(
            actor=s.user("manager"), opportunity=Opportunity.objects.get(pk=o.pk)
        )
    got = assert_exact(o)
    assert all(row[6] == "" for row in got) and got[-1][3] is None
    s.lose(o, at(18))
    got = assert_exact(o)
    assert got[-1][3] == at(18) and got[-1][6] == OpportunityStatus.LOST and not got[-1][5]
    # abandoned in a stage: the stay ends with the history's last row
    a = s.opportunity("rep_b", at(1), stage=1)
    s.move(a, 2, at(4))
    s.abandon(a, at(7))
    got = assert_exact(a)
    assert got[-1][3] == at(7) and got[-1][6] == OpportunityStatus.ABANDONED
    # deleting the opportunity deletes its stays
    svc.delete_opportunity(actor=s.w.admin, opportunity=Opportunity.objects.get(pk=o.pk))
    assert not StageStay.objects.filter(opportunity_id=o.pk).exists()
    assert_exact(a)


@pytest.mark.django_db
def test_a_stay_entered_again_keeps_the_previous_entry_and_reorders_refresh_advanced() -> None:
    # R8.4: the previous stay in the same stage (the cohort keeps the first one begun in the
    # period), and "advanced" follows the pipeline's order of stages when it changes
    s = build_sales()
    o = s.opportunity("rep_a", at(-5), stage=1)
    s.move(o, 2, at(3))
    s.move(o, 1, at(6))
    s.move(o, 2, at(9))
    got = assert_exact(o)
    ones = [row for row in got if row[0] == s.stages[1].pk]
    assert [row[4] for row in ones] == [None, at(-5)]
    assert [row[5] for row in ones] == [True, True]
    # swap stages 1 and 2: moving from (new) later 1 to earlier 2 is no longer an advance
    ids = list(
        Stage.objects.filter(pipeline=s.pipeline, parent=None)
        .order_by("sort_order", "pk")
        .values_list("pk", flat=True)
    )
    i, j = ids.index(s.stages[1].pk), ids.index(s.stages[2].pk)
    ids[i], ids[j] = ids[j], ids[i]
    pipeline_services.reorder_stages(actor=s.w.admin, pipeline=s.pipeline, ids=ids)
    got = assert_exact(o)
    assert not any(row[5] for row in got if row[0] == s.stages[1].pk)


@pytest.mark.django_db
def test_rebuild_command_gives_the_maintained_stays() -> None:
    # R8.4: `crm rebuild-stage-stays` recomputes from the history what the services maintained
    s = build_sales()
    o = s.opportunity("rep_a", at(0))
    s.move(o, 2, at(3))
    s.move(o, 1, at(6))
    s.win(o, at(9))
    p = s.opportunity("rep_b", at(2), stage=1)
    s.abandon(p, at(4))
    before = sorted(
        StageStay.objects.values_list("org_id", "opportunity_id", "stage_id", "entered_at")
    )
    assert len(before) == 4  # o: three open stays (won is not open), p: one
    StageStay.objects.all().delete()
    call_command("rebuild_stage_stays", "--org", str(s.w.org.pk))
    after = sorted(
        StageStay.objects.values_list("org_id", "opportunity_id", "stage_id", "entered_at")
    )
    assert after == before
    assert_exact(o, p)
