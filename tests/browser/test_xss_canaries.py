"""Stored-XSS canaries under the enforced content security policy (RELIABILITY B4, B6).

Script, attribute-breaking, ``javascript:``, Alpine and template-syntax payloads go into every
text field the services take — organisation, department, user, role, customer (name, notes,
address, website, tags), contact, lead (fields and extra attributes), public pools and lead
pools, assignment rules, notifications — and then every page that shows them is opened in
Chromium at desktop size. On each page: ``window.__xss`` stays undefined, no dialog opens, no
element carries a live handler or ``javascript:`` link from the data, and the payload is shown
as text (escaped, not dropped). The ``new_page`` fixture fails the test on any console error,
which includes a CSP violation report.
"""

from __future__ import annotations

from typing import Any

from crm.core.notifications import notify
from crm.core.testing.world import PASSWORD, build_world, make_department, make_role, make_user
from crm.customers import pool_services
from crm.customers import services as customers
from crm.leads import services as leads
from crm.org import services as org
from crm.org.models import User
from tests.browser.conftest import DESKTOP, screenshot

SCRIPT = "<script>window.__xss=1</script>"
ATTR = '"><img src=x onerror="window.__xss=1">'
JS_URL = "javascript:window.__xss=1"
ALPINE = '<div x-data x-init="window.__xss=1">a</div>'
TEMPLATE = "{{7*7}}"
PAYLOADS = [SCRIPT, ATTR, JS_URL, ALPINE, TEMPLATE]

#: what the page may never contain once rendered: elements made from the data
LIVE_MARKUP = """() => {
  const hits = [];
  for (const el of document.querySelectorAll('img[src="x"], [x-init*="__xss"]')) {
    hits.push(el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll('[href^="javascript:" i], [src^="javascript:" i]')) {
    hits.push(el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      if (attr.name.startsWith('on')) hits.push(el.tagName + ' ' + attr.name);
    }
  }
  for (const s of document.querySelectorAll('script')) {
    if (!s.src) hits.push('inline script: ' + s.textContent.slice(0, 60));
  }
  return hits;
}"""


def seed(world: Any) -> dict[str, Any]:
    """Payloads in every text field, written through the services as the administrator."""
    admin = world.admin
    org.update_organization(actor=admin, org=world.org, name=f"公司{SCRIPT}")
    dept = make_department(admin, f"部门{ATTR}", world.depts["sales1"])
    role = make_role(admin, f"角色{SCRIPT}", "all", ["customers:view", "leads:view"])
    org.save_role(
        actor=admin,
        role=role,
        name=role.name,
        description=f"说明{ATTR}{TEMPLATE}",
        permissions=role.permissions,
        data_scope="all",
    )
    person = make_user(admin, f"员工{ATTR}", dept, [role])
    tag = customers.create_tag(actor=admin, name=f"标签{SCRIPT}"[:40])
    first = customers.create_customer(
        actor=admin,
        data={
            "name": f"客户{SCRIPT}",
            "short_name": f"简称{TEMPLATE}",
            "notes": f"备注{ATTR}{ALPINE}",
            "address": f"地址{ATTR}",
            "website": JS_URL,
            "region": f"区域{TEMPLATE}",
        },
        tags=[tag],
        contacts=[
            {
                "name": f"联系人{SCRIPT}",
                "title": f"职务{ATTR}",
                "department": f"科室{TEMPLATE}",
                "superior_unit": f"上级{ALPINE}",
                "notes": f"联系人备注{ATTR}",
                "mobile": "13900001111",
            }
        ],
    )
    second = customers.create_customer(
        actor=admin, data={"name": f"客户{ATTR}", "notes": SCRIPT}, allow_duplicate=True
    )
    customers.update_customer(
        actor=admin, customer=first, data={"notes": f"改后备注{SCRIPT}"}, version=first.version
    )
    pool = pool_services.save_pool(actor=admin, data={"name": f"公海{ATTR}"}, departments=[])
    pool_services.release(actor=admin, customer=second, reason=f"原因{SCRIPT}", pool=pool)
    lead_pool = leads.save_pool(
        actor=admin,
        data={
            "name": f"线索池{SCRIPT}",
            "description": f"池说明{ATTR}",
            "form_enabled": True,
            "region": f"华东{TEMPLATE}",
        },
        managers=[admin],
        members=[admin],
    )
    lead = leads.create_lead(
        actor=admin,
        data={
            "company": f"线索公司{SCRIPT}",
            "contact_name": f"线索人{ATTR}",
            "title": f"头衔{TEMPLATE}",
            "notes": f"线索备注{ALPINE}",
            "mobile": "13900002222",
            "region": f"地区{ATTR}",
            "utm_campaign": f"活动{SCRIPT}",
            f"键{ATTR}": JS_URL,
        },
        pool=lead_pool,
        owner=admin,
    )
    leads.save_rule(
        actor=admin,
        data={
            "name": f"规则{ATTR}",
            "order": 1,
            "is_active": False,
            "conditions": {"region": [f"条件{SCRIPT}"]},
            "strategy": "round_robin",
        },
        eligible_users=[admin],
        fixed_user=None,
        target_pool=None,
    )
    notify(recipient=admin, verb="security.xss", message=f"通知{SCRIPT}{ATTR}", url=JS_URL)
    notify(recipient=admin, verb="security.xss", message=f"通知二{TEMPLATE}", url="/leads/")
    return {
        "dept": dept,
        "role": role,
        "person": person,
        "customer": first,
        "second": second,
        "contact": first.contacts.get(),
        "pool": pool,
        "lead_pool": lead_pool,
        "lead": lead,
    }


def log_in(page: Any, user: User) -> None:
    page.goto("/login/")
    page.fill("#id_login", user.username)
    page.fill("#id_password", PASSWORD)
    page.locator("form:has(#id_login) button[type=submit]").first.click()
    page.wait_for_url("**/")


def test_stored_payloads_never_run_and_show_as_text(new_page, live_server) -> None:
    # B4 B6: 0 executions, 0 dialogs, 0 live markup from data, 0 CSP violations
    world = build_world()
    admin = world.admin
    s = seed(world)
    c, ld = s["customer"], s["lead"]
    # page -> payload texts it must show literally
    pages: list[tuple[str, list[str]]] = [
        ("/", [f"通知{SCRIPT}{ATTR}"]),
        ("/notifications/", [f"通知{SCRIPT}{ATTR}", f"通知二{TEMPLATE}"]),
        ("/search/?q=客户", [f"客户{SCRIPT}", f"客户{ATTR}"]),
        ("/settings/audit/", [f"客户{SCRIPT}"]),
        ("/settings/organization/", []),
        ("/settings/departments/", [f"部门{ATTR}"]),
        (f"/settings/departments/{s['dept'].pk}/", [f"部门{ATTR}", f"员工{ATTR}"]),
        ("/settings/users/", [f"员工{ATTR}"]),
        (f"/settings/users/{s['person'].pk}/", [f"员工{ATTR}", f"角色{SCRIPT}"]),
        ("/settings/roles/", [f"角色{SCRIPT}"]),
        (f"/settings/roles/{s['role'].pk}/", [f"角色{SCRIPT}", f"说明{ATTR}{TEMPLATE}"]),
        ("/customers/", [f"客户{SCRIPT}", f"标签{SCRIPT}"]),
        (f"/customers/{c.pk}/", [f"客户{SCRIPT}", f"改后备注{SCRIPT}", f"联系人{SCRIPT}"]),
        (f"/customers/{c.pk}/edit/", []),
        ("/customers/contacts/", [f"联系人{SCRIPT}", f"职务{ATTR}"]),
        ("/customers/pools/", [f"公海{ATTR}"]),
        (f"/customers/pools/{s['pool'].pk}/", [f"公海{ATTR}", f"客户{ATTR}"]),
        (f"/customers/{s['second'].pk}/", [f"客户{ATTR}", f"原因{SCRIPT}"]),
        (f"/customers/merge/?source={s['second'].pk}&target={c.pk}", [f"客户{ATTR}"]),
        ("/leads/", [f"线索公司{SCRIPT}"]),
        (f"/leads/{ld.pk}/", [f"线索公司{SCRIPT}", f"线索人{ATTR}", f"活动{SCRIPT}", JS_URL]),
        (f"/leads/{ld.pk}/edit/", []),
        ("/leads/pools/", [f"线索池{SCRIPT}"]),
        (f"/leads/pools/{s['lead_pool'].pk}/", [f"线索公司{SCRIPT}"]),
        ("/leads/rules/", [f"规则{ATTR}"]),
        ("/leads/forms/", [f"线索池{SCRIPT}"]),
        (f"/leads/form/{s['lead_pool'].form_token}/", [f"线索池{SCRIPT}"]),
    ]
    dialogs: list[str] = []
    page = new_page(DESKTOP)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, admin)
    problems: list[str] = []
    for path, expected in pages:
        response = page.goto(path)
        assert response is not None and response.status == 200, (path, response)
        page.wait_for_load_state("networkidle")
        if page.evaluate("typeof window.__xss") != "undefined":
            problems.append(f"{path}: a payload ran")
        problems += [f"{path}: {hit}" for hit in page.evaluate(LIVE_MARKUP)]
        text = page.evaluate("document.body.innerText")
        problems += [f"{path}: {want!r} not shown as text" for want in expected if want not in text]
        if "49" in text and TEMPLATE not in text and any(TEMPLATE in w for w in expected):
            problems.append(f"{path}: a template expression was evaluated")
    screenshot(page, "xss-canaries-lead")
    assert dialogs == []
    assert problems == [], "\n".join(problems)
    # the control: markup made from data would be seen (set without running anything)
    page.evaluate(
        "() => { const a = document.createElement('a'); a.id = 'control';"
        " a.setAttribute('href', 'javascript:void 0'); document.body.append(a); }"
    )
    assert page.evaluate(LIVE_MARKUP) == ['<a id="control" href="javascript:void 0"></a>']
