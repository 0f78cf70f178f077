"""Services of pipelines, stages, nodes and dictionaries (R4.4, R4.5): every validation rule,
permissions, other organisations, retire versus delete, and the events written. Refused actions
change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from crm.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from crm.core.models import Event
from crm.core.testing.world import World
from crm.org.models import User
from crm.pipeline import dictionaries, services
from crm.pipeline.choices import StageKind
from crm.pipeline.models import DictionaryItem, DictionaryKind, Pipeline, Stage

from .conftest import b2b_pipeline, fresh, it_pipeline, stage_named, state, top, tree


def refused(org: Any, exc: type[Exception], fn: Any, **kwargs: Any) -> Exception:
    """Call ``fn`` (in English) expecting ``exc``; assert nothing in ``org`` changed."""
    before = state(org)
    with translation.override("en"), pytest.raises(exc) as info:
        fn(**kwargs)
    assert state(org) == before
    return info.value


def field_errors(err: Exception) -> dict[str, list[str]]:
    assert isinstance(err, ValidationFailed)
    return {k: [str(m) for m in v] for k, v in err.field_errors.items()}


def events(org: Any, verb: str) -> list[Event]:
    return list(Event.objects.filter(org=org, verb=verb).order_by("pk"))


# --- pipelines -----------------------------------------------------------------------------------


def test_new_pipeline_starts_with_a_won_and_a_lost_stage(world: World, admin: User) -> None:
    # R4.4: a pipeline per business type, born valid
    p = services.save_pipeline(
        actor=admin, data={"name": "渠道销售", "business_type": "service", "description": "经销商"}
    )
    assert (p.name, p.business_type, p.description, p.is_active, p.is_default, p.sort_order) == (
        "渠道销售",
        "service",
        "经销商",
        True,
        False,
        3,
    )
    assert [(s.kind, s.default_probability, s.sort_order) for s in top(p)] == [
        (StageKind.WON, 100, 1),
        (StageKind.LOST, 0, 2),
    ]
    [event] = events(world.org, "pipeline.created")
    assert event.object_id == str(p.pk)
    assert event.changes["name"] == [None, "渠道销售"]
    assert len(events(world.org, "stage.created")) == 2


def test_pipeline_names_are_unique_per_org(world: World, admin: User, other_world: World) -> None:
    # R4.4: unique name per organisation (another organisation may use it)
    it = it_pipeline(world.org)
    err = refused(
        world.org, ValidationFailed, services.save_pipeline, actor=admin, data={"name": it.name}
    )
    assert field_errors(err) == {"name": ["A pipeline with this name exists."]}
    other = services.save_pipeline(actor=fresh(other_world.admin), data={"name": "渠道销售"})
    mine = services.save_pipeline(actor=admin, data={"name": "渠道销售"})
    assert (other.org_id, mine.org_id) == (other_world.org.pk, world.org.pk)


def test_pipeline_rules(world: World, admin: User) -> None:
    # R4.4: name required, business type from the list, the default stays active and default
    it, b2b = it_pipeline(world.org), b2b_pipeline(world.org)
    cases = [
        ({"name": "  "}, None, "name"),
        ({"name": "x", "business_type": "nonsense"}, None, "business_type"),
        ({"is_active": False}, it, "is_active"),
        ({"is_default": False}, it, "is_default"),
        ({"is_default": True, "is_active": False}, b2b, "is_active"),
        ({"sort_order": -1}, b2b, "sort_order"),
    ]
    for data, pipeline, field in cases:
        err = refused(
            world.org,
            ValidationFailed,
            services.save_pipeline,
            actor=admin,
            pipeline=pipeline,
            data=data,
        )
        assert list(field_errors(err)) == [field], data


def test_making_another_pipeline_default_moves_the_flag(world: World, admin: User) -> None:
    # R4.4: one default pipeline per organisation
    it, b2b = it_pipeline(world.org), b2b_pipeline(world.org)
    old_name = b2b.name
    services.save_pipeline(actor=admin, pipeline=b2b, data={"is_default": True, "name": "B2B"})
    assert list(
        Pipeline.objects.filter(org=world.org).order_by("pk").values_list("pk", "is_default")
    ) == [(it.pk, False), (b2b.pk, True)]
    [event] = events(world.org, "pipeline.updated")
    assert event.changes == {"is_default": [False, True], "name": [old_name, "B2B"]}
    # the former default may now be deactivated
    services.save_pipeline(actor=admin, pipeline=it, data={"is_active": False})
    assert Pipeline.objects.get(pk=it.pk).is_active is False


def test_copy_takes_the_active_stages_and_nodes(world: World, admin: User) -> None:
    # R4.4: copy a pipeline to start another purchase type
    it = it_pipeline(world.org)
    services.retire_stage(actor=admin, stage=stage_named(it, top(it)[1].name))
    plan = top(it)[5]
    services.retire_stage(actor=admin, stage=Stage.objects.filter(parent=plan).first())
    copy = services.copy_pipeline(actor=admin, pipeline=it, name="央企项目")
    active_nodes = {
        s.pk: [
            n.name for n in Stage.objects.filter(parent=s, is_active=True).order_by("sort_order")
        ]
        for s in top(it)
    }
    expected = [
        (*row[:5], active_nodes[stage.pk])
        for stage, row in zip(top(it), tree(it), strict=True)
        if stage.is_active
    ]
    assert len(expected) == 9
    assert len(expected[4][5]) == 3  # 计划 without its retired first node
    assert tree(copy) == expected
    assert (copy.is_default, copy.business_type, copy.description) == (
        False,
        "project",
        it.description,
    )
    [event] = events(world.org, "pipeline.copied")
    assert event.data == {"source_id": it.pk, "source": it.name}


# --- stages: validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "A", "default_probability": 101}, "default_probability"),
        ({"name": "A", "default_probability": -1}, "default_probability"),
        ({"name": "A", "default_probability": "abc"}, "default_probability"),
        ({"name": "A", "default_probability": 50.5}, "default_probability"),
        ({"name": "A", "max_days": 0}, "max_days"),
        ({"name": "A", "max_days": -3}, "max_days"),
        ({"name": ""}, "name"),
        ({"name": "A", "kind": "maybe"}, "kind"),
    ],
)
def test_stage_field_rules(world: World, admin: User, data: dict[str, Any], field: str) -> None:
    # R4.4: probability 0–100, max days ≥ 1, a name, a known kind
    err = refused(
        world.org,
        ValidationFailed,
        services.add_stage,
        actor=admin,
        pipeline=b2b_pipeline(world.org),
        data=data,
    )
    assert list(field_errors(err)) == [field]


def test_probability_bounds_and_empty_max_days_are_accepted(world: World, admin: User) -> None:
    # R4.4: 0 and 100 are valid; no max days means the stage never stalls
    b2b = b2b_pipeline(world.org)
    low = services.add_stage(
        actor=admin, pipeline=b2b, data={"name": "冷线索", "default_probability": 0}
    )
    high = services.add_stage(
        actor=admin,
        pipeline=b2b,
        data={"name": "待签约", "default_probability": 100, "max_days": 1},
    )
    assert (low.default_probability, low.max_days, high.default_probability, high.max_days) == (
        0,
        None,
        100,
        1,
    )


def test_an_open_stage_goes_after_the_last_open_stage(world: World, admin: User) -> None:
    # R4.4: open stages stay before won and lost ones
    b2b = b2b_pipeline(world.org)
    stage = services.add_stage(
        actor=admin,
        pipeline=b2b,
        data={"name": "签约", "default_probability": 90, "max_days": 10, "guidance": "盖章"},
    )
    assert [(s.kind, s.sort_order) for s in top(b2b)] == [
        *[("open", n) for n in range(1, 6)],
        ("won", 6),
        ("lost", 7),
    ]
    assert top(b2b)[4].name == "签约"
    assert (stage.kind, stage.guidance, stage.sort_order) == (StageKind.OPEN, "盖章", 5)
    [event] = events(world.org, "stage.created")
    assert event.changes["name"] == [None, "签约"]
    assert event.changes["default_probability"] == [None, 90]


def test_exactly_one_won_stage(world: World, admin: User) -> None:
    # R4.4: a second won stage, or none, is refused
    b2b = b2b_pipeline(world.org)
    won = next(s for s in top(b2b) if s.kind == StageKind.WON)
    lost = next(s for s in top(b2b) if s.kind == StageKind.LOST)
    one_won = "A pipeline has exactly one active won stage."
    for fn, kwargs, expected in [
        (
            services.add_stage,
            {"pipeline": b2b, "data": {"name": "大单", "kind": StageKind.WON}},
            [one_won],
        ),
        (services.retire_stage, {"stage": won}, [one_won]),
        (services.delete_stage, {"stage": won}, [one_won]),
        (services.update_stage, {"stage": won, "data": {"kind": StageKind.OPEN}}, [one_won]),
        (
            services.update_stage,
            {"stage": lost, "data": {"kind": StageKind.WON}},
            [one_won, "A pipeline needs at least one active lost stage."],
        ),
    ]:
        err = refused(world.org, ValidationFailed, fn, actor=admin, **kwargs)
        assert field_errors(err) == {"kind": expected}


def test_at_least_one_lost_stage(world: World, admin: User) -> None:
    # R4.4: the last lost stage cannot go; with a second one it can
    b2b = b2b_pipeline(world.org)
    lost = next(s for s in top(b2b) if s.kind == StageKind.LOST)
    for fn in (services.retire_stage, services.delete_stage):
        err = refused(world.org, ValidationFailed, fn, actor=admin, stage=lost)
        assert field_errors(err) == {"kind": ["A pipeline needs at least one active lost stage."]}
    second = services.add_stage(
        actor=admin, pipeline=b2b, data={"name": "客户放弃", "kind": StageKind.LOST}
    )
    assert (second.sort_order, second.default_probability, second.max_days) == (7, 0, None)
    services.retire_stage(actor=admin, stage=lost)
    assert Stage.objects.get(pk=lost.pk).is_active is False


def test_open_stages_come_before_closed_ones_when_reordering(world: World, admin: User) -> None:
    # R4.4: a reorder that puts an open stage after won or lost is refused
    b2b = b2b_pipeline(world.org)
    ids = [s.pk for s in top(b2b)]
    bad = [ids[0], ids[1], ids[2], ids[4], ids[3], ids[5]]
    err = refused(
        world.org, ValidationFailed, services.reorder_stages, actor=admin, pipeline=b2b, ids=bad
    )
    assert field_errors(err) == {"kind": ["Open stages come before the won and lost stages."]}
    # a valid order is saved and recorded
    good = [ids[1], ids[0], ids[2], ids[3], ids[5], ids[4]]
    services.reorder_stages(actor=admin, pipeline=b2b, ids=good)
    assert [s.pk for s in top(b2b)] == good
    [event] = events(world.org, "stage.reordered")
    assert (event.object_id, event.changes) == (str(b2b.pk), {"stages": [ids, good]})


def test_reorder_needs_every_sibling_exactly_once(
    world: World, admin: User, other_world: World
) -> None:
    # R4.4: missing, repeated or foreign ids are refused
    b2b = b2b_pipeline(world.org)
    ids = [s.pk for s in top(b2b)]
    foreign = top(it_pipeline(other_world.org))[0].pk
    for bad in (ids[:-1], [*ids, ids[0]], [*ids[:-1], foreign], [*ids, foreign]):
        err = refused(
            world.org, ValidationFailed, services.reorder_stages, actor=admin, pipeline=b2b, ids=bad
        )
        assert list(field_errors(err)) == ["ids"]


def test_changing_kind_moves_the_stage_after_the_open_ones(world: World, admin: User) -> None:
    # R4.4: an open stage turned into a lost one moves right after the open stages
    b2b = b2b_pipeline(world.org)
    ids = [s.pk for s in top(b2b)]
    first = top(b2b)[0]
    services.update_stage(actor=admin, stage=first, data={"kind": StageKind.LOST, "max_days": 5})
    assert [(s.pk, s.kind, s.sort_order) for s in top(b2b)] == [
        (ids[1], "open", 1),
        (ids[2], "open", 2),
        (ids[3], "open", 3),
        (ids[0], "lost", 4),
        (ids[4], "won", 5),
        (ids[5], "lost", 6),
    ]
    assert Stage.objects.get(pk=first.pk).max_days is None  # won and lost stages never stall
    [event] = events(world.org, "stage.updated")
    assert event.changes == {"kind": ["open", "lost"], "max_days": [14, None]}


def test_stage_names_are_unique_among_siblings(world: World, admin: User) -> None:
    # R4.4: two stages of one pipeline (or two nodes of one stage) cannot share a name
    b2b = b2b_pipeline(world.org)
    first, second = top(b2b)[:2]
    for fn, kwargs in [
        (services.add_stage, {"pipeline": b2b, "data": {"name": first.name}}),
        (services.update_stage, {"stage": second, "data": {"name": first.name}}),
    ]:
        err = refused(world.org, ValidationFailed, fn, actor=admin, **kwargs)
        assert list(field_errors(err)) == ["name"]
    node = services.add_node(actor=admin, stage=first, data={"name": "电话"})
    err = refused(
        world.org,
        ValidationFailed,
        services.add_node,
        actor=admin,
        stage=first,
        data={"name": "电话"},
    )
    assert list(field_errors(err)) == ["name"]
    # the same node name under another stage is fine
    assert services.add_node(actor=admin, stage=second, data={"name": "电话"}).pk != node.pk


# --- nodes ---------------------------------------------------------------------------------------


def test_nodes_only_under_open_stages(world: World, admin: User) -> None:
    # R4.4: no node under a won/lost stage or under a node; a stage with nodes stays open
    it = it_pipeline(world.org)
    stages = top(it)
    won, approval = stages[8], stages[4]
    node = Stage.objects.filter(parent=approval).first()
    assert node is not None
    for fn, kwargs, field in [
        (services.add_node, {"stage": won, "data": {"name": "回款"}}, "parent"),
        (services.add_node, {"stage": node, "data": {"name": "子节点"}}, "parent"),
        (services.update_stage, {"stage": approval, "data": {"kind": StageKind.LOST}}, "kind"),
        (services.update_stage, {"stage": node, "data": {"kind": StageKind.WON}}, "kind"),
    ]:
        err = refused(world.org, ValidationFailed, fn, actor=admin, **kwargs)
        assert list(field_errors(err)) == [field]


def test_add_node_takes_the_stage_probability_and_goes_last(world: World, admin: User) -> None:
    # R4.4: nodes in order under their stage
    it = it_pipeline(world.org)
    plan = top(it)[5]
    node = services.add_node(actor=admin, stage=plan, data={"name": "计划调整", "guidance": "跟进"})
    assert (
        node.parent_id,
        node.kind,
        node.default_probability,
        node.sort_order,
        node.guidance,
    ) == (
        plan.pk,
        StageKind.OPEN,
        55,
        5,
        "跟进",
    )
    [event] = events(world.org, "node.created")
    assert event.changes["parent"] == [None, plan.pk]


def test_reorder_nodes(world: World, admin: User) -> None:
    # R4.4: nodes are reordered within their stage only
    it = it_pipeline(world.org)
    plan = top(it)[5]
    ids = list(
        Stage.objects.filter(parent=plan).order_by("sort_order").values_list("pk", flat=True)
    )
    new = [ids[3], ids[0], ids[1], ids[2]]
    services.reorder_stages(actor=admin, pipeline=it, ids=new, parent=plan)
    assert (
        list(Stage.objects.filter(parent=plan).order_by("sort_order").values_list("pk", flat=True))
        == new
    )
    [event] = events(world.org, "node.reordered")
    assert (event.object_id, event.changes) == (str(plan.pk), {"nodes": [ids, new]})
    services.move_stage(actor=admin, stage=Stage.objects.get(pk=ids[0]), offset=-1)
    assert list(
        Stage.objects.filter(parent=plan).order_by("sort_order").values_list("pk", flat=True)
    ) == [ids[0], ids[3], ids[1], ids[2]]


def test_move_stage_up_and_down(world: World, admin: User) -> None:
    # R4.4: up/down buttons reorder; moving the first open stage up changes nothing
    b2b = b2b_pipeline(world.org)
    ids = [s.pk for s in top(b2b)]
    services.move_stage(actor=admin, stage=top(b2b)[0], offset=-1)
    assert [s.pk for s in top(b2b)] == ids
    services.move_stage(actor=admin, stage=top(b2b)[0], offset=1)
    assert [s.pk for s in top(b2b)] == [ids[1], ids[0], *ids[2:]]
    # the last open stage cannot pass the won stage
    err = refused(
        world.org, ValidationFailed, services.move_stage, actor=admin, stage=top(b2b)[3], offset=1
    )
    assert list(field_errors(err)) == ["kind"]


# --- retire, restore, delete ---------------------------------------------------------------------


def test_unused_stage_is_deleted_with_its_nodes(world: World, admin: User) -> None:
    # R4.4: with no stage_in_use hook registered, a stage can be deleted
    it = it_pipeline(world.org)
    approval = top(it)[4]
    node_ids = list(Stage.objects.filter(parent=approval).values_list("pk", flat=True))
    services.delete_stage(actor=admin, stage=approval)
    assert not Stage.objects.filter(pk__in=[approval.pk, *node_ids]).exists()
    assert [s.sort_order for s in top(it)] == list(range(1, 10))
    [event] = events(world.org, "stage.deleted")
    assert (event.object_type, event.object_id, event.changes) == (
        "pipeline.pipeline",
        str(it.pk),
        {"name": [approval.name, None]},
    )


def test_unused_node_is_deleted(world: World, admin: User) -> None:
    # R4.4: nodes renumber after a deletion
    it = it_pipeline(world.org)
    plan = top(it)[5]
    nodes = list(Stage.objects.filter(parent=plan).order_by("sort_order"))
    services.delete_stage(actor=admin, stage=nodes[1])
    assert list(
        Stage.objects.filter(parent=plan).order_by("sort_order").values_list("pk", "sort_order")
    ) == [(nodes[0].pk, 1), (nodes[2].pk, 2), (nodes[3].pk, 3)]
    [event] = events(world.org, "node.deleted")
    assert (event.object_id, event.changes) == (str(plan.pk), {"name": [nodes[1].name, None]})


def test_a_stage_in_use_can_only_be_retired(world: World, admin: User) -> None:
    # R4.4: stages in use cannot be deleted, only retired (hooks from the opportunities module)
    it = it_pipeline(world.org)
    tender, approval = top(it)[7], top(it)[4]
    node = Stage.objects.filter(parent=approval).last()
    assert node is not None
    used = {tender.pk, node.pk}
    services.register_stage_in_use(lambda stage: stage.pk in used)
    for target in (tender, approval, node):  # a stage whose node is used counts as used
        refused(world.org, Conflict, services.delete_stage, actor=admin, stage=target)
    services.retire_stage(actor=admin, stage=tender)
    assert Stage.objects.get(pk=tender.pk).is_active is False
    [event] = events(world.org, "stage.retired")
    assert (event.object_id, event.changes) == (str(tender.pk), {"is_active": [True, False]})
    # retiring twice is a no-op; restoring brings it back
    services.retire_stage(actor=admin, stage=Stage.objects.get(pk=tender.pk))
    assert len(events(world.org, "stage.retired")) == 1
    services.restore_stage(actor=admin, stage=Stage.objects.get(pk=tender.pk))
    assert Stage.objects.get(pk=tender.pk).is_active is True
    assert len(events(world.org, "stage.restored")) == 1


# --- permissions and other organisations ---------------------------------------------------------


def test_a_rep_may_change_nothing(world: World, rep: User) -> None:
    # R4.4 R1.3: configuring needs opportunities:configure or settings:configure
    it = it_pipeline(world.org)
    stage = top(it)[0]
    item = DictionaryItem.objects.filter(org=world.org).first()
    assert item is not None
    calls = [
        (services.save_pipeline, {"data": {"name": "新流程"}}),
        (services.save_pipeline, {"pipeline": it, "data": {"name": "改名"}}),
        (services.copy_pipeline, {"pipeline": it, "name": "副本"}),
        (services.reorder_pipelines, {"ids": [it.pk]}),
        (services.add_stage, {"pipeline": it, "data": {"name": "新阶段"}}),
        (services.add_node, {"stage": stage, "data": {"name": "新节点"}}),
        (services.update_stage, {"stage": stage, "data": {"name": "改名"}}),
        (services.reorder_stages, {"pipeline": it, "ids": [s.pk for s in top(it)]}),
        (services.retire_stage, {"stage": stage}),
        (services.restore_stage, {"stage": stage}),
        (services.delete_stage, {"stage": stage}),
        (services.add_dictionary_item, {"kind": "loss_reason", "label": "天气"}),
        (services.rename_dictionary_item, {"item": item, "label": "改名"}),
        (services.reorder_dictionary_items, {"kind": item.kind, "ids": [item.pk]}),
        (services.deactivate_dictionary_item, {"item": item}),
    ]
    for fn, kwargs in calls:
        refused(world.org, PermissionDenied, fn, actor=rep, **kwargs)


def test_opportunities_configure_is_enough(world: World, rep: User) -> None:
    # R4.4: a role with opportunities:configure (not settings) may configure pipelines
    from crm.core.scoping import DataScope
    from crm.core.testing.world import make_role, make_user

    cfg = make_role(
        world.admin, "流程管理员", DataScope.ALL, ["opportunities:view", "opportunities:configure"]
    )
    user = make_user(world.admin, "流程专员", world.depts["root"], [cfg])
    stage = services.add_stage(actor=user, pipeline=b2b_pipeline(world.org), data={"name": "试用"})
    assert stage.org_id == world.org.pk
    assert services.can_configure(user) is True
    assert services.can_configure(rep) is False


def test_another_organisations_records_are_not_found(world: World, other_world: World) -> None:
    # R1.1 R4.4: an admin of another organisation cannot touch these pipelines or dictionaries
    outsider = fresh(other_world.admin)
    it = it_pipeline(world.org)
    stage = top(it)[0]
    item = DictionaryItem.objects.filter(org=world.org).first()
    calls = [
        (services.save_pipeline, {"pipeline": it, "data": {"name": "改名"}}),
        (services.copy_pipeline, {"pipeline": it, "name": "副本"}),
        (services.add_stage, {"pipeline": it, "data": {"name": "新阶段"}}),
        (services.add_node, {"stage": stage, "data": {"name": "新节点"}}),
        (services.update_stage, {"stage": stage, "data": {"name": "改名"}}),
        (services.reorder_stages, {"pipeline": it, "ids": [s.pk for s in top(it)]}),
        (services.retire_stage, {"stage": stage}),
        (services.delete_stage, {"stage": stage}),
        (services.rename_dictionary_item, {"item": item, "label": "改名"}),
        (services.deactivate_dictionary_item, {"item": item}),
    ]
    theirs = state(other_world.org)
    for fn, kwargs in calls:
        refused(world.org, NotFound, fn, actor=outsider, **kwargs)
    assert state(other_world.org) == theirs


# --- dictionaries --------------------------------------------------------------------------------


def test_add_dictionary_item(world: World, admin: User) -> None:
    # R4.4: an item goes last; its value is given or derived from the label
    item = services.add_dictionary_item(
        actor=admin, kind=DictionaryKind.LOSS_REASON, label="交付周期太长", value="lead_time"
    )
    derived = services.add_dictionary_item(
        actor=admin, kind=DictionaryKind.LOSS_REASON, label="Bad timing"
    )
    chinese = services.add_dictionary_item(
        actor=admin, kind=DictionaryKind.LOSS_REASON, label="时机不对"
    )
    cycle = services.add_dictionary_item(
        actor=admin, kind=DictionaryKind.FEEDBACK_CYCLE, label="每两月", value="60d"
    )
    assert [(i.value, i.sort_order, i.is_active) for i in (item, derived, chinese)] == [
        ("lead_time", 7, True),
        ("bad_timing", 8, True),
        ("item", 9, True),
    ]
    assert (cycle.value, dictionaries.feedback_cycle_days(cycle.value), cycle.sort_order) == (
        "60d",
        60,
        5,
    )
    added = events(world.org, "dictionary.item_added")
    assert [e.changes["value"][1] for e in added] == ["lead_time", "bad_timing", "item", "60d"]
    assert added[0].changes["label"] == [None, "交付周期太长"]


@pytest.mark.parametrize(
    ("kind", "label", "value", "field"),
    [
        ("loss_reason", "", "", "label"),
        ("loss_reason", "价格太高了", "price", "value"),  # the value exists
        ("loss_reason", "新原因", "Has Spaces", "value"),
        ("loss_reason", "新原因", "x" * 61, "value"),
        ("feedback_cycle", "每周两次", "", "value"),  # feedback cycles need days
        ("feedback_cycle", "每周两次", "weekly", "value"),
        ("nonsense", "新项", "", "kind"),
    ],
)
def test_dictionary_item_rules(
    world: World, admin: User, kind: str, label: str, value: str, field: str
) -> None:
    # R4.4: a value is unique in its list and well-formed; a label is required; known lists only
    err = refused(
        world.org,
        ValidationFailed,
        services.add_dictionary_item,
        actor=admin,
        kind=kind,
        label=label,
        value=value,
    )
    assert list(field_errors(err)) == [field]


def test_labels_are_unique_in_a_list(world: World, admin: User) -> None:
    # R4.4: two items of one list cannot read the same
    first, second = DictionaryItem.objects.filter(
        org=world.org, kind=DictionaryKind.ACTION_PRINCIPLE
    ).order_by("sort_order")[:2]
    for fn, kwargs in [
        (services.add_dictionary_item, {"kind": first.kind, "label": first.label}),
        (services.rename_dictionary_item, {"item": second, "label": first.label}),
    ]:
        err = refused(world.org, ValidationFailed, fn, actor=admin, **kwargs)
        assert list(field_errors(err)) == ["label"]


def test_rename_keeps_the_value(world: World, admin: User) -> None:
    # R4.4: values never change (records store them); labels do
    item = DictionaryItem.objects.get(
        org=world.org, kind=DictionaryKind.PROBABILITY_LEVEL, value="very_high"
    )
    old = item.label
    services.rename_dictionary_item(actor=admin, item=item, label="非常高")
    item.refresh_from_db()
    assert (item.value, item.label) == ("very_high", "非常高")
    assert (
        dictionaries.label(world.org.pk, DictionaryKind.PROBABILITY_LEVEL, "very_high") == "非常高"
    )
    [event] = events(world.org, "dictionary.item_renamed")
    assert event.changes == {"label": [old, "非常高"]}


def test_reorder_dictionary_items(world: World, admin: User) -> None:
    # R4.4: order of a list; every item exactly once
    kind = DictionaryKind.PROBABILITY_LEVEL
    ids = list(
        DictionaryItem.objects.filter(org=world.org, kind=kind)
        .order_by("sort_order")
        .values_list("pk", flat=True)
    )
    new = [ids[3], ids[2], ids[1], ids[0]]
    services.reorder_dictionary_items(actor=admin, kind=kind, ids=new)
    assert [v for v, _l in dictionaries.choices(world.org.pk, kind)] == [
        "low",
        "medium",
        "high",
        "very_high",
    ]
    # the defaults are numbered from 0: three of the four items change their number
    assert len(events(world.org, "dictionary.item_moved")) == 3
    err = refused(
        world.org,
        ValidationFailed,
        services.reorder_dictionary_items,
        actor=admin,
        kind=kind,
        ids=new[:3],
    )
    assert list(field_errors(err)) == ["ids"]
    item = DictionaryItem.objects.get(pk=ids[0])
    services.move_dictionary_item(actor=admin, item=item, offset=-1)
    assert [v for v, _l in dictionaries.choices(world.org.pk, kind)] == [
        "low",
        "medium",
        "very_high",
        "high",
    ]


def test_deactivate_and_reactivate(world: World, admin: User) -> None:
    # R4.4: a deactivated item is no longer offered, but records still show its label
    kind = DictionaryKind.ACTION_PRINCIPLE
    item = DictionaryItem.objects.get(org=world.org, kind=kind, value="abandon")
    services.deactivate_dictionary_item(actor=admin, item=item)
    assert "abandon" not in [v for v, _l in dictionaries.choices(world.org.pk, kind)]
    assert dictionaries.label(world.org.pk, kind, "abandon") == item.label
    assert dictionaries.is_valid(world.org.pk, kind, "abandon") is True
    services.reactivate_dictionary_item(actor=admin, item=item)
    assert [v for v, _l in dictionaries.choices(world.org.pk, kind)][-1] == "abandon"
    assert [e.changes for e in events(world.org, "dictionary.item_deactivated")] == [
        {"is_active": [True, False]}
    ]
    assert [e.changes for e in events(world.org, "dictionary.item_reactivated")] == [
        {"is_active": [False, True]}
    ]
