"""The template pipelines and default dictionaries of a new organisation (R4.4, R4.5): the
IT-project pipeline reproduces seed 001's stages and nodes exactly, the generic B2B pipeline is
installed too, and both come in the organisation's default language."""

from __future__ import annotations

from typing import Any

from django.utils import translation

from crm.core.testing.world import World, make_org
from crm.pipeline import dictionaries
from crm.pipeline.choices import StageKind
from crm.pipeline.dictionaries import feedback_cycle_days
from crm.pipeline.models import DictionaryKind, Pipeline, Stage
from crm.pipeline.services import install_pipeline_templates
from crm.pipeline.templates_data import GENERIC_B2B, IT_PROJECT, TEMPLATES

from .conftest import b2b_pipeline, it_pipeline, tree

#: Seed 001, 某行业信息化项目典型销售阶段: every stage (numbered 1–6 and 8–11 in the seed) and
#: node, in the seed's order.
SEED_001 = [
    ("发现机会", []),
    ("潜在客户", []),
    ("合格支持者", []),
    ("权力支持者", []),
    ("立项决策", ["需求分析", "安全定级", "总体技术方案", "价格研讨", "应用需求提交"]),
    ("计划", ["计划上报", "计划下达", "计划取消", "计划转年"]),
    ("概预算", []),
    ("招标", []),
    ("成功结案", []),
    ("失败结案", []),
]

IT_TREE_EN = [
    ("Opportunity found", "open", 5, 30, True, []),
    ("Potential customer", "open", 10, 30, True, []),
    ("Qualified supporter", "open", 20, 60, True, []),
    ("Supporter with authority", "open", 30, 60, True, []),
    (
        "Project approval decision",
        "open",
        40,
        90,
        True,
        [
            "Requirements analysis",
            "Security classification",
            "Overall technical solution",
            "Price discussion",
            "Application requirements submitted",
        ],
    ),
    (
        "Plan",
        "open",
        55,
        180,
        True,
        ["Plan reported", "Plan issued", "Plan cancelled", "Plan moved to next year"],
    ),
    ("Budget estimate", "open", 70, 90, True, []),
    ("Tender", "open", 85, 60, True, []),
    ("Closed won", "won", 100, None, True, []),
    ("Closed lost", "lost", 0, None, True, []),
]

B2B_TREE_EN = [
    ("Initial contact", "open", 10, 14, True, []),
    ("Needs confirmed", "open", 30, 21, True, []),
    ("Proposal and quote", "open", 50, 30, True, []),
    ("Negotiation", "open", 70, 30, True, []),
    ("Won", "won", 100, None, True, []),
    ("Lost", "lost", 0, None, True, []),
]


def english_org(settings: Any) -> Any:
    settings.LANGUAGE_CODE = "en"
    org, _admin = make_org()
    return org


def test_it_template_data_is_the_seed_wording() -> None:
    # R4.5: the template's Chinese wording is seed 001's table, stage by stage and node by node
    assert [(s.zh, [n.zh for n in s.nodes]) for s in IT_PROJECT.stages] == SEED_001
    assert [s.zh for s in GENERIC_B2B.stages] == [
        "初步接洽",
        "需求确认",
        "方案报价",
        "商务谈判",
        "赢单",
        "输单",
    ]


def test_new_org_gets_the_it_pipeline_exactly_as_the_seed_lists_it(db: None, settings: Any) -> None:
    # R4.5: every stage and node in order, with kind, probability and days before stalled
    org = english_org(settings)
    it = it_pipeline(org)
    assert (it.name, it.business_type, it.is_default, it.is_active, it.sort_order) == (
        "IT project",
        "project",
        True,
        True,
        1,
    )
    assert tree(it) == IT_TREE_EN
    guidance = list(
        Stage.objects.filter(pipeline=it, parent=None)
        .order_by("sort_order")
        .values_list("guidance", flat=True)
    )
    with translation.override("en"):
        assert guidance == [str(s.guidance) for s in IT_PROJECT.stages]
    assert all(guidance)
    nodes = Stage.objects.filter(pipeline=it, parent__isnull=False)
    assert nodes.count() == 9
    assert set(nodes.values_list("kind", flat=True)) == {StageKind.OPEN}
    # a node starts with its stage's probability
    assert sorted(set(nodes.values_list("default_probability", flat=True))) == [40, 55]


def test_new_org_gets_the_generic_b2b_pipeline(db: None, settings: Any) -> None:
    # R4.5: the short generic pipeline, not the default
    org = english_org(settings)
    b2b = b2b_pipeline(org)
    assert (b2b.name, b2b.is_default, b2b.is_active, b2b.sort_order) == (
        "Standard B2B sale",
        False,
        True,
        2,
    )
    assert tree(b2b) == B2B_TREE_EN
    assert Pipeline.objects.filter(org=org).count() == 2


def test_template_names_follow_the_default_language(world: World) -> None:
    # R4.5: labels are data in the organisation's default language (zh-hans in the tests)
    with translation.override("zh-hans"):
        expected = [str(t.name) for t in TEMPLATES]
        it_names = [str(s.name) for s in IT_PROJECT.stages]
    assert (
        list(
            Pipeline.objects.filter(org=world.org)
            .order_by("sort_order")
            .values_list("name", flat=True)
        )
        == expected
    )
    assert [row[0] for row in tree(it_pipeline(world.org))] == it_names


def test_zh_catalogue_translates_the_templates_to_the_seed_wording() -> None:
    # R4.5 R11.4: in Chinese the stages read exactly as in seed 001 (needs the zh-Hans catalogue)
    with translation.override("zh-hans"):
        for template in TEMPLATES:
            assert str(template.name) == template.zh
            for stage in template.stages:
                assert str(stage.name) == stage.zh
                assert [str(n.name) for n in stage.nodes] == [n.zh for n in stage.nodes]


def test_installing_again_adds_nothing(world: World) -> None:
    # R4.5: the initializer is idempotent (by name) and keeps one default
    before = list(Pipeline.objects.filter(org=world.org).values_list("pk", flat=True))
    stages = Stage.objects.filter(org=world.org).count()
    install_pipeline_templates(world.org.pk)
    assert list(Pipeline.objects.filter(org=world.org).values_list("pk", flat=True)) == before
    assert Stage.objects.filter(org=world.org).count() == stages == 16 + 9


def test_new_org_gets_the_r44_dictionaries(world: World) -> None:
    # R4.4: probability levels, action principles, feedback cycles and loss reasons, in order
    values = {
        kind: [v for v, _label in dictionaries.choices(world.org.pk, kind)]
        for kind in (
            DictionaryKind.PROBABILITY_LEVEL,
            DictionaryKind.ACTION_PRINCIPLE,
            DictionaryKind.FEEDBACK_CYCLE,
            DictionaryKind.LOSS_REASON,
        )
    }
    assert values == {
        DictionaryKind.PROBABILITY_LEVEL: ["very_high", "high", "medium", "low"],
        DictionaryKind.ACTION_PRINCIPLE: ["ensure", "strive_hard", "strive", "track", "abandon"],
        DictionaryKind.FEEDBACK_CYCLE: ["1d", "3d", "7d", "14d", "30d"],
        DictionaryKind.LOSS_REASON: [
            "price",
            "competitor",
            "no_budget",
            "project_cancelled",
            "requirements",
            "relationship",
            "other",
        ],
    }


def test_feedback_cycle_values_carry_their_days() -> None:
    # R4.4: a feedback cycle's value is a number of days
    assert [feedback_cycle_days(v) for v in ("1d", "7d", "30d", "365d")] == [1, 7, 30, 365]
    assert [feedback_cycle_days(v) for v in ("", "0d", "7", "d", "7days", "1000d")] == [None] * 6
