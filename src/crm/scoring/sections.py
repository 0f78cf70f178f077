"""The "Win probability" section of the opportunity page (order 25): the learned probability
beside the stage's default one, with the factors that raise and lower it most, in words."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from crm.core.money import format_cny
from crm.core.registry import Section, register_section

from . import services
from .features import NUMERIC

FEATURE_LABELS = {
    "stage_rank": gettext_lazy("Position of the stage in the pipeline"),
    "stage_probability": gettext_lazy("Default probability of the stage"),
    "days_in_stage": gettext_lazy("Time in the current stage"),
    "age_days": gettext_lazy("Age of the opportunity"),
    "followups": gettext_lazy("Follow-ups"),
    "days_since_followup": gettext_lazy("Time since the last follow-up"),
    "log_amount": gettext_lazy("Expected amount"),
    "is_key": gettext_lazy("Key opportunity"),
    "owner_win_rate": gettext_lazy("Owner's win rate so far"),
    "owner_closed": gettext_lazy("Owner's closed opportunities"),
    "stage": gettext_lazy("Stage"),
    "source": gettext_lazy("Source"),
    "product": gettext_lazy("Main product"),
    "grade": gettext_lazy("Customer grade"),
    "industry": gettext_lazy("Industry"),
}


def shown_value(feature: str, value: Any) -> str:
    """A factor's value in words: "12 days", "¥1,000.00", "45.0%", "Yes"…"""
    kind = NUMERIC.get(feature, "text")
    if value is None or value == "":
        return _("(none)") if kind == "text" else "—"
    if kind == "days":
        days = round(float(value))
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    if kind in ("percent", "rank"):
        return f"{float(value) * 100:.1f}%"
    if kind == "count":
        return f"{int(value):,}"
    if kind == "money":
        return format_cny(value)
    if kind == "flag":
        return _("Yes") if value else _("No")
    return str(value)


def factor_texts(factors: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    return {
        side: [
            {
                "label": str(FEATURE_LABELS.get(f["feature"], f["feature"])),
                "value": shown_value(f["feature"], f.get("value")),
                "effect": f"{float(f['effect']):+.2f}",
            }
            for f in factors.get(side, [])
        ]
        for side in ("up", "down")
    }


def opportunity_section(request: HttpRequest, opportunity: Any) -> Any:
    user: Any = request.user
    if not user.can("opportunities", "view") or not opportunity.is_open:
        return None
    run = services.latest(opportunity.org_id)
    found = services.score_of(opportunity, run=run)
    return {
        "run": run,
        "score": found,
        "stage_probability": opportunity.stage.default_probability,
        "factors": factor_texts(found.factors) if found else None,
        "model_url": reverse("scoring:model") if user.can("analytics", "view") else None,
    }


def register() -> None:
    register_section(
        "pipeline.opportunity",
        Section(
            25,
            "win_probability",
            gettext_lazy("Win probability"),
            "scoring/sections/opportunity.html",
            opportunity_section,
        ),
    )


register()
