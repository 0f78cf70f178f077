"""API contract of /api/v1/knowledge/ (R9.4): shapes, status codes, validation errors in the
ErrorOut form, the optimistic lock, publish, delete, search, related and case study."""

from __future__ import annotations

import json
from typing import Any

from crm.knowledge.models import Article
from crm.pipeline import opportunities as opp_services
from crm.pipeline.models import Opportunity
from tests.knowledge.conftest import KB, article, fresh

BASE = "/api/v1/knowledge"


def _json(client: Any, method: str, url: str, body: Any = None) -> Any:
    call = getattr(client, method)
    if body is None:
        return call(url)
    return call(url, data=json.dumps(body), content_type="application/json")


def test_create_read_update_publish_delete(kbw: KB, api_client) -> None:
    # R9.4: articles CRUD
    editor, director = api_client(kbw.editor), api_client(kbw.director)
    stage = kbw.stages()[0]
    r = _json(
        editor,
        "post",
        f"{BASE}/articles",
        {
            "title": "Cold call opening",
            "body": "<p>Say <b>who</b> you are.</p><script>x()</script>",
            "category": "playbook",
            "tags": ["call", "opening"],
            "stage_ids": [stage.pk],
            "industries": ["manufacturing"],
        },
    )
    assert r.status_code == 201, r.content
    a = r.json()
    assert a["status"] == "draft" and a["version"] == 1
    assert a["body"] == "<p>Say <b>who</b> you are.</p>"
    assert a["tags"] == ["call", "opening"] and a["industries"] == ["manufacturing"]
    assert a["stages"] == [{"id": stage.pk, "name": stage.name, "pipeline_id": stage.pipeline_id}]
    assert a["author"]["id"] == kbw.editor.pk and a["excerpt"] == "Say who you are."
    url = f"{BASE}/articles/{a['id']}"
    assert _json(editor, "get", url).json() == a
    r = _json(editor, "patch", url, {"title": "Cold call opener", "version": 1, "stage_ids": []})
    assert r.status_code == 200 and r.json()["title"] == "Cold call opener"
    assert r.json()["stages"] == [] and r.json()["tags"] == ["call", "opening"]
    r = _json(director, "patch", url, {"title": "stale", "version": 1})
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    r = _json(api_client(kbw.rep), "post", f"{url}/status", {"status": "published"})
    assert r.status_code == 404  # a rep does not even see the draft
    r = _json(editor, "post", f"{url}/status", {"status": "published"})
    assert r.status_code == 200 and r.json()["status"] == "published"
    assert _json(api_client(kbw.rep), "get", url).status_code == 200
    assert _json(editor, "delete", url).status_code == 403  # managers do not delete
    assert _json(director, "delete", url).status_code == 204
    assert _json(director, "get", url).status_code == 404


def test_bad_input_answers_with_field_errors(kbw: KB, api_client) -> None:
    # R9.4: clear errors; nothing written
    editor = api_client(kbw.editor)
    cases = [
        ({"title": "  "}, 400, "title"),
        ({"title": "ok", "industries": ["nope"]}, 400, "industries"),
        ({"title": "ok", "stage_ids": [999999]}, 400, "stage_ids"),
        ({"title": "ok", "category": "poem"}, 422, None),
        ({"title": "ok", "tags": "not-a-list"}, 422, None),
        ({}, 422, None),
    ]
    for body, status, field in cases:
        r = _json(editor, "post", f"{BASE}/articles", body)
        assert r.status_code == status, (body, r.content)
        out = r.json()
        assert set(out) == {"code", "message", "errors"}
        if field:
            assert [e["field"] for e in out["errors"]] == [field]
    r = _json(api_client(kbw.rep), "post", f"{BASE}/articles", {"title": "ok"})
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    r = _json(editor, "post", f"{BASE}/articles", {"title": "ok", "publish": True})
    assert r.status_code == 201 and r.json()["status"] == "published"
    assert Article.objects.count() == 1


def test_list_filters_search_and_related(kbw: KB, api_client) -> None:
    # R9.4: search and related-for-opportunity
    first, second = kbw.stages()[:2]
    a1 = article(kbw.editor, "初次拜访清单", stage_ids=[first.pk], tags=["拜访"])
    a2 = article(
        kbw.editor, "制造业招标流程", industries=["manufacturing"], category="purchase_process"
    )
    a3 = article(kbw.editor, "方案演示", stage_ids=[second.pk])
    article(kbw.editor, "拜访草稿", stage_ids=[first.pk], publish=False)
    rep = api_client(kbw.rep)
    listed = rep.get(f"{BASE}/articles").json()
    assert listed["count"] == 3 and {i["id"] for i in listed["items"]} == {a1.pk, a2.pk, a3.pk}
    assert [
        i["id"] for i in rep.get(f"{BASE}/articles?category=purchase_process").json()["items"]
    ] == [a2.pk]
    assert [i["id"] for i in rep.get(f"{BASE}/articles?tag=拜访").json()["items"]] == [a1.pk]
    assert [i["id"] for i in rep.get(f"{BASE}/articles?stage_id={second.pk}").json()["items"]] == [
        a3.pk
    ]
    assert [
        i["id"] for i in rep.get(f"{BASE}/articles?industry=manufacturing").json()["items"]
    ] == [a2.pk]
    found = rep.get(f"{BASE}/search?q=zzy").json()
    assert [i["id"] for i in found["items"]] == [a2.pk]
    empty = rep.get(f"{BASE}/search?q=%20")
    assert empty.status_code == 400 and empty.json()["errors"][0]["field"] == "q"
    related = rep.get(f"{BASE}/opportunities/{kbw.opportunity.pk}/related")
    assert related.status_code == 200
    assert {i["id"] for i in related.json()} == {a1.pk, a2.pk}
    # out of scope: another rep does not see the opportunity
    assert (
        api_client(kbw.rep2).get(f"{BASE}/opportunities/{kbw.opportunity.pk}/related").status_code
        == 404
    )


def test_case_study_operation(kbw: KB, api_client) -> None:
    # R9.4: case study from a closed opportunity, in one call
    url = f"{BASE}/opportunities/{kbw.opportunity.pk}/case-study"
    director = api_client(kbw.director)
    r = director.post(url)
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    opp = Opportunity.objects.get(pk=kbw.opportunity.pk)
    opp_services.win_opportunity(
        actor=fresh(kbw.rep),
        opportunity=opp,
        actual_amount="480000",
        actual_close_date="2026-05-01",
    )
    assert api_client(kbw.rep).post(url).status_code == 403
    r = director.post(url)
    assert r.status_code == 201, r.content
    case = r.json()
    assert case["category"]["key"] == "case_study" and case["opportunity_id"] == kbw.opportunity.pk
    assert "¥480,000.00" in case["body"] and "杭州数智制造有限公司" in case["title"]
