"""Who sees which article (R9.4 with the data scopes of R1): published articles are
organisation-wide; drafts are their author's and the editors' whose scope covers the author;
another organisation never sees, counts or changes any."""

from __future__ import annotations

from django.urls import reverse

from crm.knowledge import selectors
from crm.knowledge.models import Article
from tests.conftest import login_client
from tests.knowledge.conftest import KB, article, fresh


def _seen(user: object) -> set[int]:
    return set(selectors.articles(fresh(user)).values_list("pk", flat=True))  # type: ignore[arg-type]


def test_drafts_are_seen_by_their_author_and_editors_in_scope_only(kbw: KB, other_kbw: KB) -> None:
    # R9.4: drafts not visible to others; published ones to everyone of the organisation
    draft = article(kbw.editor, "一部草稿", publish=False)
    published = article(kbw.editor, "一部发布")
    draft2 = article(kbw.editor2, "二部草稿", publish=False)
    foreign = article(other_kbw.director, "别家发布")
    assert _seen(kbw.editor) == {draft.pk, published.pk}
    assert _seen(kbw.editor2) == {published.pk, draft2.pk}
    assert _seen(kbw.rep) == {published.pk}
    assert _seen(kbw.rep2) == {published.pk}
    assert _seen(kbw.director) == {draft.pk, published.pk, draft2.pk}
    assert _seen(kbw.admin) == {draft.pk, published.pk, draft2.pk}
    assert _seen(kbw.world.users["nobody"]) == set()  # no knowledge:view
    assert _seen(other_kbw.director) == {foreign.pk}
    assert _seen(other_kbw.admin) == {foreign.pk}


def test_pages_and_api_answer_404_for_invisible_articles(
    kbw: KB, other_kbw: KB, api_client
) -> None:
    # R9.4: another tenant never; a colleague never sees someone else's draft
    draft = article(kbw.editor, "一部草稿正文", publish=False)
    published = article(kbw.editor, "一部发布正文")
    rep = login_client(kbw.rep)
    assert rep.get(reverse("knowledge:detail", args=[draft.pk])).status_code == 404
    page = rep.get(reverse("knowledge:detail", args=[published.pk]))
    assert page.status_code == 200 and "一部发布正文" in page.content.decode()
    listing = rep.get(reverse("knowledge:list")).content.decode()
    assert "一部发布正文" in listing and "一部草稿正文" not in listing
    stranger = login_client(other_kbw.admin)
    for a in (draft, published):
        assert stranger.get(reverse("knowledge:detail", args=[a.pk])).status_code == 404
        assert stranger.get(reverse("knowledge:edit", args=[a.pk])).status_code == 404
        assert stranger.post(reverse("knowledge:delete", args=[a.pk])).status_code == 404
    foreign_api = api_client(other_kbw.admin)
    for a in (draft, published):
        r = foreign_api.get(f"/api/v1/knowledge/articles/{a.pk}")
        assert r.status_code == 404
        assert r.json()["code"] == "not_found"
        r = foreign_api.patch(
            f"/api/v1/knowledge/articles/{a.pk}", {"title": "越权"}, content_type="application/json"
        )
        assert r.status_code == 404
    assert foreign_api.get("/api/v1/knowledge/articles").json()["count"] == 0
    assert foreign_api.get("/api/v1/knowledge/search?q=一部").json()["count"] == 0
    assert set(Article.objects.values_list("title", flat=True)) == {"一部草稿正文", "一部发布正文"}


def test_the_global_search_shows_only_visible_articles(kbw: KB) -> None:
    # R9.4: the top-bar search goes through the same scope
    from crm.knowledge.wiring import search_articles

    article(kbw.editor, "投标流程草稿", publish=False)
    article(kbw.editor, "投标流程指南")
    titles = [r["title"] for r in search_articles(fresh(kbw.rep), "投标", 10)]
    assert titles == ["投标流程指南"]
    assert len(search_articles(fresh(kbw.editor), "tblc", 10)) == 2
    assert search_articles(fresh(kbw.world.users["nobody"]), "投标", 10) == []
