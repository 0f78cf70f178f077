"""Learned win probability (R2.5): training on a generated history with a real signal, the
reported accuracy recomputed independently, the fall-back with too little history, no label
leakage, and the periodic job per organisation."""

from __future__ import annotations

import math
from datetime import timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from crm.activities.models import FollowUp
from crm.core.models import Event
from crm.core.testing.world import build_world
from crm.pipeline.choices import OpportunityStatus, StageKind
from crm.pipeline.models import Opportunity
from crm.scoring import features, learner, services
from crm.scoring.models import OpportunityScore, WinModel

from .conftest import History, add_closed, add_open, setup_history


def test_learns_the_signal_and_reports_recomputable_accuracy(history: History) -> None:
    """R2.5: winning depends on the follow-up count; the model finds it (AUC > 0.7 on the
    held-back most recent closes) and its AUC, Brier score and calibration table are those of
    its stored held-back predictions, recomputed here with sklearn.metrics and numpy."""
    run = services.train(history.world.org.pk)
    assert run.is_usable, run.message
    assert run.n_closed == 320
    assert run.n_won + run.n_lost == 320
    assert run.n_won >= 30 and run.n_lost >= 30
    # the most recent 20 % of the deals (by close time) are held back, two snapshots each
    assert run.n_test == 2 * math.ceil(320 * 0.2)
    assert run.n_train + run.n_test == 2 * 320
    held_back = sorted(o.closed_at for o in history.closed)[-math.ceil(320 * 0.2)]
    assert run.split_at == held_back
    y = np.array([t for t, _p in run.holdout])
    p = np.array([p for _t, p in run.holdout])
    assert len(y) == run.n_test
    assert run.auc > 0.7
    assert run.auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert run.brier == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert run.brier < 0.25  # better than always answering 50 %
    assert run.base_rate == pytest.approx(y.mean())
    order = np.argsort(p, kind="stable")
    chunks = np.array_split(order, 10)
    assert [c["n"] for c in run.calibration] == [len(c) for c in chunks]
    for row, chunk in zip(run.calibration, chunks, strict=True):
        assert row["predicted"] == pytest.approx(p[chunk].mean())
        assert row["observed"] == pytest.approx(y[chunk].mean())
    assert "followups" in run.feature_names
    assert Event.objects.filter(verb="winmodel.trained", object_id=str(run.pk)).exists()


def test_json_model_predicts_like_sklearn(history: History) -> None:
    """R2.5: the stored JSON coefficients give the same probabilities as scikit-learn's own
    predict_proba on the standardised features (nothing is pickled)."""
    samples, _counts = features.training_set(history.world.org.pk)
    rows = [s.features for s in samples]
    y = [bool(s.won) for s in samples]
    params = learner.fit(rows, y)
    cols = [tuple(c) for c in params["columns"]]
    z = (learner.matrix(rows, cols) - params["mean"]) / np.array(params["scale"])
    clf = LogisticRegression(C=learner.C, max_iter=2000).fit(z, np.array(y, dtype=int))
    ours, parts = learner.predict(params, rows)
    np.testing.assert_allclose(ours, clf.predict_proba(z)[:, 1], atol=1e-6)
    # contributions add up to the log-odds
    logit = np.log(ours / (1 - ours))
    np.testing.assert_allclose(
        [sum(c.values()) + params["intercept"] for c in parts], logit, atol=1e-9
    )


def test_open_opportunities_are_scored_with_factors(history: History) -> None:
    """R2.5: after training every open opportunity has a score; many follow-ups raise it, none
    lower it, and the factor lists name the follow-ups on the right side."""
    busy = add_open(history, 8, name="常跟进")
    quiet = add_open(history, 0, name="没跟进")
    run = services.train(history.world.org.pk)
    scores = {s.opportunity_id: s for s in OpportunityScore.objects.filter(model=run)}
    assert set(scores) == {busy.pk, quiet.pk}
    assert scores[busy.pk].probability > 70 > 30 > scores[quiet.pk].probability
    up = [f["feature"] for f in scores[busy.pk].factors["up"]]
    down = [f["feature"] for f in scores[quiet.pk].factors["down"]]
    assert up[0] == "followups" and down[0] == "followups"
    assert len(scores[busy.pk].factors["up"]) <= 3
    # a deal opened after training is scored on first sight, a closed one loses its score
    late = add_open(history, 4, name="新商机")
    assert services.score_of(late) is not None
    Opportunity.objects.filter(pk=busy.pk).update(
        status=OpportunityStatus.LOST, stage=history.lost, closed_at=timezone.now()
    )
    services.train(history.world.org.pk)
    assert not OpportunityScore.objects.filter(opportunity=busy).exists()
    assert services.score_of(Opportunity.objects.get(pk=busy.pk)) is None


def test_too_little_history_says_so_and_falls_back(thin: History) -> None:
    """R2.5: 60 closed deals are not enough: the run is kept with the reason, nothing is
    scored, and earlier learned scores are dropped (stage probabilities apply)."""
    opp = add_open(thin, 3)
    run = services.train(thin.world.org.pk)
    assert not run.is_usable
    assert run.n_closed == 60 and "200" in run.reason
    assert run.auc is None and run.params == {}
    assert services.active(thin.world.org.pk) is None
    assert services.score_of(opp) is None
    assert not OpportunityScore.objects.filter(org=thin.world.org).exists()


def test_one_sided_history_is_not_enough(db: None) -> None:
    """R2.5: enough deals but fewer than 30 lost: not enough history either."""
    h = setup_history(build_world())
    add_closed(h, 220, won_rate=0.95)
    run = services.train(h.world.org.pk)
    assert not run.is_usable
    assert run.n_lost < 30


def test_no_label_leakage(history: History) -> None:
    """R2.5: training snapshots are taken while the deal was open (an open stage, before the
    close), and a snapshot's features ignore what happened after it: later follow-ups and the
    owner's later closes (its own outcome included) do not change them."""
    org_id = history.world.org.pk
    samples, _counts = features.training_set(org_id)
    closes = {o.pk: o.closed_at for o in history.closed}
    open_ids = {s.pk for s in history.open_stages}
    for s in samples:
        assert s.snapshot.at < closes[s.snapshot.opportunity_id]
        assert s.snapshot.stage_id in open_ids
        assert "won" not in s.features and "status" not in s.features
    target = samples[0]
    opp = Opportunity.objects.get(pk=target.snapshot.opportunity_id)
    before = dict(target.features)
    # follow-ups after the snapshot, and more deals of the owner closing after it
    FollowUp.objects.bulk_create(
        FollowUp(
            org_id=org_id,
            customer=opp.customer,
            opportunity=opp,
            owner=opp.owner,
            method="call",
            content="事后跟进",
            happened_at=target.snapshot.at + timedelta(hours=h + 1),
        )
        for h in range(5)
    )
    Opportunity.objects.filter(owner=opp.owner, closed_at__gt=target.snapshot.at).update(
        status=OpportunityStatus.WON
    )
    data = features.OrgData(org_id, Opportunity.objects.for_org(org_id))
    assert data.sample(target.snapshot).features == before
    # an earlier follow-up does count
    FollowUp.objects.create(
        org_id=org_id,
        customer=opp.customer,
        opportunity=opp,
        owner=opp.owner,
        method="call",
        content="事前跟进",
        happened_at=target.snapshot.at - timedelta(minutes=1),
    )
    data = features.OrgData(org_id, Opportunity.objects.for_org(org_id))
    assert data.sample(target.snapshot).features["followups"] == before["followups"] + 1


def test_owner_record_counts_only_earlier_closes(history: History) -> None:
    """R2.5: the owner's win rate at a moment is computed from their deals closed before it
    (smoothed), here checked against a direct count."""
    org_id = history.world.org.pk
    data = features.OrgData(org_id, Opportunity.objects.for_org(org_id))
    owner = history.world.users["rep_east"]
    at = sorted(o.closed_at for o in history.closed)[160]
    earlier = [o for o in history.closed if o.owner_id == owner.pk and o.closed_at < at]
    wins = sum(o.status == OpportunityStatus.WON for o in earlier)
    rate, n = data.owner_record(owner.pk, at)
    assert n == len(earlier)
    assert rate == pytest.approx((wins + features.PRIOR_WINS) / (n + features.PRIOR_N))
    assert data.owner_record(owner.pk, at - timedelta(days=3650)) == (0.5, 0)


def test_feature_queries_are_set_based(history: History, django_assert_max_num_queries) -> None:
    """R2.5: the features of all closed deals take a fixed handful of queries."""
    with django_assert_max_num_queries(8):
        samples, _counts = features.training_set(history.world.org.pk)
    assert len(samples) == 640


def test_job_and_command_train_each_organisation(history: History, thin: History) -> None:
    """R2.5: the periodic job trains every active organisation separately (one usable, one
    without enough history); the command does the same for one organisation."""
    from crm.scoring.tasks import train_win_models

    add_open(history, 2)
    add_open(thin, 2)
    result = train_win_models.call_local()
    assert "trained" in str(result)
    rich = WinModel.objects.get(org=history.world.org)
    poor = WinModel.objects.get(org=thin.world.org)
    assert rich.is_usable and not poor.is_usable
    assert OpportunityScore.objects.filter(org=history.world.org).count() == 1
    assert not OpportunityScore.objects.filter(org=thin.world.org).exists()
    out = StringIO()
    call_command("train_win_model", "--org", str(history.world.org.pk), stdout=out)
    assert "v2" in out.getvalue() and "auc=" in out.getvalue()
    assert WinModel.objects.filter(org=thin.world.org).count() == 1
    assert WinModel.objects.filter(org=history.world.org).count() == 2


def test_stage_kind_is_never_closed_in_snapshots(history: History) -> None:
    """R2.5: no snapshot sits in a won or lost stage (which would give the answer away)."""
    data = features.OrgData(history.world.org.pk, Opportunity.objects.for_org(history.world.org.pk))
    kinds = {data.stages[s.stage_id]["kind"] for s, _w, _c in features.training_snapshots(data)}
    assert kinds == {StageKind.OPEN}
