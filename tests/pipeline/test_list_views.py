"""The opportunity list and the pipeline board (R4.6, R11.1): what each role sees (against the
scope oracle), the sidebar counts, conditions in the address, sorting and paging, saving and
changing queries, bulk transfer, and moving cards on the board (stage history, stale versions,
won and lost dialogs). Another organisation and out-of-scope users get 404, a missing
permission 403, and refused requests change nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.core.models import Event
from crm.core.testing.world import World, make_role, make_user
from crm.org.models import User
from crm.pipeline import list_views, queries
from crm.pipeline.choices import OPEN_STATUSES, OpportunityStatus
from crm.pipeline.models import Opportunity, Pipeline, SavedQuery, Stage, StageHistory

from .conftest import english
from .test_queries import (
    ORACLE,
    build_opportunities,
    customer_of,
    fresh,
    new_opportunity,
    visible_rows,
)

LIST = "/opportunities/"
BOARD = "/opportunities/board/"
MOVE = "/opportunities/board/move/"
ROLES = ["rep_east", "dept_east", "manager1", "director", "custom"]


@pytest.fixture
def rows(world: World) -> list[Opportunity]:
    return build_opportunities(world)


@pytest.fixture
def as_user(client_for: Any):
    def make(user: User) -> Client:
        return english(client_for(user))

    return make


def ids_in(html: str, attribute: str) -> set[int]:
    return {int(v) for v in re.findall(rf'{attribute}="(\d+)"', html)}


def count_badge(html: str, key: str) -> int:
    match = re.search(rf'data-count="{key}">\s*(\d+)\s*<', html)
    assert match, key
    return int(match.group(1))


def stages_of(world: World) -> list[Stage]:
    pipeline = Pipeline.objects.get(org=world.org, is_default=True)
    return list(Stage.objects.filter(pipeline=pipeline, parent=None).order_by("sort_order", "pk"))


# --- the list -----------------------------------------------------------------------------------
def test_the_list_shows_exactly_what_each_role_may_see(
    world: World, other_world: World, rows: list[Opportunity], as_user: Any
) -> None:
    """R4.6 R1.3: every role gets the page with exactly its visible opportunities and the
    built-in counts of its scope; another tenant's rows never appear."""
    theirs = build_opportunities(other_world, prefix="别家")
    now = timezone.now()
    for key in ROLES:
        user = fresh(world.users[key])
        r = as_user(user).get(LIST, {"size": 100})
        assert r.status_code == 200, key
        html = r.content.decode()
        seen = visible_rows(user, rows)
        assert ids_in(html, "data-opportunity") == {o.pk for o in seen}, key
        assert not any(o.name in html for o in theirs)
        for b in queries.BUILTIN:
            expected = sum(1 for o in seen if ORACLE[b.key](o, user, now))
            assert count_badge(html, b.key) == expected, (key, b.key)


def test_no_permission_is_refused_and_anonymous_goes_to_log_in(world: World, as_user: Any) -> None:
    """R1.3: without opportunities:view the list and the board answer 403."""
    nobody = as_user(world.users["nobody"])
    for url in (LIST, BOARD):
        assert nobody.get(url).status_code == 403
        r = Client().get(url)
        assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_builtin_queries_and_the_overdue_breakdown_filter_the_list(
    world: World, rows: list[Opportunity], as_user: Any
) -> None:
    """R4.6: a built-in query lists its rows; a rep under "overdue" lists that rep's ones."""
    user = fresh(world.users["manager1"])
    client = as_user(user)
    now = timezone.now()
    seen = visible_rows(user, rows)
    for b in queries.BUILTIN:
        html = client.get(LIST, {"query": b.key, "size": 100}).content.decode()
        expected = {o.pk for o in seen if ORACLE[b.key](o, user, now)}
        assert ids_in(html, "data-opportunity") == expected, b.key
        assert "data-problem" not in html
    overdue = [o for o in seen if ORACLE["overdue"](o, user, now)]
    rep_id = overdue[0].owner_id
    html = client.get(LIST, {"query": "overdue", "rep": rep_id}).content.decode()
    assert ids_in(html, "data-opportunity") == {o.pk for o in overdue if o.owner_id == rep_id}
    assert f'data-rep="{rep_id}"' in html


def test_conditions_in_the_address_filter_and_bad_ones_warn(
    world: World, rows: list[Opportunity], as_user: Any
) -> None:
    """R4.6: ``?cond=<json>`` is the builder's query (bookmarkable); a bad one shows a message
    and no rows instead of an error page."""
    user = fresh(world.users["director"])
    client = as_user(user)
    cond = {
        "match": "all",
        "rules": [
            {"field": "is_key", "op": "eq", "value": True},
            {"field": "status", "op": "in", "value": ["continue", "pause"]},
        ],
    }
    html = client.get(LIST, {"cond": json.dumps(cond), "size": 100}).content.decode()
    expected = {o.pk for o in rows if o.is_key and o.status in OPEN_STATUSES}
    assert expected and ids_in(html, "data-opportunity") == expected
    assert 'id="query-conditions"' in html and '"is_key"' in html
    for bad in ("{", json.dumps({"rules": [{"field": "password", "op": "eq", "value": "1"}]})):
        r = client.get(LIST, {"cond": bad})
        assert r.status_code == 200
        html = r.content.decode()
        assert "data-problem" in html and ids_in(html, "data-opportunity") == set()
    r = client.get(LIST, {"sort": "password"})
    assert r.status_code == 200 and "data-problem" in r.content.decode()
    r = client.get(LIST, {"search": rows[3].name})
    assert ids_in(r.content.decode(), "data-opportunity") == {rows[3].pk}
    r = client.get(LIST, {"search": "商机客户-rep_south"})
    assert ids_in(r.content.decode(), "data-opportunity") == {
        o.pk for o in rows if o.customer.name == "商机客户-rep_south"
    }


def test_sorting_columns_and_paging(world: World, rows: list[Opportunity], as_user: Any) -> None:
    """R4.6 R11.3: sortable headers, chosen columns, pages of at most 100 rows without
    counting them twice."""
    client = as_user(fresh(world.users["director"]))
    html = client.get(LIST, {"sort": "-amount", "size": 20}).content.decode()
    listed = [int(v) for v in re.findall(r'data-opportunity="(\d+)"', html)]
    by_amount = sorted(rows, key=lambda o: (-(o.expected_amount or 0), -o.pk))
    assert listed == [o.pk for o in by_amount[:20]]
    assert 'id="page-next"' in html and "page=2" in html
    page3 = client.get(LIST, {"sort": "-amount", "size": 20, "page": 3}).content.decode()
    assert [int(v) for v in re.findall(r'data-opportunity="(\d+)"', page3)] == [
        o.pk for o in by_amount[40:]
    ]
    assert client.get(LIST, {"size": 1000}).context["sel"].size == list_views.DEFAULT_PAGE_SIZE
    # the total shown under a built-in query is its sidebar count (no second COUNT)
    r = client.get(LIST, {"query": "overdue", "size": 20})
    assert r.context["page"]["total"] == count_badge(r.content.decode(), "overdue")
    # columns: chosen ones only, remembered in the session
    html = client.get(LIST, {"cols": "owner,flags"}).content.decode()
    assert 'data-sort="owner"' in html and 'data-sort="amount"' not in html
    assert 'data-sort="amount"' not in client.get(LIST).content.decode()


def test_saving_a_query_stores_what_the_list_shows(
    world: World, rows: list[Opportunity], as_user: Any
) -> None:
    """R4.6: "save this query" keeps the built-in query, the builder's conditions, columns and
    sort; the saved query then lists the same rows and shows its live count."""
    user = fresh(world.users["manager1"])
    client = as_user(user)
    cond = {"match": "all", "rules": [{"field": "is_key", "op": "eq", "value": False}]}
    page = client.get(LIST, {"query": "overdue", "cond": json.dumps(cond), "size": 100})
    shown = ids_in(page.content.decode(), "data-opportunity")
    applied = page.context["applied_cond"]
    r = client.post(
        "/opportunities/queries/new/",
        {"name": "延期的普通商机", "shared": "team", "cond": applied, "cols": "owner,amount"},
    )
    saved = SavedQuery.objects.get(owner=user, name="延期的普通商机")
    assert r.status_code == 302 and r["Location"] == f"{LIST}?query={saved.pk}"
    assert saved.conditions == {
        "match": "all",
        "rules": [
            {"field": "overdue", "op": "eq", "value": True},
            {"field": "is_key", "op": "eq", "value": False},
        ],
    }
    assert saved.columns == ["amount", "owner"] and saved.shared == "team"
    html = client.get(LIST, {"query": saved.pk, "size": 100}).content.decode()
    assert ids_in(html, "data-opportunity") == shown
    assert count_badge(html, f"saved-{saved.pk}") == len(shown)
    # refused: a bad name or bad conditions save nothing
    before = SavedQuery.objects.count()
    client.post("/opportunities/queries/new/", {"name": "", "shared": "private"})
    client.post("/opportunities/queries/new/", {"name": "坏", "shared": "private", "cond": "{"})
    assert SavedQuery.objects.count() == before


def test_only_the_owner_edits_or_deletes_a_saved_query(
    world: World, other_world: World, as_user: Any
) -> None:
    """R4.6 R1.3: the owner renames, re-shares and deletes; a colleague it is shared with gets
    403; someone who does not see it, or another tenant, gets 404; nothing changes."""
    owner = fresh(world.users["rep_east"])
    saved = queries.save_query(owner, {"name": "华东团队", "shared": "team"})
    edit = f"/opportunities/queries/{saved.pk}/edit/"
    delete = f"/opportunities/queries/{saved.pk}/delete/"
    refusals = [
        (world.users["rep_east2"], 403),
        (world.users["rep_south"], 404),
        (world.users["director"], 404),
        (other_world.admin, 404),
    ]
    for user, status in refusals:
        client = as_user(fresh(user))
        assert client.get(edit).status_code == status
        assert client.post(edit, {"name": "越权", "shared": "org"}).status_code == status
        assert client.post(delete).status_code == status
    saved.refresh_from_db()
    assert (saved.name, saved.shared) == ("华东团队", "team")
    assert not Event.objects.filter(verb="savedquery.deleted").exists()
    # the colleague still uses it (read-only)
    html = as_user(fresh(world.users["rep_east2"])).get(LIST).content.decode()
    assert f'data-saved="{saved.pk}"' in html

    client = as_user(owner)
    assert client.get(edit).status_code == 200
    r = client.post(edit, {"name": "华东重点", "shared": "private"})
    assert r.status_code == 302
    saved.refresh_from_db()
    assert (saved.name, saved.shared) == ("华东重点", "private")
    cond = json.dumps({"match": "any", "rules": [{"field": "is_key", "op": "eq", "value": True}]})
    client.post(edit, {"name": "华东重点", "shared": "private", "cond": cond, "sort": "-amount"})
    saved.refresh_from_db()
    assert saved.conditions["match"] == "any" and saved.sort == "-amount"
    assert client.get(delete).status_code == 405
    assert client.post(delete).status_code == 302
    assert not SavedQuery.objects.filter(pk=saved.pk).exists()


def test_bulk_transfer_needs_the_permission_and_every_id_in_scope(
    world: World, other_world: World, rows: list[Opportunity], as_user: Any
) -> None:
    """R4.6 A11: transferring checked opportunities needs opportunities:transfer; one id out of
    sight refuses the whole request."""
    mine = [o for o in rows if o.owner_id == world.users["rep_east"].pk][:2]
    to = world.users["rep_east2"]
    data = {"ids": [o.pk for o in mine], "to_user": to.pk, "reason": "调岗"}
    rep = as_user(fresh(world.users["rep_east"]))  # may edit, may not transfer
    assert rep.post("/opportunities/transfer/", data).status_code == 403
    admin = as_user(fresh(world.admin))
    foreign = build_opportunities(other_world, prefix="别家")[0]
    r = admin.post("/opportunities/transfer/", {**data, "ids": [mine[0].pk, foreign.pk]})
    assert r.status_code == 404
    assert {o.owner_id for o in Opportunity.objects.filter(pk__in=[o.pk for o in mine])} == {
        world.users["rep_east"].pk
    }
    assert Opportunity.objects.get(pk=foreign.pk).owner_id == foreign.owner_id
    r = admin.post("/opportunities/transfer/", data)
    assert r.status_code == 302
    assert {o.owner_id for o in Opportunity.objects.filter(pk__in=[o.pk for o in mine])} == {to.pk}
    assert Event.objects.filter(verb="opportunity.transferred").count() == 2


# --- the board ----------------------------------------------------------------------------------
def board_expected(user: User, rows: list[Opportunity]) -> set[int]:
    shown = (*OPEN_STATUSES, OpportunityStatus.WON, OpportunityStatus.LOST)
    return {o.pk for o in visible_rows(user, rows) if o.status in shown}


def test_the_board_shows_what_each_role_may_see_with_counts_and_totals(
    world: World,
    other_world: World,
    rows: list[Opportunity],
    as_user: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """R4.6 R11.1: a column per active stage in order, with the count and the total amount;
    cards of the opportunities the viewer may see (recently won and lost ones too)."""
    monkeypatch.setattr(list_views, "CARD_LIMIT", 100)  # every card (the limit: below)
    build_opportunities(other_world, prefix="别家")
    stages = [s for s in stages_of(world) if s.is_active]
    for key in ROLES:
        user = fresh(world.users[key])
        r = as_user(user).get(BOARD)
        assert r.status_code == 200, key
        html = r.content.decode()
        assert ids_in(html, "data-id") == board_expected(user, rows), key
        assert [int(v) for v in re.findall(r'data-column="(\d+)"', html)] == [s.pk for s in stages]
        for col in r.context["columns"]:
            in_col = [
                o
                for o in visible_rows(user, rows)
                if o.stage_id == col["stage"].pk and o.pk in board_expected(user, rows)
            ]
            assert col["count"] == len(in_col), (key, col["stage"].name)
            total = sum(
                (o.actual_amount if o.status == "won" else o.expected_amount) or 0 for o in in_col
            )
            assert col["total_fen"] == int(total * 100), (key, col["stage"].name)
    admin = as_user(fresh(other_world.admin)).get(BOARD).content.decode()
    assert not ids_in(admin, "data-id") & {o.pk for o in rows}


def test_the_board_filters_by_owner_and_limits_cards(
    world: World, rows: list[Opportunity], as_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R4.6 R11.3: "mine" and one colleague filter the board; a full column shows a link to
    the list of all its opportunities while its header still counts them all."""
    director = fresh(world.users["director"])
    client = as_user(director)
    html = client.get(BOARD, {"owner": "mine"}).content.decode()
    assert ids_in(html, "data-id") == {
        o.pk for o in rows if o.owner_id == director.pk and o.pk in board_expected(director, rows)
    }
    rep = world.users["rep_south"]
    html = client.get(BOARD, {"owner": rep.pk}).content.decode()
    assert ids_in(html, "data-id") == {
        o.pk for o in rows if o.owner_id == rep.pk and o.pk in board_expected(director, rows)
    }
    monkeypatch.setattr(list_views, "CARD_LIMIT", 2)
    r = client.get(BOARD)
    first = r.context["columns"][0]
    assert len(first["cards"]) == 2 and first["count"] > 2
    more = first["more_url"]
    assert more and more.startswith(LIST)
    listed = client.get(more + "&size=100").content.decode()
    assert len(ids_in(listed, "data-opportunity")) == first["count"]


def move(client: Client, o: Opportunity, stage: Stage, version: int | None = None, **extra: Any):
    data = {"pk": o.pk, "stage": stage.pk, "version": o.version if version is None else version}
    return client.post(MOVE, {**data, **extra})


def test_dragging_a_card_moves_the_opportunity_and_writes_stage_history(
    world: World, as_user: Any
) -> None:
    """R4.3 R4.6: a drop on the next stage moves the opportunity (new version, stage history
    row, event); a stale version answers 409 and changes nothing."""
    rep = fresh(world.users["rep_east"])
    o = new_opportunity(rep, customer_of(rep, "拖拽客户"), "拖拽商机")
    stages = stages_of(world)
    client = as_user(rep)
    r = move(client, o, stages[1])
    assert r.status_code == 200, r.content
    body = r.json()
    o2 = Opportunity.objects.get(pk=o.pk)
    assert (o2.stage_id, o2.version, body["version"]) == (stages[1].pk, o.version + 1, o2.version)
    assert body["closed"] is False and body["stage"] == stages[1].pk
    history = list(StageHistory.objects.filter(opportunity=o).order_by("entered_at", "pk"))
    assert [h.stage_id for h in history] == [stages[0].pk, stages[1].pk]
    assert history[0].left_at is not None and history[1].left_at is None
    assert history[1].person_id == rep.pk
    # the card still carries the old version: refused, nothing written
    events = Event.objects.count()
    r = move(client, o, stages[2], version=o.version)
    assert r.status_code == 409 and r.json()["code"] == "edit_conflict"
    assert Opportunity.objects.get(pk=o.pk).stage_id == stages[1].pk
    assert StageHistory.objects.filter(opportunity=o).count() == 2
    assert Event.objects.count() == events


def test_won_and_lost_columns_close_the_opportunity(world: World, as_user: Any) -> None:
    """R4.6 R4.8: the won column needs the actual amount and date; a lost column the reason."""
    rep = fresh(world.users["rep_east"])
    customer = customer_of(rep, "结案客户")
    won, lost = (new_opportunity(rep, customer, n, expected_amount="1000") for n in ("赢", "输"))
    stages = stages_of(world)
    won_stage = next(s for s in stages if s.kind == "won")
    lost_stage = next(s for s in stages if s.kind == "lost")
    client = as_user(rep)
    r = move(client, won, won_stage)
    assert r.status_code == 400 and "actual_amount" in r.json()["errors"]
    r = move(client, won, won_stage, actual_amount="1234.5", actual_close_date="2026-01-15")
    assert r.status_code == 200, r.content
    assert r.json()["closed"] is True and r.json()["amount"] == "¥1,234.50"
    done = Opportunity.objects.get(pk=won.pk)
    assert (done.status, done.stage_id, str(done.actual_amount)) == ("won", won_stage.pk, "1234.50")
    r = move(client, lost, lost_stage)
    assert r.status_code == 400 and "loss_reason" in r.json()["errors"]
    r = move(client, lost, lost_stage, loss_reason="price", note="报价偏高")
    assert r.status_code == 200
    done = Opportunity.objects.get(pk=lost.pk)
    assert (done.status, done.loss_reason, done.loss_note) == ("lost", "price", "报价偏高")
    # a closed card cannot move again
    r = move(client, done, stages[1])
    assert r.status_code == 409


def test_moves_out_of_scope_or_without_permission_are_refused(
    world: World, other_world: World, as_user: Any
) -> None:
    """R1.3 A1 A5: another rep's, another tenant's or a missing opportunity answers 404, a stage
    of another pipeline 400, no edit permission 403; nothing changes."""
    south = fresh(world.users["rep_south"])
    o = new_opportunity(south, customer_of(south, "华南客户"), "华南商机")
    stages = stages_of(world)
    other_pipeline = Pipeline.objects.get(org=world.org, is_default=False, business_type="product")
    foreign_stage = Stage.objects.filter(pipeline=other_pipeline, parent=None).first()
    assert foreign_stage is not None
    viewer_role = make_role(world.admin, "只读", "all", ["opportunities:view"])
    viewer = make_user(world.admin, "只读者", world.depts["south"], [viewer_role])
    before = (Event.objects.count(), StageHistory.objects.count())
    for user in (world.users["rep_east"], world.users["dept_east"], other_world.admin):
        r = move(as_user(fresh(user)), o, stages[1])
        assert r.status_code == 404, user
        assert "华南商机" not in r.content.decode()
    r = as_user(south).post(MOVE, {"pk": 987654321, "stage": stages[1].pk, "version": 1})
    assert r.status_code == 404
    theirs = Stage.objects.filter(org=other_world.org, parent=None).first()
    assert theirs is not None
    assert move(as_user(south), o, theirs).status_code == 404
    assert move(as_user(south), o, foreign_stage).status_code == 400
    assert as_user(south).post(MOVE, {"pk": "x", "stage": ""}).status_code == 400
    assert move(as_user(viewer), o, stages[1]).status_code == 403
    assert as_user(south).get(MOVE).status_code == 405
    assert Opportunity.objects.get(pk=o.pk).stage_id == stages[0].pk
    assert (Event.objects.count(), StageHistory.objects.count()) == before
    # the manager of the department tree may move it
    r = move(as_user(fresh(world.users["manager1"])), o, stages[1])
    assert r.status_code == 200


def test_the_menu_has_the_list_and_the_board(world: World, as_user: Any) -> None:
    """R11.1: 商机 in the main menu opens the list and the board."""
    html = as_user(fresh(world.users["rep_east"])).get(LIST).content.decode()
    assert 'data-nav="opportunity_list"' in html and 'data-nav="opportunity_board"' in html
    query = urlencode({"cond": json.dumps({"rules": []})})
    assert as_user(fresh(world.users["rep_east"])).get(f"{LIST}?{query}").status_code == 200


def test_pages_use_a_fixed_small_number_of_queries(
    world: World, rows: list[Opportunity], as_user: Any
) -> None:
    """R11.3 (benchmark budget): the list costs the same number of queries at 20 and 100 rows
    per page, and at most 18 (one of them reads the organisation's custom-field definitions, for
    the column chooser and the condition builder); so does the board whatever the number of
    cards."""
    director = fresh(world.users["director"])
    queries.save_query(
        director,
        {"name": "重点", "conditions": {"rules": [{"field": "is_key", "op": "eq", "value": True}]}},
    )
    client = as_user(director)
    client.get(LIST)  # the session is written once, on the first request
    used = {}
    for url in (f"{LIST}?size=20", f"{LIST}?size=100", BOARD, f"{BOARD}?owner=mine"):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        used[url] = len(ctx.captured_queries)
    assert used[f"{LIST}?size=20"] == used[f"{LIST}?size=100"] <= 18
    assert used[BOARD] == used[f"{BOARD}?owner=mine"] <= 15


def test_a_saved_query_out_of_sight_is_not_found(
    world: World, other_world: World, as_user: Any
) -> None:
    """R1.3: ``?query=<id>`` of someone else's private query, or another tenant's, is a 404."""
    private = queries.save_query(fresh(world.users["rep_east"]), {"name": "私有"})
    for user in (world.users["rep_east2"], world.users["director"], other_world.admin):
        r = as_user(fresh(user)).get(LIST, {"query": private.pk})
        assert r.status_code == 404
        assert "私有" not in r.content.decode()
    assert (
        as_user(fresh(world.users["rep_east"])).get(LIST, {"query": private.pk}).status_code == 200
    )
