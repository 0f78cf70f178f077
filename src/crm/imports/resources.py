"""The built-in importable resources: customers (with a first contact), contacts, leads,
opportunities and follow-ups. Each row goes through the module's own services
(``create_customer``, ``create_contact``, ``create_lead`` with the assignment rules,
``create_opportunity``, ``record_followup`` and their ``update_*``), so validation, duplicate
rules, data scopes and audit events are exactly those of a record made by hand.

Look-ups by name (the customer of a contact, the stage of an opportunity, the owner) only see
what the importing user may see; list values (industry, source…) are matched by their label or
code. Empty cells never erase an existing value when a row updates a record.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.core.errors import PermissionDenied, ValidationFailed

from .batch_customers import CustomerBatch
from .registry import (
    EXTERNAL_ID,
    ImportField,
    Resource,
    RowContext,
    custom_values,
    register_resource,
)

TRUE = {"1", "y", "yes", "true", "是", "√", "✓", "x", "重点", "on"}
FALSE = {"0", "n", "no", "false", "否", "", "off"}
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_DATETIME = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?[ T]+"
    r"(\d{1,2})[:：时](\d{1,2})(?:[:：分](\d{1,2})秒?)?$"
)


def _external() -> ImportField:
    return ImportField(
        EXTERNAL_ID,
        gettext_lazy("External ID"),
        ("外部编号", "外部id", "原系统编号", "编号", "id", "external id", "externalid", "ref"),
        example="EXT-0001",
        help=gettext_lazy("Your own id of the row: re-importing it finds the same record."),
    )


# --- value helpers ---------------------------------------------------------------------------
def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").strip().casefold()


def _error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, field_errors={field: [message]})


def present(values: dict[str, str], keys: list[str]) -> dict[str, str]:
    """The non-empty values among ``keys``."""
    return {k: values[k] for k in keys if values.get(k)}


def as_date(text: str, field: str) -> str:
    """``YYYY-MM-DD`` from ``2026-3-5``, ``2026/03/05``, ``2026.3.5``, ``2026年3月5日``."""
    text = (text or "").strip()
    if not text:
        return ""
    head = text.split(" ")[0].split("T")[0]
    match = _DATE.match(head)
    if match:
        y, m, d = (int(g) for g in match.groups())
        try:
            return date(y, m, d).isoformat()
        except ValueError:
            pass
    raise _error(field, _("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": text})


def as_datetime(text: str, field: str) -> str:
    """``YYYY-MM-DDTHH:MM`` (a date alone is kept as the date)."""
    text = (text or "").strip()
    if not text:
        return ""
    match = _DATETIME.match(text)
    if match:
        y, mo, d, h, mi, s = (int(g) if g else 0 for g in match.groups())
        try:
            return datetime(y, mo, d, h, mi, s).isoformat()  # noqa: DTZ001 - local wall time
        except ValueError:
            pass
    return as_date(text, field)


def as_bool(text: str, field: str) -> bool:
    folded = _fold(text)
    if folded in TRUE:
        return True
    if folded in FALSE:
        return False
    raise _error(field, _("“%(value)s” is not yes or no (是/否).") % {"value": text})


def dictionary_value(ctx: RowContext, kind: str, text: str, field: str) -> str:
    """The code of the organisation's list entry whose label or code is ``text``."""
    from crm.pipeline import dictionaries

    if not text:
        return ""
    entries = ctx.cached(
        ("dict", kind), lambda: dictionaries.choices(ctx.actor.org_id, kind, include_inactive=False)
    )
    found = ctx.cache.get(("dict-value", kind, text))  # the same cell text on many rows
    if found is not None:
        return str(found)
    folded = _fold(text)
    for value, label in entries:
        if folded in (_fold(value), _fold(label)):
            ctx.cache["dict-value", kind, text] = value
            return str(value)
    allowed = "、".join(str(label) for _value, label in entries[:12])
    raise _error(
        field,
        _("“%(value)s” is not in the list. Choose one of: %(allowed)s.")
        % {"value": text, "allowed": allowed},
    )


def choice_value(choices: Any, text: str, field: str) -> str:
    """The value of a TextChoices member whose label or value is ``text``."""
    folded = _fold(text)
    for value, label in choices.choices:
        if folded in (_fold(value), _fold(str(label))):
            return str(value)
    allowed = "、".join(str(label) for _value, label in choices.choices)
    raise _error(
        field,
        _("“%(value)s” is not in the list. Choose one of: %(allowed)s.")
        % {"value": text, "allowed": allowed},
    )


def colleague(ctx: RowContext, text: str, field: str) -> Any:
    """The active colleague whose login name, name or e-mail is ``text``."""
    from crm.org.models import User

    def find() -> Any:
        folded = _fold(text)
        people = User.objects.visible_to(ctx.actor).filter(is_active=True)
        exact = [
            u
            for u in people.only("pk", "username", "name", "email", "org_id", "department_id")
            if folded in (_fold(u.username), _fold(u.name), _fold(u.email))
        ]
        by_login = [u for u in exact if _fold(u.username) == folded]
        return by_login or exact

    found = ctx.cached(("user", text), find)
    if not found:
        raise _error(field, _("No active colleague is called “%(name)s”.") % {"name": text})
    if len(found) > 1:
        raise _error(
            field,
            _("Several colleagues are called “%(name)s”: use the login name.") % {"name": text},
        )
    return User.objects.get(pk=found[0].pk)


def customer_named(ctx: RowContext, text: str, action: str = "view") -> Any:
    """The customer called ``text`` (exactly, else by its normalised name) that the actor may
    ``action``; a clear error when there is none or several."""
    from crm.customers.normalize import normalize_name
    from crm.customers.selectors import active_customers

    if not text:
        raise _error("customer", _("Enter the customer's name."))

    def find() -> list[int]:
        qs = active_customers(ctx.actor, action)
        ids = list(qs.filter(name=text).values_list("pk", flat=True)[:2])
        if not ids:
            key = normalize_name(text)
            ids = (
                list(qs.filter(normalized_name=key).values_list("pk", flat=True)[:2]) if key else []
            )
        return ids

    ids = ctx.cached(("customer", text, action), find)
    if not ids:
        raise _error(
            "customer",
            _("No customer called “%(name)s” that you may work with was found.") % {"name": text},
        )
    if len(ids) > 1:
        raise _error("customer", _("Several customers are called “%(name)s”.") % {"name": text})
    from crm.customers.models import Customer

    return Customer.objects.get(pk=ids[0])


def _visible(model: Any, ctx: RowContext, obj: Any, action: str) -> bool:
    return bool(model.objects.visible_to(ctx.actor, action).filter(pk=obj.pk).exists())


def _owner_for(ctx: RowContext, values: dict[str, str], module: str) -> Any:
    """The owner named in the row (default: the actor); someone else needs ``transfer``."""
    name = values.get("owner", "")
    if not name:
        return None
    owner = colleague(ctx, name, "owner")
    if owner.pk != ctx.actor.pk and not ctx.actor.can(module, "transfer"):
        raise _error(
            "owner",
            _("You may only import records that you own: leave the owner empty."),
        )
    return owner


# --- customers -------------------------------------------------------------------------------
CUSTOMER_TEXT = [
    "name",
    "short_name",
    "phone",
    "email",
    "website",
    "region",
    "address",
    "notes",
    "invoice_title",
    "tax_number",
    "invoice_address_phone",
    "bank_name",
    "bank_account",
]
CONTACT_COLUMNS = {
    "contact_name": "name",
    "contact_mobile": "mobile",
    "contact_title": "title",
    "contact_email": "email",
    "contact_phone": "office_phone",
}


def _customer_data(ctx: RowContext, values: dict[str, str]) -> dict[str, Any]:
    from crm.customers.services import DICTIONARY_FIELDS

    data: dict[str, Any] = present(values, CUSTOMER_TEXT)
    for field, kind in DICTIONARY_FIELDS.items():
        if values.get(field):
            data[field] = dictionary_value(ctx, kind, values[field], field)
    _add_custom(ctx, values, data)
    return data


def _add_custom(ctx: RowContext, values: dict[str, str], data: dict[str, Any]) -> None:
    """The row's custom-field cells as ``data["custom"]`` (H-CF), when it has any."""
    custom = custom_values(ctx, values)
    if custom:
        data["custom"] = custom


def _first_contact(values: dict[str, str]) -> dict[str, Any] | None:
    contact: dict[str, Any] = {
        target: values[key] for key, target in CONTACT_COLUMNS.items() if values.get(key)
    }
    if not contact:
        return None
    if not contact.get("name"):
        raise _error("contact_name", _("Enter the contact's name (or leave the contact empty)."))
    contact["is_primary"] = True
    return contact


def tag_names(text: str) -> list[str]:
    """The tag names of a cell (separated by , ， ; ； 、 or |)."""
    return [n.strip() for n in re.split(r"[,，;；、|]", text or "") if n.strip()]


def _tags(ctx: RowContext, text: str) -> list[Any]:
    from crm.customers import services
    from crm.customers.models import Tag

    tags = []
    for name in tag_names(text):
        tag = Tag.objects.visible_to(ctx.actor).filter(name=name[:40]).first()
        if tag is None:
            tag = services.create_tag(actor=ctx.actor, name=name)
        tags.append(tag)
    return tags


def find_customer(ctx: RowContext, values: dict[str, str]) -> Any:
    """A customer with the same name, phone or e-mail (the customers module's rules), or of
    the first contact's mobile or e-mail. With several, one the actor may edit comes first."""
    from crm.customers.duplicates import find_duplicates
    from crm.customers.models import Customer

    found = find_duplicates(
        ctx.actor.org_id,
        name=values.get("name", ""),
        phones=[values.get("phone", ""), values.get("contact_mobile", "")],
        emails=[values.get("email", ""), values.get("contact_email", "")],
    )
    if not found:
        return None
    editable = Customer.objects.visible_to(ctx.actor, "edit").filter(
        pk__in=[c.customer.pk for c in found]
    )
    first = editable.first()
    if first is not None:
        return first
    # R1.4 (H-CONF): a confidential customer the actor may not see is never matched (its name
    # would show in the row's outcome); creating the row then answers the masked duplicate.
    seen = set(
        Customer.objects.visible_to(ctx.actor)
        .filter(pk__in=[c.customer.pk for c in found if c.customer.is_confidential])
        .values_list("pk", flat=True)
    )
    for candidate in found:
        if not candidate.customer.is_confidential or candidate.customer.pk in seen:
            return candidate.customer
    return None


def create_customer(ctx: RowContext, values: dict[str, str]) -> Any:
    from crm.customers import services

    contact = _first_contact(values)
    return services.create_customer(
        actor=ctx.actor,
        data=_customer_data(ctx, values),
        owner=_owner_for(ctx, values, "customers"),
        tags=_tags(ctx, values.get("tags", "")) or None,
        contacts=[contact] if contact else None,
        allow_duplicate=ctx.allow_duplicate,
        source_event="customer.imported",
    )


def update_customer(ctx: RowContext, customer: Any, values: dict[str, str]) -> Any:
    from crm.customers import services
    from crm.customers.models import Customer

    if not _visible(Customer, ctx, customer, "edit"):
        raise _error(
            "name",
            _("The same customer exists and is owned by %(owner)s: you may not update it.")
            % {"owner": customer.owner.display_name if customer.owner else _("a public pool")},
        )
    data = _customer_data(ctx, values)
    tags = _tags(ctx, values.get("tags", ""))
    if tags:
        tags = list({t.pk: t for t in [*customer.tags.all(), *tags]}.values())
    if data or tags:
        customer = services.update_customer(
            actor=ctx.actor, customer=customer, data=data, tags=tags or None
        )
    contact = _first_contact(values)
    if contact and not _contact_match(customer, contact):
        contact.pop("is_primary", None)
        services.create_contact(actor=ctx.actor, customer=customer, data=contact)
    return customer


def _contact_match(customer: Any, data: dict[str, Any]) -> Any:
    """The contact of ``customer`` with the same mobile or e-mail, else the same name."""
    from crm.customers.models import Contact
    from crm.customers.normalize import normalize_email, phone_digits

    contacts = Contact.objects.filter(org_id=customer.org_id, customer=customer)
    digits = phone_digits(data.get("mobile", ""))
    if len(digits) >= 7:
        found = contacts.filter(mobile_digits=digits).first()
        if found:
            return found
    email = normalize_email(data.get("email", ""))
    if "@" in email:
        found = contacts.filter(email=email).first()
        if found:
            return found
    if data.get("name"):
        return contacts.filter(name=data["name"]).first()
    return None


CUSTOMERS = Resource(
    key="customers",
    custom_target="customer",  # H-CF: custom-field columns
    label=gettext_lazy("Customers"),
    module="customers",
    model_label="customers.Customer",
    fields=(
        ImportField(
            "name",
            gettext_lazy("Customer name"),
            (
                "客户名称",
                "公司名称",
                "企业名称",
                "单位名称",
                "客户",
                "公司",
                "name",
                "company",
                "customer",
                "account",
            ),
            required=True,
            example="杭州示例科技有限公司",
        ),
        ImportField("short_name", gettext_lazy("Short name"), ("简称", "客户简称", "short name")),
        ImportField(
            "customer_type",
            gettext_lazy("Customer type"),
            ("客户类型", "类型", "type"),
            example="企业",
        ),
        ImportField("category", gettext_lazy("Category"), ("客户分类", "分类", "category")),
        ImportField(
            "business_category",
            gettext_lazy("Business category"),
            ("业务类别", "业务类型", "business category"),
        ),
        ImportField(
            "industry",
            gettext_lazy("Industry"),
            ("行业", "所属行业", "industry", "sector"),
            example="制造业",
        ),
        ImportField("source", gettext_lazy("Source"), ("来源", "客户来源", "source")),
        ImportField(
            "phone",
            gettext_lazy("Phone"),
            ("电话", "公司电话", "座机", "固定电话", "phone", "tel", "telephone"),
            example="0571-88886666",
        ),
        ImportField("email", gettext_lazy("E-mail"), ("邮箱", "电子邮件", "公司邮箱", "email")),
        ImportField("website", gettext_lazy("Website"), ("网站", "网址", "官网", "website", "url")),
        ImportField(
            "region",
            gettext_lazy("Region"),
            (
                "地区",
                "区域",
                "省份",
                "城市",
                "所在地区",
                "region",
                "city",
                "province",
                "office_location",
                "location",
            ),
            example="浙江杭州",
        ),
        ImportField(
            "address", gettext_lazy("Address"), ("地址", "详细地址", "公司地址", "address")
        ),
        ImportField("notes", gettext_lazy("Notes"), ("备注", "说明", "notes", "remark", "remarks")),
        ImportField("invoice_title", gettext_lazy("Invoice title"), ("开票抬头", "发票抬头")),
        ImportField(
            "tax_number", gettext_lazy("Tax number"), ("税号", "纳税人识别号", "tax number")
        ),
        ImportField(
            "invoice_address_phone",
            gettext_lazy("Invoice address and phone"),
            ("开票地址电话", "地址电话"),
        ),
        ImportField("bank_name", gettext_lazy("Bank"), ("开户行", "开户银行", "bank")),
        ImportField(
            "bank_account", gettext_lazy("Bank account"), ("银行账号", "账号", "bank account")
        ),
        ImportField("owner", gettext_lazy("Owner"), ("负责人", "所属销售", "销售", "owner")),
        ImportField("tags", gettext_lazy("Tags"), ("标签", "tags", "tag")),
        ImportField(
            "contact_name",
            gettext_lazy("Contact name"),
            ("联系人", "联系人姓名", "姓名", "contact", "contact name"),
            example="张伟",
        ),
        ImportField(
            "contact_mobile",
            gettext_lazy("Contact mobile"),
            ("手机", "手机号", "手机号码", "联系人手机", "移动电话", "mobile", "cell", "cellphone"),
            example="13800138000",
        ),
        ImportField(
            "contact_title", gettext_lazy("Contact title"), ("职务", "职位", "title", "position")
        ),
        ImportField(
            "contact_email", gettext_lazy("Contact e-mail"), ("联系人邮箱", "contact email")
        ),
        ImportField(
            "contact_phone",
            gettext_lazy("Contact office phone"),
            ("联系人电话", "办公电话", "contact phone", "office phone"),
        ),
        _external(),
    ),
    find=find_customer,
    create=create_customer,
    update=update_customer,
    error_fields={"mobile": "contact_mobile", "title": "contact_title", "contacts": "contact_name"},
    batch=CustomerBatch(),  # R11.2: new customers are decided and written set-based
)


# --- contacts --------------------------------------------------------------------------------
CONTACT_TEXT = [
    "name",
    "superior_unit",
    "department",
    "title",
    "office_phone",
    "mobile",
    "fax",
    "email",
    "notes",
]


def _contact_data(values: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = present(values, CONTACT_TEXT)
    if values.get("birthday"):
        data["birthday"] = date.fromisoformat(as_date(values["birthday"], "birthday"))
    if values.get("is_primary"):
        data["is_primary"] = as_bool(values["is_primary"], "is_primary")
    return data


def find_contact(ctx: RowContext, values: dict[str, str]) -> Any:
    customer = customer_named(ctx, values.get("customer", ""), "edit")
    return _contact_match(customer, _contact_data(values))


def create_contact(ctx: RowContext, values: dict[str, str]) -> Any:
    from crm.customers import services

    customer = customer_named(ctx, values.get("customer", ""), "edit")
    data = _contact_data(values)
    _add_custom(ctx, values, data)
    return services.create_contact(actor=ctx.actor, customer=customer, data=data)


def update_contact(ctx: RowContext, contact: Any, values: dict[str, str]) -> Any:
    from crm.customers import services

    data = _contact_data(values)
    _add_custom(ctx, values, data)
    if not data:
        return contact
    return services.update_contact(actor=ctx.actor, contact=contact, data=data)


CONTACTS = Resource(
    key="contacts",
    custom_target="contact",  # H-CF: custom-field columns
    label=gettext_lazy("Contacts"),
    module="customers",
    action="edit",
    model_label="customers.Contact",
    fields=(
        ImportField(
            "customer",
            gettext_lazy("Customer name"),
            ("客户名称", "公司名称", "客户", "公司", "单位", "customer", "company", "account"),
            required=True,
            example="杭州示例科技有限公司",
        ),
        ImportField(
            "name",
            gettext_lazy("Contact name"),
            ("姓名", "联系人", "联系人姓名", "name", "contact"),
            required=True,
            example="张伟",
        ),
        ImportField(
            "mobile",
            gettext_lazy("Mobile"),
            ("手机", "手机号", "手机号码", "移动电话", "mobile", "cell", "cellphone"),
            example="13800138000",
        ),
        ImportField(
            "office_phone",
            gettext_lazy("Office phone"),
            ("电话", "办公电话", "座机", "phone", "office phone", "tel"),
        ),
        ImportField("email", gettext_lazy("E-mail"), ("邮箱", "电子邮件", "email")),
        ImportField(
            "title",
            gettext_lazy("Title"),
            ("职务", "职位", "title", "position"),
            example="采购经理",
        ),
        ImportField("department", gettext_lazy("Department"), ("部门", "所在部门", "department")),
        ImportField("superior_unit", gettext_lazy("Superior unit"), ("上级单位",)),
        ImportField("fax", gettext_lazy("Fax"), ("传真", "fax")),
        ImportField("birthday", gettext_lazy("Birthday"), ("生日", "出生日期", "birthday")),
        ImportField(
            "is_primary", gettext_lazy("Primary contact"), ("主联系人", "首要联系人", "primary")
        ),
        ImportField("notes", gettext_lazy("Notes"), ("备注", "说明", "notes", "remark")),
        _external(),
    ),
    find=find_contact,
    create=create_contact,
    update=update_contact,
)


# --- leads -----------------------------------------------------------------------------------
LEAD_TEXT = [
    "company",
    "contact_name",
    "title",
    "mobile",
    "phone",
    "email",
    "region",
    "product_line",
    "notes",
]


def _lead_data(ctx: RowContext, values: dict[str, str]) -> dict[str, Any]:
    from crm.pipeline.models import DictionaryKind

    data: dict[str, Any] = present(values, LEAD_TEXT)
    if values.get("industry"):
        data["industry"] = dictionary_value(
            ctx, DictionaryKind.INDUSTRY, values["industry"], "industry"
        )
    if values.get("source"):
        data["source"] = dictionary_value(ctx, DictionaryKind.SOURCE, values["source"], "source")
    _add_custom(ctx, values, data)
    return data


def find_lead(ctx: RowContext, values: dict[str, str]) -> Any:
    """A lead of the organisation with the same mobile, phone or e-mail (one the actor may edit
    first)."""
    from django.db.models import Q

    from crm.customers.normalize import normalize_email, phone_digits
    from crm.leads.models import Lead

    q = Q()
    for key in ("mobile", "phone"):
        digits = phone_digits(values.get(key, ""))
        if len(digits) >= 7:
            q |= Q(mobile_digits=digits)
    email = normalize_email(values.get("email", ""))
    if "@" in email:
        q |= Q(email=email)
    if not q:
        return None
    editable = Lead.objects.visible_to(ctx.actor, "edit").filter(q).order_by("pk").first()
    return editable or Lead.objects.filter(org_id=ctx.actor.org_id).filter(q).order_by("pk").first()


def create_lead(ctx: RowContext, values: dict[str, str]) -> Any:
    """A lead in the total pool; with no owner column the assignment rules decide."""
    from crm.leads import services
    from crm.pipeline import dictionaries
    from crm.pipeline.models import DictionaryKind

    data = _lead_data(ctx, values)
    source = None
    if "source" not in data and dictionaries.is_valid(
        ctx.actor.org_id, DictionaryKind.SOURCE, "import"
    ):
        source = "import"
    return services.create_lead(
        actor=ctx.actor,
        data=data,
        source=source,
        owner=_owner_for(ctx, values, "leads"),
        campaign=_lead_campaign(ctx, values),  # H-CAMP
    )


def _lead_campaign(ctx: RowContext, values: dict[str, str]) -> Any:
    """H-CAMP: the campaign a row names by name or code (None when the column is empty)."""
    from crm.marketing.services import find_for_import

    text = (values.get("campaign") or "").strip()
    if not text:
        return None
    return ctx.cached(("campaign", text.lower()), lambda: find_for_import(ctx.actor, text))


def update_lead(ctx: RowContext, lead: Any, values: dict[str, str]) -> Any:
    from crm.leads import services
    from crm.leads.models import Lead

    if not _visible(Lead, ctx, lead, "edit"):
        raise _error("mobile", _("The same lead exists and you may not update it."))
    data = _lead_data(ctx, values)
    if not data:
        return lead
    return services.update_lead(actor=ctx.actor, lead=lead, data=data)


LEADS = Resource(
    key="leads",
    custom_target="lead",  # H-CF: custom-field columns
    label=gettext_lazy("Leads"),
    module="leads",
    model_label="leads.Lead",
    fields=(
        ImportField(
            "company",
            gettext_lazy("Company"),
            ("公司", "公司名称", "单位", "单位名称", "企业名称", "客户名称", "company"),
            example="杭州示例科技有限公司",
        ),
        ImportField(
            "contact_name",
            gettext_lazy("Contact name"),
            ("姓名", "联系人", "联系人姓名", "name", "contact", "contact name"),
            example="张伟",
        ),
        ImportField("title", gettext_lazy("Title"), ("职务", "职位", "title", "position")),
        ImportField(
            "mobile",
            gettext_lazy("Mobile"),
            ("手机", "手机号", "手机号码", "移动电话", "mobile", "cell", "cellphone"),
            example="13800138000",
        ),
        ImportField("phone", gettext_lazy("Phone"), ("电话", "座机", "固定电话", "phone", "tel")),
        ImportField("email", gettext_lazy("E-mail"), ("邮箱", "电子邮件", "email")),
        ImportField(
            "region",
            gettext_lazy("Region"),
            ("地区", "区域", "省份", "城市", "region", "city"),
            example="华东",
        ),
        ImportField("industry", gettext_lazy("Industry"), ("行业", "所属行业", "industry")),
        ImportField(
            "product_line", gettext_lazy("Product line"), ("产品线", "意向产品", "product line")
        ),
        ImportField("source", gettext_lazy("Source"), ("来源", "线索来源", "渠道", "source")),
        ImportField(
            "notes", gettext_lazy("Notes"), ("备注", "留言", "需求", "说明", "notes", "message")
        ),
        ImportField("owner", gettext_lazy("Owner"), ("负责人", "所属销售", "销售", "owner")),
        ImportField(
            "campaign",
            gettext_lazy("Campaign"),
            ("市场活动", "活动", "营销活动", "campaign"),
            help=gettext_lazy("The campaign's name or code"),
        ),
        _external(),
    ),
    find=find_lead,
    create=create_lead,
    update=update_lead,
)


# --- opportunities ---------------------------------------------------------------------------
def _pipeline(ctx: RowContext, text: str) -> Any:
    from crm.pipeline.models import Pipeline

    if not text:
        return None
    folded = _fold(text)
    found = [
        p
        for p in ctx.cached(
            "pipelines", lambda: list(Pipeline.objects.visible_to(ctx.actor).filter(is_active=True))
        )
        if _fold(p.name) == folded
    ]
    if len(found) != 1:
        raise _error("pipeline", _("No active pipeline is called “%(name)s”.") % {"name": text})
    return found[0]


def _stage(ctx: RowContext, pipeline: Any, text: str) -> Any:
    from crm.pipeline.models import Stage

    if not text:
        return None
    folded = _fold(text)
    stages = ctx.cached(
        ("stages", pipeline.pk),
        lambda: list(
            Stage.objects.visible_to(ctx.actor).filter(
                pipeline=pipeline, parent__isnull=True, is_active=True
            )
        ),
    )
    found = [s for s in stages if _fold(s.name) == folded]
    if not found:
        names = "、".join(s.name for s in stages)
        raise _error(
            "stage",
            _("Pipeline “%(pipeline)s” has no stage “%(name)s”. Its stages: %(names)s.")
            % {"pipeline": pipeline.name, "name": text, "names": names},
        )
    return found[0]


def _opportunity_data(ctx: RowContext, values: dict[str, str]) -> dict[str, Any]:
    from crm.pipeline.opportunities import DICTIONARY_FIELDS

    data: dict[str, Any] = present(values, ["name", "notes", "expected_amount", "probability"])
    if "probability" in data:
        data["probability"] = data["probability"].rstrip("%％").strip()
    if values.get("expected_close_date"):
        data["expected_close_date"] = as_date(values["expected_close_date"], "expected_close_date")
    if values.get("is_key"):
        data["is_key"] = as_bool(values["is_key"], "is_key")
    for field, kind in DICTIONARY_FIELDS.items():
        if values.get(field):
            data[field] = dictionary_value(ctx, kind, values[field], field)
    _add_custom(ctx, values, data)
    return data


def find_opportunity(ctx: RowContext, values: dict[str, str]) -> Any:
    """An opportunity of the same customer with the same name."""
    from crm.pipeline.models import Opportunity

    customer = customer_named(ctx, values.get("customer", ""), "view")
    name = (values.get("name") or "").strip()
    if not name:
        return None
    qs = Opportunity.objects.filter(org_id=ctx.actor.org_id, customer=customer, name=name)
    editable = Opportunity.objects.visible_to(ctx.actor, "edit").filter(pk__in=qs.values("pk"))
    return editable.order_by("pk").first() or qs.order_by("pk").first()


def create_opportunity(ctx: RowContext, values: dict[str, str]) -> Any:
    from crm.pipeline import opportunities
    from crm.pipeline.opportunities import default_pipeline

    customer = customer_named(ctx, values.get("customer", ""), "view")
    data = _opportunity_data(ctx, values)
    pipeline = _pipeline(ctx, values.get("pipeline", ""))
    stage = None
    if values.get("stage"):
        pipeline = pipeline or default_pipeline(ctx.actor.org_id, data.get("business_type", ""))
        stage = _stage(ctx, pipeline, values["stage"])
    return opportunities.create_opportunity(
        actor=ctx.actor,
        customer=customer,
        data=data,
        owner=_owner_for(ctx, values, "opportunities"),
        pipeline=pipeline,
        stage=stage,
    )


def update_opportunity(ctx: RowContext, opportunity: Any, values: dict[str, str]) -> Any:
    from crm.pipeline import opportunities
    from crm.pipeline.models import Opportunity

    if not _visible(Opportunity, ctx, opportunity, "edit"):
        raise _error("name", _("The same opportunity exists and you may not update it."))
    data = _opportunity_data(ctx, values)
    data.pop("name", None)
    if not data:
        return opportunity
    return opportunities.update_opportunity(actor=ctx.actor, opportunity=opportunity, data=data)


OPPORTUNITIES = Resource(
    key="opportunities",
    custom_target="opportunity",  # H-CF: custom-field columns
    label=gettext_lazy("Opportunities"),
    module="opportunities",
    model_label="pipeline.Opportunity",
    fields=(
        ImportField(
            "name",
            gettext_lazy("Opportunity name"),
            ("商机名称", "项目名称", "机会名称", "商机", "opportunity", "opportunity name", "name"),
            required=True,
            example="2026年生产线改造项目",
        ),
        ImportField(
            "customer",
            gettext_lazy("Customer name"),
            ("客户名称", "客户", "公司名称", "customer", "account", "company"),
            required=True,
            example="杭州示例科技有限公司",
        ),
        ImportField("pipeline", gettext_lazy("Pipeline"), ("销售流程", "管道", "pipeline")),
        ImportField(
            "stage", gettext_lazy("Stage"), ("销售阶段", "阶段", "商机阶段", "stage", "deal stage")
        ),
        ImportField(
            "owner",
            gettext_lazy("Owner"),
            ("负责人", "所属销售", "销售", "销售代表", "owner", "sales agent", "salesperson"),
        ),
        ImportField(
            "expected_amount",
            gettext_lazy("Expected amount"),
            (
                "预计金额",
                "预计成交金额",
                "金额",
                "商机金额",
                "amount",
                "value",
                "expected amount",
                "close value",
            ),
            example="100000",
        ),
        ImportField(
            "expected_close_date",
            gettext_lazy("Expected close date"),
            ("预计成交日期", "预计签约日期", "成交日期", "expected close date", "close date"),
            example="2026-12-31",
        ),
        ImportField(
            "probability",
            gettext_lazy("Win probability (%)"),
            ("成交概率", "赢率", "概率", "probability"),
        ),
        ImportField("business_type", gettext_lazy("Business type"), ("业务类型", "business type")),
        ImportField("source", gettext_lazy("Source"), ("来源", "商机来源", "source")),
        ImportField("probability_level", gettext_lazy("Probability level"), ("成交可能性",)),
        ImportField("action_principle", gettext_lazy("Action principle"), ("行动原则",)),
        ImportField("feedback_cycle", gettext_lazy("Feedback cycle"), ("反馈周期",)),
        ImportField("is_key", gettext_lazy("Key opportunity"), ("重点商机", "是否重点", "重点")),
        ImportField("notes", gettext_lazy("Notes"), ("备注", "说明", "notes", "remark")),
        _external(),
    ),
    find=find_opportunity,
    create=create_opportunity,
    update=update_opportunity,
)


# --- follow-ups ------------------------------------------------------------------------------
def _followup_data(values: dict[str, str]) -> dict[str, Any]:
    from crm.activities.choices import Method

    data: dict[str, Any] = present(values, ["content", "next_content", "location"])
    if values.get("method"):
        data["method"] = choice_value(Method, values["method"], "method")
    for key in ("happened_at", "next_at"):
        if values.get(key):
            data[key] = as_datetime(values[key], key)
    return data


def _followup_links(ctx: RowContext, customer: Any, values: dict[str, str]) -> dict[str, Any]:
    from crm.customers.models import Contact
    from crm.pipeline.models import Opportunity

    links: dict[str, Any] = {}
    if values.get("opportunity"):
        links["opportunity"] = (
            Opportunity.objects.visible_to(ctx.actor)
            .filter(customer=customer, name=values["opportunity"])
            .order_by("-pk")
            .first()
        )
        if links["opportunity"] is None:
            raise _error(
                "opportunity",
                _("“%(customer)s” has no opportunity “%(name)s”.")
                % {"customer": customer.name, "name": values["opportunity"]},
            )
    if values.get("contact"):
        links["contact"] = (
            Contact.objects.visible_to(ctx.actor)
            .filter(customer=customer, name=values["contact"])
            .order_by("pk")
            .first()
        )
        if links["contact"] is None:
            raise _error(
                "contact",
                _("“%(customer)s” has no contact “%(name)s”.")
                % {"customer": customer.name, "name": values["contact"]},
            )
    return links


def find_followup(ctx: RowContext, values: dict[str, str]) -> Any:
    """A follow-up of the same customer at the same time with the same content."""
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    from crm.activities.models import FollowUp

    customer = customer_named(ctx, values.get("customer", ""), "view")
    data = _followup_data(values)
    if not data.get("happened_at") or not data.get("content"):
        return None
    text = data["happened_at"]
    moment = parse_datetime(text if len(text) > 10 else f"{text}T09:00")
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return (
        FollowUp.objects.visible_to(ctx.actor)
        .filter(customer=customer, happened_at=moment, content=data["content"])
        .order_by("pk")
        .first()
    )


def create_followup(ctx: RowContext, values: dict[str, str]) -> Any:
    from crm.activities import services

    customer = customer_named(ctx, values.get("customer", ""), "view")
    return services.record_followup(
        actor=ctx.actor,
        customer=customer,
        data=_followup_data(values),
        **_followup_links(ctx, customer, values),
    )


def update_followup(ctx: RowContext, followup: Any, values: dict[str, str]) -> Any:
    from crm.activities import services
    from crm.activities.models import FollowUp

    if not _visible(FollowUp, ctx, followup, "edit"):
        raise PermissionDenied(_("The same follow-up exists and you may not update it."))
    data = _followup_data(values)
    data.pop("happened_at", None)
    data.pop("content", None)
    if not data:
        return followup
    return services.update_followup(actor=ctx.actor, followup=followup, data=data)


FOLLOWUPS = Resource(
    key="followups",
    label=gettext_lazy("Follow-ups"),
    module="activities",
    model_label="activities.FollowUp",
    fields=(
        ImportField(
            "customer",
            gettext_lazy("Customer name"),
            ("客户名称", "客户", "公司名称", "customer", "account", "company"),
            required=True,
            example="杭州示例科技有限公司",
        ),
        ImportField(
            "method",
            gettext_lazy("Method"),
            ("跟进方式", "方式", "联系方式", "method", "type"),
            required=True,
            example="电话",
        ),
        ImportField(
            "content",
            gettext_lazy("Content"),
            ("跟进内容", "内容", "沟通内容", "记录", "content", "notes"),
            required=True,
            example="电话沟通了采购计划",
        ),
        ImportField(
            "happened_at",
            gettext_lazy("Follow-up time"),
            ("跟进时间", "跟进日期", "时间", "日期", "date", "time", "happened at"),
            example="2026-03-05 10:30",
        ),
        ImportField(
            "next_at", gettext_lazy("Next follow-up"), ("下次跟进时间", "下次跟进", "next date")
        ),
        ImportField(
            "next_content", gettext_lazy("Next step"), ("下次跟进内容", "下一步", "next step")
        ),
        ImportField("location", gettext_lazy("Location"), ("地点", "拜访地点", "location")),
        ImportField(
            "opportunity", gettext_lazy("Opportunity"), ("商机", "商机名称", "opportunity")
        ),
        ImportField("contact", gettext_lazy("Contact"), ("联系人", "联系人姓名", "contact")),
        _external(),
    ),
    find=find_followup,
    create=create_followup,
    update=update_followup,
    describe=lambda f: f"{f.customer} {f.happened_at:%Y-%m-%d}",
)


def register() -> None:
    for resource in (CUSTOMERS, CONTACTS, LEADS, OPPORTUNITIES, FOLLOWUPS):
        register_resource(resource)
