"""Demo lead pools, an assignment rule and leads for ``crm demo`` (through the services)."""

from __future__ import annotations

from typing import Any

from . import services
from .choices import Strategy
from .models import Lead

# (company, contact, mobile, e-mail, region, industry, source, extra)
LEADS = [
    (
        "嘉兴秀洲纺织有限公司",
        "沈建国",
        "13905730101",
        "",
        "浙江",
        "manufacturing",
        "exhibition",
        {"展会": "2026 中国国际工业博览会", "展位": "5.1H-B023"},
    ),
    (
        "常州武进精密模具厂",
        "蒋丽",
        "13905190102",
        "jiangli@wjmold.example",
        "江苏",
        "manufacturing",
        "web_form",
        {"utm_source": "baidu", "utm_campaign": "mes-2026q4"},
    ),
    (
        "上海临港装备制造有限公司",
        "陶然",
        "13801210103",
        "",
        "上海",
        "manufacturing",
        "referral",
        {"推荐人": "陈静"},
    ),
    (
        "杭州滨江数字科技有限公司",
        "许诺",
        "13905710104",
        "xu@binjiang.example",
        "浙江",
        "it",
        "wechat",
        {"公众号文章": "制造业数字化转型白皮书"},
    ),
    (
        "珠海横琴医疗器械有限公司",
        "冯婷",
        "13902560105",
        "",
        "广东",
        "healthcare",
        "web_form",
        {"utm_source": "wechat", "留言": "想了解报价"},
    ),
    ("南宁东盟物流园管理有限公司", "覃勇", "13907710106", "", "广西", "logistics", "cold_call", {}),
    (
        "泉州晋江鞋业集团",
        "洪志明",
        "13905950107",
        "hong@jjshoes.example",
        "福建",
        "manufacturing",
        "exhibition",
        {"展会": "2026 中国国际工业博览会"},
    ),
    (
        "昆山高新区电子配套有限公司",
        "朱琳",
        "13901560108",
        "",
        "江苏",
        "manufacturing",
        "mini_program",
        {"小程序页面": "产品咨询"},
    ),
    (
        "中山小榄五金制品厂",
        "卢国强",
        "13902760109",
        "",
        "广东",
        "manufacturing",
        "api",
        {"来源系统": "官网客服"},
    ),
    (
        "绍兴柯桥纺织城",
        "钟华",
        "13905750110",
        "zhong@kqtextile.example",
        "浙江",
        "retail",
        "web_form",
        {"utm_source": "baidu"},
    ),
]


def build(org: Any, users: dict[str, Any]) -> None:
    """Two sub-pools (华东, 华南), a round-robin rule for east-China manufacturers, and leads
    from every channel: some assigned by the rule, the rest waiting in the total pool."""
    marketing = users["marketing"]
    east = services.save_pool(
        actor=marketing,
        data={"name": "华东线索池", "region": "华东", "form_enabled": True},
        managers=[users["manager1"]],
        members=[users["rep1"], users["rep2"], users["rep4"]],
    )
    services.save_pool(
        actor=marketing,
        data={"name": "华南线索池", "region": "华南", "form_enabled": True},
        managers=[users["manager2"]],
        members=[users["rep3"], users["rep5"], users["rep6"]],
    )
    services.save_rule(
        actor=marketing,
        data={
            "name": "华东制造业",
            "order": 1,
            "is_active": True,
            "strategy": Strategy.ROUND_ROBIN,
            "cap": 30,
            "conditions": {"region": ["浙江", "江苏", "上海"], "industry": ["manufacturing"]},
        },
        eligible_users=[users["rep1"], users["rep2"], users["rep4"]],
        target_pool=east,
    )
    for company, name, mobile, email, region, industry, source, extra in LEADS:
        services.create_lead(
            actor=marketing,
            source=source,
            data={
                "company": company,
                "contact_name": name,
                "mobile": mobile,
                "email": email,
                "region": region,
                "industry": industry,
                **extra,
            },
        )


def clean(org: Any) -> None:
    """Leads protect their owners from deletion: remove them before the demo people go."""
    Lead.objects.filter(org=org).delete()
