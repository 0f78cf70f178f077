"""Lead scoring pages and API (R2.5): the rules page with its preview, the score and its
breakdown on the lead page and list (sortable), follow-ups logged on a lead, and scope: another
tenant or an out-of-scope user can neither read nor change rules, nor see a lead's score."""

from __future__ import annotations

import json
from typing import Any

from crm.core.testing.world import World
from crm.leads import scoring
from crm.leads.models import Lead, LeadScoringRule
from tests.leads.conftest import Pools, fresh, new_lead

RULE = {
    "name": "经理加分",
    "kind": "attribute",
    "field": "title",
    "operator": "contains",
    "values": ["经理"],
    "points": 60,
}


def make_rule(world: World, **data: Any) -> LeadScoringRule:
    return scoring.save_rule(actor=fresh(world.users["marketing"]), data={**RULE, **data})


def test_rules_page_create_preview_delete(lw: World, pools: Pools, client_for: Any) -> None:
    """R2.5: marketing creates a rule on the page, previews it, deletes it."""
    new_lead(lw.users["marketing"], title="销售经理")
    client = client_for(lw.users["marketing"])
    assert client.get("/leads/scoring/").status_code == 200
    form = {
        "name": "经理加分",
        "kind": "attribute",
        "points": "60",
        "field": "title",
        "operator": "contains",
        "values": "经理, 总监",
        "is_active": "on",
    }
    page = client.post("/leads/scoring/new/", {**form, "preview": "1"})
    assert page.status_code == 200 and 'id="scoring-preview-result"' in page.content.decode()
    assert not LeadScoringRule.objects.filter(org=lw.org).exists()
    assert client.post("/leads/scoring/new/", form).status_code == 302
    rule = LeadScoringRule.objects.get(org=lw.org)
    assert rule.values == ["经理", "总监"] and rule.points == 60
    listing = client.get("/leads/scoring/").content.decode()
    assert "经理加分" in listing and 'data-grade="A"' in listing
    bad = client.post("/leads/scoring/new/", {**form, "operator": "equals"})
    assert bad.status_code == 200 and "invalid-feedback" in bad.content.decode()
    assert LeadScoringRule.objects.filter(org=lw.org).count() == 1
    assert client.post(f"/leads/scoring/{rule.pk}/delete/").status_code == 302
    assert not LeadScoringRule.objects.filter(pk=rule.pk).exists()


def test_rules_page_refused(lw: World, other_world: World, client_for: Any) -> None:
    """R2.5: a rep gets 403 on the rules pages; another tenant's admin 404 on our rule."""
    rule = make_rule(lw)
    rep = client_for(lw.users["rep_east"])
    assert rep.get("/leads/scoring/").status_code == 403
    assert rep.post(f"/leads/scoring/{rule.pk}/delete/").status_code == 403
    other = client_for(other_world.admin)
    assert other.get(f"/leads/scoring/{rule.pk}/edit/").status_code == 404
    assert other.post(f"/leads/scoring/{rule.pk}/delete/").status_code == 404
    assert "经理加分" not in other.get("/leads/scoring/").content.decode()
    assert LeadScoringRule.objects.filter(pk=rule.pk).exists()


def test_lead_page_and_list_show_score(lw: World, pools: Pools, client_for: Any) -> None:
    """R2.5: the lead page explains the score; the list shows it and sorts by it."""
    make_rule(lw)
    rep = lw.users["rep_east"]
    best = new_lead(rep, owner=rep, title="采购经理", mobile="13800138111")
    other = new_lead(rep, owner=rep, title="职员", mobile="13800138222")
    client = client_for(rep)
    page = client.get(f"/leads/{best.pk}/").content.decode()
    assert 'id="score-breakdown"' in page and "经理加分" in page and "+60" in page
    assert 'data-grade="B"' in page
    listing = client.get("/leads/mine/?sort=-score").content.decode()
    assert listing.index(f'data-lead="{best.pk}"') < listing.index(f'data-lead="{other.pk}"')
    assert 'id="sort-score"' in listing and "sort=score" in listing
    ascending = client.get("/leads/mine/?sort=score").content.decode()
    assert ascending.index(f'data-lead="{other.pk}"') < ascending.index(f'data-lead="{best.pk}"')
    narrowed = client.get("/leads/mine/?score_min=50").content.decode()
    assert f'data-lead="{best.pk}"' in narrowed and f'data-lead="{other.pk}"' not in narrowed


def test_followup_page(lw: World, pools: Pools, client_for: Any) -> None:
    """R2.5: a rep logs a follow-up on their lead; an out-of-scope rep gets 404."""
    scoring.save_rule(
        actor=fresh(lw.users["marketing"]),
        data={"name": "跟进", "kind": "behaviour", "event": "followup", "points": 5},
    )
    rep = lw.users["rep_east"]
    lead = new_lead(rep, owner=rep)
    response = client_for(rep).post(f"/leads/{lead.pk}/followup/", {"method": "call", "note": "聊"})
    assert response.status_code == 302
    assert Lead.objects.get(pk=lead.pk).score == 5
    outsider = client_for(lw.users["rep_south"])
    assert outsider.post(f"/leads/{lead.pk}/followup/", {"method": "call"}).status_code == 404
    assert Lead.objects.get(pk=lead.pk).score_events == {"followup": 1, "followup:call": 1}


def test_api_crud_and_preview(lw: World, pools: Pools, api_client: Any) -> None:
    """R2.5: rules through the API; validation errors name the field."""
    new_lead(lw.users["marketing"], title="经理")
    api = api_client(lw.users["marketing"])
    created = api.post("/api/v1/leads/scoring/rules", json.dumps(RULE), "application/json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert api.get("/api/v1/leads/scoring/rules").json()[0]["name"] == "经理加分"
    changed = api.put(
        f"/api/v1/leads/scoring/rules/{pk}",
        json.dumps({**RULE, "points": -5}),
        "application/json",
    )
    assert changed.status_code == 200 and changed.json()["points"] == -5
    preview = api.post(
        "/api/v1/leads/scoring/preview", json.dumps({**RULE, "name": "草稿"}), "application/json"
    )
    assert preview.status_code == 200 and preview.json()["matched"] == 1
    bad = api.post(
        "/api/v1/leads/scoring/rules",
        json.dumps({**RULE, "name": "坏", "field": "salary"}),
        "application/json",
    )
    assert bad.status_code == 400
    assert [e["field"] for e in bad.json()["errors"]] == ["field"]
    assert api.delete(f"/api/v1/leads/scoring/rules/{pk}").status_code == 204


def test_api_scope(lw: World, pools: Pools, other_world: World, api_client: Any) -> None:
    """R2.5: another tenant and out-of-scope users get 404 for rules and lead scores."""
    rule = make_rule(lw)
    rep = lw.users["rep_east"]
    lead = new_lead(rep, owner=rep, title="经理")
    own = api_client(rep)
    score = own.get(f"/api/v1/leads/scoring/leads/{lead.pk}")
    assert score.status_code == 200 and score.json()["score"] == 60
    assert score.json()["grade"] == "B" and score.json()["breakdown"][0]["name"] == "经理加分"
    logged = own.post(
        f"/api/v1/leads/scoring/leads/{lead.pk}/followups",
        json.dumps({"method": "visit"}),
        "application/json",
    )
    assert logged.status_code == 201 and logged.json()["events"]["followup:visit"] == 1
    assert own.get(f"/api/v1/leads/scoring/rules/{rule.pk}").status_code == 404
    for outsider in (api_client(lw.users["rep_south"]), api_client(other_world.admin)):
        assert outsider.get(f"/api/v1/leads/scoring/leads/{lead.pk}").status_code == 404
        assert (
            outsider.post(
                f"/api/v1/leads/scoring/leads/{lead.pk}/followups",
                json.dumps({"method": "call"}),
                "application/json",
            ).status_code
            == 404
        )
    foreign = api_client(other_world.admin)
    assert foreign.get(f"/api/v1/leads/scoring/rules/{rule.pk}").status_code == 404
    assert (
        foreign.put(
            f"/api/v1/leads/scoring/rules/{rule.pk}", json.dumps(RULE), "application/json"
        ).status_code
        == 404
    )
    assert foreign.delete(f"/api/v1/leads/scoring/rules/{rule.pk}").status_code == 404
    assert foreign.get("/api/v1/leads/scoring/rules").json() == []
    assert LeadScoringRule.objects.get(pk=rule.pk).points == 60
    assert Lead.objects.get(pk=lead.pk).score_events["followup"] == 1
