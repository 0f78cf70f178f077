"""Demo opportunities, follow-ups and visit plans for ``crm demo``, built through the services
and then back-dated, so the lists, saved-query counts, board, history and funnel have half a
year of believable data: open deals in every stage, won and lost ones with reasons, overdue
feedback, next follow-ups this week and planned visits."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from crm.customers.models import Contact, Customer
from crm.pipeline import opportunities as opp_services
from crm.pipeline.choices import StageKind
from crm.pipeline.models import Opportunity, Pipeline, Stage, StageHistory

from . import services
from .models import FollowUp, Reminder, VisitPlan

PROJECTS = [
    "数据中心扩容项目",
    "ERP 升级改造",
    "网络安全等级保护建设",
    "智慧园区一期",
    "云桌面替换",
    "生产线 MES 实施",
    "视频会议系统采购",
    "灾备中心建设",
    "门户网站重构",
    "办公终端年度采购",
    "数据治理咨询",
    "运维外包服务续签",
]
PRODUCTS = [
    ("hardware", Decimal("68000.00")),
    ("software", Decimal("15800.00")),
    ("implementation", Decimal("2400.00")),
    ("maintenance", Decimal("36000.00")),
    ("training", Decimal("1200.00")),
]
CONTENTS = [
    ("call", "电话沟通需求，客户关注交付周期，约定下周发方案。", "发送技术方案"),
    ("visit", "上门拜访信息部，演示产品，客户技术负责人参与。", "安排 POC 测试"),
    ("wechat", "微信确认预算范围和采购流程，需走招标。", "确认招标时间"),
    ("meeting", "参加客户方案评审会，对比了两家竞品。", "提交报价"),
    ("email", "邮件发送报价单和资质文件。", "电话跟进报价反馈"),
    ("visit", "与采购经理面谈商务条款，付款方式待定。", "商务谈判"),
]


def build(org: Any, users: dict[str, Any]) -> None:
    """About four opportunities per rep-owned customer, with stage history spread over six
    months, then follow-ups, next follow-ups and visit plans."""
    rng = random.Random(2026)  # noqa: S311 - repeatable demo data, not security
    now = timezone.now()
    reps = [users[k] for k in ("rep1", "rep2", "rep3", "rep4", "rep5", "rep6")]
    pipelines = list(Pipeline.objects.filter(org=org, is_active=True).order_by("-is_default", "pk"))
    customers = list(
        Customer.objects.filter(org=org, owner__in=reps).select_related("owner").order_by("pk")
    )
    for customer in customers:
        owner = customer.owner
        assert owner is not None
        contact = Contact.objects.filter(customer=customer).first()
        for _n in range(rng.randint(1, 3)):
            pipeline = pipelines[0] if rng.random() < 0.7 else pipelines[-1]
            stages = list(
                Stage.objects.filter(
                    pipeline=pipeline, parent__isnull=True, is_active=True
                ).order_by("sort_order", "pk")
            )
            open_stages = [s for s in stages if s.kind == StageKind.OPEN]
            product, price = rng.choice(PRODUCTS)
            quantity = Decimal(rng.choice([1, 2, 3, 5, 10, 20]))
            opp = opp_services.create_opportunity(
                actor=owner,
                customer=customer,
                owner=owner,
                pipeline=pipeline,
                data={
                    "name": f"{customer.short_name or customer.name[:8]}{rng.choice(PROJECTS)}",
                    "contact": contact,
                    "expected_close_date": (now + timedelta(days=rng.randint(-20, 150))).date(),
                    "action_principle": rng.choice(["ensure", "strive_hard", "strive", "track"]),
                    "probability_level": rng.choice(["very_high", "high", "medium", "low"]),
                    "feedback_cycle": rng.choice(["3d", "7d", "7d", "14d"]),
                    "source": customer.source,
                    "is_key": rng.random() < 0.15,
                },
                lines=[{"product": product, "quantity": quantity, "unit_price": price}],
            )
            _age(opp, open_stages, stages, rng, now, owner, users)
    _followups(org, users, rng, now)
    _plans(org, rng, now)
    for customer in customers:
        opp_services.refresh_customer(customer.pk)


def _age(
    opp: Opportunity,
    open_stages: list[Stage],
    stages: list[Stage],
    rng: random.Random,
    now: Any,
    owner: Any,
    users: dict[str, Any],
) -> None:
    """Walk the opportunity through a random number of stages, then back-date its history."""
    steps = rng.randint(0, len(open_stages) - 1)
    outcome = rng.random()
    for stage in open_stages[1 : steps + 1]:
        opp = opp_services.move_stage(actor=users["admin"], opportunity=opp, stage=stage)
    if steps >= 2 and outcome < 0.22:
        amount = opp.expected_amount or Decimal("100000")
        opp = opp_services.win_opportunity(
            actor=users["admin"],
            opportunity=opp,
            actual_amount=(amount * Decimal(rng.choice(["0.9", "1", "1.05"]))).quantize(
                Decimal("0.01")
            ),
            actual_close_date=(now - timedelta(days=rng.randint(1, 60))).date(),
        )
    elif outcome > 0.85:
        opp = opp_services.lose_opportunity(
            actor=users["admin"],
            opportunity=opp,
            reason=rng.choice(["price", "competitor", "no_budget", "requirements"]),
            note="价格比竞品高约 15%，客户更看重本地化服务。",
        )
    # Back-date: the opportunity started 20–180 days ago, each stay lasted a few weeks.
    history = list(StageHistory.objects.filter(opportunity=opp).order_by("entered_at", "pk"))
    start = now - timedelta(days=rng.randint(20, 180))
    moment = start
    for i, row in enumerate(history):
        entered = moment
        if i + 1 < len(history):
            moment = min(now - timedelta(days=1), moment + timedelta(days=rng.randint(3, 25)))
            StageHistory.objects.filter(pk=row.pk).update(entered_at=entered, left_at=moment)
        else:
            StageHistory.objects.filter(pk=row.pk).update(entered_at=entered, left_at=None)
    opp_services.history_changed(opp.org_id, [opp.pk])
    closed_at = moment if opp.closed_at else None
    Opportunity.objects.filter(pk=opp.pk).update(
        created_at=start, stage_entered_at=moment, closed_at=closed_at
    )
    opp.refresh_from_db()
    opp_services.derive_deadlines(opp)
    Opportunity.objects.filter(pk=opp.pk).update(
        feedback_due_at=opp.feedback_due_at, stall_due_at=opp.stall_due_at
    )


def _followups(org: Any, users: dict[str, Any], rng: random.Random, now: Any) -> None:
    opps = list(
        Opportunity.objects.filter(org=org).select_related("customer", "owner").order_by("pk")
    )
    for opp in opps:
        for k in range(rng.randint(0, 4)):
            method, content, next_content = rng.choice(CONTENTS)
            happened = max(opp.created_at, now - timedelta(days=rng.randint(0, 45), hours=k))
            next_at = None
            if k == 0 and opp.is_open:
                next_at = now + timedelta(days=rng.randint(-3, 10), hours=rng.randint(0, 8))
                next_at = max(next_at, happened + timedelta(hours=1))
            fu = services.record_followup(
                actor=opp.owner,
                customer=opp.customer,
                opportunity=opp,
                contact=opp.contact,
                data={
                    "method": method,
                    "content": content,
                    "happened_at": happened,
                    "next_at": next_at,
                    "next_content": next_content if next_at else "",
                    "location": opp.customer.address if method == "visit" else "",
                },
            )
            FollowUp.objects.filter(pk=fu.pk).update(created_at=happened)
        if opp.is_open:
            opp_services.apply_followup(opp.pk)


def _plans(org: Any, rng: random.Random, now: Any) -> None:
    opps = list(
        Opportunity.objects.filter(org=org, status="continue")
        .select_related("customer", "owner")
        .order_by("pk")
    )
    for opp in opps[::3]:
        when = timezone.localtime(now + timedelta(days=rng.randint(-2, 12))).replace(
            hour=rng.choice([9, 10, 14, 15]), minute=0, second=0, microsecond=0
        )
        plan = services.plan_visit(
            actor=opp.owner,
            customer=opp.customer,
            opportunity=opp,
            contact=opp.contact,
            data={"planned_at": when, "purpose": "拜访关键人，推进到下一阶段"},
        )
        if when < now - timedelta(days=1):
            VisitPlan.objects.filter(pk=plan.pk).update(status="missed")


def clean(org: Any) -> None:
    """Follow-ups, plans and opportunities protect customers and users from deletion."""
    Reminder.objects.filter(org=org).delete()
    VisitPlan.objects.filter(org=org).delete()
    FollowUp.objects.filter(org=org).delete()
    StageHistory.objects.filter(org=org).delete()
    Opportunity.objects.filter(org=org).delete()
