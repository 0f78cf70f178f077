"""Reads of the win-probability module: the model page's figures (calibration, weights) and the
list of training runs."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.analytics.figures import COUNT, PERCENT, TEXT, Column, Figure

from .models import WinModel
from .sections import FEATURE_LABELS

RUNS_SHOWN = 10
WEIGHTS_SHOWN = 12


def calibration_figure(run: WinModel) -> Figure:
    """Predicted against observed win rate per decile of the held-back predictions."""
    rows = [
        {
            "bin": _("Decile %(n)d") % {"n": row["bin"]},
            "n": row["n"],
            "predicted": round(row["predicted"] * 100, 1),
            "observed": round(row["observed"] * 100, 1),
        }
        for row in run.calibration
    ]
    return Figure(
        key="calibration",
        title=gettext_lazy("Calibration on held-back history"),
        columns=[
            Column("bin", gettext_lazy("Predicted-probability decile"), TEXT),
            Column("n", gettext_lazy("Samples"), COUNT),
            Column("predicted", gettext_lazy("Mean predicted"), PERCENT),
            Column("observed", gettext_lazy("Observed win rate"), PERCENT),
        ],
        rows=rows,
        chart={"type": "line", "x": "bin", "series": ["predicted", "observed"]},
        note=gettext_lazy(
            "Held-back opportunities sorted by predicted probability and cut into ten equal"
            " groups; a well-calibrated model has both lines close together."
        ),
    )


def weights_figure(run: WinModel) -> Figure:
    """The largest standardised coefficients: what moves the probability most overall."""
    params = run.params or {}
    pairs = list(zip(params.get("columns", []), params.get("coef", []), strict=False))
    pairs.sort(key=lambda pc: -abs(pc[1]))
    rows = []
    for (feature, category), coef in pairs[:WEIGHTS_SHOWN]:
        label = str(FEATURE_LABELS.get(feature, feature))
        rows.append(
            {
                "feature": f"{label} = {category}" if category else label,
                "weight": round(coef, 3),
                "direction": _("raises") if coef > 0 else _("lowers"),
            }
        )
    return Figure(
        key="weights",
        title=gettext_lazy("Strongest factors"),
        columns=[
            Column("feature", gettext_lazy("Factor"), TEXT),
            Column("weight", gettext_lazy("Weight (log-odds per standard deviation)"), TEXT),
            Column("direction", gettext_lazy("Effect"), TEXT),
        ],
        rows=rows,
        chart=None,
    )


def model_page(org_id: int) -> dict[str, Any]:
    runs = list(WinModel.objects.for_org(org_id).order_by("-version")[:RUNS_SHOWN])
    run = runs[0] if runs else None
    figures = [calibration_figure(run), weights_figure(run)] if run and run.is_usable else []
    return {"run": run, "runs": runs, "figures": figures}
