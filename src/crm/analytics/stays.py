"""Stays per stage (:class:`~crm.analytics.models.StageStay`), the funnel's summary of stage
history (R8.4, issue 6: the funnel ≤ 300 ms uncached).

A *stay* is a run of an opportunity's stage-history rows of one stage: a row continues the stay
when the previous row of the same stage left exactly when it entered (a node change inside the
stage), otherwise it begins a new one. Only stays in open stages are kept. For each, from the
history as it is now:

- ``entered_at``: when the stay began;
- ``left_at``: when the opportunity next entered another stage, or else when the stage's last
  row was left (closed in the stage, e.g. abandoned); empty while it is still there;
- ``previous_entered_at``: when the opportunity's previous stay in the same stage began (the
  funnel's cohort keeps the first stay begun in the period: the one whose previous stay began
  before the period); stays begun at the same moment share it;
- ``advanced``: from its entry on (rows entered at the same moment included) the opportunity
  reached a stage of higher order, open, or the won stage;
- ``closed_as``: the opportunity's status when it is won, lost or abandoned (every change to or
  from those statuses writes stage history: win, lose, abandon, reopen), else empty.

The figures depend on every later row of the opportunity and on the stages' order and kind, so
the stays are rewritten per opportunity, whole, in bulk, by one ``DELETE`` and one
``INSERT … SELECT`` with window functions (no row-by-row Python): :func:`refresh_for` after the
history of some opportunities changed (the opportunity services call it through
``crm.pipeline.opportunities.history_changed``, inside their transaction), :func:`refresh_pipeline`
after a pipeline's stages were reordered or changed kind, :func:`rebuild` for an organisation or
everything (``crm rebuild-stage-stays``, the migration's backfill, bulk loaders). Deleting an
opportunity deletes its stays (cascade).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from crm.pipeline.choices import OpportunityStatus, StageKind

#: ``score`` of a history row for "reached a later stage": the won stage beats every open stage;
#: other closed stages never count.
WON_SCORE = 1_000_000_000

#: the statuses a stay records (``closed_as``): the funnel's outcomes
CLOSED_AS = (
    OpportunityStatus.WON.value,
    OpportunityStatus.LOST.value,
    OpportunityStatus.ABANDONED.value,
)

#: opportunities per statement when a list of ids is given, and per batch in :func:`rebuild`
CHUNK = 2_000
REBUILD_BATCH = 20_000


def _tables(using: str, registry: Any = None) -> dict[str, str]:
    """The quoted table names (of ``registry``'s models: a migration's historical apps)."""
    if registry is None:
        from django.apps import apps as registry
    quote = connections[using].ops.quote_name
    return {
        key: quote(registry.get_model(label)._meta.db_table)
        for key, label in (
            ("stay", "analytics.StageStay"),
            ("history", "pipeline.StageHistory"),
            ("stage", "pipeline.Stage"),
            ("opportunity", "pipeline.Opportunity"),
        )
    }


_IN_PIPELINE = "SELECT x.opportunity_id FROM {history} x WHERE x.org_id = %s AND x.pipeline_id = %s"
_IN_RANGE = "SELECT o.id FROM {opportunity} o WHERE o.org_id = %s AND o.id >= %s AND o.id < %s"
_ORGS = "SELECT DISTINCT org_id FROM {opportunity} ORDER BY org_id"
_ID_RANGE = "SELECT MIN(id), MAX(id) FROM {opportunity} WHERE org_id = %s"
_COUNT = "SELECT COUNT(*) FROM {stay}"
_COUNT_ORG = "SELECT COUNT(*) FROM {stay} WHERE org_id = %s"
_DELETE_SQL = "DELETE FROM {stay} WHERE org_id = %s AND opportunity_id IN ({opportunities})"

_INSERT_SQL = """
INSERT INTO {stay} (org_id, opportunity_id, pipeline_id, stage_id, entered_at, left_at,
                    previous_entered_at, advanced, closed_as, created_at, updated_at)
WITH h AS (
    SELECT sh.id, sh.org_id AS org, sh.opportunity_id AS opp, sh.stage_id AS stage,
           sh.pipeline_id AS pipe, sh.entered_at, sh.left_at, st.kind, st.sort_order,
           LAG(sh.left_at) OVER (
               PARTITION BY sh.opportunity_id, sh.stage_id ORDER BY sh.entered_at, sh.id
           ) AS prev_same_left,
           LAST_VALUE(sh.left_at) OVER (
               PARTITION BY sh.opportunity_id, sh.stage_id ORDER BY sh.entered_at, sh.id
               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
           ) AS last_left,
           MAX(CASE WHEN st.kind = %s THEN %s WHEN st.kind = %s THEN st.sort_order END) OVER (
               PARTITION BY sh.opportunity_id ORDER BY sh.entered_at
               RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING
           ) AS best_after,
           LEAD(sh.entered_at) OVER (
               PARTITION BY sh.opportunity_id ORDER BY sh.entered_at, sh.id
           ) AS next_in,
           LEAD(sh.stage_id) OVER (
               PARTITION BY sh.opportunity_id ORDER BY sh.entered_at, sh.id
           ) AS next_stage
    FROM {history} sh INNER JOIN {stage} st ON st.id = sh.stage_id
    WHERE sh.org_id = %s AND sh.opportunity_id IN ({opportunities})
),
stays AS (
    SELECT h.*,
           MIN(CASE WHEN h.next_stage <> h.stage THEN h.next_in END) OVER (
               PARTITION BY h.opp ORDER BY h.entered_at, h.id
               ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING
           ) AS nxt
    FROM h
),
starts AS (
    SELECT stays.*,
           LAG(stays.entered_at) OVER (
               PARTITION BY stays.opp, stays.stage ORDER BY stays.entered_at, stays.id
           ) AS prev_raw
    FROM stays
    WHERE stays.kind = %s
      AND (stays.prev_same_left IS NULL OR stays.prev_same_left <> stays.entered_at)
)
SELECT starts.org, starts.opp, starts.pipe, starts.stage, starts.entered_at,
       COALESCE(starts.nxt, starts.last_left),
       FIRST_VALUE(starts.prev_raw) OVER (
           PARTITION BY starts.opp, starts.stage, starts.entered_at ORDER BY starts.id
       ),
       CASE WHEN starts.best_after > starts.sort_order THEN TRUE ELSE FALSE END,
       CASE WHEN o.status IN (%s, %s, %s) THEN o.status ELSE '' END,
       %s, %s
FROM starts INNER JOIN {opportunity} o ON o.id = starts.opp
"""


def _execute(
    using: str, org_id: int, opportunities: str, params: list[Any], registry: Any = None
) -> None:
    """Rewrite the stays of the opportunities ``opportunities`` (SQL giving their ids, with
    ``params``) of organisation ``org_id``: one DELETE, one INSERT … SELECT."""
    connection = connections[using]
    tables = _tables(using, registry)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_DELETE_SQL.format(opportunities=opportunities, **tables), [org_id, *params])
        cursor.execute(
            _INSERT_SQL.format(opportunities=opportunities, **tables),
            [
                StageKind.WON.value,
                WON_SCORE,
                StageKind.OPEN.value,
                org_id,
                *params,
                StageKind.OPEN.value,
                *CLOSED_AS,
                now,
                now,
            ],
        )


def _using() -> str:
    from .models import StageStay

    return router.db_for_write(StageStay)


def refresh_for(org_id: int, opportunity_ids: Iterable[int]) -> None:
    """Recompute the stays of these opportunities of ``org_id`` from their stage history (call
    it inside the transaction that changed the history)."""
    ids = sorted({int(pk) for pk in opportunity_ids})
    using = _using()
    with transaction.atomic(using=using):
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            _execute(using, org_id, ", ".join(["%s"] * len(chunk)), chunk)


def refresh_pipeline(org_id: int, pipeline_id: int) -> None:
    """Recompute the stays of every opportunity with history in the pipeline (its stages were
    reordered or changed kind, which changes what "advanced" means)."""
    using = _using()
    with transaction.atomic(using=using):
        _execute(
            using,
            org_id,
            _IN_PIPELINE.format(**_tables(using)),
            [org_id, pipeline_id],
        )


def rebuild(
    org_id: int | None = None,
    *,
    batch: int = REBUILD_BATCH,
    using: str = "",
    registry: Any = None,
) -> int:
    """Rebuild the stays of one organisation (or of all) from stage history, ``batch``
    opportunities per transaction (raw SQL only, so the migration's backfill can use it).
    Returns the number of stays the organisation (or all) now has. ``registry``: the migration's
    historical apps."""
    using = using or _using()
    t = _tables(using, registry)
    connection = connections[using]
    with connection.cursor() as cursor:
        if org_id is None:
            cursor.execute(_ORGS.format(**t))
            orgs = [row[0] for row in cursor.fetchall()]
        else:
            orgs = [org_id]
    for org in orgs:
        with connection.cursor() as cursor:
            cursor.execute(_ID_RANGE.format(**t), [org])
            low, high = cursor.fetchone()
        if low is None:
            continue
        for start in range(low, high + 1, batch):
            with transaction.atomic(using=using):
                _execute(
                    using,
                    org,
                    _IN_RANGE.format(**t),
                    [org, start, start + batch],
                    registry,
                )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {t['stay']}")
        if org_id is None:
            cursor.execute(_COUNT.format(**t))
        else:
            cursor.execute(_COUNT_ORG.format(**t), [org_id])
        return int(cursor.fetchone()[0])
