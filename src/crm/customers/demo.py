"""Demo customers, contacts and public pools for ``crm demo`` (built through the services)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from . import grading, pool_services, services
from .models import Customer, PublicPool

# (name, industry, region, phone, contact, title, mobile, owner or None for the pool)
COMPANIES = [
    (
        "杭州云栖网络科技有限公司",
        "it",
        "浙江 杭州",
        "0571-8702 1188",
        "周明",
        "CTO",
        "13905710001",
        "rep1",
    ),
    (
        "宁波海天精工机械有限公司",
        "manufacturing",
        "浙江 宁波",
        "0574-8618 2200",
        "徐海",
        "采购经理",
        "13905740002",
        "rep1",
    ),
    (
        "上海浦江智能制造股份有限公司",
        "manufacturing",
        "上海",
        "021-5888 3300",
        "沈悦",
        "信息部主任",
        "13801210003",
        "rep2",
    ),
    (
        "苏州工业园区数据中心有限公司",
        "it",
        "江苏 苏州",
        "0512-6288 4400",
        "陆晨",
        "运维总监",
        "13901510004",
        "rep2",
    ),
    (
        "南京江宁区人民医院",
        "healthcare",
        "江苏 南京",
        "025-5210 5500",
        "顾红",
        "信息科科长",
        "13905140005",
        "rep1",
    ),
    (
        "广州天河软件园发展有限公司",
        "it",
        "广东 广州",
        "020-3888 6600",
        "黄志强",
        "总经理",
        "13902010006",
        "rep3",
    ),
    (
        "深圳前海跨境物流有限公司",
        "logistics",
        "广东 深圳",
        "0755-2666 7700",
        "陈佳",
        "IT经理",
        "13902550007",
        "rep3",
    ),
    (
        "佛山顺德家电配件厂",
        "manufacturing",
        "广东 佛山",
        "0757-2222 8800",
        "梁伟",
        "厂长",
        "13902750008",
        "rep3",
    ),
    (
        "厦门海沧港务集团有限公司",
        "logistics",
        "福建 厦门",
        "0592-6511 9900",
        "林涛",
        "信息中心主任",
        "13905920009",
        "rep5",
    ),
    (
        "福州大学城教育发展有限公司",
        "education",
        "福建 福州",
        "0591-2286 1010",
        "郑丽",
        "校办主任",
        "13905910010",
        "rep6",
    ),
    (
        "合肥新能源汽车零部件有限公司",
        "energy",
        "安徽 合肥",
        "0551-6355 1111",
        "汪洋",
        "副总经理",
        "13905510011",
        "rep4",
    ),
    (
        "无锡锡山精密电子有限公司",
        "manufacturing",
        "江苏 无锡",
        "0510-8866 1212",
        "钱斌",
        "生产总监",
        "13905100012",
        "rep4",
    ),
    (
        "温州鹿城商贸城管理有限公司",
        "retail",
        "浙江 温州",
        "0577-8866 1313",
        "叶飞",
        "运营经理",
        "13905770013",
        "rep4",
    ),
    (
        "海南自贸港数字产业园有限公司",
        "it",
        "海南 海口",
        "0898-6688 1414",
        "吴海",
        "招商部长",
        "13907560014",
        "rep5",
    ),
    (
        "东莞松山湖材料研究院",
        "education",
        "广东 东莞",
        "0769-2288 1515",
        "何静",
        "办公室主任",
        "13902690015",
        "rep6",
    ),
    (
        "长沙湘江新区建设投资有限公司",
        "construction",
        "湖南 长沙",
        "0731-8899 1616",
        "罗刚",
        "信息化负责人",
        "13907310016",
        "rep6",
    ),
    (
        "中国移动通信集团浙江有限公司",
        "telecom",
        "浙江 杭州",
        "0571-1008 6000",
        "方伟",
        "政企部经理",
        "13805710017",
        None,
    ),
    (
        "中国电信股份有限公司江苏分公司",
        "telecom",
        "江苏 南京",
        "025-1000 0000",
        "孙琳",
        "客户经理",
        "13305140018",
        None,
    ),
    (
        "华润万家（深圳）有限公司",
        "retail",
        "广东 深圳",
        "0755-8888 1919",
        "赵敏",
        "IT采购",
        "13902550019",
        None,
    ),
    (
        "青岛港国际股份有限公司",
        "logistics",
        "山东 青岛",
        "0532-8298 2020",
        "刘畅",
        "信息部",
        "13905320020",
        None,
    ),
    (
        "武汉光谷生物城发展有限公司",
        "healthcare",
        "湖北 武汉",
        "027-8777 2121",
        "杨帆",
        "综合部",
        "13907270021",
        None,
    ),
    (
        "成都高新区智慧城市运营有限公司",
        "government",
        "四川 成都",
        "028-8555 2222",
        "邓超",
        "项目经理",
        "13908280022",
        None,
    ),
]


def build(org: Any, users: dict[str, Any]) -> None:
    """Customers for every rep, some already in the pools, one regional pool for 华南."""
    from crm.org.models import Department

    admin = users["admin"]

    south_teams = list(Department.objects.filter(org=org, name="华南组"))
    regional = pool_services.save_pool(
        actor=admin,
        data={
            "name": "华南公海",
            "days_without_followup": 21,
            "days_without_deal": 60,
            "warning_days": 3,
            "reclaim_cooldown_days": 7,
            "daily_claim_limit": 10,
            "owner_cap": 100,
            "grade_rules": {"A": {"days_without_followup": 45}},
        },
        departments=south_teams,
    )
    vip = services.create_tag(actor=admin, name="重点客户", color="red")
    channel = services.create_tag(actor=admin, name="渠道", color="green")
    now = timezone.now()
    for i, (name, industry, region, phone, contact, title, mobile, owner_key) in enumerate(
        COMPANIES
    ):
        owner = users[owner_key] if owner_key else admin
        customer = services.create_customer(
            actor=owner if owner_key else admin,
            data={
                "name": name,
                "industry": industry,
                "region": region,
                "phone": phone,
                "customer_type": "enterprise",
                "source": ["referral", "exhibition", "web_form", "cold_call"][i % 4],
            },
            tags=[vip] if i % 5 == 0 else [channel] if i % 7 == 0 else [],
            contacts=[
                {
                    "name": contact,
                    "title": title,
                    "mobile": mobile,
                    "birthday": date(1975 + i % 15, (i % 12) + 1, (i % 27) + 1),
                }
            ],
        )
        Customer.objects.filter(pk=customer.pk).update(
            owner_since=now - timedelta(days=10 + 3 * i),
            last_followup_at=now - timedelta(days=(i * 2) % 33),
        )
        if owner_key is None:
            customer.refresh_from_db()
            target: PublicPool | None = regional if region.startswith(("广东", "海南")) else None
            pool_services.release(
                actor=admin, customer=customer, reason="演示：待领取", pool=target
            )
    grading.regrade_org(org)


def clean(org: Any) -> None:
    """Customers protect their owners from deletion: remove them before the demo people go."""
    Customer.objects.filter(org=org).delete()
