"""Demo products, a price list and quotes for ``crm demo``, built through the services after the
opportunities exist (this builder is registered after the follow-ups module's): the catalogue
holds the products the opportunities' product lines name, and about a dozen open opportunities
get a quote prefilled from their lines — drafts, sent ones, an accepted one, a rejected one and a
revised one."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from crm.org.models import User
from crm.pipeline import dictionaries
from crm.pipeline.choices import OpportunityStatus
from crm.pipeline.models import DictionaryKind, Opportunity

from . import product_services, quote_services
from .choices import DiscountKind, QuoteStatus
from .models import PriceList, Product, Quote, QuoteLine

# (code, name or the product dictionary value it stands for, category, unit, price, tax rate)
PRODUCTS: list[tuple[str, str, str, str, str, str]] = [
    ("HW-SRV-01", "dict:hardware", "硬件", "台", "68000.00", "13"),
    ("SW-LIC-01", "dict:software", "软件", "套", "15800.00", "13"),
    ("SV-IMP-01", "dict:implementation", "服务", "人天", "2400.00", "6"),
    ("SV-MNT-01", "dict:maintenance", "服务", "年", "36000.00", "6"),
    ("SV-TRN-01", "dict:training", "服务", "人次", "1200.00", "6"),
    ("HW-NET-02", "核心交换机", "硬件", "台", "42000.00", "13"),
    ("HW-STO-03", "分布式存储节点", "硬件", "台", "98000.00", "13"),
    ("SW-SEC-02", "终端安全软件（100 点）", "软件", "套", "8800.00", "13"),
    ("SV-CON-02", "数据治理咨询", "服务", "人天", "3500.00", "6"),
    ("SW-OLD-09", "旧版管理软件（停售）", "软件", "套", "5000.00", "13"),
]
TERMS = (
    "1. 付款方式：合同签订后预付 30%，到货验收后支付 60%，质保金 10% 一年后支付。\n"
    "2. 交付周期：合同签订后 30 个工作日内。\n"
    "3. 质保：硬件原厂质保三年。"
)


def build(org: Any, users: dict[str, Any]) -> None:
    """The catalogue, one price list, and quotes for some open opportunities."""
    rng = random.Random(2027)  # noqa: S311 - repeatable demo data, not security
    admin = User.objects.get(pk=users["admin"].pk)
    labels = dict(dictionaries.choices(org.pk, DictionaryKind.PRODUCT, include_inactive=True))
    products: dict[str, Product] = {}
    for code, name, category, unit, price, tax in PRODUCTS:
        if name.startswith("dict:"):
            value = name.removeprefix("dict:")
            name = labels.get(value, value)
        products[code] = product_services.create_product(
            actor=admin,
            data={
                "code": code,
                "name": name,
                "category": category,
                "unit": unit,
                "list_price": price,
                "tax_rate": tax,
                "is_active": code != "SW-OLD-09",
            },
        )
    product_services.save_price_list(
        actor=admin,
        data={"name": "渠道合作伙伴价（2026）", "is_active": True},
        items=[
            {"product": products["HW-SRV-01"], "price": "61200.00"},
            {"product": products["SW-LIC-01"], "price": "13900.00"},
            {"product": products["HW-NET-02"], "price": "37800.00"},
        ],
    )
    opportunities = list(
        Opportunity.objects.filter(org=org, status=OpportunityStatus.CONTINUE)
        .select_related("customer", "owner")
        .order_by("pk")[:14]
    )
    for index, opportunity in enumerate(opportunities):
        owner = User.objects.get(pk=opportunity.owner_id)
        lines = quote_services.lines_from_opportunity(opportunity)
        if index % 3 == 0 and lines:
            lines[0]["discount_kind"] = DiscountKind.PERCENT
            lines[0]["discount_value"] = Decimal(rng.choice([5, 8, 10]))
        if index % 4 == 1:
            lines.append(
                {
                    "product": products["SV-IMP-01"],
                    "description": products["SV-IMP-01"].name,
                    "unit": "人天",
                    "quantity": Decimal(rng.choice([5, 10, 20])),
                    "unit_price": products["SV-IMP-01"].list_price,
                    "discount_kind": DiscountKind.AMOUNT,
                    "discount_value": Decimal("1000.00"),
                    "tax_rate": products["SV-IMP-01"].tax_rate,
                }
            )
        quote = quote_services.create_quote(
            actor=owner,
            opportunity=opportunity,
            data={"title": f"{opportunity.name} 报价", "terms": TERMS},
            lines=lines,
        )
        stage = index % 5
        if stage == 0:
            continue  # a draft
        quote, pending = quote_services.send_quote(actor=owner, quote=quote)
        if pending is not None or quote.status != QuoteStatus.SENT:
            continue
        if stage == 2:
            quote_services.accept_quote(actor=owner, quote=quote)
        elif stage == 3:
            quote_services.reject_quote(actor=owner, quote=quote, note="客户认为价格偏高")
        elif stage == 4:
            revision = quote_services.revise_quote(actor=owner, quote=quote)
            kept = list(QuoteLine.objects.filter(quote=revision).order_by("sort_order", "pk"))
            quote_services.update_quote(
                actor=owner,
                quote=revision,
                data={},
                lines=[
                    {
                        "product": line.product,
                        "description": line.description,
                        "unit": line.unit,
                        "quantity": line.quantity,
                        "unit_price": line.unit_price,
                        "discount_kind": DiscountKind.PERCENT,
                        "discount_value": Decimal("5"),
                        "tax_rate": line.tax_rate,
                    }
                    for line in kept
                ],
            )


def clean(org: Any) -> None:
    """Quotes protect opportunities, customers and users from deletion."""
    QuoteLine.objects.filter(org=org).delete()
    Quote.objects.filter(org=org).update(previous=None)
    Quote.objects.filter(org=org).delete()
    PriceList.objects.filter(org=org).delete()
