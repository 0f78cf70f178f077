"""Lead services (R2.1–R2.3): creation from any channel, pools, every status transition,
claim/assign/release, visibility through the pools, and conversion with duplicate checks."""

from __future__ import annotations

from typing import Any

import pytest

from crm.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from crm.core.models import Event, Notification
from crm.core.testing.world import World
from crm.customers import services as customer_services
from crm.customers.models import Contact, Customer
from crm.leads import services
from crm.leads.choices import LeadStatus, PoolKind
from crm.leads.models import Lead, LeadPool
from tests.leads.conftest import Pools, fresh, new_lead, stored


def events(lead: Lead) -> list[str]:
    return list(
        Event.objects.filter(object_type="leads.lead", object_id=str(lead.pk))
        .order_by("id")
        .values_list("verb", flat=True)
    )


# --- creation ------------------------------------------------------------------------------------
def test_every_organisation_has_exactly_one_total_pool(lw: World, other_world: World) -> None:
    # R2.1: one total pool per organisation, created with the organisation
    pools = LeadPool.objects.filter(kind=PoolKind.TOTAL)
    assert sorted(pools.values_list("org_id", flat=True)) == sorted([lw.org.pk, other_world.org.pk])
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        LeadPool.objects.create(org=lw.org, kind=PoolKind.TOTAL, name="第二个总池")


def test_create_keeps_every_attribute_and_lands_in_the_total_pool(lw: World) -> None:
    # R2.1: every source and extra attribute is kept; no rule → stays unassigned in the total pool
    lead = services.create_lead(
        actor=fresh(lw.users["marketing"]),
        data={
            "company": " 苏州精工机械有限公司 ",
            "contact_name": "王经理",
            "mobile": "+86 139-1234-5678",
            "email": "Wang@JingGong.cn",
            "region": "华东",
            "industry": "manufacturing",
            "utm_source": "baidu",
            "wechat_openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
            "extra": {"campaign": "2026春季展"},
        },
        source="exhibition",
    )
    lead.refresh_from_db()
    assert (lead.company, lead.contact_name, lead.email) == (
        "苏州精工机械有限公司",
        "王经理",
        "wang@jinggong.cn",
    )
    assert lead.mobile_digits == "13912345678"
    assert lead.source == "exhibition"
    assert lead.extra == {
        "campaign": "2026春季展",
        "utm_source": "baidu",
        "wechat_openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
    }
    assert lead.pool == services.total_pool(lw.org.pk)
    assert (lead.owner_id, lead.status, lead.score) == (None, LeadStatus.NEW, 0)
    assert events(lead) == ["lead.created", "lead.pooled"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"mobile": "13800138000"}, "company"),
        ({"company": "某公司"}, "mobile"),
        ({"company": "某公司", "email": "not-an-email"}, "email"),
        ({"company": "某公司", "mobile": "12345"}, "mobile"),
        ({"company": "某公司", "phone": "abc"}, "phone"),
        ({"company": "某公司", "email": "a@b.cn", "source": "nonsense"}, "source"),
        ({"company": "某公司", "email": "a@b.cn", "industry": "nonsense"}, "industry"),
    ],
)
def test_create_validates_and_writes_nothing(lw: World, data: dict, field: str) -> None:
    # R2.1: company or contact name, a phone or e-mail, valid values — else nothing is stored
    before = (Lead.objects.count(), Event.objects.count())
    with pytest.raises(ValidationFailed) as exc:
        services.create_lead(actor=fresh(lw.users["rep_east"]), data=data)
    assert field in exc.value.field_errors
    assert (Lead.objects.count(), Event.objects.count()) == before


def test_create_needs_the_permission(lw: World) -> None:
    # R2.1: without leads:create nothing is created
    with pytest.raises(PermissionDenied):
        services.create_lead(
            actor=fresh(lw.users["nobody"]), data={"company": "甲", "email": "a@b.cn"}
        )
    assert Lead.objects.count() == 0


def test_create_for_myself_skips_the_rules(lw: World, pools: Pools) -> None:
    # R2.1: a rep entering their own lead owns it at once
    rep = lw.users["rep_east"]
    lead = new_lead(rep, owner=fresh(rep))
    assert (lead.owner_id, lead.pool_id) == (rep.pk, pools.total.pk)
    assert events(lead) == ["lead.created"]
    with pytest.raises(PermissionDenied):  # a rep cannot hand a new lead to someone else
        new_lead(rep, owner=fresh(lw.users["rep_east2"]))


# --- status transitions --------------------------------------------------------------------------
def owned_lead(world: World, key: str = "rep_east", **data: Any) -> Lead:
    rep = world.users[key]
    return new_lead(rep, owner=fresh(rep), **data)


def test_every_status_transition(lw: World) -> None:
    # R2.3: new → contacted → qualified → converted; open → invalid (reason) → reopened → new
    rep = fresh(lw.users["rep_east"])
    lead = owned_lead(lw)
    lead = services.mark_contacted(actor=rep, lead=lead)
    assert lead.status == LeadStatus.CONTACTED
    lead = services.mark_qualified(actor=rep, lead=lead)
    assert lead.status == LeadStatus.QUALIFIED
    lead = services.mark_invalid(actor=rep, lead=lead, reason="no_need", note="预算取消")
    assert (lead.status, lead.invalid_reason, lead.invalid_note) == (
        "invalid",
        "no_need",
        "预算取消",
    )
    lead = services.reopen_lead(actor=rep, lead=lead)
    assert (lead.status, lead.invalid_reason, lead.invalid_note) == ("new", "", "")
    lead = services.mark_qualified(actor=rep, lead=lead)  # new → qualified directly
    assert lead.status == LeadStatus.QUALIFIED
    assert events(lead) == [
        "lead.created",
        "lead.contacted",
        "lead.qualified",
        "lead.invalidated",
        "lead.reopened",
        "lead.qualified",
    ]
    change = Event.objects.filter(object_id=str(lead.pk), verb="lead.invalidated").get().changes
    assert change["status"] == ["qualified", "invalid"]
    assert change["invalid_reason"] == ["", "no_need"]


def test_refused_transitions_change_nothing(lw: World) -> None:
    # R2.3: transitions the life cycle does not allow are refused and write nothing
    rep = fresh(lw.users["rep_east"])
    lead = owned_lead(lw)
    before = (Lead.objects.get(pk=lead.pk).status, Event.objects.count())
    with pytest.raises(InvalidTransition):
        services.reopen_lead(actor=rep, lead=lead)  # only invalid can be reopened
    with pytest.raises(InvalidTransition):
        services.convert_lead(actor=rep, lead=lead)  # only qualified converts
    lead = services.mark_invalid(actor=rep, lead=lead, reason="spam")
    after_invalid = Event.objects.count()
    for move in (services.mark_contacted, services.mark_qualified):
        with pytest.raises(InvalidTransition):
            move(actor=rep, lead=lead)
    with pytest.raises(InvalidTransition):
        services.mark_invalid(actor=rep, lead=lead, reason="spam")
    assert Lead.objects.get(pk=lead.pk).status == "invalid"
    assert Event.objects.count() == after_invalid
    assert before[0] == "new"


def test_invalid_needs_a_reason_from_the_list(lw: World) -> None:
    # R2.3: invalid requires a reason (a value of the invalid-reason dictionary)
    rep = fresh(lw.users["rep_east"])
    lead = owned_lead(lw)
    events_before = Event.objects.count()
    for reason in ("", "   ", "made-up"):
        with pytest.raises(ValidationFailed) as exc:
            services.mark_invalid(actor=rep, lead=lead, reason=reason)
        assert list(exc.value.field_errors) == ["reason"]
    assert Lead.objects.get(pk=lead.pk).status == "new"
    assert Event.objects.count() == events_before


def test_a_stale_status_change_is_refused(lw: World) -> None:
    # R2.3: two tabs: the second change from the same old state is refused, not overwritten
    rep = fresh(lw.users["rep_east"])
    lead = owned_lead(lw)
    stale = Lead.objects.get(pk=lead.pk)
    services.mark_invalid(actor=rep, lead=lead, reason="spam")
    with pytest.raises(Conflict):
        services.mark_contacted(actor=rep, lead=stale)
    assert Lead.objects.get(pk=lead.pk).status == "invalid"


def test_others_cannot_work_a_lead_out_of_their_scope(lw: World) -> None:
    # R2.2: a colleague outside the owner's scope gets 404 and nothing changes
    lead = owned_lead(lw)
    for key in ("rep_east2", "rep_south"):
        with pytest.raises(NotFound):
            services.mark_contacted(actor=fresh(lw.users[key]), lead=lead)
    services.mark_contacted(actor=fresh(lw.users["manager1"]), lead=lead)  # dept tree: allowed
    assert Lead.objects.get(pk=lead.pk).status == "contacted"


def test_update_with_version_and_extra(lw: World) -> None:
    # R2.1: edits keep extra attributes; a stale version is refused
    rep = fresh(lw.users["rep_east"])
    lead = owned_lead(lw, utm_source="baidu")
    lead = services.update_lead(
        actor=rep, lead=lead, data={"title": "采购经理", "region": "华东"}, version=lead.version
    )
    assert (lead.title, lead.region, lead.extra) == ("采购经理", "华东", {"utm_source": "baidu"})
    with pytest.raises(Conflict):
        services.update_lead(actor=rep, lead=lead, data={"title": "x"}, version=lead.version - 1)
    assert Lead.objects.get(pk=lead.pk).title == "采购经理"


# --- pools ---------------------------------------------------------------------------------------
def test_marketing_distributes_and_the_pools_decide_who_sees(lw: World, pools: Pools) -> None:
    # R2.2: marketing → sub-pool; members see unassigned leads of their pool, managers all of it
    mk = fresh(lw.users["marketing"])
    leads = [new_lead(mk, company=f"线索{i}") for i in range(3)]
    assert services.distribute_to_subpool(actor=mk, leads=leads, pool=pools.east) == 3
    assert set(Lead.objects.filter(pool=pools.east).values_list("pk", flat=True)) == {
        lead.pk for lead in leads
    }

    def visible(key: str) -> set[int]:
        return set(Lead.objects.visible_to(fresh(lw.users[key])).values_list("pk", flat=True))

    ids = {lead.pk for lead in leads}
    assert visible("rep_east") == ids  # member: unassigned leads of 华东
    assert visible("rep_south") == set()  # member of 华南 only
    assert visible("dept_east") == ids  # manager of 华东
    # the east manager assigns one to rep_east2: the members no longer see it unless they own it
    services.assign_leads(
        actor=fresh(lw.users["dept_east"]), leads=[leads[0]], to_user=lw.users["rep_east2"]
    )
    assert visible("rep_east") == ids - {leads[0].pk}
    assert visible("rep_east2") == ids
    assert visible("dept_east") == ids  # the manager still sees all of the pool
    assert Lead.objects.get(pk=leads[0].pk).assignment_note == stored(
        "Assigned by %(actor)s", actor="华东组长"
    )
    assert (
        Notification.objects.filter(recipient=lw.users["rep_east2"], verb="lead.assigned").count()
        == 1
    )


def test_distribution_needs_marketing_and_unassigned_leads(lw: World, pools: Pools) -> None:
    # R2.2: only marketing distributes, only unassigned open leads, all or nothing
    mk = fresh(lw.users["marketing"])
    free = new_lead(mk, company="甲")
    owned = owned_lead(lw)
    with pytest.raises(PermissionDenied):
        services.distribute_to_subpool(
            actor=fresh(lw.users["director"]), leads=[free], pool=pools.east
        )
    with pytest.raises(ValidationFailed):
        services.distribute_to_subpool(actor=mk, leads=[free, owned], pool=pools.east)
    assert Lead.objects.get(pk=free.pk).pool_id == pools.total.pk  # nothing moved
    assert not Event.objects.filter(verb="lead.distributed").exists()


def test_a_pool_manager_assigns_only_to_the_pools_people(lw: World, pools: Pools) -> None:
    # R2.2: sub-pool managers assign their pool's leads to its members
    mk = fresh(lw.users["marketing"])
    lead = new_lead(mk)
    services.distribute_to_subpool(actor=mk, leads=[lead], pool=pools.east)
    lead.refresh_from_db()
    manager = fresh(lw.users["dept_east"])
    with pytest.raises(ValidationFailed):
        services.assign_leads(actor=manager, leads=[lead], to_user=lw.users["rep_south"])
    with pytest.raises(NotFound):  # not their pool: 华南's leads are invisible to them
        south = new_lead(mk, company="乙")
        services.distribute_to_subpool(actor=mk, leads=[south], pool=pools.south)
        south.refresh_from_db()
        services.assign_leads(actor=manager, leads=[south], to_user=lw.users["rep_east"])
    assert Lead.objects.get(pk=lead.pk).owner_id is None
    services.assign_leads(actor=manager, leads=[lead], to_user=lw.users["rep_east"])
    assert Lead.objects.get(pk=lead.pk).owner_id == lw.users["rep_east"].pk


def test_claim_and_release(lw: World, pools: Pools) -> None:
    # R2.2: members claim from their sub-pool; release puts the lead back, unassigned
    mk = fresh(lw.users["marketing"])
    lead = new_lead(mk)
    services.distribute_to_subpool(actor=mk, leads=[lead], pool=pools.east)
    lead.refresh_from_db()
    with pytest.raises(NotFound):  # not a member of 华东: cannot even see it
        services.claim_lead(actor=fresh(lw.users["rep_south"]), lead=lead)
    rep = fresh(lw.users["rep_east"])
    stale = Lead.objects.get(pk=lead.pk)
    lead = services.claim_lead(actor=rep, lead=lead)
    assert (lead.owner_id, lead.assigned_by_rule_id) == (rep.pk, None)
    assert services.claim_lead(actor=rep, lead=lead).owner_id == rep.pk  # idempotent
    with pytest.raises(Conflict):
        services.claim_lead(actor=fresh(lw.users["rep_east2"]), lead=stale)
    with pytest.raises(NotFound):  # claimed: the other members no longer see it
        services.mark_contacted(
            actor=fresh(lw.users["rep_east2"]), lead=Lead.objects.get(pk=lead.pk)
        )
    lead = services.release_lead(actor=rep, lead=lead, reason="联系不上")
    assert (lead.owner_id, lead.pool_id) == (None, pools.east.pk)
    assert events(lead)[-2:] == ["lead.claimed", "lead.released"]
    assert Event.objects.filter(verb="lead.claimed", object_id=str(lead.pk)).count() == 1


def test_unassigned_leads_are_worked_only_by_who_runs_the_pool(lw: World, pools: Pools) -> None:
    # R2.2: a member must claim first; the manager may invalidate directly
    mk = fresh(lw.users["marketing"])
    lead = new_lead(mk)
    services.distribute_to_subpool(actor=mk, leads=[lead], pool=pools.east)
    lead.refresh_from_db()
    with pytest.raises(PermissionDenied):
        services.mark_contacted(actor=fresh(lw.users["rep_east"]), lead=lead)
    services.mark_invalid(actor=fresh(lw.users["dept_east"]), lead=lead, reason="duplicate")
    assert Lead.objects.get(pk=lead.pk).status == "invalid"


def test_marketing_sees_the_total_pool_and_other_tenants_see_nothing(
    lw: World, other_world: World, pools: Pools
) -> None:
    # R2.2 R1.3: the total pool is marketing's; another organisation never sees a lead
    mk = fresh(lw.users["marketing"])
    lead = new_lead(mk)
    assert Lead.objects.visible_to(mk).filter(pk=lead.pk).exists()
    assert not Lead.objects.visible_to(fresh(lw.users["rep_east"])).filter(pk=lead.pk).exists()
    assert not Lead.objects.visible_to(fresh(other_world.admin)).filter(pk=lead.pk).exists()
    with pytest.raises(NotFound):
        services.mark_invalid(actor=fresh(other_world.admin), lead=lead, reason="spam")
    with pytest.raises(NotFound):
        services.distribute_to_subpool(
            actor=fresh(other_world.admin), leads=[lead], pool=pools.east
        )


# --- conversion ----------------------------------------------------------------------------------
def qualified(world: World, key: str = "rep_east", **data: Any) -> Lead:
    lead = owned_lead(world, key, **data)
    return services.mark_qualified(actor=fresh(world.users[key]), lead=lead)


def test_conversion_creates_exactly_one_customer_and_contact(lw: World) -> None:
    # R2.3: a qualified lead becomes one customer (owned by the lead's owner) and one contact
    rep = fresh(lw.users["rep_east"])
    lead = qualified(
        lw,
        company="宁波海天塑机有限公司",
        contact_name="李工",
        title="设备科长",
        mobile="13957412345",
        email="li@haitian.cn",
        industry="manufacturing",
        source="exhibition",
        region="华东",
    )
    lead = services.convert_lead(actor=rep, lead=lead)
    assert Customer.objects.count() == 1 and Contact.objects.count() == 1
    customer, contact = Customer.objects.get(), Contact.objects.get()
    assert (
        customer.name,
        customer.owner_id,
        customer.industry,
        customer.source,
        customer.region,
    ) == (
        "宁波海天塑机有限公司",
        rep.pk,
        "manufacturing",
        "exhibition",
        "华东",
    )
    assert (contact.customer_id, contact.name, contact.title, contact.mobile, contact.email) == (
        customer.pk,
        "李工",
        "设备科长",
        "13957412345",
        "li@haitian.cn",
    )
    assert (lead.status, lead.converted_customer_id, lead.converted_contact_id) == (
        "converted",
        customer.pk,
        contact.pk,
    )
    assert lead.converted_at is not None and lead.converted_by_id == rep.pk
    assert (
        Event.objects.filter(verb="customer.created_from_lead", object_id=str(customer.pk)).count()
        == 1
    )
    with pytest.raises(InvalidTransition):  # converted is final
        services.convert_lead(actor=rep, lead=lead)
    assert Customer.objects.count() == 1


def test_conversion_links_the_chosen_existing_customer(lw: World) -> None:
    # R2.3: duplicates are checked first; the user links the lead to their existing customer
    rep = fresh(lw.users["rep_east"])
    existing = customer_services.create_customer(
        actor=rep,
        data={"name": "宁波海天塑机有限公司"},
        contacts=[{"name": "李工", "mobile": "13957412345"}],
    )
    lead = qualified(
        lw, company="宁波海天塑机（宁波）有限公司", contact_name="李工", mobile="13957412345"
    )
    from crm.leads.selectors import conversion_candidates

    candidates = conversion_candidates(rep, lead)
    assert [(c["id"], c["visible"], c["reasons"]) for c in candidates] == [
        (existing.pk, True, ["name", "phone"])
    ]
    with pytest.raises(customer_services.DuplicateCustomer):  # creating a second copy is refused
        services.convert_lead(actor=rep, lead=lead)
    assert Customer.objects.count() == 1
    lead = services.convert_lead(actor=rep, lead=Lead.objects.get(pk=lead.pk), customer=existing)
    assert Customer.objects.count() == 1 and Contact.objects.count() == 1  # contact reused
    assert (lead.converted_customer_id, lead.converted_contact_id) == (
        existing.pk,
        Contact.objects.get().pk,
    )


def test_conversion_adds_a_new_contact_to_the_linked_customer(lw: World) -> None:
    # R2.3: linking adds the lead's person as a contact when the customer does not have them
    rep = fresh(lw.users["rep_east"])
    existing = customer_services.create_customer(actor=rep, data={"name": "上海电气"})
    lead = qualified(lw, company="上海电气", contact_name="赵总", mobile="13601234567")
    lead = services.convert_lead(actor=rep, lead=lead, customer=existing)
    contact = Contact.objects.get()
    assert (contact.customer_id, contact.name, contact.owner_id) == (existing.pk, "赵总", rep.pk)
    assert lead.converted_contact_id == contact.pk


def test_conversion_refused_when_someone_else_owns_the_customer(lw: World) -> None:
    # R2.3 (撞单): the duplicate belongs to another rep — no second copy, nothing written
    other = fresh(lw.users["rep_south"])
    customer_services.create_customer(actor=other, data={"name": "广州白云电器"})
    rep = fresh(lw.users["rep_east"])
    lead = qualified(lw, company="广州白云电器有限公司", contact_name="陈工", mobile="13822223333")
    before = (Customer.objects.count(), Contact.objects.count())
    for allow in (False, True):
        with pytest.raises(customer_services.DuplicateCustomer) as exc:
            services.convert_lead(actor=rep, lead=lead, allow_duplicate=allow)
        assert exc.value.candidates[0]["visible"] is False
        assert exc.value.candidates[0]["owner"] == other.display_name
    with pytest.raises(NotFound):  # nor can the rep link to a customer they cannot see
        services.convert_lead(actor=rep, lead=lead, customer=Customer.objects.get())
    assert (Customer.objects.count(), Contact.objects.count()) == before
    assert Lead.objects.get(pk=lead.pk).status == "qualified"


def test_conversion_hooks_are_called_when_an_opportunity_is_asked_for(lw: World) -> None:
    # R2.3: the opportunity step is a hook the opportunities module registers
    calls: list[tuple] = []

    def hook(actor, lead, customer, contact) -> None:
        calls.append((actor.pk, lead.pk, lead.status, customer.pk, contact.pk if contact else None))

    rep = fresh(lw.users["rep_east"])
    lead = qualified(lw, company="无锡小天鹅", contact_name="周工", mobile="13912340000")
    registered = list(services.conversion_hooks)
    services.conversion_hooks.clear()
    try:
        with pytest.raises(ValidationFailed):  # no hook: asking for an opportunity is refused
            services.convert_lead(actor=rep, lead=lead, create_opportunity=True)
    finally:
        services.conversion_hooks[:] = registered
    services.register_conversion_hook(hook)
    try:
        services.convert_lead(actor=rep, lead=lead, create_opportunity=True)
    finally:
        services.conversion_hooks.remove(hook)
    customer, contact = Customer.objects.get(), Contact.objects.get()
    assert calls == [(rep.pk, lead.pk, "converted", customer.pk, contact.pk)]
    # The opportunities module's own hook made the opportunity, linked to the lead (R2.3, R4.1).
    from crm.pipeline.models import Opportunity

    opportunity = Opportunity.objects.get()
    assert (opportunity.customer_id, opportunity.lead_id, opportunity.contact_id) == (
        customer.pk,
        lead.pk,
        contact.pk,
    )
    assert opportunity.owner_id == rep.pk


def test_a_failing_hook_rolls_the_conversion_back(lw: World) -> None:
    # R2.3: an error in the opportunity step leaves no half-converted lead
    def hook(actor, lead, customer, contact) -> None:
        raise ValidationFailed("商机创建失败")

    rep = fresh(lw.users["rep_east"])
    lead = qualified(lw, company="常州天合", contact_name="吴工", mobile="13912341111")
    services.register_conversion_hook(hook)
    try:
        with pytest.raises(ValidationFailed):
            services.convert_lead(actor=rep, lead=lead, create_opportunity=True)
    finally:
        services.conversion_hooks.remove(hook)
    assert (Customer.objects.count(), Contact.objects.count()) == (0, 0)
    assert Lead.objects.get(pk=lead.pk).status == "qualified"


def test_deactivating_a_rep_moves_their_open_leads(lw: World) -> None:
    # R2.2: leads follow the ownership transfer when a user is deactivated
    from crm.org import services as org_services

    lead = owned_lead(lw)
    moved = org_services.deactivate_user(
        actor=lw.admin, user=lw.users["rep_east"], transfer_to=lw.users["rep_east2"]
    )
    assert moved["leads"] == 1
    assert Lead.objects.get(pk=lead.pk).owner_id == lw.users["rep_east2"].pk
