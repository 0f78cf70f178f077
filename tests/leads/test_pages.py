"""Pages of the leads module (R2.1–R2.4): every page renders for who may use it, refuses
out-of-scope and foreign ids with 404, and its forms call the services."""

from __future__ import annotations

from crm.core.models import Event
from crm.core.testing.world import World
from crm.customers.models import Contact, Customer
from crm.leads import services
from crm.leads.models import AssignmentRule, Lead, LeadPool
from tests.leads.conftest import Pools, fresh, new_lead


def test_menu_and_list_pages_render(lw: World, pools: Pools, client_for) -> None:
    # R2.2: the Leads menu (total pool, sub-pools, my leads, web forms, rules) and its pages
    mk = client_for(lw.users["marketing"])
    new_lead(lw.users["marketing"], company="总池线索")
    home = mk.get("/").content.decode()
    for key in ("lead_total", "lead_pools", "lead_mine", "lead_forms", "lead_rules"):
        assert f'data-nav="{key}"' in home
    for url in (
        "/leads/",
        "/leads/mine/",
        "/leads/total/",
        "/leads/pools/",
        f"/leads/pools/{pools.east.pk}/",
        "/leads/forms/",
        "/leads/rules/",
        "/leads/rules/new/",
        "/leads/pools/new/",
        f"/leads/pools/{pools.east.pk}/edit/",
        "/leads/new/",
        "/leads/?status=open&q=总池&sort=-company&unassigned=true",
    ):
        r = mk.get(url)
        assert r.status_code == 200, url
    assert "总池线索" in mk.get("/leads/total/").content.decode()
    rep = client_for(lw.users["rep_east"])
    rep_home = rep.get("/").content.decode()
    assert 'data-nav="lead_mine"' in rep_home and 'data-nav="lead_rules"' not in rep_home
    for url in ("/leads/total/", "/leads/forms/", "/leads/rules/", "/leads/pools/new/"):
        assert rep.get(url).status_code == 403, url
    assert rep.get(f"/leads/pools/{pools.east.pk}/").status_code == 200  # a member
    assert rep.get(f"/leads/pools/{pools.south.pk}/").status_code == 404  # not theirs


def test_lead_page_and_out_of_scope_ids(
    lw: World, other_world: World, pools: Pools, client_for
) -> None:
    # R2.2 R1.3: the lead page for who may see it; 404 for everyone else, every page and action
    rep = lw.users["rep_east"]
    lead = new_lead(rep, owner=fresh(rep), company="温州正泰", utm_source="baidu")
    owner = client_for(rep)
    html = owner.get(f"/leads/{lead.pk}/").content.decode()
    assert "温州正泰" in html and 'id="history"' in html and "utm_source" in html
    assert 'id="lead-contacted"' in html and 'id="lead-claim"' not in html
    assert client_for(lw.users["manager1"]).get(f"/leads/{lead.pk}/").status_code == 200
    before = Lead.objects.filter(pk=lead.pk).values().get()
    events = Event.objects.count()
    for intruder in (lw.users["rep_east2"], lw.users["rep_south"], other_world.admin):
        client = client_for(intruder)
        for url in (f"/leads/{lead.pk}/", f"/leads/{lead.pk}/edit/", f"/leads/{lead.pk}/convert/"):
            assert client.get(url).status_code == 404, (intruder, url)
        for action in ("contacted", "invalid", "claim", "delete"):
            r = client.post(f"/leads/{lead.pk}/{action}/", {"reason": "spam"})
            assert r.status_code == 404, (intruder, action)
        r = client.post("/leads/bulk/", {"action": "invalid", "ids": [lead.pk], "reason": "spam"})
        assert r.status_code == 404
    assert Lead.objects.filter(pk=lead.pk).values().get() == before
    assert Event.objects.count() == events
    assert client_for(other_world.admin).get(f"/leads/pools/{pools.east.pk}/").status_code == 404


def test_create_edit_and_status_buttons(lw: World, client_for) -> None:
    # R2.1 R2.3: the create page (extra attributes too), edit, and the status buttons
    rep = lw.users["rep_east"]
    client = client_for(rep)
    r = client.post(
        "/leads/new/",
        {
            "company": "台州吉利",
            "contact_name": "钱工",
            "mobile": "13506561234",
            "source": "referral",
            "extra_lines": "推荐人 = 老客户王总\nbudget = 50万",
            "assign_to_me": "on",
        },
    )
    lead = Lead.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/leads/{lead.pk}/"
    assert (lead.owner_id, lead.source, lead.extra) == (
        rep.pk,
        "referral",
        {"推荐人": "老客户王总", "budget": "50万"},
    )
    r = client.post("/leads/new/", {"company": "缺联系方式"})
    assert r.status_code == 200 and "invalid-feedback" in r.content.decode()
    assert Lead.objects.count() == 1
    r = client.post(
        f"/leads/{lead.pk}/edit/",
        {"company": "台州吉利汽车", "contact_name": "钱工", "mobile": "13506561234", "version": 1},
    )
    assert r.status_code == 302
    assert Lead.objects.get().company == "台州吉利汽车"
    client.post(f"/leads/{lead.pk}/contacted/")
    client.post(f"/leads/{lead.pk}/invalid/", {"reason": ""})  # refused: a reason is required
    assert Lead.objects.get().status == "contacted"
    client.post(f"/leads/{lead.pk}/invalid/", {"reason": "no_need", "note": "已采购"})
    assert (Lead.objects.get().status, Lead.objects.get().invalid_note) == ("invalid", "已采购")
    client.post(f"/leads/{lead.pk}/reopen/")
    client.post(f"/leads/{lead.pk}/qualified/")
    assert Lead.objects.get().status == "qualified"


def test_convert_page_shows_candidates_and_converts(lw: World, client_for) -> None:
    # R2.3: duplicate candidates shown before converting; linking or creating
    from crm.customers import services as customer_services

    rep = lw.users["rep_east"]
    mine = customer_services.create_customer(actor=fresh(rep), data={"name": "青岛海尔"})
    lead = new_lead(rep, owner=fresh(rep), company="青岛海尔有限公司", contact_name="孙工")
    services.mark_qualified(actor=fresh(rep), lead=lead)
    client = client_for(rep)
    html = client.get(f"/leads/{lead.pk}/convert/").content.decode()
    assert 'id="duplicate-candidates"' in html and f'value="{mine.pk}"' in html
    r = client.post(f"/leads/{lead.pk}/convert/", {"target": "new"})
    assert r.status_code == 200 and "alert-danger" in r.content.decode()
    assert Customer.objects.count() == 1
    r = client.post(f"/leads/{lead.pk}/convert/", {"target": str(mine.pk)})
    assert r.status_code == 302
    lead.refresh_from_db()
    assert (lead.status, lead.converted_customer_id) == ("converted", mine.pk)
    assert Contact.objects.get().name == "孙工"
    assert Customer.objects.count() == 1


def test_claim_and_bulk_actions_from_the_lists(lw: World, pools: Pools, client_for) -> None:
    # R2.2: marketing distributes in bulk, the manager assigns, a member claims
    mk_user = fresh(lw.users["marketing"])
    leads = [new_lead(mk_user, company=f"展会线索{i}") for i in range(3)]
    mk = client_for(lw.users["marketing"])
    r = mk.post(
        "/leads/bulk/",
        {
            "action": "distribute",
            "ids": [lead.pk for lead in leads],
            "pool": pools.east.pk,
            "next": "/leads/total/",
        },
    )
    assert r.status_code == 302 and r["Location"] == "/leads/total/"
    assert set(Lead.objects.values_list("pool_id", flat=True)) == {pools.east.pk}
    manager = client_for(lw.users["dept_east"])
    r = manager.post(
        "/leads/bulk/",
        {"action": "assign", "ids": [leads[0].pk], "to_user": lw.users["rep_east2"].pk},
    )
    assert Lead.objects.get(pk=leads[0].pk).owner_id == lw.users["rep_east2"].pk
    member = client_for(lw.users["rep_east"])
    assert 'id="lead-claim"' in member.get(f"/leads/{leads[1].pk}/").content.decode()
    member.post(f"/leads/{leads[1].pk}/claim/")
    assert Lead.objects.get(pk=leads[1].pk).owner_id == lw.users["rep_east"].pk
    html = member.get(f"/leads/pools/{pools.east.pk}/").content.decode()
    assert "展会线索2" in html and "展会线索0" not in html  # assigned to someone else: gone


def test_pool_rule_and_webform_pages_save(lw: World, pools: Pools, client_for) -> None:
    # R2.2 R2.4: sub-pool settings and members, rules editor, web form snippet
    mk = client_for(lw.users["marketing"])
    r = mk.post(
        "/leads/pools/new/",
        {
            "name": "华北线索池",
            "region": "华北",
            "members": [lw.users["rep_sales2"].pk],
            "is_active": "on",
        },
    )
    assert r.status_code == 302
    north = LeadPool.objects.get(name="华北线索池")
    assert list(north.members.values_list("pk", flat=True)) == [lw.users["rep_sales2"].pk]
    r = mk.post(
        "/leads/rules/new/",
        {
            "name": "华北轮询",
            "order": 5,
            "is_active": "on",
            "regions": "华北，北京, 天津",
            "industries": ["manufacturing"],
            "strategy": "round_robin",
            "target_pool": north.pk,
            "cap": 20,
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    rule = AssignmentRule.objects.get()
    assert rule.conditions == {"region": ["华北", "北京", "天津"], "industry": ["manufacturing"]}
    assert (rule.target_pool_id, rule.cap, rule.order) == (north.pk, 20, 5)
    assert "华北轮询" in mk.get("/leads/rules/").content.decode()
    html = mk.get("/leads/forms/").content.decode()
    assert f"/leads/form/{pools.east.form_token}/" in html and "&lt;iframe" in html
    old = pools.east.form_token
    mk.post(f"/leads/pools/{pools.east.pk}/form-token/")
    assert LeadPool.objects.get(pk=pools.east.pk).form_token != old
    manager = client_for(lw.users["dept_east"])
    r = manager.post(
        f"/leads/pools/{pools.east.pk}/members/", {"members": [lw.users["rep_east"].pk]}
    )
    assert r.status_code == 302
    assert list(pools.east.members.values_list("pk", flat=True)) == [lw.users["rep_east"].pk]
    assert manager.get(f"/leads/pools/{pools.south.pk}/members/").status_code == 404
    assert manager.get(f"/leads/pools/{pools.east.pk}/edit/").status_code == 403
