"""The periodic job of the win-probability module: retrain every organisation weekly."""

from __future__ import annotations

from huey import crontab

from crm.core.tasks import periodic_job

from . import services


@periodic_job(crontab(day_of_week="0", hour="3", minute="15"), name="scoring.train_win_models")
def train_win_models() -> str:
    """Retrain the win-probability model of every active organisation (Sundays 03:15) and
    rescore their open opportunities; too little history keeps the stage probabilities."""
    runs = services.train_all()
    usable = sum(1 for run in runs if run.is_usable)
    return f"trained {len(runs)} ({usable} usable)"
