"""Field-level permissions (R1.4, issue #10): a role can hide, mask or make read-only chosen
fields (amounts, phone numbers, e-mail, invoicing details) everywhere — pages, lists, exports,
API, reports, search results, caller lookup and webhook payloads.

Every protectable field of the tenant's records carries a canary value; a user whose role
restricts them requests every page and every API read, and the canaries appear nowhere."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from crm.core import fieldaccess
from crm.core.access import OBJECTS
from crm.core.errors import PermissionDenied
from crm.core.scoping import DataScope
from crm.core.testing.pages import with_sections
from crm.core.testing.world import make_role, make_user
from crm.customers import services as customer_services
from crm.customers.models import Contact, Customer
from crm.finance.models import Receipt
from crm.leads.models import Lead
from crm.org import services as org_services
from crm.pipeline.models import Opportunity
from crm.sales.models import Contract, Quote

from .conftest import Tenant, fresh
from .routes import api_operations, bearer, login, op_url, page_routes, route_kwargs, text_of

PHONE = "13898765432"  # masked: 138****5432
MOBILE = "13911117777"  # masked: 139****7777
LEAD_MOBILE = "13722228888"
EMAIL = "canaryq7mail@zz-example.com"  # masked: c***@zz-example.com
CONTACT_EMAIL = "contactq7box@zz-example.com"
INVOICE = {
    "invoice_title": "靶子发票抬头Q7",
    "tax_number": "91330100Q7TAXNO",
    "invoice_address_phone": "杭州靶子路Q7号",
    "bank_name": "靶子银行Q7支行",
    "bank_account": "6222Q7ACCOUNT0099",
}
OPP_AMOUNT = Decimal("987654.32")
QUOTE_TOTAL = Decimal("876543.21")
CONTRACT_AMOUNT = Decimal("765432.19")
RECEIPT_AMOUNT = Decimal("543219.87")

#: what a restricted user must never see (raw values; amounts in the usual renderings)
SECRET_TEXTS = [PHONE, MOBILE, LEAD_MOBILE, "canaryq7mail", "contactq7box", *INVOICE.values()]


def _amount_forms(value: Decimal) -> list[str]:
    return [f"{value:.2f}", f"{value:,.2f}"]


SECRET_AMOUNTS = [
    s for v in (OPP_AMOUNT, QUOTE_TOTAL, CONTRACT_AMOUNT, RECEIPT_AMOUNT) for s in _amount_forms(v)
]
ALL_RULES = {
    "customers.Customer.phone": "masked",
    "customers.Customer.email": "masked",
    **{f"customers.Customer.{k}": "hidden" for k in INVOICE},
    "customers.Contact.mobile": "masked",
    "customers.Contact.office_phone": "hidden",
    "customers.Contact.email": "masked",
    "leads.Lead.mobile": "masked",
    "leads.Lead.phone": "hidden",
    "leads.Lead.email": "hidden",
    "pipeline.Opportunity.amount": "hidden",
    "sales.Quote.total": "hidden",
    "sales.Contract.amount": "hidden",
    "finance.Receipt.amount": "hidden",
}
VIEW_PERMS = [
    *(
        f"{m}:{a}"
        for m in ("customers", "leads", "opportunities", "activities", "sales", "finance")
        for a in ("view", "edit", "export")
    ),
    "analytics:view",
    "analytics:export",
    "service:view",
]


def plant_canaries(t: Tenant) -> None:
    """Write the canary values straight into the rows (no service: they only carry data)."""
    Customer._base_manager.filter(pk=t.first("customers.Customer").pk).update(
        phone=PHONE, phone_digits=PHONE, email=EMAIL, **INVOICE
    )
    Contact._base_manager.filter(pk=t.first("customers.Contact").pk).update(
        mobile=MOBILE, mobile_digits=MOBILE, email=CONTACT_EMAIL
    )
    Lead._base_manager.filter(pk=t.first("leads.Lead").pk).update(
        mobile=LEAD_MOBILE, mobile_digits=LEAD_MOBILE
    )
    Opportunity._base_manager.filter(pk=t.first("pipeline.Opportunity").pk).update(
        expected_amount=OPP_AMOUNT, actual_amount=OPP_AMOUNT
    )
    Quote._base_manager.filter(pk=t.first("sales.Quote").pk).update(
        total=QUOTE_TOTAL, subtotal=QUOTE_TOTAL
    )
    Contract._base_manager.filter(pk=t.first("sales.Contract").pk).update(amount=CONTRACT_AMOUNT)
    Receipt._base_manager.filter(pk=t.first("finance.Receipt").pk).update(amount=RECEIPT_AMOUNT)


def restricted_user(t: Tenant, rules: dict[str, str] | None = None, name: str = "受限") -> Any:
    role = make_role(t.admin, f"{name}角色", DataScope.ALL, VIEW_PERMS)
    org_services.save_role(
        actor=t.admin,
        role=role,
        name=role.name,
        permissions=VIEW_PERMS,
        data_scope=DataScope.ALL,
        field_rules=ALL_RULES if rules is None else rules,
    )
    return fresh(make_user(t.admin, f"{name}用户", t.world.depts["root"], [role]))


def leaks(text: str) -> list[str]:
    return [s for s in [*SECRET_TEXTS, *SECRET_AMOUNTS] if s in text]


def build_records(name: str) -> Tenant:
    """An organisation with one record of every model that has protectable fields, created
    through the services (a lighter world than the security tier's full canary tenant)."""
    from django.utils import timezone

    from crm.core import webhooks as webhook_services
    from crm.core.testing.world import build_world, role
    from crm.finance import plan_services, receipt_services
    from crm.leads import services as lead_services
    from crm.pipeline import opportunities as opportunity_services
    from crm.sales import contract_services, product_services, quote_services

    w = build_world(name)
    admin = fresh(w.admin)
    owner = make_user(admin, "字段靶子用户", w.depts["east"], [role(w.org, "rep")])
    rep = make_user(admin, "外部销售", w.depts["sales2"], [role(w.org, "rep")])
    t = Tenant(world=w, tag="field", owner=owner, rep=rep, manager=rep)
    customer = customer_services.create_customer(
        actor=admin,
        owner=owner,
        data={"name": "字段靶子客户"},
        contacts=[{"name": "字段靶子联系人", "mobile": "13900000000"}],
    )
    t.targets["customers.Customer"] = [customer]
    t.targets["customers.Contact"] = [Contact.objects.get(customer=customer)]
    pool = lead_services.save_pool(
        actor=admin,
        data={"name": "字段线索池", "region": "华东"},
        managers=[owner],
        members=[owner],
    )
    t.targets["leads.LeadPool"] = [pool]
    t.targets["leads.Lead"] = [
        lead_services.create_lead(
            actor=admin,
            data={"company": "字段靶子线索", "mobile": "13700000000"},
            pool=pool,
            owner=owner,
        )
    ]
    owner_now = fresh(owner)
    opportunity = opportunity_services.create_opportunity(
        actor=owner_now,
        customer=customer,
        data={"name": "字段靶子商机", "expected_amount": "100000"},
        lines=[{"product": "字段产品", "quantity": "1", "unit_price": "100000"}],
    )
    t.targets["pipeline.Opportunity"] = [opportunity]
    product = product_services.create_product(
        actor=admin, data={"code": "FA-1", "name": "字段商品", "list_price": "100"}
    )
    t.targets["sales.Product"] = [product]
    t.targets["sales.Quote"] = [
        quote_services.create_quote(
            actor=owner_now,
            opportunity=opportunity,
            data={"title": "字段报价"},
            lines=[{"product": product, "quantity": "2", "unit_price": "100"}],
        )
    ]
    contract = contract_services.create_contract(
        actor=owner_now, opportunity=opportunity, data={"name": "字段合同"}
    )
    contract = contract_services.submit_contract(actor=owner_now, contract=contract)
    contract = contract_services.sign_contract(
        actor=owner_now, contract=contract, signed_on=timezone.localdate()
    )
    t.targets["sales.Contract"] = [contract]
    (plan,) = plan_services.replace_plans(
        actor=admin,
        contract=contract,
        rows=[{"due_on": timezone.localdate(), "amount": contract.amount, "note": "字段回款"}],
    )
    t.targets["finance.ReceivablePlan"] = [plan]
    t.targets["finance.Receipt"] = [
        receipt_services.record_receipt(
            actor=admin, contract=contract, data={"amount": "10", "payer": "字段付款方"}
        )
    ]
    hook, _secret = webhook_services.create_endpoint(
        actor=admin,
        data={
            "name": "字段钩子",
            "url": "https://hooks.example.invalid/crm",
            "event_types": ["customer.*"],
            "is_active": False,
        },
    )
    t.targets["core.WebhookEndpoint"] = [hook]
    t.owner, t.rep, t.manager = fresh(owner), fresh(rep), fresh(rep)
    return t


@pytest.fixture
def planted(db: None) -> Tenant:
    t = build_records("字段权限科技")
    plant_canaries(t)
    return t


# --- the policy ----------------------------------------------------------------------------------
def test_masks() -> None:
    """R1.4: phone 138****1234 (first three and last four digits), e-mail a***@example.com."""
    assert fieldaccess.mask_phone("13812341234") == "138****1234"
    assert fieldaccess.mask_phone("+86 138-1234-1234") == "138****1234"
    assert fieldaccess.mask_email("alice@example.com") == "a***@example.com"
    assert fieldaccess.is_hidden(fieldaccess.masked_value("amount", "hidden", Decimal("5")))
    assert f"{fieldaccess.HiddenAmount():,.2f}" == "***"
    assert fieldaccess.masked_value("text", "hidden", "x") == ""


def test_most_permissive_rule_across_roles_and_admins_see_all(planted: Tenant) -> None:
    """R1.4: several roles combine like data scopes (the most permissive rule wins); an
    organisation admin sees every field whatever their roles say."""
    t = planted
    user = restricted_user(t)
    assert fieldaccess.rules_for(user)["customers.Customer.phone"] == "masked"
    loose = make_role(t.admin, "宽松", DataScope.SELF, ["customers:view"])  # says nothing: visible
    org_services.save_role(
        actor=t.admin,
        role=loose,
        name=loose.name,
        permissions=["customers:view"],
        data_scope=DataScope.SELF,
        field_rules={"customers.Customer.email": "readonly"},
    )
    user.roles.add(loose)
    both = fresh(user)
    assert "customers.Customer.phone" not in fieldaccess.rules_for(both)
    assert fieldaccess.rules_for(both)["customers.Customer.email"] == "readonly"  # vs masked
    assert fieldaccess.rules_for(fresh(t.admin)) == {}


def test_role_rules_are_validated(planted: Tenant) -> None:
    """R1.4: an unknown field or rule is refused with a clear error; nothing is saved."""
    from crm.core.errors import ValidationFailed

    t = planted
    role = make_role(t.admin, "校验", DataScope.SELF, ["customers:view"])
    for bad in ({"customers.Customer.nope": "hidden"}, {"pipeline.Opportunity.amount": "masked"}):
        with pytest.raises(ValidationFailed):
            org_services.save_role(
                actor=t.admin,
                role=role,
                name=role.name,
                permissions=["customers:view"],
                data_scope=DataScope.SELF,
                field_rules=bad,
            )
    role.refresh_from_db()
    assert role.field_rules == {}


# --- every output path ---------------------------------------------------------------------------
def test_canaries_absent_from_every_page_and_api_read(planted: Tenant) -> None:
    """R1.4: a user whose role hides and masks the protectable fields requests every page and
    every API read of the organisation's records: no canary appears, and nothing fails."""
    t = planted
    user = restricted_user(t)
    client = login(user)
    control = login(restricted_user(t, rules={}, name="对照"))
    failures: list[str] = []
    seen = 0
    for route in page_routes():
        if route.name is None or (route.takes_id and route.name not in OBJECTS):
            continue
        try:
            combos = route_kwargs(route, t) if route.params else [{}]
            urls = [route.url(**kwargs) for kwargs in combos]
        except (KeyError, IndexError, NoReverseMatch):
            continue
        for url in urls:
            r = client.get(url)
            if r.status_code >= 500 and control.get(url).status_code < 500:  # ours, not theirs
                failures.append(f"GET {url}: {r.status_code}")
                continue
            if r.status_code == 200:
                seen += 1
                found = leaks(text_of(r))
                if found:
                    failures.append(f"GET {url}: {found}")
    api, control_api = bearer(user), bearer(restricted_user(t, rules={}, name="对照二"))
    for op in api_operations():
        if op.method != "get" or (op.id_params and op.op_id not in OBJECTS):
            continue
        try:
            url = op_url(op, t)
        except (KeyError, IndexError):
            continue
        r = api.get(url)
        if r.status_code >= 500 and control_api.get(url).status_code < 500:
            failures.append(f"API {url}: {r.status_code}")
        elif r.status_code == 200:
            seen += 1
            found = leaks(text_of(r))
            if found:
                failures.append(f"API {url}: {found}")
    assert not failures, "\n".join(failures)
    assert seen > 50  # the sweep really read pages


def test_masked_values_shown_and_admin_sees_everything(planted: Tenant) -> None:
    """R1.4: masked phone numbers read 138****1234 on the page and in the API; the admin (and
    the control user with no rules) reads the real values — the sweep can fail."""
    t = planted
    customer = t.first("customers.Customer")
    user = restricted_user(t)
    page = text_of(with_sections(login(user), reverse("customers:detail", args=[customer.pk])))
    assert "138****5432" in page and PHONE not in page
    assert "c***@zz-example.com" in page
    body = bearer(user).get(f"/api/v1/customers/customers/{customer.pk}").json()
    assert body["phone"] == "138****5432"
    assert body["email"] == "c***@zz-example.com"
    assert body["invoice_title"] == "" and body["bank_account"] == ""
    opp = t.first("pipeline.Opportunity")
    assert bearer(user).get(f"/api/v1/opportunities/{opp.pk}").json()["expected_amount"] == "***"
    for who in (t.admin, restricted_user(t, rules={}, name="对照")):
        page = text_of(
            with_sections(login(fresh(who)), reverse("customers:detail", args=[customer.pk]))
        )
        assert PHONE in page or "138-9876-5432" in page or "13898765432" in page
        body = bearer(fresh(who)).get(f"/api/v1/customers/customers/{customer.pk}").json()
        assert body["phone"] == PHONE and body["bank_account"] == INVOICE["bank_account"]
        assert leaks(json.dumps(bearer(fresh(who)).get(f"/api/v1/opportunities/{opp.pk}").json()))


def test_exports_search_caller_and_reports(planted: Tenant) -> None:
    """R1.4: CSV and XLSX exports, global search, caller lookup and the report builder."""
    t = planted
    user = restricted_user(t)
    client = login(user)
    for name in ("export_customers", "export_opportunities", "export_leads"):
        for fmt in ("csv", "xlsx"):
            r = client.get(reverse(f"imports:{name}") + f"?view=all&export={fmt}")
            assert r.status_code == 200, (name, fmt, r.status_code)
            body = b"".join(r.streaming_content) if r.streaming else r.content
            if fmt == "xlsx":
                import io
                import zipfile

                with zipfile.ZipFile(io.BytesIO(body)) as z:
                    text = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
            else:
                text = body.decode("utf-8-sig", "replace")
            assert not leaks(text), (name, fmt, leaks(text))
    for q in ("字段靶子", "1389876", "138"):  # the page repeats the query: never a full canary
        r = client.get(reverse("core:search") + "?q=" + q)
        assert r.status_code == 200 and not leaks(text_of(r))
    api = bearer(user)
    found = api.get(f"/api/v1/customers/caller?phone={PHONE}").json()
    assert found["customers"] and found["customers"][0]["phone"] == "138****5432"
    assert not leaks(json.dumps(found).replace(PHONE, "", 1).replace(f'"{PHONE}"', ""))
    assert PHONE not in json.dumps(found["customers"])
    # the report builder: hidden amount measures are refused, others run without amounts
    with translation.override("en"):
        r = api.post(
            "/api/v1/reports/run",
            {
                "subject": "opportunities",
                "dimensions": ["owner"],
                "measures": ["count", "sum_expected_amount"],
            },
            content_type="application/json",
        )
    assert r.status_code == 400 and "sum_expected_amount" in r.content.decode()
    r = api.post(
        "/api/v1/reports/run",
        {"subject": "opportunities", "dimensions": ["owner"], "measures": ["count"]},
        content_type="application/json",
    )
    assert r.status_code == 200 and not leaks(r.content.decode())
    builder = text_of(client.get(reverse("analytics:report_builder") + "?subject=opportunities"))
    assert 'value="count"' in builder and 'value="sum_expected_amount"' not in builder
    admin_run = bearer(fresh(t.admin)).post(
        "/api/v1/reports/run",
        {"subject": "opportunities", "dimensions": ["owner"], "measures": ["sum_expected_amount"]},
        content_type="application/json",
    )
    assert admin_run.status_code == 200 and leaks(admin_run.content.decode())


def test_values_and_aggregates_are_redacted(planted: Tenant) -> None:
    """R1.4: values(), values_list() and aggregate() over a hidden field give nothing away."""
    from django.db.models import Sum

    t = planted
    user = restricted_user(t)
    qs = Opportunity.objects.visible_to(user)
    hidden = fieldaccess.is_hidden
    assert hidden(qs.aggregate(s=Sum("expected_amount"))["s"])
    assert all(hidden(v) for v in qs.values_list("expected_amount", flat=True))
    assert all(hidden(r["expected_amount"]) for r in qs.values("expected_amount"))
    annotated = list(qs.annotate(x=Sum("lines__amount")).values_list("pk", "x"))
    assert annotated and all(hidden(x) for _pk, x in annotated)
    assert all(hidden(o.expected_amount) for o in qs)
    phones = Customer.objects.visible_to(user).filter(phone_digits=PHONE)
    assert list(phones.values_list("phone", flat=True)) == ["138****5432"]
    admin = Opportunity.objects.visible_to(fresh(t.admin))
    assert admin.aggregate(s=Sum("expected_amount"))["s"] >= OPP_AMOUNT


def test_webhook_payload_built_as_the_endpoint_creator(planted: Tenant) -> None:
    """R1.4: a webhook body carries what its creator may see; a creator who lost the right
    (or is gone) sends masked or hidden values."""
    from crm.core import webhooks
    from crm.core.models import Event, WebhookEndpoint

    t = planted
    customer = t.first("customers.Customer")
    customer_services.update_customer(
        actor=fresh(t.admin), customer=Customer.objects.get(pk=customer.pk), data={"phone": PHONE}
    )
    customer_services.update_customer(
        actor=fresh(t.admin),
        customer=Customer.objects.get(pk=customer.pk),
        data={"phone": "13800001111", "email": EMAIL},
    )
    event = Event.objects.filter(org=t.world.org, object_id=str(customer.pk)).order_by("-pk")[0]
    endpoint = WebhookEndpoint.objects.get(org=t.world.org)
    body, _headers = webhooks.signed_request(endpoint, event)
    assert PHONE.encode() in body  # the admin who created it sees everything
    creator = restricted_user(t, name="钩子")
    endpoint.created_by = creator
    body, _headers = webhooks.signed_request(endpoint, event)
    assert PHONE.encode() not in body and b"canaryq7mail" not in body
    assert b"138****5432" in body
    creator.is_active = False
    creator.save(update_fields=["is_active"])
    endpoint.created_by = fresh(creator)
    body, _headers = webhooks.signed_request(endpoint, event)
    assert PHONE.encode() not in body and b"138****" not in body


# --- read-only and masked fields cannot be changed -----------------------------------------------
def test_read_only_and_masked_fields_refused_by_api_and_service(planted: Tenant) -> None:
    """R1.4: a change of a read-only or masked field is refused (403, a clear message) and
    nothing is written; other fields still save, and masked values never overwrite the real."""
    t = planted
    customer = t.first("customers.Customer")
    rules = {**ALL_RULES, "customers.Customer.email": "readonly"}
    user = restricted_user(t, rules=rules)
    api = bearer(user)
    version = Customer._base_manager.get(pk=customer.pk).version
    for field, value in (("email", "new@example.com"), ("phone", "13700000000")):
        with translation.override("en"):
            r = api.patch(
                f"/api/v1/customers/customers/{customer.pk}",
                {field: value, "version": version},
                content_type="application/json",
            )
        assert r.status_code == 403, r.content
        assert "may not change" in r.json()["message"]
    row = Customer._base_manager.get(pk=customer.pk)
    assert (row.phone, row.email) == (PHONE, EMAIL)
    # the masked value sent back unchanged is not a change; the name still saves
    r = api.patch(
        f"/api/v1/customers/customers/{customer.pk}",
        {"name": "改名客户", "phone": "138****5432", "version": version},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["phone"] == "138****5432"
    row = Customer._base_manager.get(pk=customer.pk)
    assert (row.name, row.phone, row.phone_digits) == ("改名客户", PHONE, PHONE)
    # save() of a redacted instance restores the real values, and refuses a change
    obj = Customer.objects.visible_to(user).get(pk=customer.pk)
    obj.notes = "x"
    obj.save()
    assert Customer._base_manager.get(pk=customer.pk).phone == PHONE
    obj = Customer.objects.visible_to(user).get(pk=customer.pk)
    obj.phone = "13000000000"
    with pytest.raises(PermissionDenied):
        obj.save()
    assert Customer._base_manager.get(pk=customer.pk).phone == PHONE
    opp = t.first("pipeline.Opportunity")
    r = api.patch(
        f"/api/v1/opportunities/{opp.pk}",
        {"expected_amount": "1.00", "version": Opportunity._base_manager.get(pk=opp.pk).version},
        content_type="application/json",
    )
    assert r.status_code == 403
    assert Opportunity._base_manager.get(pk=opp.pk).expected_amount == OPP_AMOUNT


def test_edit_form_disables_protected_fields_and_keeps_values(planted: Tenant) -> None:
    """R1.4: the edit page renders protected fields disabled (masked), and saving the form
    changes the other fields without overwriting the protected ones."""
    t = planted
    customer = t.first("customers.Customer")
    user = restricted_user(t)
    client = login(user)
    url = reverse("customers:edit", args=[customer.pk])
    page = text_of(client.get(url))
    assert PHONE not in page and INVOICE["bank_account"] not in page
    assert 'name="phone"' in page and "disabled" in page
    current = Customer._base_manager.get(pk=customer.pk)
    r = client.post(
        url,
        {
            "name": "表单改名",
            "version": current.version,
            "phone": "13100000000",  # disabled: ignored
            "bank_account": "HACKED",
        },
    )
    assert r.status_code in (200, 302)
    row = Customer._base_manager.get(pk=customer.pk)
    assert row.phone == PHONE and row.bank_account == INVOICE["bank_account"]


def test_other_tenant_and_out_of_scope_still_404(planted: Tenant) -> None:
    """R1.4 with the scope rules: field rules never widen access — another organisation's
    restricted user and an out-of-scope colleague get 404 for the record."""
    t, other = planted, build_records("另一家字段公司")
    customer = t.first("customers.Customer")
    outsider = restricted_user(other)
    assert bearer(outsider).get(f"/api/v1/customers/customers/{customer.pk}").status_code == 404
    assert bearer(fresh(t.rep)).get(f"/api/v1/customers/customers/{customer.pk}").status_code == 404


def test_role_page_edits_field_rules(planted: Tenant) -> None:
    """R1.4: the role edit page shows the field-permission table and saves it."""
    t = planted
    role = make_role(t.admin, "页面角色", DataScope.SELF, ["customers:view"])
    client = login(fresh(t.admin))
    page = text_of(client.get(reverse("org:role_edit", args=[role.pk])))
    assert "fr__customers__Customer__phone" in page
    r = client.post(
        reverse("org:role_edit", args=[role.pk]),
        {
            "name": role.name,
            "perm": ["customers:view"],
            "data_scope": DataScope.SELF,
            "fr__customers__Customer__phone": "masked",
            "fr__pipeline__Opportunity__amount": "hidden",
        },
    )
    assert r.status_code == 302, text_of(r)[:2000]
    role.refresh_from_db()
    assert role.field_rules == {
        "customers.Customer.phone": "masked",
        "pipeline.Opportunity.amount": "hidden",
    }
    api = bearer(fresh(t.admin))
    assert api.get(f"/api/v1/org/roles/{role.pk}").json()["field_rules"] == role.field_rules
