"""The pipeline templates every new organisation starts with (R4.5), as data.

- ``IT_PROJECT``: the typical sales stages of an industry IT project from seed 001 (某行业信息化
  项目典型销售阶段), every stage and node in the seed's order. The seed numbers its stages 1–6
  and 8–11 (there is no stage 7), so the template has the ten stages it lists; 成功结案 is the
  won stage and 失败结案 the lost stage.
- ``GENERIC_B2B``: a short pipeline for ordinary product and service sales.

Names are English source text (translated like every string); ``zh`` holds the Simplified
Chinese wording of the seed, which is what the zh-Hans catalogue must translate them to.
``crm.pipeline.services.install_pipeline_templates`` installs the templates in the
organisation's default language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .choices import StageKind


@dataclass(frozen=True)
class NodeTemplate:
    """A node (sub-step) of a template stage."""

    name: Any
    zh: str


@dataclass(frozen=True)
class StageTemplate:
    """A stage of a template pipeline with its nodes."""

    name: Any
    zh: str
    probability: int
    kind: str = StageKind.OPEN
    max_days: int | None = None
    guidance: Any = ""
    nodes: tuple[NodeTemplate, ...] = ()


@dataclass(frozen=True)
class PipelineTemplate:
    """A whole pipeline: its name, business type (a business-category value) and stages."""

    key: str
    name: Any
    zh: str
    business_type: str
    description: Any
    is_default: bool
    stages: tuple[StageTemplate, ...]


IT_PROJECT = PipelineTemplate(
    key="it_project",
    name=pgettext_lazy("pipeline", "IT project"),
    zh="信息化项目",
    business_type="project",
    description=_(
        "The typical stages of an industry IT project for government and state-owned "
        "customers: from the first signal through approval, plan, budget and tender."
    ),
    is_default=True,
    stages=(
        StageTemplate(
            pgettext_lazy("pipeline stage", "Opportunity found"),
            "发现机会",
            5,
            max_days=30,
            guidance=_(
                "Record where the opportunity came from and who raised it. Leave when a "
                "contact at the customer confirms a need worth pursuing."
            ),
        ),
        StageTemplate(
            pgettext_lazy("pipeline stage", "Potential customer"),
            "潜在客户",
            10,
            max_days=30,
            guidance=_(
                "Learn the customer's organisation, current systems and plans. Leave when the "
                "need, the rough scope and the people involved are known."
            ),
        ),
        StageTemplate(
            pgettext_lazy("pipeline stage", "Qualified supporter"),
            "合格支持者",
            20,
            max_days=60,
            guidance=_(
                "Win a supporter inside the customer who shares information and introduces "
                "you. Leave when the supporter confirms the project is real."
            ),
        ),
        StageTemplate(
            pgettext_lazy("pipeline stage", "Supporter with authority"),
            "权力支持者",
            30,
            max_days=60,
            guidance=_(
                "Reach the person who decides and win their support. Leave when the "
                "decision-maker backs the project and agrees to start its approval."
            ),
        ),
        StageTemplate(
            pgettext_lazy("pipeline stage", "Project approval decision"),
            "立项决策",
            40,
            max_days=90,
            guidance=_(
                "Help the customer through the approval: requirements, security "
                "classification, overall technical solution, price. Leave when the project "
                "is approved."
            ),
            nodes=(
                NodeTemplate(pgettext_lazy("pipeline stage", "Requirements analysis"), "需求分析"),
                NodeTemplate(
                    pgettext_lazy("pipeline stage", "Security classification"), "安全定级"
                ),
                NodeTemplate(
                    pgettext_lazy("pipeline stage", "Overall technical solution"), "总体技术方案"
                ),
                NodeTemplate(pgettext_lazy("pipeline stage", "Price discussion"), "价格研讨"),
                NodeTemplate(
                    pgettext_lazy("pipeline stage", "Application requirements submitted"),
                    "应用需求提交",
                ),
            ),
        ),
        StageTemplate(
            pgettext_lazy("pipeline stage", "Plan"),
            "计划",
            55,
            max_days=180,
            guidance=_(
                "Follow the project through the customer's plan: reported, issued, cancelled "
                "or moved to next year. Leave when the plan is issued."
            ),
            nodes=(
                NodeTemplate(pgettext_lazy("pipeline stage", "Plan reported"), "计划上报"),
                NodeTemplate(pgettext_lazy("pipeline stage", "Plan issued"), "计划下达"),
                NodeTemplate(pgettext_lazy("pipeline stage", "Plan cancelled"), "计划取消"),
                NodeTemplate(
                    pgettext_lazy("pipeline stage", "Plan moved to next year"), "计划转年"
                ),
            ),
        ),
        StageTemplate(
            pgettext_lazy("pipeline stage", "Budget estimate"),
            "概预算",
            70,
            max_days=90,
            guidance=_(
                "Support the budget estimate and make sure it covers your solution. Leave "
                "when the budget is approved."
            ),
        ),
        StageTemplate(
            pgettext_lazy("pipeline stage", "Tender"),
            "招标",
            85,
            max_days=60,
            guidance=_(
                "Prepare and submit the bid and follow the evaluation. Leave when the award "
                "is announced."
            ),
        ),
        StageTemplate(
            pgettext_lazy("pipeline stage", "Closed won"),
            "成功结案",
            100,
            kind=StageKind.WON,
            guidance=_("The deal is won: record the actual close date and amount."),
        ),
        StageTemplate(
            pgettext_lazy("pipeline stage", "Closed lost"),
            "失败结案",
            0,
            kind=StageKind.LOST,
            guidance=_("The deal is lost: record the reason and what we learned."),
        ),
    ),
)

GENERIC_B2B = PipelineTemplate(
    key="generic_b2b",
    name=pgettext_lazy("pipeline", "Standard B2B sale"),
    zh="通用B2B销售",
    business_type="product",
    description=_("A short pipeline for ordinary product and service sales."),
    is_default=False,
    stages=(
        StageTemplate(
            pgettext_lazy("pipeline stage", "Initial contact"),
            "初步接洽",
            10,
            max_days=14,
            guidance=_(
                "Reach the contact and introduce the company. Leave when the customer agrees "
                "to talk about a need."
            ),
        ),
        StageTemplate(
            pgettext_lazy("pipeline stage", "Needs confirmed"),
            "需求确认",
            30,
            max_days=21,
            guidance=_(
                "Confirm the need, the budget, who decides and when. Leave when all four are known."
            ),
        ),
        StageTemplate(
            pgettext_lazy("pipeline stage", "Proposal and quote"),
            "方案报价",
            50,
            max_days=30,
            guidance=_(
                "Send the proposal and the quote. Leave when the customer has reviewed them "
                "and wants to negotiate."
            ),
        ),
        StageTemplate(
            pgettext_lazy("pipeline stage", "Negotiation"),
            "商务谈判",
            70,
            max_days=30,
            guidance=_(
                "Agree on price, terms and the contract. Leave when the contract is signed or "
                "the customer says no."
            ),
        ),
        StageTemplate(
            pgettext_lazy("pipeline stage", "Won"),
            "赢单",
            100,
            kind=StageKind.WON,
            guidance=_("The deal is won: record the actual close date and amount."),
        ),
        StageTemplate(
            pgettext_lazy("pipeline stage", "Lost"),
            "输单",
            0,
            kind=StageKind.LOST,
            guidance=_("The deal is lost: record the reason and what we learned."),
        ),
    ),
)

#: Installed for every new organisation, in this order; the first is the default pipeline.
TEMPLATES: tuple[PipelineTemplate, ...] = (IT_PROJECT, GENERIC_B2B)
