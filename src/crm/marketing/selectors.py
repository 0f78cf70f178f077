"""Reads of the marketing module: campaign lists and the attribution report (R9.3).

Attribution definitions (also in docs/campaigns.md):

- **leads**: leads whose ``campaign`` is the campaign;
- **qualified**: those of them that reached *qualified* (status qualified or converted);
- **converted**: those converted to a customer (status converted);
- **opportunities**: opportunities created from one of those leads (``Opportunity.lead``);
- **won** / **won amount**: those opportunities that were won, and the sum of their actual
  amount (the expected amount when no actual amount was recorded);
- **cost per lead**: the campaign's actual cost / leads; **ROI**: (won amount − actual cost) /
  actual cost, as a percentage (none when the cost is zero).

Campaigns are organisation-wide, but the leads and opportunities behind the figures are counted
only when the viewer may see them (their data scope): two people may see different figures for
the same campaign. Every figure is one GROUP BY query over the scoped rows, never a loop over
campaigns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncQuarter
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.analytics.figures import COUNT, MONEY, PERCENT, TEXT, Column, Figure
from crm.org.models import User

from .choices import CampaignStatus
from .models import Campaign

ZERO = Decimal("0.00")
_MONEY = DecimalField(max_digits=18, decimal_places=2)
QUALIFIED_STATUSES = ("qualified", "converted")
CONVERTED_STATUS = "converted"
WON_STATUS = "won"


@dataclass(frozen=True)
class CampaignFilter:
    """Filters of the campaign list and the comparison (all optional). ``start``/``end``
    select campaigns whose period overlaps the range (a campaign without dates always does)."""

    q: str = ""
    campaign_type: str = ""
    status: str = ""
    owner_id: int | None = None
    start: date | None = None
    end: date | None = None


def campaigns(user: User) -> QuerySet[Campaign]:
    """Campaigns ``user`` sees (every campaign of the organisation with ``marketing:view``)."""
    return Campaign.objects.visible_to(user).select_related("owner", "form_pool")


def apply_filter(qs: QuerySet[Campaign], f: CampaignFilter) -> QuerySet[Campaign]:
    if f.q.strip():
        text = f.q.strip()
        qs = qs.filter(
            Q(name__icontains=text)
            | Q(code__icontains=text)
            | Q(channel__icontains=text)
            | Q(utm_campaign__icontains=text)
        )
    if f.campaign_type:
        qs = qs.filter(campaign_type=f.campaign_type)
    if f.status:
        qs = qs.filter(status=f.status)
    if f.owner_id is not None:
        qs = qs.filter(owner_id=f.owner_id)
    if f.end:
        qs = qs.filter(Q(start_date__isnull=True) | Q(start_date__lte=f.end))
    if f.start:
        qs = qs.filter(Q(end_date__isnull=True) | Q(end_date__gte=f.start))
    return qs


def visible_leads(user: User) -> QuerySet[Any]:
    from crm.leads.models import Lead

    return Lead.objects.visible_to(user)


def visible_opportunities(user: User) -> QuerySet[Any]:
    from crm.pipeline.models import Opportunity

    return Opportunity.objects.visible_to(user)


def _won_amount() -> Any:
    return Coalesce("actual_amount", "expected_amount", Value(ZERO), output_field=_MONEY)


def lead_counts(user: User, campaign_ids: Any) -> dict[int, dict[str, int]]:
    """campaign id -> leads, qualified, converted (the viewer's leads only)."""
    rows = (
        visible_leads(user)
        .filter(campaign_id__in=campaign_ids)
        .order_by()
        .values("campaign_id")
        .annotate(
            leads=Count("pk"),
            qualified=Count("pk", filter=Q(status__in=QUALIFIED_STATUSES)),
            converted=Count("pk", filter=Q(status=CONVERTED_STATUS)),
        )
    )
    return {r["campaign_id"]: r for r in rows}


def opportunity_counts(user: User, campaign_ids: Any) -> dict[int, dict[str, Any]]:
    """campaign id -> opportunities, won, won_amount (the viewer's opportunities only)."""
    rows = (
        visible_opportunities(user)
        .filter(lead__campaign_id__in=campaign_ids)
        .order_by()
        .values("lead__campaign_id")
        .annotate(
            opportunities=Count("pk"),
            won=Count("pk", filter=Q(status=WON_STATUS)),
            won_amount=Sum(_won_amount(), filter=Q(status=WON_STATUS)),
        )
    )
    return {r["lead__campaign_id"]: r for r in rows}


def _ratio(part: Decimal, whole: Any) -> Decimal | None:
    whole = Decimal(whole or 0)
    if not whole:
        return None
    return (Decimal(part) / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def roi(won_amount: Decimal, cost: Decimal) -> Decimal | None:
    """(won amount − cost) / cost as a percentage with one decimal; None when cost is zero."""
    if not cost:
        return None
    return ((won_amount - cost) * 100 / cost).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def metrics(lead_row: dict[str, Any] | None, opp_row: dict[str, Any] | None, cost: Any) -> dict:
    """One campaign's (or one group's) figures from its two aggregate rows and its cost."""
    lead_row = lead_row or {}
    opp_row = opp_row or {}
    cost = Decimal(cost or 0).quantize(Decimal("0.01"))
    won_amount = Decimal(opp_row.get("won_amount") or 0).quantize(Decimal("0.01"))
    leads = int(lead_row.get("leads") or 0)
    return {
        "leads": leads,
        "qualified": int(lead_row.get("qualified") or 0),
        "converted": int(lead_row.get("converted") or 0),
        "opportunities": int(opp_row.get("opportunities") or 0),
        "won": int(opp_row.get("won") or 0),
        "won_amount": won_amount,
        "cost": cost,
        "cost_per_lead": _ratio(cost, leads),
        "roi": roi(won_amount, cost),
    }


def leads_url(campaign_id: int, **extra: str) -> str:
    params: dict[str, Any] = {"campaign_id": campaign_id, **extra}
    return reverse("leads:lead_list") + "?" + urlencode(params)


def opportunities_url(campaign_id: int, status: str = "") -> str:
    params: dict[str, Any] = {"campaign_id": campaign_id}
    if status:
        params["cond"] = json.dumps(
            {"match": "all", "rules": [{"field": "status", "op": "in", "value": [status]}]}
        )
    return reverse("opportunities:list") + "?" + urlencode(params)


def attribution(user: User, qs: QuerySet[Campaign]) -> list[dict[str, Any]]:
    """One row per campaign of ``qs`` with its figures (three queries in all)."""
    found = list(
        qs.order_by("-start_date", "-pk").values("pk", "name", "start_date", "actual_cost")
    )
    ids = [c["pk"] for c in found]
    leads = lead_counts(user, ids)
    opps = opportunity_counts(user, ids)
    rows = []
    for c in found:
        row = {"id": c["pk"], "campaign": c["name"], "start_date": c["start_date"]}
        row.update(metrics(leads.get(c["pk"]), opps.get(c["pk"]), c["actual_cost"]))
        row["_url"] = reverse("marketing:detail", args=[c["pk"]])
        rows.append(row)
    return rows


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("leads", "qualified", "converted", "opportunities", "won")
    result: dict[str, Any] = {k: sum(r[k] for r in rows) for k in keys}
    result["won_amount"] = sum((r["won_amount"] for r in rows), ZERO)
    result["cost"] = sum((r["cost"] for r in rows), ZERO)
    result["cost_per_lead"] = _ratio(result["cost"], result["leads"])
    result["roi"] = roi(result["won_amount"], result["cost"])
    result["campaign"] = _("Total")
    result["period"] = _("Total")
    return result


def by_quarter(user: User, qs: QuerySet[Campaign]) -> list[dict[str, Any]]:
    """The same figures per quarter of the campaigns' start (campaigns without a start date
    are left out), each a GROUP BY over the quarter."""
    campaign_ids = qs.filter(start_date__isnull=False).values("pk")
    quarter = TruncQuarter("campaign__start_date")
    costs = {
        r["q"]: r["cost"]
        for r in qs.filter(start_date__isnull=False)
        .order_by()
        .annotate(q=TruncQuarter("start_date"))
        .values("q")
        .annotate(cost=Sum("actual_cost"))
    }
    leads = {
        r["q"]: r
        for r in visible_leads(user)
        .filter(campaign_id__in=campaign_ids)
        .order_by()
        .annotate(q=quarter)
        .values("q")
        .annotate(
            leads=Count("pk"),
            qualified=Count("pk", filter=Q(status__in=QUALIFIED_STATUSES)),
            converted=Count("pk", filter=Q(status=CONVERTED_STATUS)),
        )
    }
    opps = {
        r["q"]: r
        for r in visible_opportunities(user)
        .filter(lead__campaign_id__in=campaign_ids)
        .order_by()
        .annotate(q=TruncQuarter("lead__campaign__start_date"))
        .values("q")
        .annotate(
            opportunities=Count("pk"),
            won=Count("pk", filter=Q(status=WON_STATUS)),
            won_amount=Sum(_won_amount(), filter=Q(status=WON_STATUS)),
        )
    }
    rows = []
    for q in sorted(costs):
        day = q.date() if hasattr(q, "date") else q
        row = {"period": f"{day.year} Q{(day.month - 1) // 3 + 1}"}
        row.update(metrics(leads.get(q), opps.get(q), costs[q]))
        rows.append(row)
    return rows


METRIC_COLUMNS = [
    Column("leads", gettext_lazy("Leads"), COUNT),
    Column("qualified", gettext_lazy("Qualified"), COUNT),
    Column("converted", gettext_lazy("Converted"), COUNT),
    Column("opportunities", gettext_lazy("Opportunities"), COUNT),
    Column("won", gettext_lazy("Won"), COUNT),
    Column("won_amount", gettext_lazy("Won amount"), MONEY),
    Column("cost", gettext_lazy("Actual cost"), MONEY),
    Column("cost_per_lead", gettext_lazy("Cost per lead"), MONEY),
    Column("roi", gettext_lazy("ROI"), PERCENT),
]


def _columns() -> list[Column]:
    return list(METRIC_COLUMNS)


SCOPE_NOTE = gettext_lazy(
    "Leads and opportunities are counted only when you may see them (your data scope); "
    "cost and ROI use the campaign's whole actual cost."
)


def comparison_figures(user: User, qs: QuerySet[Campaign]) -> dict[str, Any]:
    """The comparison page: per campaign and per quarter, with totals."""
    rows = attribution(user, qs)
    quarters = by_quarter(user, qs)
    note = SCOPE_NOTE
    per_campaign = Figure(
        key="campaigns",
        title=_("Attribution by campaign"),
        columns=[Column("campaign", _("Campaign"), TEXT), *_columns()],
        rows=rows,
        chart={"type": "bar", "x": "campaign", "series": ["leads", "converted", "won"]},
        note=note,
        totals=totals(rows) if rows else None,
    )
    per_quarter = Figure(
        key="quarters",
        title=_("Attribution by quarter of the campaign start"),
        columns=[Column("period", _("Quarter"), TEXT), *_columns()],
        rows=quarters,
        chart={"type": "bar", "x": "period", "series": ["won_amount", "cost"]},
        note=note,
        totals=totals(quarters) if quarters else None,
    )
    return {"rows": rows, "figures": [per_campaign, per_quarter]}


def campaign_figures(user: User, campaign: Campaign) -> dict[str, Any]:
    """The detail page: the campaign's funnel (leads → qualified → converted → opportunities →
    won), each step clicking through to the records behind it."""
    row = attribution(user, Campaign.objects.filter(pk=campaign.pk))[0]
    pk = campaign.pk
    steps = [
        ("leads", _("Leads"), leads_url(pk)),
        ("qualified", _("Qualified"), leads_url(pk, status="qualified")),
        ("converted", _("Converted"), leads_url(pk, status="converted")),
        ("opportunities", _("Opportunities"), opportunities_url(pk)),
        ("won", _("Won"), opportunities_url(pk, WON_STATUS)),
    ]
    funnel = Figure(
        key="funnel",
        title=_("From leads to won business"),
        columns=[Column("step", _("Step"), TEXT), Column("count", _("Count"), COUNT)],
        rows=[{"step": label, "count": row[key], "_url": url} for key, label, url in steps],
        chart={"type": "funnel", "x": "step", "series": ["count"]},
        note=SCOPE_NOTE,
    )
    return {"row": row, "figures": [funnel], "status_label": CampaignStatus(campaign.status).label}
