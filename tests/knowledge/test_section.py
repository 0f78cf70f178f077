"""The "Knowledge" section of the opportunity page (R9.4): published articles linked to the
opportunity's current stage or its customer's industry, in one query however many articles
match, and the case-study button of a closed opportunity."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.core.testing.pages import with_sections
from crm.knowledge import selectors
from crm.knowledge.models import Article
from crm.pipeline import opportunities as opp_services
from crm.pipeline.models import Opportunity
from tests.conftest import login_client
from tests.knowledge.conftest import KB, article, fresh


def _related(kbw: KB) -> set[int]:
    opp = Opportunity.objects.select_related("customer").get(pk=kbw.opportunity.pk)
    return {a.pk for a in selectors.related_to_opportunity(fresh(kbw.rep), opp)}


def _independent(kbw: KB) -> set[int]:
    """Plain Python over every article: published, and linked to the current stage (or node)
    or to the customer's industry."""
    opp = Opportunity.objects.select_related("customer").get(pk=kbw.opportunity.pk)
    out = set()
    for a in Article.objects.all():
        stage_ids = {s.pk for s in a.stages.all()}
        industries = {i.value for i in a.industries.all()}
        if a.status == "published" and (
            opp.stage_id in stage_ids
            or (opp.node_id and opp.node_id in stage_ids)
            or opp.customer.industry in industries
        ):
            out.add(a.pk)
    return out


def test_articles_of_the_stage_and_the_industry_appear(kbw: KB) -> None:
    # R9.4: articles linked to pipeline stages and industries appear on the opportunity page
    first, second = kbw.stages()[:2]
    at_first = article(kbw.editor, "初步接洽话术", stage_ids=[first.pk])
    at_second = article(kbw.editor, "方案演示要点", stage_ids=[second.pk])
    industry = article(kbw.editor, "制造业采购流程", industries=["manufacturing"])
    article(kbw.editor, "金融业采购流程", industries=["finance"])
    article(kbw.editor, "初步接洽草稿", stage_ids=[first.pk], publish=False)
    both = article(kbw.editor, "两处都挂", stage_ids=[first.pk], industries=["manufacturing"])
    assert _related(kbw) == _independent(kbw) == {at_first.pk, industry.pk, both.pk}
    page = with_sections(
        login_client(kbw.rep), reverse("opportunities:detail", args=[kbw.opportunity.pk])
    )
    html = page.content.decode()
    assert page.status_code == 200 and 'id="section-knowledge"' in html
    for title in ("初步接洽话术", "制造业采购流程", "两处都挂"):
        assert title in html
    for title in ("方案演示要点", "金融业采购流程", "初步接洽草稿"):
        assert title not in html
    assert html.count(f'data-kb-article="{both.pk}"') == 1  # no duplicates
    # the opportunity moves on: the section follows its stage
    opp_services.move_stage(
        actor=fresh(kbw.rep),
        opportunity=Opportunity.objects.get(pk=kbw.opportunity.pk),
        stage=second,
    )
    # "both" stays through the customer's industry; the first stage's article goes
    assert _related(kbw) == _independent(kbw) == {at_second.pk, industry.pk, both.pk}


def test_the_section_costs_one_query_whatever_the_number_of_articles(kbw: KB) -> None:
    # R9.4 / DESIGN performance rules: no query per article
    first = kbw.stages()[0]
    article(kbw.editor, "一", stage_ids=[first.pk])
    opp = Opportunity.objects.select_related("customer").get(pk=kbw.opportunity.pk)
    rep = fresh(kbw.rep)
    selectors.related_to_opportunity(rep, opp)  # warm the user's role cache
    with CaptureQueriesContext(connection) as few:
        assert len(selectors.related_to_opportunity(rep, opp)) == 1
    for i in range(12):
        article(kbw.editor, f"文章{i}", stage_ids=[first.pk], industries=["manufacturing"])
    with CaptureQueriesContext(connection) as many:
        assert len(selectors.related_to_opportunity(rep, opp)) == 13
    assert len(few) == len(many) == 1


def test_the_section_is_hidden_without_the_permission(kbw: KB) -> None:
    # R9.4: needs knowledge:view (the world's scope roles do not grant it)
    article(kbw.editor, "初步接洽话术", stage_ids=[kbw.stages()[0].pk])
    user = kbw.world.users["director"]  # opportunities: all; knowledge: nothing
    html = with_sections(
        login_client(user), reverse("opportunities:detail", args=[kbw.opportunity.pk])
    ).content.decode()
    assert 'id="section-knowledge"' not in html and "初步接洽话术" not in html


def test_a_closed_opportunity_offers_the_case_study_button(kbw: KB) -> None:
    # R9.4: won/lost case studies in one step from the opportunity page
    url = reverse("opportunities:detail", args=[kbw.opportunity.pk])
    editor = login_client(kbw.director)
    assert 'id="kb-write-case"' not in with_sections(editor, url).content.decode()  # still open
    opp_services.lose_opportunity(
        actor=fresh(kbw.rep),
        opportunity=Opportunity.objects.get(pk=kbw.opportunity.pk),
        reason="price",
        note="价格没谈拢",
    )
    html = with_sections(editor, url).content.decode()
    assert 'id="kb-write-case"' in html
    assert 'id="kb-write-case"' not in with_sections(login_client(kbw.rep), url).content.decode()
    preview = editor.get(reverse("knowledge:case_create", args=[kbw.opportunity.pk]))
    assert preview.status_code == 200 and "价格没谈拢" in preview.content.decode()
    assert Article.objects.count() == 0  # the preview writes nothing
    r = editor.post(reverse("knowledge:case_create", args=[kbw.opportunity.pk]))
    case = Article.objects.get()
    assert r.status_code == 302 and r["Location"] == reverse("knowledge:edit", args=[case.pk])
    assert case.category.key == "case_study" and case.opportunity_id == kbw.opportunity.pk
    assert f'data-kb-case="{case.pk}"' in with_sections(editor, url).content.decode()
