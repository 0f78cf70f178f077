"""Win probability on the pages and the API (R2.5): the opportunity section, the model page with
its figures and export, retraining, and scope (another tenant and an out-of-scope colleague get
404 like a missing record, the section stays hidden)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import translation

from crm.core.testing.pages import with_sections
from crm.core.testing.world import build_world
from crm.scoring import services
from crm.scoring.models import WinModel

from ..conftest import login_client
from .conftest import History, add_open, setup_history


def score_url(pk: int) -> str:
    return f"/api/v1/scoring/opportunities/{pk}"


def test_section_api_and_model_page(history: History, api_client: Any) -> None:
    """R2.5: the owner sees the learned probability beside the stage default with its factors
    in words, on the page and through the API; admins see the model page with AUC, Brier and
    the calibration chart, table and Excel export."""
    opp = add_open(history, 8)
    run = services.train(history.world.org.pk)
    owner = history.world.users["rep_east"]
    page = with_sections(login_client(owner), reverse("opportunities:detail", args=[opp.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-section="win_probability"' in html
    score = services.score_of(opp)
    assert score is not None
    assert f"{score.probability}%" in html
    assert f"{opp.stage.default_probability}%" in html
    assert "data-factors-up" in html
    assert "data-weak-model" not in html  # AUC > 0.6 here
    assert "跟进记录: 8" in html  # the leading factor, in words ("Follow-ups: 8")

    body = api_client(owner).get(score_url(opp.pk)).json()
    assert body["learned"] is True
    assert body["probability"] == str(score.probability)
    assert body["stage_probability"] == opp.stage.default_probability
    assert body["model_version"] == run.version
    assert body["raises"][0]["feature"] == "followups"
    assert body["raises"][0]["label"] == "Follow-ups"

    admin = history.world.admin
    status = api_client(admin).get("/api/v1/scoring/model").json()
    assert status["usable"] is True and status["auc"] == run.auc
    assert len(status["calibration"]) == 10
    admin_client = login_client(admin)
    with translation.override("en"):
        page = admin_client.get(reverse("scoring:model"), HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200
    assert f"{run.auc:.3f}" in html and f"{run.brier:.3f}" in html
    assert 'id="figure-calibration"' in html and 'id="retrain"' in html
    export = admin_client.get(reverse("scoring:model") + "?export=calibration")
    assert export.status_code == 200
    assert "spreadsheetml" in export["Content-Type"]


def test_fallback_is_shown(thin: History, api_client: Any) -> None:
    """R2.5: without enough history the section and the API say so and give the stage
    probability."""
    opp = add_open(thin, 1)
    owner = thin.world.users["rep_east"]
    with translation.override("en"):
        html = with_sections(
            login_client(owner),
            reverse("opportunities:detail", args=[opp.pk]),
            HTTP_ACCEPT_LANGUAGE="en",
        ).content.decode()
    assert "No model has been trained yet" in html
    services.train(thin.world.org.pk)
    body = api_client(owner).get(score_url(opp.pk)).json()
    assert body["learned"] is False and body["probability"] is None
    assert body["stage_probability"] == opp.stage.default_probability
    assert "Not enough history" in body["message"]
    html = with_sections(
        login_client(owner), reverse("opportunities:detail", args=[opp.pk])
    ).content.decode()
    assert "data-fallback" in html


def test_scope_other_tenant_and_colleague_get_404(history: History, api_client: Any) -> None:
    """R2.5: another organisation's administrator and an out-of-scope rep get 404 for the score,
    exactly like a missing id; the opportunity page (with its section) is 404 for them too; a
    user without opportunity rights gets 403."""
    opp = add_open(history, 8)
    services.train(history.world.org.pk)
    other = build_world("别家公司")
    missing = api_client(other.admin).get(score_url(999999999))
    assert missing.status_code == 404
    for user in (other.admin, history.world.users["rep_south"]):
        answer = api_client(user).get(score_url(opp.pk))
        assert answer.status_code == 404, user
        assert answer.json() == missing.json()
        page = with_sections(login_client(user), reverse("opportunities:detail", args=[opp.pk]))
        assert page.status_code == 404
        assert b"win-probability" not in page.content
    assert api_client(history.world.users["nobody"]).get(score_url(opp.pk)).status_code == 403
    # the other tenant's model status knows nothing of this organisation's model
    status = api_client(other.admin).get("/api/v1/scoring/model").json()
    assert status["trained"] is False


def test_retrain_needs_analytics_configure(history: History, api_client: Any) -> None:
    """R2.5: a rep may neither open the model page nor retrain (403, nothing trained); an
    administrator retrains from the page and the API, each a new version."""
    rep = history.world.users["rep_east"]
    assert login_client(rep).get(reverse("scoring:model")).status_code == 403
    assert login_client(rep).post(reverse("scoring:retrain")).status_code == 403
    assert api_client(rep).post("/api/v1/scoring/model/retrain").status_code == 403
    assert not WinModel.objects.exists()
    admin = history.world.admin
    answer = login_client(admin).post(reverse("scoring:retrain"))
    assert answer.status_code == 302
    body = api_client(admin).post("/api/v1/scoring/model/retrain").json()
    assert body["version"] == 2 and body["usable"] is True
    assert list(WinModel.objects.values_list("version", flat=True).order_by("version")) == [1, 2]
    assert WinModel.objects.get(version=1).trained_by == admin


def test_closed_opportunity_has_no_section(db: None) -> None:
    """R2.5: the section only shows on open opportunities."""
    h = setup_history(build_world())
    opp = add_open(h, 0)
    from crm.pipeline.choices import OpportunityStatus
    from crm.pipeline.models import Opportunity

    Opportunity.objects.filter(pk=opp.pk).update(status=OpportunityStatus.LOST, stage=h.lost)
    html = login_client(h.world.users["rep_east"]).get(
        reverse("opportunities:detail", args=[opp.pk])
    )
    assert html.status_code == 200
    assert b'data-section="win_probability"' not in html.content
