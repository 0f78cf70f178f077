"""Article categories defined by the organisation (R9.4, issue #10): seeded with the built-in
ones, edited by users with knowledge:configure on a settings page and through the API (add,
rename, reorder, deactivate, delete — refused while in use unless the articles move), used by
the article form, the list filter and the API; another organisation's categories are never
seen, used or changed."""

from __future__ import annotations

import json
from typing import Any

from django.urls import reverse

from crm.core.errors import ValidationFailed
from crm.core.models import Event
from crm.knowledge import services as kb
from crm.knowledge.models import Article, ArticleCategory, Category
from tests.conftest import login_client
from tests.knowledge.conftest import KB, article, fresh

BASE = "/api/v1/knowledge"


def _json(client: Any, method: str, url: str, body: Any = None) -> Any:
    call = getattr(client, method)
    if body is None:
        return call(url)
    return call(url, data=json.dumps(body), content_type="application/json")


def _cat(kbw: KB, key: str) -> Category:
    return Category.objects.get(org=kbw.world.org, key=key)


def test_a_new_organisation_starts_with_the_built_in_categories(kbw: KB) -> None:
    # R9.4: every organisation is seeded (org initializer) with today's categories, in order
    rows = list(Category.objects.for_org(kbw.world.org.pk).order_by("sort_order", "pk"))
    assert [c.key for c in rows] == list(ArticleCategory.values)
    assert all(c.is_active and c.name for c in rows)
    a = article(kbw.editor, "没有指定分类", category="")
    assert a.category.key == "playbook"  # the first active category is the default
    b = article(kbw.editor, "常见问题", category="faq")  # built-in keys still work
    assert b.category == _cat(kbw, "faq")


def test_configure_adds_renames_reorders_and_deactivates(kbw: KB, api_client) -> None:
    # R9.4: the list is the organisation's own
    director = api_client(kbw.director)
    r = _json(director, "post", f"{BASE}/categories", {"name": "  招投标  "})
    assert r.status_code == 201, r.content
    new = r.json()
    assert new["name"] == "招投标" and new["key"] == "" and new["is_active"]
    assert new["sort_order"] > _cat(kbw, "other").sort_order  # added at the end
    r = _json(director, "post", f"{BASE}/categories", {"name": "招投标"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "name"
    url = f"{BASE}/categories/{new['id']}"
    r = _json(director, "patch", url, {"name": "投标指南", "sort_order": 0})
    assert r.status_code == 200 and r.json()["name"] == "投标指南"
    listed = _json(api_client(kbw.rep), "get", f"{BASE}/categories").json()
    assert listed[0]["id"] == new["id"]  # moved to the top; every reader sees the list
    faq = _cat(kbw, "faq")
    kb.move_category(actor=fresh(kbw.director), category=faq, direction="up")
    order = list(
        Category.objects.for_org(kbw.world.org.pk)
        .order_by("sort_order", "pk")
        .values_list("key", flat=True)
    )
    assert order[:3] == ["", "faq", "playbook"]
    # deactivated: kept by its articles, refused for new ones, not offered in the form
    kept = article(kbw.editor, "投标注意事项", category=str(new["id"]))
    r = _json(director, "patch", url, {"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False
    r = _json(
        api_client(kbw.editor),
        "post",
        f"{BASE}/articles",
        {"title": "新", "category_id": new["id"]},
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "category"
    kb.update_article(actor=fresh(kbw.editor), article=kept, data={"title": "投标注意事项二"})
    assert Article.objects.get(pk=kept.pk).category_id == new["id"]
    page = login_client(kbw.editor).get(reverse("knowledge:create")).content.decode()
    assert "投标指南" not in page
    page = login_client(kbw.editor).get(reverse("knowledge:edit", args=[kept.pk])).content.decode()
    assert "投标指南" in page  # the article's own category stays selectable
    assert Event.objects.filter(verb="category.updated").exists()


def test_the_last_active_category_stays_active(kbw: KB) -> None:
    # R9.4: new articles always have a category to go to
    director = fresh(kbw.director)
    rows = list(Category.objects.for_org(kbw.world.org.pk).order_by("sort_order"))
    for row in rows[1:]:
        kb.update_category(actor=director, category=row, data={"is_active": False})
    try:
        kb.update_category(actor=director, category=rows[0], data={"is_active": False})
    except ValidationFailed as exc:
        assert "is_active" in exc.field_errors
    else:  # pragma: no cover
        raise AssertionError("the last active category was deactivated")


def test_deleting_a_category_in_use_is_refused_unless_its_articles_move(
    kbw: KB, api_client
) -> None:
    # R9.4: no article loses its category
    director = api_client(kbw.director)
    competitor, other = _cat(kbw, "competitor"), _cat(kbw, "other")
    a = article(kbw.editor, "竞品A分析", category="competitor")
    r = director.delete(f"{BASE}/categories/{competitor.pk}")
    assert r.status_code == 409 and "1 articles" in r.json()["message"]
    assert Category.objects.filter(pk=competitor.pk).exists()
    r = director.delete(f"{BASE}/categories/{competitor.pk}?move_to_id={competitor.pk}")
    assert r.status_code == 400
    r = director.delete(f"{BASE}/categories/{competitor.pk}?move_to_id={other.pk}")
    assert r.status_code == 204
    assert Article.objects.get(pk=a.pk).category_id == other.pk
    assert not Category.objects.filter(pk=competitor.pk).exists()
    unused = _cat(kbw, "purchase_process")
    assert director.delete(f"{BASE}/categories/{unused.pk}").status_code == 204


def test_only_configure_edits_categories(kbw: KB, api_client) -> None:
    # R9.4: readers and editors without knowledge:configure are refused; nothing changes
    faq = _cat(kbw, "faq")
    for user in (kbw.rep, kbw.editor):
        c = api_client(user)
        assert _json(c, "get", f"{BASE}/categories").status_code == 200
        assert _json(c, "post", f"{BASE}/categories", {"name": "x"}).status_code == 403
        assert _json(c, "patch", f"{BASE}/categories/{faq.pk}", {"name": "x"}).status_code == 403
        assert c.delete(f"{BASE}/categories/{faq.pk}").status_code == 403
        assert login_client(user).get(reverse("knowledge:categories")).status_code == 403
    assert Category.objects.get(pk=faq.pk).name == faq.name


def test_another_organisations_categories_are_out_of_reach(
    kbw: KB, other_kbw: KB, api_client
) -> None:
    # R1.1: never seen, used, renamed, deleted or moved to
    theirs = Category.objects.get(org=other_kbw.world.org, key="faq")
    mine = _cat(kbw, "faq")
    director = api_client(kbw.director)
    listed = {c["id"] for c in _json(director, "get", f"{BASE}/categories").json()}
    assert theirs.pk not in listed and mine.pk in listed
    r = _json(director, "patch", f"{BASE}/categories/{theirs.pk}", {"name": "偷改"})
    assert r.status_code == 404
    assert director.delete(f"{BASE}/categories/{theirs.pk}").status_code == 404
    article(kbw.editor, "我的问答", category="faq")
    r = director.delete(f"{BASE}/categories/{mine.pk}?move_to_id={theirs.pk}")
    assert r.status_code == 400
    r = _json(
        api_client(kbw.editor),
        "post",
        f"{BASE}/articles",
        {"title": "借用分类", "category_id": theirs.pk},
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "category_id"
    page = login_client(kbw.director)
    for name in ("knowledge:category_edit", "knowledge:category_delete"):
        assert page.get(reverse(name, args=[theirs.pk])).status_code == 404
    assert page.post(reverse("knowledge:category_move", args=[theirs.pk])).status_code == 404
    assert Category.objects.get(pk=theirs.pk).name == theirs.name
    assert Article.objects.filter(org=kbw.world.org, category=theirs).count() == 0


def test_settings_page_adds_renames_and_deletes_with_a_move(kbw: KB) -> None:
    # R9.4: the settings page (knowledge:configure)
    client = login_client(kbw.director)
    url = reverse("knowledge:categories")
    page = client.get(url)
    assert page.status_code == 200 and 'id="category-list"' in page.content.decode()
    r = client.post(url, {"name": "行业白皮书"})
    assert r.status_code == 302
    row = Category.objects.get(org=kbw.world.org, name="行业白皮书")
    r = client.post(reverse("knowledge:category_edit", args=[row.pk]), {"name": "白皮书"})
    assert r.status_code == 302 and Category.objects.get(pk=row.pk).name == "白皮书"
    a = article(kbw.editor, "白皮书一", category=str(row.pk))
    delete = reverse("knowledge:category_delete", args=[row.pk])
    page = client.get(delete).content.decode()
    assert "id_move_to" in page
    r = client.post(delete, {})
    assert r.status_code == 200 and Category.objects.filter(pk=row.pk).exists()
    assert "alert-danger" in r.content.decode()
    faq = _cat(kbw, "faq")
    r = client.post(delete, {"move_to": faq.pk})
    assert r.status_code == 302
    assert Article.objects.get(pk=a.pk).category_id == faq.pk
    r = client.post(reverse("knowledge:category_active", args=[faq.pk]), {"active": "0"})
    assert r.status_code == 302 and not Category.objects.get(pk=faq.pk).is_active


def test_list_filter_and_api_filter_by_category(kbw: KB, api_client) -> None:
    # R9.4: the list page and the API filter by the organisation's categories
    faq = _cat(kbw, "faq")
    a = article(kbw.editor, "开票问题", category="faq")
    article(kbw.editor, "拜访打法")
    page = login_client(kbw.rep).get(reverse("knowledge:list") + f"?category={faq.pk}")
    body = page.content.decode()
    assert page.status_code == 200 and "开票问题" in body and "拜访打法" not in body
    items = api_client(kbw.rep).get(f"{BASE}/articles?category_id={faq.pk}").json()["items"]
    assert [i["id"] for i in items] == [a.pk]
    assert items[0]["category"] == {"id": faq.pk, "name": faq.name, "key": "faq"}
