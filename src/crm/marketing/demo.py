"""Demo campaigns for ``crm demo`` (through the services): an exhibition, a search-ads campaign
matched by its tracking parameters, and a webinar with its web form on, each with a few leads."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from crm.leads import services as lead_services

from . import services

# (name, code, type, channel, start offset in days, length, budget, cost, utm source/campaign)
CAMPAIGNS = [
    (
        "2026 工博会",
        "CIIF-2026",
        "exhibition",
        "上海国家会展中心",
        -60,
        5,
        "80000",
        "76500.00",
        "",
        "",
    ),
    (
        "MES 搜索推广 Q4",
        "SEM-MES-Q4",
        "ads",
        "百度搜索",
        -30,
        90,
        "50000",
        "21800.00",
        "baidu",
        "mes-2026q4",
    ),
    ("智能工厂在线研讨会", "WEB-SF-01", "webinar", "视频号直播", -10, 1, "8000", "6200.00", "", ""),
]
# (campaign code, company, contact, mobile, region, industry, extra)
LEADS = [
    ("CIIF-2026", "宁波北仑注塑机械有限公司", "俞海", "13905740201", "浙江", "manufacturing", {}),
    ("CIIF-2026", "苏州工业园区传感器有限公司", "顾晓", "13905120202", "江苏", "manufacturing", {}),
    ("CIIF-2026", "青岛黄岛港机设备厂", "孙伟", "13905320203", "山东", "manufacturing", {}),
    (
        "SEM-MES-Q4",
        "无锡新吴电子制造有限公司",
        "华敏",
        "13905100204",
        "江苏",
        "manufacturing",
        {"utm_source": "baidu", "utm_campaign": "mes-2026q4"},
    ),
    (
        "SEM-MES-Q4",
        "合肥高新光伏组件有限公司",
        "汪涛",
        "13905510205",
        "安徽",
        "energy",
        {"utm_source": "baidu", "utm_campaign": "mes-2026q4"},
    ),
    ("WEB-SF-01", "佛山顺德家电配件厂", "梁静", "13902570206", "广东", "manufacturing", {}),
]


def build(org: Any, users: dict[str, Any]) -> None:
    marketing = users["marketing"]
    today = timezone.localdate()
    by_code = {}
    for name, code, kind, channel, offset, days, budget, cost, source, tag in CAMPAIGNS:
        start = today + timedelta(days=offset)
        campaign = services.create_campaign(
            actor=marketing,
            data={
                "name": name,
                "code": code,
                "campaign_type": kind,
                "channel": channel,
                "start_date": start,
                "end_date": start + timedelta(days=days),
                "budget": Decimal(budget),
                "actual_cost": Decimal(cost),
                "target_segment": "华东、华南制造业",
                "utm_source": source,
                "utm_campaign": tag,
                "form_enabled": kind == "webinar",
            },
        )
        services.set_status(actor=marketing, campaign=campaign, status="active")
        by_code[code] = campaign
    services.set_status(actor=marketing, campaign=by_code["CIIF-2026"], status="completed")
    for code, company, name, mobile, region, industry, extra in LEADS:
        lead_services.create_lead(
            actor=marketing,
            source="exhibition" if code == "CIIF-2026" else "web_form",
            # the search-ads leads find their campaign by utm_* alone
            campaign=None if extra else by_code[code],
            data={
                "company": company,
                "contact_name": name,
                "mobile": mobile,
                "region": region,
                "industry": industry,
                **extra,
            },
        )
