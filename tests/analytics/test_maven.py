"""Proof on real data (issue 6, R8.7 part, R4.8): the Maven CRM data set loaded by
``crm load-maven`` gives win/loss figures EQUAL to an independent computation with the csv
module over the files — per agent, manager, regional office and product, and open deals per
stage — through the selectors and through the API. Also: the quirk report, idempotent
re-runs, stage-history invariants and data scope (a manager sees only their team).

The data set is loaded once per module (committed, removed at the end): loading 8,800
opportunities per test would take minutes.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "maven_crm"

pytestmark = [
    pytest.mark.skipif(
        not (DATA / "sales_pipeline.csv").is_file(),
        reason=f"the Maven CRM data set is not at {DATA} (see shared/data/README.md)",
    ),
    pytest.mark.django_db,
]


# --- the independent computation (plain csv over the files) -------------------------------------


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _canonical(product: str, catalogue: list[str]) -> str:
    squash = {re.sub(r"\s", "", p).lower(): p for p in catalogue}
    return squash[re.sub(r"\s", "", product).lower()]


def _pct(won: int, closed: int) -> Decimal | None:
    if not closed:
        return None
    return (Decimal(won) * 100 / Decimal(closed)).quantize(Decimal("0.1"), ROUND_HALF_UP)


class Expected:
    """Won count, won value, lost count and win rate per key, from the CSV files."""

    def __init__(self, start: date | None = None, last: date | None = None) -> None:
        self.deals = _rows("sales_pipeline.csv")
        self.teams = {t["sales_agent"]: t for t in _rows("sales_teams.csv")}
        self.catalogue = [p["product"] for p in _rows("products.csv")]
        self.start, self.last = start, last

    def closed_deals(self, agents: set[str] | None = None) -> list[dict[str, str]]:
        out = []
        for d in self.deals:
            if d["deal_stage"] not in ("Won", "Lost"):
                continue
            day = date.fromisoformat(d["close_date"])
            if (self.start and day < self.start) or (self.last and day > self.last):
                continue
            if agents is not None and d["sales_agent"] not in agents:
                continue
            out.append(d)
        return out

    def by(self, key: str, agents: set[str] | None = None) -> dict[str, dict[str, Any]]:
        acc: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"won": 0, "won_value": Decimal(0), "lost": 0}
        )
        for d in self.closed_deals(agents):
            if key == "agent":
                k = d["sales_agent"]
            elif key == "manager":
                k = self.teams[d["sales_agent"]]["manager"]
            elif key == "office":
                k = self.teams[d["sales_agent"]]["regional_office"]
            else:
                k = _canonical(d["product"], self.catalogue)
            if d["deal_stage"] == "Won":
                acc[k]["won"] += 1
                acc[k]["won_value"] += Decimal(d["close_value"])
            else:
                acc[k]["lost"] += 1
        for v in acc.values():
            v["win_rate"] = _pct(v["won"], v["won"] + v["lost"])
        return dict(acc)

    def open_per_stage(self, agents: set[str] | None = None) -> dict[str, int]:
        return dict(
            Counter(
                d["deal_stage"]
                for d in self.deals
                if d["deal_stage"] in ("Prospecting", "Engaging")
                and (agents is None or d["sales_agent"] in agents)
            )
        )


def _crm(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        str(r["label"]): {
            "won": r["won"],
            "won_value": r["won_value"],
            "lost": r["lost"],
            "win_rate": r["win_rate"],
        }
        for r in rows
    }


def _api(rows: list[dict[str, Any]], name: str = "name") -> dict[str, dict[str, Any]]:
    return {
        r[name]: {
            "won": r["won"],
            "won_value": Decimal(r["won_value"]),
            "lost": r["lost"],
            "win_rate": None if r["win_rate"] is None else Decimal(r["win_rate"]),
        }
        for r in rows
    }


# --- loading once ------------------------------------------------------------------------------


def _counts() -> dict[str, int]:
    from crm.customers.models import Customer
    from crm.org.models import Department, Organization, User
    from crm.pipeline.models import (
        DictionaryItem,
        Opportunity,
        OpportunityLine,
        Pipeline,
        Stage,
        StageHistory,
    )
    from crm.sales.models import Product

    models = [
        Organization,
        Department,
        User,
        Customer,
        Product,
        Pipeline,
        Stage,
        DictionaryItem,
        Opportunity,
        OpportunityLine,
        StageHistory,
    ]
    return {m.__name__: m.objects.count() for m in models}


@pytest.fixture(scope="module")
def maven(django_db_setup: Any, django_db_blocker: Any) -> Any:
    from crm.org.models import Organization

    with django_db_blocker.unblock():
        out = StringIO()
        call_command("load_maven", str(DATA), stdout=out, skip_checks=True)
        org = Organization.objects.get(settings__maven_slug="maven")
        yield {"org": org, "output": out.getvalue()}
        _delete(org)


def _delete(org: Any) -> None:
    from crm.org.demo import delete_organization
    from crm.pipeline.models import Opportunity

    Opportunity.objects.filter(org=org).delete()
    delete_organization(org)


def _user(org: Any, username: str) -> Any:
    from crm.org.models import User

    return User.objects.get(org=org, username=username)


def _director(maven: Any) -> Any:
    return _user(maven["org"], "maven.director")


# --- tests -------------------------------------------------------------------------------------


def test_load_counts_and_quirk_report(maven: Any) -> None:
    # issue 6: every row loaded, every quirk reported with its count
    from crm.customers.models import Customer
    from crm.org.models import User
    from crm.pipeline.models import Opportunity, OpportunityLine

    org = maven["org"]
    deals = _rows("sales_pipeline.csv")
    assert Opportunity.objects.filter(org=org).count() == len(deals) == 8800
    assert OpportunityLine.objects.filter(org=org).count() == 8800
    teams = _rows("sales_teams.csv")
    people = {t["sales_agent"] for t in teams} | {t["manager"] for t in teams}
    assert User.objects.filter(org=org).count() == len(people) + 2  # + admin and director
    blank = [d for d in deals if not d["account"]]
    placeholders = {d["sales_agent"] for d in blank}
    accounts = _rows("accounts.csv")
    assert Customer.objects.filter(org=org).count() == len(accounts) + len(placeholders)
    text = maven["output"]
    expected = {
        "blank_account": len(blank),
        "product_alias:GTXPro": sum(d["product"] == "GTXPro" for d in deals),
        "blank_engage_date": sum(not d["engage_date"] for d in deals),
        "lost_value_0": sum(d["deal_stage"] == "Lost" and d["close_value"] == "0" for d in deals),
        "agents_without_deals": len(
            {t["sales_agent"] for t in teams} - {d["sales_agent"] for d in deals}
        ),
        "sector_typo_technolgy": sum(a["sector"] == "technolgy" for a in accounts),
        "open_without_close": sum(not d["close_date"] and not d["close_value"] for d in deals),
    }
    # the counts the data README states
    assert expected["blank_account"] == 1425
    assert expected["agents_without_deals"] == 5
    for key, count in expected.items():
        assert re.search(rf"^\s*{re.escape(key)}: {count} —", text, re.M), (key, count, text)


def test_figures_equal_the_csv_per_agent_manager_office_product(maven: Any) -> None:
    # R8.7 / R4.8 proof: selectors == independent computation, exactly (Decimal)
    from crm.analytics import winloss

    me = _director(maven)
    f = winloss.WinLossFilters()
    exp = Expected()
    assert _crm(winloss.by_rep(me, f)) == exp.by("agent")
    assert _crm(winloss.by_department(me, f)) == exp.by("manager")
    assert _crm(winloss.by_parent_department(me, f)) == exp.by("office")
    assert _crm(winloss.by_product(me, f)) == exp.by("product")
    opened = {str(r["label"]).split(" · ")[-1]: r["open"] for r in winloss.open_by_stage(me, f)}
    assert opened == exp.open_per_stage()
    total = winloss.totals(me, f)
    closed = exp.closed_deals()
    assert total["won"] == sum(d["deal_stage"] == "Won" for d in closed) == 4238
    assert total["won_value"] == sum(
        Decimal(d["close_value"]) for d in closed if d["deal_stage"] == "Won"
    )
    assert total["lost"] == 2473
    lost_stage = winloss.lost_by_stage(me, f)
    assert [(str(r["label"]), r["lost"]) for r in lost_stage] == [("Maven · Engaging", 2473)]
    assert [r["lost"] for r in winloss.lost_by_reason(me, f)] == [2473]


def test_period_filter_equals_the_csv(maven: Any) -> None:
    # R4.8: closed in the period (close_date from … to, both included)
    from crm.analytics import winloss

    me = _director(maven)
    start, last = date(2017, 6, 1), date(2017, 8, 31)
    f = winloss.WinLossFilters(start=start, last=last)
    exp = Expected(start, last)
    assert _crm(winloss.by_rep(me, f)) == exp.by("agent")
    assert _crm(winloss.by_product(me, f)) == exp.by("product")
    assert _crm(winloss.by_parent_department(me, f)) == exp.by("office")


def test_api_equals_the_csv(maven: Any, client_for: Any) -> None:
    # R8.7 proof through GET /api/v1/winloss/
    client = client_for(_director(maven))
    exp = Expected()
    body = client.get("/api/v1/winloss/").json()
    assert _api(body["reps"]) == exp.by("agent")
    assert _api(body["departments"]) == exp.by("manager")
    assert _api(body["parent_departments"]) == exp.by("office")
    assert _api(body["products"], "product") == exp.by("product")
    assert {r["name"].split(" · ")[-1]: r["open"] for r in body["open_by_stage"]} == (
        exp.open_per_stage()
    )
    start, last = date(2017, 1, 1), date(2017, 3, 31)
    body = client.get(
        "/api/v1/winloss/", {"date_from": start.isoformat(), "date_to": last.isoformat()}
    ).json()
    assert _api(body["reps"]) == Expected(start, last).by("agent")


def test_manager_sees_only_their_team(maven: Any, client_for: Any) -> None:
    # R2 data scope: a manager (department and below) sees their own team's figures only
    from crm.analytics import winloss

    org = maven["org"]
    teams = _rows("sales_teams.csv")
    team = {t["sales_agent"] for t in teams if t["manager"] == "Dustin Brinkmann"}
    manager = _user(org, "maven.dustin-brinkmann")
    f = winloss.WinLossFilters()
    exp = Expected()
    assert _crm(winloss.by_rep(manager, f)) == exp.by("agent", team)
    assert _crm(winloss.by_parent_department(manager, f)) == exp.by("office", team)
    assert set(_crm(winloss.by_department(manager, f))) == {"Dustin Brinkmann"}
    opened = {
        str(r["label"]).split(" · ")[-1]: r["open"] for r in winloss.open_by_stage(manager, f)
    }
    assert opened == exp.open_per_stage(team)
    body = client_for(manager).get("/api/v1/winloss/").json()
    assert _api(body["reps"]) == exp.by("agent", team)
    # a rep sees themself only
    rep = _user(org, "maven.darcel-schlecht")
    assert _crm(winloss.by_rep(rep, f)) == exp.by("agent", {"Darcel Schlecht"})


def test_stage_history_invariants(maven: Any) -> None:
    # the invariants crm.pipeline.opportunities keeps, kept by the bulk loader
    from django.db.models import Count, F, Q

    from crm.pipeline.choices import OpportunityStatus
    from crm.pipeline.models import Opportunity, StageHistory

    org = maven["org"]
    opps = Opportunity.objects.filter(org=org)
    open_rows = opps.annotate(
        n=Count("stage_history", filter=Q(stage_history__left_at__isnull=True))
    )
    assert not open_rows.exclude(n=1).exists()
    # the open history row is the current stage, entered when the opportunity entered it
    current = StageHistory.objects.filter(org=org, left_at__isnull=True)
    assert not current.exclude(stage_id=F("opportunity__stage_id")).exists()
    assert not current.exclude(entered_at=F("opportunity__stage_entered_at")).exists()
    won = opps.filter(status=OpportunityStatus.WON)
    assert not won.filter(
        Q(actual_amount__isnull=True) | Q(actual_close_date__isnull=True)
    ).exists()
    assert not won.exclude(stage__kind="won").exists()
    closed = opps.exclude(status__in=(OpportunityStatus.CONTINUE, OpportunityStatus.PAUSE))
    assert not closed.filter(
        Q(feedback_due_at__isnull=False) | Q(stall_due_at__isnull=False)
    ).exists()
    assert not opps.filter(status=OpportunityStatus.LOST, loss_reason="").exists()
    deals = _rows("sales_pipeline.csv")
    closed_n = sum(d["deal_stage"] in ("Won", "Lost") for d in deals)
    assert StageHistory.objects.filter(org=org).count() == len(deals) + closed_n


def test_rerun_changes_nothing(maven: Any, django_db_blocker: Any) -> None:
    # issue 6: re-running the loader duplicates nothing
    before = _counts()
    out = StringIO()
    call_command("load_maven", str(DATA), stdout=out, skip_checks=True)
    assert _counts() == before
    text = out.getvalue()
    assert " 0 created, 8800 already there" in text
    assert not re.search(r": [1-9]\d* created", text), text


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Missing file"):
        call_command("load_maven", str(tmp_path), skip_checks=True)


def test_bad_slug_is_refused(tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("load_maven", str(DATA), org="Bad Slug!", skip_checks=True)
