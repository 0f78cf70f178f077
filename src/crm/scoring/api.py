"""/api/v1/scoring/: the win-probability model's status, an opportunity's learned probability
(scoped: another tenant's or an out-of-scope opportunity answers 404) and retraining (R2.5)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router

from crm.core.api import scoped_get
from crm.core.errors import PermissionDenied
from crm.pipeline.models import Opportunity

from . import services
from .models import WinModel
from .schemas import WinModelStatus, WinScore
from .sections import FEATURE_LABELS, shown_value

router = Router()


def _org(request: HttpRequest) -> int:
    org_id: Any = getattr(request.user, "org_id", None)
    return int(org_id)


def _require(request: HttpRequest, module: str, action: str) -> None:
    if not request.user.can(module, action):  # type: ignore[union-attr]
        raise PermissionDenied()


def _status(run: WinModel | None) -> dict[str, Any]:
    if run is None:
        return {
            "trained": False,
            "usable": False,
            "message": _("No model has been trained yet: the stage probability applies."),
        }
    return {
        "trained": True,
        "usable": run.is_usable,
        "message": run.reason,
        "version": run.version,
        "trained_at": run.trained_at,
        "n_closed": run.n_closed,
        "n_won": run.n_won,
        "n_lost": run.n_lost,
        "n_train": run.n_train,
        "n_test": run.n_test,
        "split_at": run.split_at,
        "auc": run.auc,
        "brier": run.brier,
        "base_rate": run.base_rate,
        "seconds": run.seconds,
        "calibration": run.calibration,
        "features": run.feature_names,
    }


@router.get("/model", response=WinModelStatus, summary="The win-probability model's status")
def get_win_model(request: HttpRequest) -> Any:
    _require(request, "analytics", "view")
    return _status(services.latest(_org(request)))


@router.post("/model/retrain", response=WinModelStatus, summary="Retrain the model now")
def retrain_win_model(request: HttpRequest) -> Any:
    _require(request, "analytics", "configure")
    return _status(services.train(_org(request), actor=request.user))


def _factors(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "feature": f["feature"],
            "label": str(FEATURE_LABELS.get(f["feature"], f["feature"])),
            "value": shown_value(f["feature"], f.get("value")),
            "effect": f["effect"],
        }
        for f in items
    ]


@router.get(
    "/opportunities/{opportunity_id}",
    response=WinScore,
    summary="An opportunity's learned win probability and its main factors",
)
def get_win_score(request: HttpRequest, opportunity_id: int) -> Any:
    _require(request, "opportunities", "view")
    opportunity = scoped_get(request, Opportunity, opportunity_id)
    found = services.score_of(opportunity)
    run = services.latest(opportunity.org_id)
    if found is not None:
        message = ""
    elif not opportunity.is_open:
        message = _("The opportunity is closed.")
    else:
        message = run.reason if run is not None else _status(None)["message"]
    return {
        "opportunity_id": opportunity.pk,
        "learned": found is not None,
        "probability": found.probability if found else None,
        "stage_probability": opportunity.stage.default_probability,
        "model_version": found.model.version if found else None,
        "scored_at": found.scored_at if found else None,
        "raises": _factors(found.factors.get("up", [])) if found else [],
        "lowers": _factors(found.factors.get("down", [])) if found else [],
        "message": message,
    }
