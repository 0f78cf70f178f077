"""Lead scoring (R2.5): rules give points (each operator, behaviour caps), the score is
recomputed on create, edit, web form submission and follow-ups, the rescoring job, assignment
by score, score filters and validation."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from crm.core.errors import NotFound, PermissionDenied, ValidationFailed
from crm.core.models import Event
from crm.core.testing.world import World
from crm.leads import scoring, services
from crm.leads.filters import LeadFilter
from crm.leads.models import Lead, LeadScoringRule
from crm.marketing.models import Campaign
from tests.leads.conftest import Pools, fresh, new_lead


def add_rule(world: World, name: str, **data: Any) -> LeadScoringRule:
    data.setdefault("kind", "attribute")
    return scoring.save_rule(actor=fresh(world.users["marketing"]), data={"name": name, **data})


def rescored(lead: Lead) -> Lead:
    scoring.rescore_org(lead.org_id)
    lead.refresh_from_db()
    return lead


def test_attribute_operators(lw: World, pools: Pools) -> None:
    """R2.5: equals, in, contains and is_set give their points once, case- and space-blind."""
    add_rule(lw, "行业", field="industry", operator="equals", values=["Manufacturing"], points=20)
    add_rule(lw, "区域", field="region", operator="in", values=["华东", "华南"], points=15)
    add_rule(lw, "职位", field="title", operator="contains", values=["总监", "经理"], points=10)
    add_rule(lw, "有邮箱", field="email", operator="is_set", points=5)
    add_rule(lw, "无效来源", field="source", operator="equals", values=["exhibition"], points=-8)
    mk = lw.users["marketing"]
    lead = new_lead(
        mk,
        industry="manufacturing",
        region=" 华南 ",
        title="采购部经理",
        email="li@example.cn",
        source="exhibition",
    )
    lead.refresh_from_db()
    assert lead.score == 20 + 15 + 10 + 5 - 8
    assert {b["name"]: b["points"] for b in lead.score_breakdown} == {
        "行业": 20,
        "区域": 15,
        "职位": 10,
        "有邮箱": 5,
        "无效来源": -8,
    }
    plain = new_lead(mk, industry="it", region="华北", title="工程师")
    plain.refresh_from_db()
    assert plain.score == 0 and plain.score_breakdown == []


def test_custom_field_and_campaign_type(lw: World, pools: Pools) -> None:
    """R2.5: custom fields (custom:<key>) and the campaign's type are attributes too."""
    from crm.core import custom_fields

    custom_fields.create_field(
        actor=fresh(lw.admin),
        data={"target": "lead", "key": "budget_level", "label": "预算级别", "kind": "text"},
    )
    add_rule(lw, "高预算", field="custom:budget_level", operator="equals", values=["高"], points=30)
    add_rule(lw, "展会", field="campaign_type", operator="in", values=["exhibition"], points=12)
    campaign = Campaign.objects.create(
        org=lw.org, name="工博会", campaign_type="exhibition", owner=lw.admin
    )
    lead = new_lead(lw.users["marketing"], custom={"budget_level": "高"})
    Lead.objects.filter(pk=lead.pk).update(campaign=campaign)
    lead = rescored(Lead.objects.get(pk=lead.pk))
    assert lead.score == 42


def test_behaviour_caps_and_methods(lw: World, pools: Pools) -> None:
    """R2.5: behaviour rules count occurrences up to the cap; a method narrows follow-ups."""
    add_rule(lw, "跟进", kind="behaviour", event="followup", points=5, cap=3)
    add_rule(lw, "会议", kind="behaviour", event="followup", method="meeting", points=20)
    rep = lw.users["rep_east"]
    lead = new_lead(rep, owner=rep)
    for method in ["call", "call", "meeting", "email", "call"]:
        lead = scoring.log_followup(actor=fresh(rep), lead=lead, method=method, note="电话沟通")
    lead.refresh_from_db()
    assert lead.score_events["followup"] == 5 and lead.score_events["followup:call"] == 3
    assert lead.score == 3 * 5 + 20  # capped at 3 follow-ups; one meeting
    assert Event.objects.filter(object_id=str(lead.pk), verb="lead.followup").count() == 5


def test_web_form_submission_and_campaign_response(lw: World, pools: Pools) -> None:
    """R2.5: the public web form counts a form submission; a campaign lead a response."""
    from django.http import QueryDict

    from crm.leads import webform

    add_rule(lw, "表单", kind="behaviour", event="form_submission", points=25)
    add_rule(lw, "活动响应", kind="behaviour", event="campaign_response", points=7)
    lead = webform.submit(pools.east, QueryDict("company=表单公司&mobile=13900001111"))
    lead.refresh_from_db()
    assert lead.score_events == {"form_submission": 1}
    assert lead.score == 25
    typed = new_lead(lw.users["marketing"])
    typed.refresh_from_db()
    assert typed.score == 0  # created by a person, not the form
    campaign = Campaign.objects.create(
        org=lw.org, name="直播", campaign_type="webinar", owner=lw.admin
    )
    Lead.objects.filter(pk=typed.pk).update(campaign=campaign)
    assert rescored(typed).score == 7


def test_rescored_on_edit(lw: World, pools: Pools) -> None:
    """R2.5: editing a lead recomputes its score (without bumping its version twice)."""
    add_rule(lw, "华东", field="region", operator="equals", values=["华东"], points=40)
    rep = lw.users["rep_east"]
    lead = new_lead(rep, owner=rep, region="华南")
    lead.refresh_from_db()
    assert lead.score == 0
    version = lead.version
    lead = services.update_lead(actor=fresh(rep), lead=lead, data={"region": "华东"})
    assert lead.score == 40 and Lead.objects.get(pk=lead.pk).score == 40
    assert Lead.objects.get(pk=lead.pk).version == version + 1


def test_rule_change_rescores_every_lead(
    lw: World, pools: Pools, django_capture_on_commit_callbacks: Any
) -> None:
    """R2.5: saving or deleting a rule queues the rescoring job, which rescores all leads."""
    mk = lw.users["marketing"]
    leads = [new_lead(mk, region="华东", mobile=f"1380013{i:04d}") for i in range(5)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        rule = add_rule(lw, "华东", field="region", operator="equals", values=["华东"], points=9)
    assert len(callbacks) == 1
    assert {lead.score for lead in Lead.objects.filter(pk__in=[x.pk for x in leads])} == {9}
    with django_capture_on_commit_callbacks(execute=True):
        scoring.save_rule(
            actor=fresh(mk),
            rule=rule,
            data={"name": "华东", "kind": "attribute", "field": "region", "operator": "equals",
                  "values": ["华东"], "points": 11},
        )  # fmt: skip
    assert {lead.score for lead in Lead.objects.filter(pk__in=[x.pk for x in leads])} == {11}
    with django_capture_on_commit_callbacks(execute=True):
        scoring.delete_rule(actor=fresh(mk), rule=rule)
    lead = Lead.objects.get(pk=leads[0].pk)
    assert lead.score == 0 and lead.score_breakdown == []
    assert Event.objects.filter(verb="leadscoring.deleted").count() == 1


def test_rescore_in_batches(lw: World, pools: Pools) -> None:
    """R2.5: the job pages through the leads; only changed leads are written."""
    mk = lw.users["marketing"]
    for i in range(7):
        new_lead(mk, region="华南" if i % 2 else "华东", mobile=f"1390013{i:04d}")
    add_rule(lw, "华南", field="region", operator="equals", values=["华南"], points=3)
    assert scoring.rescore_org(lw.org.pk, batch_size=2) == 3
    assert scoring.rescore_org(lw.org.pk, batch_size=2) == 0
    assert Lead.objects.filter(org=lw.org, score=3).count() == 3


def test_assignment_by_score(lw: World, pools: Pools) -> None:
    """R2.5/R2.4: an assignment rule's min_score / max_score pick leads by score."""
    add_rule(lw, "经理", field="title", operator="contains", values=["经理"], points=60)
    mk = fresh(lw.users["marketing"])
    hot, cold = lw.users["rep_east"], lw.users["rep_east2"]
    services.save_rule(
        actor=mk,
        data={
            "name": "高分",
            "order": 1,
            "conditions": {"min_score": 50},
            "strategy": "fixed_user",
        },
        fixed_user=hot,
    )
    services.save_rule(
        actor=mk,
        data={
            "name": "低分",
            "order": 2,
            "conditions": {"max_score": 49},
            "strategy": "fixed_user",
        },
        fixed_user=cold,
    )
    a = new_lead(mk, title="采购经理")
    b = new_lead(mk, title="工程师", mobile="13700137000")
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.score, a.owner_id) == (60, hot.pk)
    assert (b.score, b.owner_id) == (0, cold.pk)
    rule = services.save_rule(
        actor=mk,
        data={"name": "区间", "conditions": {"min_score": 10, "max_score": 20, "region": ["华东"]}},
    )
    assert rule.conditions == {"region": ["华东"], "min_score": 10, "max_score": 20}


def test_assignment_score_bounds_validated(lw: World, pools: Pools) -> None:
    """R2.5: score bounds are whole numbers, the highest not below the lowest."""
    mk = fresh(lw.users["marketing"])
    with translation.override("en"), pytest.raises(ValidationFailed) as exc:
        services.save_rule(
            actor=mk, data={"name": "坏", "conditions": {"min_score": 30, "max_score": 10}}
        )
    assert "below the lowest" in str(exc.value.field_errors["max_score"][0])
    with pytest.raises(ValidationFailed) as exc:
        services.save_rule(actor=mk, data={"name": "坏", "conditions": {"min_score": "高"}})
    assert "min_score" in exc.value.field_errors
    assert not services.AssignmentRule.objects.filter(name="坏").exists()


def test_score_filter_and_sort(lw: World, pools: Pools) -> None:
    """R2.5: score_min / score_max narrow the list; sorting by score puts the best first."""
    add_rule(lw, "经理", field="title", operator="contains", values=["经理"], points=60)
    add_rule(lw, "邮箱", field="email", operator="is_set", points=20)
    mk = lw.users["marketing"]
    a = new_lead(mk, title="经理", email="a@example.cn")
    b = new_lead(mk, title="经理", mobile="13700137001")
    c = new_lead(mk, title="职员", email="c@example.cn")
    qs = Lead.objects.visible_to(fresh(mk))
    assert set(LeadFilter(score_min=60).apply(qs, mk)) == {a, b}
    assert set(LeadFilter(score_min=10, score_max=60).apply(qs, mk)) == {b, c}
    from crm.core.api import apply_sort
    from crm.leads.filters import LEAD_SORTS

    ordered = list(apply_sort(qs, "-score", LEAD_SORTS, ["-pk"]))
    assert ordered[:3] == [a, b, c]
    assert [scoring.grade(x.score) for x in ordered[:3]] == ["A", "B", "C"]


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"kind": "attribute", "field": "nonsense", "operator": "equals", "values": ["x"]},
         "field", "Choose a field"),
        ({"kind": "attribute", "field": "region", "operator": "equals", "values": ["a", "b"]},
         "values", "exactly one value"),
        ({"kind": "attribute", "field": "region", "operator": "in", "values": []},
         "values", "at least one value"),
        ({"kind": "attribute", "field": "region", "operator": "like", "values": ["a"]},
         "operator", "Choose an operator"),
        ({"kind": "behaviour", "event": "phone_home"}, "event", "Choose an event"),
        ({"kind": "behaviour", "event": "form_submission", "method": "call"},
         "method", "follow-ups only"),
        ({"kind": "behaviour", "event": "followup", "cap": 0}, "cap", "from 1 to"),
        ({"kind": "behaviour", "event": "followup", "points": 5000}, "points", "-1000 to 1000"),
        ({"kind": "behaviour", "event": "followup", "points": 0}, "points", "not 0"),
        ({"kind": "other"}, "kind", "attribute or behaviour"),
    ],
)  # fmt: skip
def test_rule_validation(lw: World, data: dict[str, Any], field: str, text: str) -> None:
    """R2.5: a bad rule gets a clear message on its field and nothing is written."""
    data = {"name": "坏规则", "points": 10, **data}
    with translation.override("en"), pytest.raises(ValidationFailed) as exc:
        scoring.save_rule(actor=fresh(lw.users["marketing"]), data=data)
    assert text in str(exc.value.field_errors[field][0])
    assert not LeadScoringRule.objects.filter(name="坏规则").exists()


def test_rule_name_unique_and_chinese_message(lw: World) -> None:
    """R2.5: two rules of one organisation cannot share a name (message in Chinese)."""
    add_rule(lw, "重复", field="region", operator="is_set", points=1)
    with pytest.raises(ValidationFailed) as exc:
        add_rule(lw, "重复", field="region", operator="is_set", points=2)
    assert "已存在" in str(exc.value.field_errors["name"][0]) or "exists" in str(
        exc.value.field_errors["name"][0]
    )


def test_only_configurers_and_own_org(lw: World, other_world: World) -> None:
    """R2.5: reps cannot define rules; another tenant's admin cannot change or delete ours."""
    rule = add_rule(lw, "行业", field="industry", operator="is_set", points=5)
    with pytest.raises(PermissionDenied):
        scoring.save_rule(
            actor=fresh(lw.users["rep_east"]),
            data={"name": "x", "kind": "attribute", "field": "region", "operator": "is_set",
                  "points": 1},
        )  # fmt: skip
    with pytest.raises(NotFound):
        scoring.save_rule(
            actor=fresh(other_world.admin),
            rule=rule,
            data={"name": "x", "kind": "attribute", "field": "region", "operator": "is_set",
                  "points": 1},
        )  # fmt: skip
    with pytest.raises(NotFound):
        scoring.delete_rule(actor=fresh(other_world.admin), rule=rule)
    assert LeadScoringRule.objects.get(pk=rule.pk).name == "行业"


def test_followup_needs_edit_scope(lw: World, pools: Pools, other_world: World) -> None:
    """R2.5: only who may edit the lead logs a follow-up; others get 404, nothing counted."""
    rep = lw.users["rep_east"]
    lead = new_lead(rep, owner=rep)
    for outsider in (lw.users["rep_south"], other_world.admin):
        with pytest.raises(NotFound):
            scoring.log_followup(actor=fresh(outsider), lead=lead, method="call")
    with translation.override("en"), pytest.raises(ValidationFailed) as exc:
        scoring.log_followup(actor=fresh(rep), lead=lead, method="telepathy")
    assert "Choose a method" in str(exc.value.field_errors["method"][0])
    assert Lead.objects.get(pk=lead.pk).score_events == {}


def test_preview(lw: World, pools: Pools) -> None:
    """R2.5: the preview says how many leads would get how many points, nothing saved."""
    add_rule(lw, "邮箱", field="email", operator="is_set", points=50)
    mk = lw.users["marketing"]
    new_lead(mk, title="经理", email="a@example.cn")
    new_lead(mk, title="经理", mobile="13700137002")
    new_lead(mk, title="职员", mobile="13700137003")
    result = scoring.preview(
        fresh(mk),
        {"name": "经理", "kind": "attribute", "field": "title", "operator": "contains",
         "values": ["经理"], "points": 30},
    )  # fmt: skip
    assert result["leads"] == 3 and result["matched"] == 2
    assert result["points"] == [{"points": 30, "leads": 2}]
    grades = {g["grade"]: (g["before"], g["after"]) for g in result["grades"]}
    assert grades["A"] == (0, 1) and grades["B"] == (1, 0) and grades["C"] == (0, 1)
    assert grades["D"] == (2, 1)
    assert not LeadScoringRule.objects.filter(name="经理").exists()
