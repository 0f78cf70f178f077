"""Knowledge-base services (R9.4): sanitised rich text, tags, pinyin columns, validation that
writes nothing, who may write, publish and delete, the optimistic lock, events, and the
one-step case study of a closed opportunity."""

from __future__ import annotations

import pytest

from crm.activities import services as activity_services
from crm.core.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from crm.core.models import Event
from crm.knowledge import services as kb
from crm.knowledge.html import plain_text, sanitize
from crm.knowledge.models import Article, ArticleStatus
from crm.pipeline import opportunities as opp_services
from crm.pipeline.models import Opportunity, StageHistory
from tests.knowledge.conftest import KB, article, build_kb, fresh

XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<p onclick="alert(1)" style="color:red">x</p>',
    "<iframe src='https://evil.example'></iframe>",
    "<svg><script>alert(1)</script></svg>",
    "<style>body{display:none}</style>",
    '<a href="//evil.example/">x</a>',
    "<math><mi xlink:href='javascript:alert(1)'>x</mi></math>",
    '"><script>alert(1)</script>',
]


@pytest.mark.parametrize("payload", XSS)
def test_the_body_is_sanitised_on_save(kbw: KB, payload: str) -> None:
    # R9.4: rich text is stored as sanitised HTML, never as the raw input
    a = article(kbw.editor, body=f"<p>前言</p>{payload}<p>结尾</p>")
    stored = Article.objects.get(pk=a.pk).body
    lowered = stored.lower()
    for bad in (
        "<script",
        "onerror",
        "onclick",
        "javascript:",
        "<iframe",
        "<svg",
        "<style",
        "style=",
        "//evil",
        "<img",
        "<math",
    ):
        assert bad not in lowered, stored
    assert "<p>前言</p>" in stored and "<p>结尾</p>" in stored


def test_formatting_survives_and_links_are_made_safe() -> None:
    # R9.4: headings, emphasis, lists, quotes, tables and safe links are kept
    raw = (
        "<h1>标题</h1><p><strong>粗</strong> <em>斜</em> <u>下</u></p>"
        "<ul><li>一</li><li>二</li></ul>"
        '<blockquote>引用</blockquote><table><tr><td colspan="2">格</td></tr></table>'
        '<a href="https://example.com/a?b=1&amp;c=2" target="_blank">链接</a><p>未闭合'
    )
    html = sanitize(raw)
    assert html.startswith("<h2>标题</h2>")  # h1 becomes the article's h2
    for kept in (
        "<strong>粗</strong>",
        "<em>斜</em>",
        "<u>下</u>",
        "<li>一</li>",
        "<blockquote>引用</blockquote>",
        '<td colspan="2">格</td>',
    ):
        assert kept in html
    assert (
        '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">链接</a>'
        in html
    )
    assert html.endswith("<p>未闭合</p>")
    assert "target" not in html
    assert plain_text(html).splitlines()[0] == "标题"
    assert sanitize(sanitize(raw)) == html  # stable: sanitising twice changes nothing


def test_create_fills_plain_text_pinyin_and_tags(kbw: KB) -> None:
    # R9.4: pinyin (full and initials) of titles in stored columns, tags normalised
    a = kb.create_article(
        actor=kbw.editor,
        data={
            "title": "  销售 技巧  ",
            "body": "<p>第一段</p><p>第二段 <b>重点</b></p>",
            "tags": "谈判，报价, 谈判 ,,大客户",
        },
    )
    a.refresh_from_db()
    assert a.title == "销售 技巧"
    assert (a.title_pinyin, a.title_initials) == ("xiaoshoujiqiao", "xsjq")
    assert a.body_text == "第一段\n第二段 重点"
    assert a.tag_list == ["谈判", "报价", "大客户"]
    assert a.tags == ",谈判,报价,大客户,"
    assert a.status == ArticleStatus.DRAFT and a.author_id == kbw.editor.pk
    event = Event.objects.get(object_type="knowledge.article", object_id=str(a.pk))
    assert event.verb == "article.created" and event.actor_id == kbw.editor.pk


def test_bad_input_is_refused_with_field_errors_and_writes_nothing(kbw: KB, other_kbw: KB) -> None:
    # R9.4: validation names the field; nothing is written
    foreign_stage = other_kbw.stages()[0]
    cases = [
        ({"title": "   "}, {}, "title"),
        ({"title": "x" * 201}, {}, "title"),
        ({"title": "好", "category": "poem"}, {}, "category"),
        ({"title": "好", "tags": ["x" * 31]}, {}, "tags"),
        ({"title": "好", "tags": [f"t{i}" for i in range(21)]}, {}, "tags"),
        ({"title": "好"}, {"stage_ids": [foreign_stage.pk]}, "stage_ids"),
        ({"title": "好"}, {"industries": ["no-such-industry"]}, "industries"),
    ]
    before = (Article.objects.count(), Event.objects.count())
    for data, extra, field in cases:
        with pytest.raises(ValidationFailed) as refused:
            kb.create_article(actor=kbw.editor, data=data, **extra)
        assert field in refused.value.field_errors, (data, refused.value.field_errors)
    assert (Article.objects.count(), Event.objects.count()) == before


def test_who_may_write_publish_and_delete(kbw: KB) -> None:
    # R9.4: everyone reads; managers and marketing write and publish; directors also delete
    with pytest.raises(PermissionDenied):
        article(kbw.rep, publish=False)
    draft = article(kbw.editor, "报价策略", publish=False)
    with pytest.raises(PermissionDenied):
        kb.set_status(actor=kbw.rep, article=draft, status="published")
    with pytest.raises(PermissionDenied):  # another department's editor: not in scope
        kb.update_article(actor=kbw.editor2, article=draft, data={"title": "改"})
    published = kb.set_status(actor=kbw.editor, article=draft, status="published")
    assert published.status == ArticleStatus.PUBLISHED and published.published_at is not None
    with pytest.raises(InvalidTransition):
        kb.set_status(actor=kbw.editor, article=published, status="published")
    # a published article is organisation-wide: any editor may improve it
    kb.update_article(actor=kbw.editor2, article=published, data={"title": "报价策略（修订）"})
    with pytest.raises(PermissionDenied):  # managers may not delete
        kb.delete_article(actor=kbw.editor, article=published)
    own_draft = article(kbw.editor2, "二部草稿", publish=False)
    kb.delete_article(actor=kbw.editor2, article=own_draft)  # an author deletes an own draft
    kb.delete_article(actor=kbw.director, article=published)
    assert not Article.objects.filter(pk__in=[draft.pk, own_draft.pk]).exists()
    verbs = set(
        Event.objects.filter(object_type="knowledge.article").values_list("verb", flat=True)
    )
    assert verbs == {"article.created", "article.published", "article.updated", "article.deleted"}


def test_a_stale_edit_is_refused(kbw: KB) -> None:
    # R9.4 (DESIGN: edits carry a version)
    a = article(kbw.editor)
    kb.update_article(actor=kbw.editor, article=a, data={"title": "第一版"}, version=1)
    with pytest.raises(Conflict):
        kb.update_article(actor=kbw.director, article=a, data={"title": "第二版"}, version=1)
    assert Article.objects.get(pk=a.pk).title == "第一版"


def _lost_opportunity(kbw: KB) -> Opportunity:
    rep = fresh(kbw.rep)
    opp = kbw.opportunity
    second = kbw.stages()[1]
    opp_services.move_stage(actor=rep, opportunity=opp, stage=second, note="方案演示")
    for text in ("首次电话沟通需求", "现场演示产品", "对方反馈价格偏高"):
        activity_services.record_followup(
            actor=rep,
            customer=kbw.customer,
            opportunity=Opportunity.objects.get(pk=opp.pk),
            data={"method": "call", "content": text},
        )
    opp_services.lose_opportunity(
        actor=rep,
        opportunity=Opportunity.objects.get(pk=opp.pk),
        reason="price",
        note="对手低价 20%",
    )
    return Opportunity.objects.select_related("customer").get(pk=opp.pk)


def test_a_lost_opportunity_is_written_up_in_one_step(kbw: KB) -> None:
    # R9.4: a closed opportunity becomes a case, prefilled with customer, amount, stage
    # history, loss reason and follow-up summary
    open_opp = Opportunity.objects.get(pk=kbw.opportunity.pk)
    with pytest.raises(InvalidTransition):
        kb.write_up_case(actor=kbw.editor, opportunity=open_opp)
    lost = _lost_opportunity(kbw)
    with pytest.raises(PermissionDenied):  # reps read the knowledge base only
        kb.write_up_case(actor=kbw.rep, opportunity=lost)
    case = kb.write_up_case(actor=kbw.editor, opportunity=lost)
    case.refresh_from_db()
    assert case.category.key == "case_study" and case.status == "draft"
    assert case.opportunity_id == lost.pk and case.author_id == kbw.editor.pk
    assert "杭州数智制造有限公司" in case.title and "智能工厂一期" in case.title
    text = case.body_text
    history = list(
        StageHistory.objects.filter(opportunity=lost)
        .order_by("entered_at", "pk")
        .values_list("stage__name", flat=True)
    )
    assert len(history) >= 3
    for name in history:
        assert name in text
    for expected in ("¥500,000.00", "对手低价 20%", "首次电话沟通需求", "对方反馈价格偏高"):
        assert expected in text, text
    assert "3" in text.split("对方反馈价格偏高")[0]  # the follow-up count precedes the list
    assert list(case.industries.values_list("value", flat=True)) == ["manufacturing"]


def test_a_case_study_of_someone_elses_opportunity_out_of_scope_is_not_found(kbw: KB) -> None:
    # R9.4 with R1.x scope: the opportunity must be visible to the writer
    lost = _lost_opportunity(kbw)
    from crm.core.errors import NotFound

    with pytest.raises(NotFound):
        kb.write_up_case(actor=kbw.editor2, opportunity=lost)
    other = build_kb("第三家公司")
    with pytest.raises(NotFound):
        kb.write_up_case(actor=other.director, opportunity=lost)
    assert not Article.objects.filter(opportunity=lost).exists()
