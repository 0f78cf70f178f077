"""Training the win-probability model of an organisation and scoring its open opportunities.

``train`` reads the closed history (``features.training_set``), holds back the most recent
closes (by close time, :data:`HOLDOUT` of the deals) to measure AUC, Brier score and the
calibration table, then refits on all of the history and scores every open opportunity. With
fewer than :data:`MIN_CLOSED` closed deals or :data:`MIN_CLASS` of either outcome it keeps a
run that says so, drops the learned scores and the pages fall back to the stage probabilities.
"""

from __future__ import annotations

import math
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.core import audit
from crm.org.models import Organization
from crm.pipeline.choices import OPEN_STATUSES

from . import features, learner
from .models import OpportunityScore, WinModel

MIN_CLOSED = 200
MIN_CLASS = 30
HOLDOUT = 0.2
TOP_FACTORS = 3


def latest(org_id: int) -> WinModel | None:
    """The organisation's most recent training run (usable or not)."""
    return WinModel.objects.for_org(org_id).order_by("-version").first()


def active(org_id: int) -> WinModel | None:
    """The model that scores now: the latest run, if it had enough history."""
    run = latest(org_id)
    return run if run is not None and run.is_usable else None


def _split(samples: list[features.Sample]) -> tuple[list[int], list[int], Any]:
    """Indices of the training and held-back samples: the deals that closed last (by close
    time) are held back, with every snapshot of a deal on the same side."""
    closes = sorted({(s.closed_at, s.snapshot.opportunity_id) for s in samples})
    cut = len(closes) - max(1, math.ceil(len(closes) * HOLDOUT))
    held = {opp for _at, opp in closes[cut:]}
    split_at = closes[cut][0]
    train = [i for i, s in enumerate(samples) if s.snapshot.opportunity_id not in held]
    test = [i for i, s in enumerate(samples) if s.snapshot.opportunity_id in held]
    return train, test, split_at


def _weights(samples: list[features.Sample]) -> list[float]:
    """Every closed deal weighs the same, however many stage snapshots it gave."""
    per: dict[int, int] = {}
    for s in samples:
        per[s.snapshot.opportunity_id] = per.get(s.snapshot.opportunity_id, 0) + 1
    return [1.0 / per[s.snapshot.opportunity_id] for s in samples]


# Why a run is not usable: stored as a code, worded in the reader's language (run_message).
TOO_FEW = "too_few"
ONE_CLASS = "one_class"


def run_message(run: Any) -> str:
    """The reason a training run is not usable, in the active language ("" when it is)."""
    if run.message == TOO_FEW:
        return _(
            "Not enough history: %(closed)d closed opportunities (%(won)d won, %(lost)d lost);"
            " at least %(min)d closed with %(cls)d won and %(cls)d lost are needed. Stage"
            " probabilities are used instead."
        ) % {
            "closed": run.n_closed,
            "won": run.n_won,
            "lost": run.n_lost,
            "min": MIN_CLOSED,
            "cls": MIN_CLASS,
        }
    if run.message == ONE_CLASS:
        return _(
            "Not enough history: the most recent closed opportunities are all won or all lost,"
            " so the accuracy cannot be measured. Stage probabilities are used instead."
        )
    return str(run.message)


def _fit(samples: list[features.Sample], counts: dict[str, int]) -> dict[str, Any]:
    """The fields of a training run (usable or with the reason it is not)."""
    out: dict[str, Any] = {
        "n_closed": counts["closed"],
        "n_won": counts["won"],
        "n_lost": counts["lost"],
    }
    if counts["closed"] < MIN_CLOSED or counts["won"] < MIN_CLASS or counts["lost"] < MIN_CLASS:
        out["message"] = TOO_FEW
        return out
    train, test, split_at = _split(samples)
    y = [bool(s.won) for s in samples]
    y_test = [y[i] for i in test]
    if len(set(y_test)) < 2 or len({y[i] for i in train}) < 2:
        out["message"] = ONE_CLASS
        return out
    rows = [s.features for s in samples]
    weights = _weights(samples)
    held_model = learner.fit(
        [rows[i] for i in train], [y[i] for i in train], [weights[i] for i in train]
    )
    p_test, _parts = learner.predict(held_model, [rows[i] for i in test])
    out.update(learner.evaluate(y_test, p_test))
    out.update(
        is_usable=True,
        n_train=len(train),
        n_test=len(test),
        split_at=split_at,
        holdout=[[int(t), round(float(p), 6)] for t, p in zip(y_test, p_test, strict=True)],
        params=learner.fit(rows, y, weights),
    )
    out["feature_names"] = sorted({c[0] for c in out["params"]["columns"]})
    # stored predictions are rounded: the reported figures are those of the stored numbers
    stored = np.asarray([p for _t, p in out["holdout"]])
    out.update(learner.evaluate(y_test, stored))
    return out


def train(org_id: int, actor: Any = None) -> WinModel:
    """Train a new model version of the organisation and rescore its open opportunities."""
    started = time.monotonic()
    samples, counts = features.training_set(org_id)
    fields = _fit(samples, counts)
    with transaction.atomic():
        Organization.objects.select_for_update().get(pk=org_id)  # one version number at a time
        version = (WinModel.objects.for_org(org_id).aggregate(v=Max("version"))["v"] or 0) + 1
        run = WinModel(
            org_id=org_id,
            version=version,
            trained_at=timezone.now(),
            trained_by=actor if getattr(actor, "pk", None) else None,
            **fields,
        )
        run.seconds = round(time.monotonic() - started, 3)
        run.save()
        if run.is_usable:
            score(org_id, run)
        else:
            OpportunityScore.objects.for_org(org_id).delete()
        run.seconds = round(time.monotonic() - started, 3)
        run.save(update_fields=["seconds"])
        audit.record(
            actor=actor,
            obj=run,
            verb="winmodel.trained",
            data={
                "version": version,
                "usable": run.is_usable,
                "closed": run.n_closed,
                "auc": run.auc,
                "brier": run.brier,
            },
        )
    return run


def _percent(p: float) -> Decimal:
    return (Decimal(str(float(p))) * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _factor(name: str, sample: features.Sample, effect: float) -> dict[str, Any]:
    value = sample.shown[name]
    if isinstance(value, Decimal):
        value = str(value)
    elif isinstance(value, float):
        value = round(value, 4)
    return {"feature": name, "value": value, "effect": round(effect, 4)}


def factors_of(sample: features.Sample, parts: dict[str, float]) -> dict[str, list[dict]]:
    """The (at most) three features that raise the odds most and the three that lower them."""
    ranked = sorted(parts.items(), key=lambda kv: kv[1])
    up = [_factor(n, sample, e) for n, e in reversed(ranked) if e > 0.005][:TOP_FACTORS]
    down = [_factor(n, sample, e) for n, e in ranked if e < -0.005][:TOP_FACTORS]
    return {"up": up, "down": down}


def score(org_id: int, model: WinModel, ids: list[int] | None = None) -> int:
    """(Re)score the open opportunities (all, or those of ``ids``) with ``model``; closed ones
    lose their score. Answers how many were scored."""
    samples = features.open_samples(org_id, ids)
    probs, parts = learner.predict(model.params, [s.features for s in samples])
    now = timezone.now()
    rows = [
        OpportunityScore(
            org_id=org_id,
            opportunity_id=s.snapshot.opportunity_id,
            model=model,
            probability=_percent(p),
            factors=factors_of(s, c),
            scored_at=now,
        )
        for s, p, c in zip(samples, probs, parts, strict=True)
    ]
    with transaction.atomic():
        stale = OpportunityScore.objects.for_org(org_id)
        if ids is not None:
            stale = stale.filter(opportunity_id__in=ids)
        stale.delete()
        OpportunityScore.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def score_of(opportunity: Any, *, run: Any = ...) -> OpportunityScore | None:
    """The learned score of an opportunity the caller may see: the stored one, else (an
    opportunity opened since the last run) computed now with the active model. None for a
    closed opportunity or without a usable model. ``run``: the organisation's latest run when
    the caller has read it already (one query less on the opportunity page)."""
    if opportunity.status not in OPEN_STATUSES:
        return None
    if run is ...:
        model = active(opportunity.org_id)
    else:
        model = run if run is not None and run.is_usable else None
    if model is None:
        return None
    found = (
        OpportunityScore.objects.for_org(opportunity.org_id)
        .filter(opportunity_id=opportunity.pk, model=model)
        .first()
    )
    if found is None:
        score(opportunity.org_id, model, [opportunity.pk])
        found = (
            OpportunityScore.objects.for_org(opportunity.org_id)
            .filter(opportunity_id=opportunity.pk)
            .first()
        )
    return found


def train_all(org_ids: list[int] | None = None) -> list[WinModel]:
    """Train every active organisation (or those of ``org_ids``): the periodic job."""
    orgs = Organization.objects.filter(is_active=True)
    if org_ids is not None:
        orgs = orgs.filter(pk__in=org_ids)
    return [train(pk) for pk in orgs.order_by("pk").values_list("pk", flat=True)]
