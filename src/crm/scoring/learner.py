"""The win-probability model: scikit-learn logistic regression on standardised features.

The fitted model is kept as plain JSON (columns, means, scales, coefficients, intercept), never
pickled, and :func:`predict` recomputes probabilities from it with numpy. A factor's
contribution is ``coefficient × standardised value`` (summed over the one-hot columns of a
categorical feature): how far it moves the log-odds from those of an average opportunity.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

# scikit-learn is imported where a model is fitted or evaluated, not at start-up: it costs every
# web and worker process ~2.5 s and ~80 MB of memory otherwise (measured: -X importtime, RSS).
from .features import CATEGORICAL, NUMERIC

#: A category needs this many training samples to get its own column.
MIN_CATEGORY = 10
#: At most this many columns per categorical feature (the most frequent values).
MAX_CATEGORIES = 25
#: Inverse regularisation strength of the logistic regression.
C = 1.0


def vocabulary(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    vocab = {}
    for name in CATEGORICAL:
        counts = Counter(str(r[name]) for r in rows if r[name] != "")
        vocab[name] = sorted(v for v, n in counts.most_common(MAX_CATEGORIES) if n >= MIN_CATEGORY)
    return vocab


def columns(vocab: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(feature, category) per column; category is "" for numeric features."""
    cols = [(name, "") for name in NUMERIC]
    for name in CATEGORICAL:
        cols.extend((name, value) for value in vocab[name])
    return cols


def matrix(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> np.ndarray:
    x = np.zeros((len(rows), len(cols)))
    for i, row in enumerate(rows):
        for j, (name, value) in enumerate(cols):
            x[i, j] = float(row[name]) if not value else float(str(row[name]) == value)
    return x


def fit(rows: list[dict[str, Any]], y: list[bool], weights: list[float] | None = None) -> dict:
    """Fit the model on feature rows; answer its JSON parameters."""
    vocab = vocabulary(rows)
    cols = columns(vocab)
    x = matrix(rows, cols)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=2000)
    clf.fit(z, np.asarray(y, dtype=int), sample_weight=weights)
    return {
        "columns": [list(c) for c in cols],
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coef": clf.coef_[0].tolist(),
        "intercept": float(clf.intercept_[0]),
    }


def predict(params: dict, rows: list[dict[str, Any]]) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Probabilities of winning and each row's contributions per feature (log-odds)."""
    cols = [(c[0], c[1]) for c in params["columns"]]
    if not rows:
        return np.zeros(0), []
    z = (matrix(rows, cols) - np.asarray(params["mean"])) / np.asarray(params["scale"])
    parts = z * np.asarray(params["coef"])
    logit = parts.sum(axis=1) + params["intercept"]
    probs = 1.0 / (1.0 + np.exp(-logit))
    contributions = []
    for i in range(len(rows)):
        by_feature: dict[str, float] = {}
        for j, (name, _value) in enumerate(cols):
            by_feature[name] = by_feature.get(name, 0.0) + float(parts[i, j])
        contributions.append(by_feature)
    return probs, contributions


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Deciles of the predictions (equal counts, sorted by predicted probability): the mean
    predicted probability against the observed win rate of each."""
    order = np.argsort(p, kind="stable")
    table = []
    for i, chunk in enumerate(np.array_split(order, bins)):
        if len(chunk) == 0:
            continue
        table.append(
            {
                "bin": i + 1,
                "n": len(chunk),
                "predicted": float(p[chunk].mean()),
                "observed": float(y[chunk].mean()),
            }
        )
    return table


def evaluate(y: list[bool], p: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    ya = np.asarray(y, dtype=int)
    return {
        "auc": float(roc_auc_score(ya, p)),
        "brier": float(brier_score_loss(ya, p)),
        "base_rate": float(ya.mean()),
        "calibration": calibration_table(ya, p),
    }
