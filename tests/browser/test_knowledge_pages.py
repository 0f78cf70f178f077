"""In Chromium (R9.4): an editor writes an article in the phone-friendly editor, links it to a
pipeline stage and publishes it; the sales rep's opportunity shows it in its "Knowledge"
section once the opportunity reaches that stage (not before); stored markup stays inert; the
knowledge pages fit a 390 px phone. Any script error or CSP violation fails the test (H-KB)."""

from __future__ import annotations

import pytest

from crm.knowledge.models import Article
from crm.pipeline import opportunities as opp_services
from crm.pipeline.models import Opportunity
from tests.browser.conftest import PHONE, screenshot
from tests.browser.test_board import log_in
from tests.knowledge.conftest import article, build_kb, fresh

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_an_article_appears_on_an_opportunity_at_its_stage(new_page, live_server) -> None:
    # R9.4: articles linked to pipeline stages appear on the opportunity page at that stage
    kbw = build_kb()
    first, second = kbw.stages()[:2]
    editor = new_page()
    log_in(editor, kbw.editor)
    editor.goto("/knowledge/new/")
    editor.wait_for_selector("[data-kb-editor]:visible")
    assert not editor.locator("textarea[data-kb-source]").is_visible()
    editor.fill("#id_title", "方案演示五步法")
    editor.click("[data-kb-editor]")
    editor.keyboard.type("先讲痛点，再讲方案。")
    editor.keyboard.press("Control+A")
    editor.click("[data-cmd=bold]")
    editor.fill("#id_tags", "演示, 方案")
    editor.select_option("#id_stage_ids", [str(second.pk)])
    screenshot(editor, "knowledge-editor")
    editor.click("#article-save-publish")
    editor.wait_for_selector("#article-body")
    saved = Article.objects.get(title="方案演示五步法")
    assert saved.status == "published"
    assert "<b>先讲痛点，再讲方案。</b>" in saved.body or "<strong>" in saved.body
    assert list(saved.stages.values_list("pk", flat=True)) == [second.pk]
    assert editor.locator("#article-body b, #article-body strong").count() == 1

    rep = new_page()
    log_in(rep, kbw.rep)
    rep.goto(f"/opportunities/{kbw.opportunity.pk}/")
    rep.wait_for_selector("#section-knowledge")
    assert "方案演示五步法" not in rep.inner_text("#section-knowledge")
    opp_services.move_stage(
        actor=fresh(kbw.rep),
        opportunity=Opportunity.objects.get(pk=kbw.opportunity.pk),
        stage=second,
    )
    rep.reload()
    rep.wait_for_selector(f"#section-knowledge [data-kb-article='{saved.pk}']")
    screenshot(rep, "knowledge-on-opportunity")
    rep.click(f"#section-knowledge [data-kb-article='{saved.pk}']")
    rep.wait_for_selector("#article-body")
    assert "先讲痛点" in rep.inner_text("#article-body")
    assert rep.locator("#article-edit").count() == 0  # a rep reads only
    assert first.pk != second.pk


def test_stored_markup_is_inert_and_pages_fit_a_phone(new_page, live_server) -> None:
    # R9.4 with RELIABILITY B4: sanitised bodies; R11.1: works on a phone
    kbw = build_kb()
    payloads = (
        "<script>window.__xss=1</script>"
        '<img src=x onerror="window.__xss=1">'
        '<a href="javascript:window.__xss=1" id="bad">点我</a>'
        '<div x-data x-init="window.__xss=1">阿尔派</div>'
        "<p>{{7*7}}</p>"
        "<table><tr>" + "<td>很宽的表格单元格内容</td>" * 12 + "</tr></table>"
    )
    a = article(kbw.editor, "<b>标题</b>" + "很长的标题" * 10, body=payloads)
    page = new_page(viewport=PHONE)
    page.on("dialog", lambda d: pytest.fail(f"dialog opened: {d.message}"))
    log_in(page, kbw.editor)
    for url in (
        "/knowledge/",
        f"/knowledge/{a.pk}/",
        f"/knowledge/{a.pk}/edit/",
        "/knowledge/new/",
    ):
        page.goto(url)
        page.wait_for_load_state()
        assert page.evaluate("typeof window.__xss") == "undefined", url
        assert page.locator('[href^="javascript:" i], img[src="x"], [x-init]').count() == 0, url
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, (url, width)
    page.goto(f"/knowledge/{a.pk}/")
    assert "{{7*7}}" in page.inner_text("#article-body")
    assert "<b>标题</b>" in page.inner_text(".page-title")
    screenshot(page, "knowledge-article-phone")
