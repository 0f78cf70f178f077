"""Fixtures of the security tier: two organisations with a record of every kind, created through
the services, each named with a unique canary so a leak of any byte of it is easy to spot."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from crm.activities import services as activity_services
from crm.activities.models import FollowUp, Reminder, ReminderRule, VisitPlan
from crm.core.models import Attachment, Comment, Event, Notification
from crm.core.notifications import notify
from crm.core.testing.world import World, build_world, make_department, make_role, make_user, role
from crm.customers import pool_services
from crm.customers import services as customer_services
from crm.customers.models import Contact, Customer, OwnershipMove
from crm.finance import models as finance_models  # H-FINANCE
from crm.leads import services as lead_services
from crm.leads.models import Lead, LeadPool
from crm.org import services as org_services
from crm.org.models import User
from crm.pipeline import opportunities as opportunity_services
from crm.pipeline import services as pipeline_services
from crm.pipeline.models import Opportunity, SavedQuery, StageHistory
from crm.sales import models as contract_models  # H-CONTRACTS
from crm.sales.models import DocumentTemplate, PriceList, Product, Quote, QuoteLine  # H-QUOTES

_seq = itertools.count(1)

#: rows whose counts must not move when a request is refused (RELIABILITY A2)
WATCHED = (
    Event,
    Customer,
    Contact,
    Lead,
    OwnershipMove,
    Notification,
    Opportunity,
    StageHistory,
    SavedQuery,
    FollowUp,
    VisitPlan,
    Reminder,
    Comment,
    Attachment,
    Product,  # H-QUOTES
    PriceList,
    Quote,
    QuoteLine,
    DocumentTemplate,
    contract_models.Contract,  # H-CONTRACTS
    contract_models.ContractAmendment,
    contract_models.Order,
    contract_models.ReturnRequest,
    contract_models.ApprovalFlow,
    contract_models.ApprovalStep,
    contract_models.ApprovalRequest,
    contract_models.ApprovalTask,
    finance_models.ReceivablePlan,  # H-FINANCE
    finance_models.Receipt,
    finance_models.ReceiptAllocation,
    finance_models.WriteOff,
    finance_models.Invoice,
    finance_models.InvoiceLine,
    # >>> H-DASH
    Event._meta.apps.get_model("analytics", "Target"),  # (imports are outside the blocks)
    # <<< H-DASH
    # >>> H-FORECAST
    Event._meta.apps.get_model("analytics", "ForecastCommit"),
    Event._meta.apps.get_model("analytics", "ForecastSnapshot"),
    # <<< H-FORECAST
    # >>> H-REPORTS
    Event._meta.apps.get_model("analytics", "SavedReport"),  # (imports are outside the blocks)
    Event._meta.apps.get_model("analytics", "ReportSchedule"),
    Event._meta.apps.get_model("analytics", "ReportDelivery"),
    # <<< H-REPORTS
    # >>> H-HOOKS
    Event._meta.apps.get_model("core", "WebhookEndpoint"),  # (imports are outside the blocks)
    Event._meta.apps.get_model("core", "WebhookDelivery"),
    # <<< H-HOOKS
    # >>> H-SVC
    Event._meta.apps.get_model("service", "Ticket"),  # (imports are outside the blocks)
    Event._meta.apps.get_model("service", "ReturnVisit"),
    # <<< H-SVC
    # >>> H-KB
    Event._meta.apps.get_model("knowledge", "Article"),  # (imports are outside the blocks)
    Event._meta.apps.get_model("knowledge", "Category"),  # kb-categories
    # <<< H-KB
    # >>> H-CF
    Event._meta.apps.get_model("core", "CustomField"),  # (imports are outside the blocks)
    # <<< H-CF
    # >>> H-CAMP
    Event._meta.apps.get_model("marketing", "Campaign"),  # (imports are outside the blocks)
    # <<< H-CAMP
    # >>> H-MAIL
    Event._meta.apps.get_model("mailing", "EmailCampaign"),  # (imports are outside the blocks)
    Event._meta.apps.get_model("mailing", "Recipient"),
    Event._meta.apps.get_model("mailing", "Unsubscribe"),
    # <<< H-MAIL
    # >>> H-LSCORE
    Event._meta.apps.get_model("leads", "LeadScoringRule"),  # (imports are outside the blocks)
    # <<< H-LSCORE
    # >>> H-WINP
    Event._meta.apps.get_model("scoring", "WinModel"),  # (imports are outside the blocks)
    Event._meta.apps.get_model("scoring", "OpportunityScore"),
    # <<< H-WINP
    # >>> H-CONF
    # <<< H-CONF
    # >>> H-FIELD
    # <<< H-FIELD
    # >>> H-PLAT
    # <<< H-PLAT
    # >>> H-PERF
    # <<< H-PERF
)


def fresh(user: User) -> User:
    """The user as a new request sees it (no cached roles or scopes)."""
    return User.objects.get(pk=user.pk)


def row_counts() -> dict[str, int]:
    """The number of rows of every watched table, in one query (a COUNT per model was 55
    queries, twice around each of the matrix's thousands of requests)."""
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(
        f"(SELECT COUNT(*) FROM {quote(m._meta.db_table)})" for m in WATCHED
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return {m._meta.label: n for m, n in zip(WATCHED, row, strict=True)}


@dataclass
class Tenant:
    """One organisation: the world's people plus a canary-named record of every kind.

    ``targets`` maps a model label to records of it; ``names`` maps (label, pk) to the record's
    canary name (a string no other record, page or message contains).
    """

    world: World
    tag: str
    owner: User
    rep: User
    manager: User
    targets: dict[str, list[Any]] = field(default_factory=dict)
    own_lead_pool: LeadPool | None = None
    tag_row: Any = None
    names: dict[tuple[str, int], str] = field(default_factory=dict)

    @property
    def admin(self) -> User:
        return self.world.admin

    def first(self, label: str) -> Any:
        return self.targets[label][0]


def build_tenant(name: str) -> Tenant:
    """An organisation with canary-named records, all created through the services.

    - ``owner`` (built-in rep role, 华东组) owns a customer with a contact, a lead in a sub-pool
      they work in, an API token and a notification;
    - ``rep`` (built-in rep role, 销售二部) and ``manager`` (built-in manager role, 销售二部)
      are colleagues who must not see the owner's records;
    - a second customer waits in a public pool open only to 华东组; a custom role, a department,
      an assignment rule and a user carry canary names too.
    """
    tag = uuid.uuid4().hex[:8]
    w = build_world(name)
    admin = w.admin
    org = w.org
    rep_role = role(org, "rep")
    owner = make_user(admin, f"靶子用户{tag}", w.depts["east"], [rep_role])
    rep = make_user(admin, "外部销售", w.depts["sales2"], [rep_role])
    manager = make_user(admin, "二部经理", w.depts["sales2"], [role(org, "manager")])
    t = Tenant(world=w, tag=tag, owner=owner, rep=rep, manager=manager)

    def add(label: str, obj: Any, canary: str) -> None:
        t.targets.setdefault(label, []).append(obj)
        t.names[(label, obj.pk)] = canary

    add("org.User", owner, f"靶子用户{tag}")
    dept = make_department(admin, f"靶子部门{tag}", w.depts["sales1"])
    add("org.Department", dept, f"靶子部门{tag}")
    custom = make_role(admin, f"靶子角色{tag}", "dept", ["customers:view"])
    add("org.Role", custom, f"靶子角色{tag}")
    token, _raw = org_services.create_token(actor=fresh(owner), name=f"靶子令牌{tag}")
    add("org.ApiToken", token, f"靶子令牌{tag}")
    note = notify(
        recipient=owner,
        verb="security.canary",
        message=f"靶子通知{tag}",
        url="/customers/",
    )
    add("core.Notification", note, f"靶子通知{tag}")

    customer = customer_services.create_customer(
        actor=admin,
        owner=owner,
        data={"name": f"靶子客户{tag}", "phone": f"0571-{next(_seq) + 81000000}"},
        contacts=[{"name": f"靶子联系人{tag}", "mobile": f"139{next(_seq) + 10000000:08d}"}],
    )
    add("customers.Customer", customer, f"靶子客户{tag}")
    add("customers.Contact", Contact.objects.get(customer=customer), f"靶子联系人{tag}")
    east_pool = pool_services.save_pool(
        actor=admin,
        data={"name": f"靶子公海{tag}", "is_active": True},
        departments=[w.depts["east"]],
    )
    add("customers.PublicPool", east_pool, f"靶子公海{tag}")
    waiting = customer_services.create_customer(
        actor=admin, owner=owner, data={"name": f"靶子公海客户{tag}"}
    )
    pool_services.release(actor=admin, customer=waiting, reason="无人跟进", pool=east_pool)
    add("customers.Customer", Customer.objects.get(pk=waiting.pk), f"靶子公海客户{tag}")
    t.tag_row = customer_services.create_tag(actor=admin, name=f"靶子标签{tag}")
    customer_services.tag_customers(actor=admin, customers=[customer], tags=[t.tag_row])

    lead_pool = lead_services.save_pool(
        actor=admin,
        data={"name": f"靶子线索池{tag}", "region": "华东", "form_enabled": True},
        managers=[owner],
        members=[owner],
    )
    add("leads.LeadPool", lead_pool, f"靶子线索池{tag}")
    lead = lead_services.create_lead(
        actor=admin,
        data={"company": f"靶子线索{tag}", "mobile": f"138{next(_seq) + 20000000:08d}"},
        pool=lead_pool,
        owner=owner,
    )
    add("leads.Lead", lead, f"靶子线索{tag}")
    waiting_lead = lead_services.create_lead(
        actor=admin,
        data={"company": f"靶子待分线索{tag}", "mobile": f"138{next(_seq) + 30000000:08d}"},
        pool=lead_pool,
        apply_rules=False,
    )
    add("leads.Lead", waiting_lead, f"靶子待分线索{tag}")
    rule = lead_services.save_rule(
        actor=admin,
        data={
            "name": f"靶子规则{tag}",
            "order": 5,
            "is_active": False,
            "conditions": {"region": ["西北"]},
            "strategy": "round_robin",
        },
        eligible_users=[owner],
        fixed_user=None,
        target_pool=None,
    )
    add("leads.AssignmentRule", rule, f"靶子规则{tag}")
    # Settings records that every member with the module's view permission reads by design.
    pipeline = pipeline_services.save_pipeline(actor=admin, data={"name": f"靶子管道{tag}"})
    add("pipeline.Pipeline", pipeline, f"靶子管道{tag}")
    stage = pipeline_services.add_stage(
        actor=admin, pipeline=pipeline, data={"name": f"靶子阶段{tag}"}
    )
    add("pipeline.Stage", stage, f"靶子阶段{tag}")
    item = pipeline_services.add_dictionary_item(
        actor=admin, kind="industry", label=f"靶子行业{tag}"
    )
    add("pipeline.DictionaryItem", item, f"靶子行业{tag}")
    # Opportunities and follow-ups of the owner's customer.
    owner_now = fresh(owner)
    opportunity = opportunity_services.create_opportunity(
        actor=owner_now,
        customer=customer,
        data={"name": f"靶子商机{tag}", "expected_amount": "100000"},
        lines=[{"product": f"靶子产品{tag}", "quantity": "1", "unit_price": "100000"}],
    )
    add("pipeline.Opportunity", opportunity, f"靶子商机{tag}")
    followup = activity_services.record_followup(
        actor=owner_now,
        customer=customer,
        opportunity=opportunity,
        data={"method": "call", "content": f"靶子跟进{tag}"},
    )
    add("activities.FollowUp", followup, f"靶子跟进{tag}")
    plan = activity_services.plan_visit(
        actor=owner_now,
        customer=customer,
        data={
            "planned_at": timezone.now() + timedelta(days=2),
            "purpose": f"靶子拜访{tag}",
        },
    )
    add("activities.VisitPlan", plan, f"靶子拜访{tag}")
    saved = SavedQuery.objects.create(
        org=org, owner=owner, name=f"靶子查询{tag}", conditions={"match": "all", "rules": []}
    )
    add("pipeline.SavedQuery", saved, f"靶子查询{tag}")
    reminder = Reminder.objects.create(
        org=org,
        recipient=owner,
        kind="next_followup",
        target_type="pipeline.opportunity",
        target_id=str(opportunity.pk),
        due_at=timezone.now(),
        message=f"靶子提醒{tag}",
        sent_at=timezone.now(),
    )
    add("activities.Reminder", reminder, f"靶子提醒{tag}")
    rule_row = ReminderRule.objects.create(
        org=org, kind="visit_plan", name=f"靶子提醒规则{tag}", offsets=[1]
    )
    add("activities.ReminderRule", rule_row, f"靶子提醒规则{tag}")
    comment = Comment.objects.create(
        org=org,
        target_type="pipeline.opportunity",
        target_id=str(opportunity.pk),
        author=owner,
        body=f"靶子评论{tag}",
    )
    add("core.Comment", comment, f"靶子评论{tag}")
    attachment = Attachment(
        org=org,
        target_type="pipeline.opportunity",
        target_id=str(opportunity.pk),
        uploaded_by=owner,
        name=f"靶子附件{tag}.txt",
        size=5,
        content_type="text/plain",
    )
    attachment.file.save("canary.txt", ContentFile(b"canary"), save=False)
    attachment.save()
    add("core.Attachment", attachment, f"靶子附件{tag}")
    # The owner's import of a customer file and saved mapping (H-IMPORT): theirs only.
    from crm.imports import services as import_services

    upload = ContentFile(
        "客户名称,手机\n导入客户,13900001111\n".encode(), name=f"靶子导入{tag}.csv"
    )
    job = import_services.create_job(actor=owner_now, resource="customers", uploaded_file=upload)
    add("imports.ImportJob", job, f"靶子导入{tag}")
    template = import_services.save_template(actor=owner_now, job=job, name=f"靶子模板{tag}")
    add("imports.ImportTemplate", template, f"靶子模板{tag}")
    # Products and price lists (read by every sales:view member, like settings), the owner's
    # quote of the opportunity, and an uploaded Word template (H-QUOTES).
    from django.core.files.uploadedfile import SimpleUploadedFile

    from crm.sales import documents as sales_documents
    from crm.sales import product_services, quote_services

    product = product_services.create_product(
        actor=admin, data={"code": f"KZ-{tag}", "name": f"靶子商品{tag}", "list_price": "100"}
    )
    add("sales.Product", product, f"靶子商品{tag}")
    price_list = product_services.save_price_list(
        actor=admin,
        data={"name": f"靶子价目表{tag}"},
        items=[{"product": product, "price": "90"}],
    )
    add("sales.PriceList", price_list, f"靶子价目表{tag}")
    quote = quote_services.create_quote(
        actor=owner_now,
        opportunity=opportunity,
        data={"title": f"靶子报价{tag}"},
        lines=[{"product": product, "quantity": "2", "unit_price": "100"}],
    )
    add("sales.Quote", quote, f"靶子报价{tag}")
    doc_template = sales_documents.upload_template(
        actor=admin,
        kind="quote",
        name=f"靶子文档模板{tag}",
        uploaded=SimpleUploadedFile("t.docx", sales_documents.builtin_bytes("quote")),
    )
    add("sales.DocumentTemplate", doc_template, f"靶子文档模板{tag}")
    # The owner's signed contract with an applied amendment, an order and a return waiting for
    # the administrator's approval; the organisation's approval flow and its step (H-CONTRACTS).
    from crm.sales import contract_services, flow_services, order_services, return_services

    contract = contract_services.create_contract(
        actor=owner_now, opportunity=opportunity, data={"name": f"靶子合同{tag}"}
    )
    contract = contract_services.submit_contract(actor=owner_now, contract=contract)
    contract = contract_services.sign_contract(
        actor=owner_now, contract=contract, signed_on=timezone.localdate()
    )
    add("sales.Contract", contract, f"靶子合同{tag}")
    amendment = contract_services.propose_amendment(
        actor=owner_now, contract=contract, changes={"notes": "补充"}, reason=f"靶子变更{tag}"
    )
    add("sales.ContractAmendment", amendment, f"靶子变更{tag}")
    order = order_services.create_order(
        actor=owner_now, contract=contract, data={"ship_to": f"靶子订单{tag}"}
    )
    add("sales.Order", order, f"靶子订单{tag}")
    return_flow = flow_services.save_flow(
        actor=admin, data={"name": f"靶子审批流{tag}", "subject": "return"}
    )
    add("sales.ApprovalFlow", return_flow, f"靶子审批流{tag}")
    step = flow_services.save_step(
        actor=admin,
        flow=return_flow,
        data={"name": f"靶子审批步{tag}", "approver_kind": "user", "user": admin},
    )
    add("sales.ApprovalStep", step, f"靶子审批步{tag}")
    ret = return_services.create_return(
        actor=owner_now,
        contract=contract,
        order=order,
        data={"reason": "quality", "amount": "10", "description": f"靶子退货{tag}"},
    )
    ret = return_services.submit_return(actor=owner_now, ret=ret, comment=f"靶子审批{tag}")
    add("sales.ReturnRequest", ret, f"靶子退货{tag}")
    add(
        "sales.ApprovalRequest",
        contract_models.ApprovalRequest.objects.get(subject="return", subject_id=str(ret.pk)),
        f"靶子审批{tag}",
    )
    # The owner's contract's receivables: an installment, a receipt, a write-off and an invoice
    # request, recorded by the administrator (H-FINANCE).
    from crm.finance import invoice_services, plan_services, receipt_services

    (receivable,) = plan_services.replace_plans(
        actor=admin,
        contract=contract,
        rows=[
            {"due_on": timezone.localdate(), "amount": contract.amount, "note": f"靶子回款{tag}"}
        ],
    )
    add("finance.ReceivablePlan", receivable, f"靶子回款{tag}")
    receipt = receipt_services.record_receipt(
        actor=admin, contract=contract, data={"amount": "10", "payer": f"靶子付款方{tag}"}
    )
    add("finance.Receipt", receipt, f"靶子付款方{tag}")
    add("finance.ReceiptAllocation", receipt.allocations.get(), f"靶子付款方{tag}")
    write_off = receipt_services.create_write_off(
        actor=admin, plan=receivable, amount="1", reason=f"靶子核销{tag}"
    )
    add("finance.WriteOff", write_off, f"靶子核销{tag}")
    invoice = invoice_services.request_invoice(
        actor=admin,
        contract=contract,
        data={"amount": "10", "note": f"靶子发票{tag}"},
        lines=[{"description": f"靶子发票行{tag}", "amount": "10"}],
    )
    add("finance.Invoice", invoice, f"靶子发票{tag}")
    add("finance.InvoiceLine", invoice.lines.get(), f"靶子发票行{tag}")
    # The rep's and the manager's own sub-pool: they may work there, not in the owner's.
    t.own_lead_pool = lead_services.save_pool(
        actor=admin,
        data={"name": f"二部线索池{tag}", "region": "华南"},
        managers=[manager],
        members=[rep],
    )
    # >>> H-DASH
    # The owner's signing target for this month, set by the administrator through the grid
    # service; its value carries the canary (H-DASH).
    from decimal import Decimal as _Decimal

    from crm.analytics import targets as dash_targets
    from crm.analytics.models import Target as DashTarget

    month = timezone.localdate().replace(day=1)
    canary_value = _Decimal(int(tag, 16) % 10**8) + _Decimal("0.37")
    dash_targets.save_grid(
        actor=fresh(admin),
        metric="signed",
        period="month",
        year=month.year,
        level="rep",
        cells={(owner.pk, month): canary_value},
    )
    add("analytics.Target", DashTarget.objects.get(user=owner), f"{canary_value:.2f}")
    # <<< H-DASH
    # >>> H-FORECAST
    # The owner's forecast commit for the current month, with a canary note (H-FORECAST).
    from crm.analytics import forecast_services

    fc_commit = forecast_services.commit(
        actor=fresh(owner),
        period="month",
        start=timezone.localdate().replace(day=1),
        committed="1000",
        note=f"靶子预测{tag}",
    )
    add("analytics.ForecastCommit", fc_commit, f"靶子预测{tag}")
    # <<< H-FORECAST
    # >>> H-REPORTS
    # The owner's private custom report, its weekly schedule to the owner, and one delivery
    # of it that failed (the security tests send nothing).
    from crm.analytics import report_services
    from crm.analytics.models import ReportDelivery

    saved_report = report_services.save_report(
        actor=fresh(owner),
        name=f"靶子报表{tag}",
        definition={"subject": "customers", "dimensions": ["owner"], "measures": ["count"]},
    )
    add("analytics.SavedReport", saved_report, f"靶子报表{tag}")
    report_schedule = report_services.save_schedule(
        actor=fresh(owner),
        report=saved_report,
        data={"frequency": "weekly", "weekday": 0, "hour": 8},
        recipients=[owner.pk],
    )
    add("analytics.ReportSchedule", report_schedule, f"靶子报表{tag}")
    report_delivery = ReportDelivery.objects.create(
        org=org,
        schedule=report_schedule,
        recipient=owner,
        due_at=timezone.now(),
        status="failed",
        error=f"靶子报表投递{tag}",
    )
    add("analytics.ReportDelivery", report_delivery, f"靶子报表投递{tag}")
    # <<< H-REPORTS
    # >>> H-HOOKS
    # The administrator's webhook (paused: the security tests send nothing) and one delivery
    # of the owner's customer's event to it.
    from crm.core import webhooks as webhook_services
    from crm.core.models import WebhookDelivery

    hook, _secret = webhook_services.create_endpoint(
        actor=admin,
        data={
            "name": f"靶子钩子{tag}",
            "url": "https://hooks.example.invalid/crm",
            "event_types": ["customer.*"],
            "is_active": False,
        },
    )
    add("core.WebhookEndpoint", hook, f"靶子钩子{tag}")
    hook_delivery = WebhookDelivery.objects.create(
        org=org,
        endpoint=hook,
        event=Event.objects.filter(org=org, verb="customer.created").order_by("pk").first(),
        status="dead",
        last_error=f"靶子投递{tag}",
    )
    add("core.WebhookDelivery", hook_delivery, f"靶子投递{tag}")
    # <<< H-HOOKS
    # >>> H-SVC
    # The owner's service ticket about their customer (canary subject), and a return visit of
    # it planned by the owner and recorded with a canary comment (H-SVC).
    from crm.service import services as svc_services

    svc_ticket = svc_services.create_ticket(
        actor=fresh(owner),
        customer=customer,
        data={"type": "repair", "priority": "high", "subject": f"靶子工单{tag}"},
    )
    add("service.Ticket", svc_ticket, f"靶子工单{tag}")
    svc_visit = svc_services.plan_visit(
        actor=fresh(owner), customer=customer, due_on=timezone.localdate(), ticket=svc_ticket
    )
    svc_visit.comment = f"靶子回访{tag}"
    svc_visit.save(update_fields=["comment"])
    add("service.ReturnVisit", svc_visit, f"靶子回访{tag}")
    # <<< H-SVC
    # >>> H-KB
    # A draft article with a canary title and body. The built-in rep role may only read the
    # knowledge base, so the administrator (root department) writes it: a draft is seen by its
    # author and the editors whose scope covers the author, never by the sales2 colleagues.
    from crm.knowledge import services as kb_services

    kb_article = kb_services.create_article(
        actor=fresh(admin),
        data={"title": f"靶子文章{tag}", "body": f"<p>靶子正文{tag}</p>", "tags": [f"靶子{tag}"]},
        stage_ids=[stage.pk],
        industries=[item.value],
    )
    add("knowledge.Article", kb_article, f"靶子文章{tag}")
    # kb-categories: a category of the organisation's own, with a canary name (org-wide)
    kb_category = kb_services.create_category(actor=fresh(admin), name=f"靶子分类{tag}")
    add("knowledge.Category", kb_category, f"靶子分类{tag}")
    # <<< H-KB
    # >>> H-CF
    # A custom field of customers, defined by the administrator (org-wide; H-CF).
    from crm.core import custom_fields as cf_services

    cf_field = cf_services.create_field(
        actor=fresh(admin),
        data={"target": "customer", "key": "canary", "label": f"靶子字段{tag}", "kind": "text"},
    )
    add("core.CustomField", cf_field, f"靶子字段{tag}")
    # <<< H-CF
    # >>> H-CAMP
    # A campaign with a canary name, run by the administrator (campaigns are organisation-wide
    # for marketing:view; the owner's lead carries it). H-CAMP.
    from crm.marketing import services as camp_services

    camp = camp_services.create_campaign(
        actor=fresh(admin),
        data={"name": f"靶子活动{tag}", "utm_campaign": f"canary-{tag}", "actual_cost": "100"},
    )
    add("marketing.Campaign", camp, f"靶子活动{tag}")
    # <<< H-CAMP
    # >>> H-MAIL
    # A draft e-mail campaign of the administrator (root department) with a canary subject:
    # the sales2 manager's department tree does not cover it, the rep has no marketing rights.
    from crm.mailing import services as mail_services

    mail_campaign = mail_services.create_campaign(
        actor=fresh(admin),
        data={"subject": f"靶子邮件{tag}", "body_html": f"<p>靶子邮件正文{tag}</p>"},
    )
    add("mailing.EmailCampaign", mail_campaign, f"靶子邮件{tag}")
    # mailing-bounces: an address on the unsubscribe list, its note the canary
    unsub = mail_services.add_unsubscribe(
        actor=fresh(admin), email=f"canary-{tag}@example.com", note=f"靶子退订{tag}"
    )
    add("mailing.Unsubscribe", unsub, f"靶子退订{tag}")
    # <<< H-MAIL
    # >>> H-LSCORE
    # A lead scoring rule with a canary name and value, matching no lead (H-LSCORE).
    from crm.leads import scoring as lead_scoring

    score_rule = lead_scoring.save_rule(
        actor=fresh(admin),
        data={
            "name": f"靶子评分{tag}",
            "kind": "attribute",
            "field": "title",
            "operator": "equals",
            "values": [f"靶子职位{tag}"],
            "points": 10,
        },
    )
    add("leads.LeadScoringRule", score_rule, f"靶子评分{tag}")
    # <<< H-LSCORE
    # >>> H-WINP
    # A win-probability model whose one weight is the canary product, and a learned score of
    # the owner's opportunity whose leading factor carries the canary (H-WINP).
    from decimal import Decimal

    from crm.scoring.models import OpportunityScore, WinModel

    win_run = WinModel.objects.create(
        org=org,
        version=1,
        trained_at=timezone.now(),
        is_usable=True,
        auc=0.5,
        brier=0.25,
        params={
            "columns": [["product", f"靶子产品{tag}"]],
            "mean": [0.0],
            "scale": [1.0],
            "coef": [1.0],
            "intercept": 0.0,
        },
    )
    win_score = OpportunityScore.objects.create(
        org=org,
        opportunity=opportunity,
        model=win_run,
        probability=Decimal("73.11"),
        factors={"up": [{"feature": "product", "value": f"靶子产品{tag}", "effect": 1.0}]},
        scored_at=timezone.now(),
    )
    add("scoring.OpportunityScore", win_score, f"靶子产品{tag}")
    # <<< H-WINP
    # >>> H-CONF
    # <<< H-CONF
    # >>> H-FIELD
    # <<< H-FIELD
    # >>> H-PLAT
    # <<< H-PLAT
    # >>> H-PERF
    # <<< H-PERF
    # >>> H-MAVEN
    # <<< H-MAVEN
    t.owner, t.rep, t.manager = fresh(owner), fresh(rep), fresh(manager)
    return t


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


@pytest.fixture
def tenants(db: None) -> tuple[Tenant, Tenant]:
    """(target organisation, other organisation)."""
    return build_tenant("甲方科技有限公司"), build_tenant("乙方贸易有限公司")


@pytest.fixture
def tenant(db: None) -> Tenant:
    return build_tenant("甲方科技有限公司")


def hints(t: Tenant, actor: User) -> dict[str, Any]:
    """Values for the required fields of API bodies, taken from ``actor``'s own organisation
    ``t`` (so a request gets past validation and reaches the record lookup it is testing)."""
    return {
        "to_user_id": actor.pk,
        "user_id": actor.pk,
        "transfer_to_id": actor.pk,
        "source_id": t.targets["customers.Customer"][1].pk,
        "parent_id": t.world.depts["root"].pk,
        "department_id": t.world.depts["sales2"].pk,
        "pool_id": t.own_lead_pool.pk if t.own_lead_pool else None,
        "lead_ids": [t.first("leads.Lead").pk],
        "ids": [t.first("customers.Customer").pk],
        "tag_ids": [t.tag_row.pk],
        "user_ids": [actor.pk],
        "member_ids": [actor.pk],
        "role_ids": [],
        "permissions": ["customers:view"],
        "data_scope": "self",
        "version": 1,
    }
