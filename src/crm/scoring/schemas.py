"""API shapes of the win-probability module (names prefixed ``Win`` to stay unique)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ninja import Schema


class WinCalibrationBin(Schema):
    bin: int
    n: int
    predicted: float
    observed: float


class WinModelStatus(Schema):
    trained: bool
    usable: bool
    message: str
    version: int | None = None
    trained_at: datetime | None = None
    n_closed: int = 0
    n_won: int = 0
    n_lost: int = 0
    n_train: int = 0
    n_test: int = 0
    split_at: datetime | None = None
    auc: float | None = None
    brier: float | None = None
    base_rate: float | None = None
    seconds: float | None = None
    calibration: list[WinCalibrationBin] = []
    features: list[str] = []


class WinFactor(Schema):
    feature: str
    label: str
    value: str
    effect: float


class WinScore(Schema):
    opportunity_id: int
    learned: bool
    probability: Decimal | None
    stage_probability: int
    model_version: int | None
    scored_at: datetime | None
    raises: list[WinFactor]
    lowers: list[WinFactor]
    message: str
