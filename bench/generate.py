"""Build the benchmark data set: organisations of realistic shape and volume, with bulk inserts.

``python -m bench.generate [--org-customers 300000] [--leads 100000] [--opportunities 1000000]
[--small] [--reset]`` (with ``PYTHONPATH=.`` and ``DJANGO_SETTINGS_MODULE=bench.settings``;
``make bench`` does this).

Each organisation is signed up through the real service (``create_organization``, so its
dictionaries, default public pool and total lead pool exist) and its 50 departments through
``create_department``; the volume (users, customers, contacts, tags, collaborators, creation
events, leads) goes in with ``bulk_create`` in batches. Search columns are filled by the real
helpers (``normalize_name``, ``pinyin_of``, ``phone_digits``), so the search indexes hold what
production would hold. A second organisation of the same shape makes every query prove that it
filters by tenant.

Opportunities come second (``build_opportunities``): a million per organisation over the owned
customers, in both template pipelines, with their stage history, three million follow-ups and
a hundred thousand visit plans, then one set-based UPDATE per organisation brings the customers'
open-opportunity counts, last won deal and last follow-up in line. They are additive: on a
database that already holds the customers of the requested size, only they are built.

The data are in a steady state: no owned customer is due for return by the pool rules at the
generation time (the 15-minute sweep would already have returned it), no visit plan is left
planned a day after its time (the hourly job marks it missed) and every opportunity already past
its stage's day limit has been flagged (the 30-minute job did it); ``bench.run`` makes 1 % of the
customers due before it times the sweep. The pieces (``build_org``, ``company_names``,
``build_customers``, ``build_opportunities`` …) are usable on their own, which the smoke test does
on SQLite with tiny numbers.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from multiprocessing import Pool, get_context
from typing import Any, NamedTuple

from bench._django import ensure_django

ensure_django()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, models  # noqa: E402
from django.db.models import Count, F, Max, OuterRef, Subquery, Value  # noqa: E402
from django.db.models.functions import Coalesce, Greatest  # noqa: E402
from django.utils import timezone  # noqa: E402

from crm.activities.choices import Method, PlanStatus  # noqa: E402
from crm.activities.models import FollowUp, Reminder, VisitPlan  # noqa: E402
from crm.analytics import stays  # noqa: E402
from crm.analytics.models import StageStay  # noqa: E402
from crm.core.models import Event  # noqa: E402
from crm.customers import pool_services  # noqa: E402
from crm.customers.models import Contact, Customer, PublicPool, Tag  # noqa: E402
from crm.customers.normalize import normalize_name, phone_digits, pinyin_of  # noqa: E402
from crm.leads.choices import LeadStatus  # noqa: E402
from crm.leads.models import Lead, LeadPool  # noqa: E402
from crm.leads.services import total_pool  # noqa: E402
from crm.org import services as org_services  # noqa: E402
from crm.org.models import Department, Organization, Role, User  # noqa: E402
from crm.org.permissions import BuiltinRole  # noqa: E402
from crm.pipeline.choices import OPEN_STATUSES, OpportunityStatus, StageKind  # noqa: E402
from crm.pipeline.models import Opportunity, Pipeline, Stage, StageHistory  # noqa: E402
from crm.pipeline.opportunities import derive_deadlines  # noqa: E402

BENCH_PASSWORD = "Bench-pass-2026!"  # noqa: S105 - password of the generated bench users
MARKER = "bench"  # key in Organization.settings describing the generated data set

Log = Callable[[str], None]


@dataclass(frozen=True)
class Sizes:
    """How much to build, per organisation."""

    customers: int = 300_000
    leads: int = 100_000
    departments: int = 50
    users: int = 500
    contacts_per_customer: int = 2
    pool_share: float = 0.10
    orgs: int = 2
    events: bool = True
    seed: int = 8
    opportunities: int = 1_000_000
    followups: int = 3_000_000
    visit_plans: int = 100_000
    contracts: int = 100_000

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def customer_part(self) -> dict[str, Any]:
        """The sizes that shape the customers (what the opportunities are added to)."""
        return _customer_part(self.as_dict())


#: Sizes of the opportunities' part of the data set, added on top of the customers.
OPPORTUNITY_KEYS = ("opportunities", "followups", "visit_plans")
#: Sizes of the contracts' part (``bench.contracts``), added on top of the opportunities.
CONTRACT_KEYS = ("contracts",)


def _customer_part(sizes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sizes.items() if k not in (*OPPORTUNITY_KEYS, *CONTRACT_KEYS)}


def _without_contracts(sizes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sizes.items() if k not in CONTRACT_KEYS}


FULL = Sizes()
SMALL = Sizes(
    customers=20_000,
    leads=10_000,
    opportunities=50_000,
    followups=150_000,
    visit_plans=5_000,
    contracts=5_000,
)


# --- Words of realistic Chinese company names ----------------------------------------------------
# (city, region as the CRM stores it, area code)
CITIES: list[tuple[str, str, str]] = [
    ("北京", "北京", "010"),
    ("上海", "上海", "021"),
    ("广州", "广东 广州", "020"),
    ("深圳", "广东 深圳", "0755"),
    ("杭州", "浙江 杭州", "0571"),
    ("南京", "江苏 南京", "025"),
    ("苏州", "江苏 苏州", "0512"),
    ("成都", "四川 成都", "028"),
    ("武汉", "湖北 武汉", "027"),
    ("西安", "陕西 西安", "029"),
    ("天津", "天津", "022"),
    ("重庆", "重庆", "023"),
    ("长沙", "湖南 长沙", "0731"),
    ("郑州", "河南 郑州", "0371"),
    ("济南", "山东 济南", "0531"),
    ("青岛", "山东 青岛", "0532"),
    ("宁波", "浙江 宁波", "0574"),
    ("厦门", "福建 厦门", "0592"),
    ("福州", "福建 福州", "0591"),
    ("合肥", "安徽 合肥", "0551"),
    ("沈阳", "辽宁 沈阳", "024"),
    ("大连", "辽宁 大连", "0411"),
    ("哈尔滨", "黑龙江 哈尔滨", "0451"),
    ("昆明", "云南 昆明", "0871"),
    ("无锡", "江苏 无锡", "0510"),
    ("东莞", "广东 东莞", "0769"),
    ("佛山", "广东 佛山", "0757"),
    ("石家庄", "河北 石家庄", "0311"),
    ("南昌", "江西 南昌", "0791"),
    ("贵阳", "贵州 贵阳", "0851"),
]
BRAND_CHARS = (
    "华中天恒瑞达信诚泰鑫宏盛博通创新智远安康联合金源海润德邦"
    "正方鼎益嘉明东升晨光汇丰永兴腾飞卓越美佳和宇星辰峰云龙凯祥裕隆昌"
)
# industry dictionary code -> words of company names in that industry
INDUSTRY_WORDS: dict[str, list[str]] = {
    "it": ["科技", "信息技术", "软件", "网络科技", "数据科技", "智能科技"],
    "manufacturing": ["机械", "精工", "制造", "电子", "汽车部件", "新材料"],
    "finance": ["投资", "资本管理", "金融服务", "融资租赁"],
    "government": ["城市建设投资", "公共服务", "城投"],
    "education": ["教育科技", "培训", "文化教育"],
    "healthcare": ["医疗器械", "医药", "健康科技", "生物科技"],
    "energy": ["能源", "新能源", "电力工程", "光伏科技"],
    "telecom": ["通信", "通讯设备", "通信工程"],
    "retail": ["商贸", "贸易", "百货", "电子商务"],
    "construction": ["建设", "建筑工程", "置业", "装饰工程"],
    "logistics": ["物流", "供应链管理", "运输", "国际货运代理"],
    "other": ["文化传媒", "管理咨询", "环保科技", "餐饮管理"],
}
INDUSTRY_WEIGHTS = {"it": 20, "manufacturing": 20, "retail": 10, "construction": 8, "other": 8}
SUFFIXES = ["有限公司", "股份有限公司", "有限责任公司", "集团有限公司"]
SUFFIX_WEIGHTS = [60, 18, 15, 7]
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华飞鑫波斌宇浩凯健俊帆帅旭宁龙林欣佳悦晨婷雪琳"
)
TITLES = [
    "总经理",
    "副总经理",
    "采购经理",
    "技术总监",
    "财务经理",
    "IT经理",
    "行政主管",
    "项目经理",
    "董事长助理",
    "运营总监",
]
CONTACT_DEPARTMENTS = ["采购部", "技术部", "财务部", "信息中心", "总经办", "运营部"]
MOBILE_PREFIXES = [
    *("130", "131", "132", "133", "135", "136", "137", "138", "139"),
    *("150", "151", "152", "155", "156", "158", "159", "177"),
    *("180", "181", "185", "186", "187", "188", "189", "199"),
]
CN_NUMBERS = "一二三四五六七八九十"
TEAM_NAMES = [
    "华东",
    "华南",
    "华北",
    "华中",
    "西南",
    "西北",
    "东北",
    "大客户",
    "渠道",
    "政企",
    "电商",
    "海外",
]
RELEASE_REASONS = ["暂无需求", "联系不上", "已选择竞争对手", "预算冻结"]
LEAD_SOURCES = ["web_form", "referral", "exhibition", "cold_call", "wechat", "mini_program"]


@dataclass(frozen=True)
class CompanyName:
    """A generated company name and the facts that go with it."""

    name: str
    short_name: str
    industry: str
    city: int  # index into CITIES
    brand: str


def _brands(rng: random.Random) -> tuple[list[str], list[float]]:
    """Two-character brand words, with a long-tailed popularity (华信 is everywhere)."""
    chars = list(BRAND_CHARS)
    brands = [a + b for a in chars for b in chars if a != b]
    rng.shuffle(brands)
    weights = []
    total = 0.0
    for rank in range(len(brands)):
        total += 1.0 / (rank + 20) ** 0.7
        weights.append(total)
    return brands, weights


def company_names(n: int, seed: int) -> list[CompanyName]:
    """``n`` distinct names: city + brand + industry word + legal suffix, in the formats real
    registers use (上海华信科技有限公司, 华信科技（上海）有限公司, 华信科技有限公司上海分公司)."""
    rng = random.Random(seed)
    brands, brand_weights = _brands(rng)
    industries = list(INDUSTRY_WORDS)
    industry_weights = [INDUSTRY_WEIGHTS.get(code, 4) for code in industries]
    seen: set[str] = set()
    result: list[CompanyName] = []
    while len(result) < n:
        city_index = rng.randrange(len(CITIES))
        city = CITIES[city_index][0]
        brand = rng.choices(brands, cum_weights=brand_weights)[0]
        industry = rng.choices(industries, weights=industry_weights)[0]
        word = rng.choice(INDUSTRY_WORDS[industry])
        suffix = rng.choices(SUFFIXES, weights=SUFFIX_WEIGHTS)[0]
        shape = rng.random()
        if shape < 0.65:
            name = f"{city}{brand}{word}{suffix}"
        elif shape < 0.85:
            name = f"{brand}{word}（{city}）{suffix}"
        elif shape < 0.95:
            name = f"{brand}{word}{suffix}"
        else:
            name = f"{brand}{word}{suffix}{city}分公司"
        if name in seen:
            continue
        seen.add(name)
        short = f"{brand}{word[:2]}" if rng.random() < 0.4 else ""
        result.append(CompanyName(name, short, industry, city_index, brand))
    return result


def _derive_one(name: str) -> tuple[str, str, str]:
    full, initials = pinyin_of(name)
    return normalize_name(name), full, initials


def derive_search_columns(names: list[CompanyName], workers: int = 1) -> list[tuple[str, str, str]]:
    """(normalized name, full pinyin, initials) of every name, by the real helpers; pinyin is
    the slow part (~0.15 ms a name), so it runs on ``workers`` processes."""
    plain = [c.name for c in names]
    if workers <= 1 or len(plain) < 5_000:
        return [_derive_one(n) for n in plain]
    with Pool(workers) as pool:
        return pool.map(_derive_one, plain, chunksize=2_000)


def person_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def mobile(rng: random.Random) -> str:
    """A mainland mobile number, in the formats people type (plain, spaced, +86)."""
    digits = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
    shape = rng.random()
    if shape < 0.7:
        return digits
    if shape < 0.9:
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    return f"+86 {digits}"


def landline(rng: random.Random, area_code: str) -> str:
    length = 8 if len(area_code) == 3 else 7
    number = f"{rng.randrange(2, 9)}{rng.randrange(10 ** (length - 1)):0{length - 1}d}"
    return f"{area_code}-{number[:4]} {number[4:]}"


# --- Organisation, departments and people --------------------------------------------------------
@dataclass
class OrgPlan:
    """Handles on one built organisation, used by the volume builders and the scenarios."""

    index: int
    org: Organization
    admin: User
    root: Department
    divisions: list[Department] = field(default_factory=list)
    teams: list[Department] = field(default_factory=list)
    director: User | None = None
    division_managers: list[User] = field(default_factory=list)
    team_leads: list[User] = field(default_factory=list)
    reps: list[User] = field(default_factory=list)
    pool: PublicPool | None = None
    lead_pool: LeadPool | None = None
    tags: list[Tag] = field(default_factory=list)

    def team_of(self, user: User) -> int:
        return user.department_id or 0


def build_org(index: int) -> OrgPlan:
    """Sign up organisation ``index`` through the real service (defaults included) and set its
    default pool's limits to fit portfolios of hundreds of customers per rep."""
    org, admin = org_services.create_organization(
        name=f"基准测试公司{index}",
        admin_email=f"admin@org{index}.bench.example.com",
        admin_password=BENCH_PASSWORD,
        admin_name=f"管理员{index}",
        admin_username=f"bench{index}_admin",
    )
    assert admin.department is not None
    plan = OrgPlan(index=index, org=org, admin=admin, root=admin.department)
    pool = pool_services.default_pool(org.pk)
    plan.pool = pool_services.save_pool(
        actor=admin, pool=pool, data={"owner_cap": 5_000, "daily_claim_limit": 1_000}
    )
    plan.lead_pool = total_pool(org.pk)
    return plan


def build_departments(plan: OrgPlan, n: int) -> None:
    """``n`` departments below the root, through the service: divisions (销售一部 …, a tenth of
    them) and teams below them (华东组 …)."""
    n_div = max(1, round(n / 10))
    n_teams = max(0, n - n_div)
    for i in range(n_div):
        label = CN_NUMBERS[i] if i < len(CN_NUMBERS) else str(i + 1)
        plan.divisions.append(
            org_services.create_department(
                actor=plan.admin, name=f"销售{label}部", parent=plan.root
            )
        )
    for j in range(n_teams):
        parent = plan.divisions[j % n_div]
        k = j // n_div
        name = f"{TEAM_NAMES[k % len(TEAM_NAMES)]}{'' if k < len(TEAM_NAMES) else k}组"
        plan.teams.append(
            org_services.create_department(actor=plan.admin, name=name, parent=parent)
        )


def build_users(plan: OrgPlan, n: int, rng: random.Random) -> int:
    """``n`` people including the admin: a director (ALL), a manager (DEPT_TREE) heading each
    division and each team, and reps (SELF) spread over the teams. Bulk inserted."""
    teams = plan.teams or plan.divisions
    n_reps = n - 1 - 1 - len(plan.divisions) - len(plan.teams)
    if n_reps < len(teams):
        raise ValueError(f"{n} users are too few for {len(teams)} teams")
    roles = {r.code: r for r in Role.objects.filter(org=plan.org, is_builtin=True)}
    password = make_password(BENCH_PASSWORD)
    now = timezone.now()
    serial = iter(range(1, 10**6))

    def person(kind: str, dept: Department, manager: User | None) -> User:
        i = next(serial)
        return User(
            org=plan.org,
            username=f"bench{plan.index}_{kind}{i}",
            email=f"{kind}{i}@org{plan.index}.bench.example.com",
            name=person_name(rng),
            department=dept,
            manager=manager,
            password=password,
            password_changed_at=now,
            mobile=rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}",
        )

    director = User.objects.bulk_create([person("director", plan.root, None)])[0]
    plan.director = director
    plan.division_managers = User.objects.bulk_create(
        [person("manager", d, director) for d in plan.divisions]
    )
    div_head = {d.pk: m for d, m in zip(plan.divisions, plan.division_managers, strict=True)}
    plan.team_leads = User.objects.bulk_create(
        [person("lead", t, div_head[t.parent_id]) for t in plan.teams]  # type: ignore[index]
    )
    team_head = {t.pk: m for t, m in zip(plan.teams, plan.team_leads, strict=True)}
    team_head.update(div_head if not plan.teams else {})
    plan.reps = User.objects.bulk_create(
        [
            person("rep", teams[k % len(teams)], team_head.get(teams[k % len(teams)].pk))
            for k in range(n_reps)
        ]
    )
    through = User.roles.through
    links = [through(user_id=director.pk, role_id=roles[BuiltinRole.DIRECTOR].pk)]
    links += [
        through(user_id=u.pk, role_id=roles[BuiltinRole.MANAGER].pk)
        for u in [*plan.division_managers, *plan.team_leads]
    ]
    links += [through(user_id=u.pk, role_id=roles[BuiltinRole.REP].pk) for u in plan.reps]
    through.objects.bulk_create(links)
    for dept, head in [
        (plan.root, director),
        *zip(plan.divisions, plan.division_managers, strict=True),
        *zip(plan.teams, plan.team_leads, strict=True),
    ]:
        Department.objects.filter(pk=dept.pk).update(head=head)
    plan.tags = Tag.objects.bulk_create(
        [
            Tag(org=plan.org, name=name, color=color)
            for name, color in [
                ("重点客户", "red"),
                ("渠道", "blue"),
                ("老客户", "green"),
                ("招投标", "orange"),
                ("续约", "azure"),
                ("战略合作", "purple"),
            ]
        ]
    )
    return 1 + len(plan.division_managers) + len(plan.team_leads) + len(plan.reps)


# --- Volume ---------------------------------------------------------------------------------------
@contextmanager
def explicit_timestamps(*model_classes: type[models.Model]) -> Iterator[None]:
    """Let bulk inserts keep the ``created_at`` / ``updated_at`` we give (a history of years),
    instead of ``auto_now`` stamping every row with the moment of the insert."""
    saved = []
    for model in model_classes:
        for name in ("created_at", "updated_at"):
            f: Any = model._meta.get_field(name)
            saved.append((f, f.auto_now, f.auto_now_add))
            f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    span = max((end - start).total_seconds(), 0.0)
    return start + timedelta(seconds=rng.random() * span)


@dataclass
class Counter:
    """Rows inserted per table and the time spent, for the rows-per-second report."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _owned_customer_times(rng: random.Random, now: datetime, created: datetime) -> dict[str, Any]:
    """Ownership clock of an owned customer that the pool rules do not return at ``now``:
    with a won deal (excluded from returns) any age; else owned < 85 days and followed up
    within 28 days (default pool: 30 days without follow-up, 90 without a won deal)."""
    values: dict[str, Any] = {"last_won_at": None, "last_followup_at": None}
    if rng.random() < 0.35:
        values["owner_since"] = _between(rng, created, now)
        values["last_won_at"] = _between(rng, values["owner_since"], now)
        values["last_followup_at"] = _between(rng, now - timedelta(days=120), now)
    else:
        values["owner_since"] = max(created, now - timedelta(days=rng.uniform(0.5, 85)))
        recent = now - timedelta(days=rng.uniform(0, 28))
        if values["owner_since"] < now - timedelta(days=28) or rng.random() < 0.8:
            values["last_followup_at"] = max(recent, values["owner_since"])
    values["next_followup_at"] = (
        now + timedelta(days=rng.uniform(0, 14)) if rng.random() < 0.5 else None
    )
    return values


def build_customers(
    plan: OrgPlan,
    names: list[CompanyName],
    derived: list[tuple[str, str, str]],
    sizes: Sizes,
    rng: random.Random,
    now: datetime,
    counter: Counter,
    *,
    batch: int = 2_000,
    log: Log = print,
) -> None:
    """Customers (owned by reps and team leads; ``pool_share`` waiting in the default pool),
    ``contacts_per_customer`` contacts each, tags on a quarter, a collaborator on 2 %, and one
    creation event each (the history the 360 page reads)."""
    owners = plan.reps * 19 + plan.team_leads  # 95 % of owned customers belong to reps
    assert plan.pool is not None
    tag_through = Customer.tags.through
    collab_through = Customer.collaborators.through
    started = time.perf_counter()
    with explicit_timestamps(Customer, Contact, Event):
        for start in range(0, sizes.customers, batch):
            rows: list[Customer] = []
            for i in range(start, min(start + batch, sizes.customers)):
                company = names[i % len(names)]
                normalized, full, initials = derived[i % len(derived)]
                city, region, area = CITIES[company.city]
                created = now - timedelta(days=rng.uniform(0, 3 * 365))
                in_pool = rng.random() < sizes.pool_share
                phone = landline(rng, area) if rng.random() < 0.8 else ""
                values: dict[str, Any]
                if in_pool:
                    entered = _between(rng, created, now)
                    values = {
                        "owner": None,
                        "pool_entered_at": entered,
                        "released_by": rng.choice(plan.reps),
                        "released_at": entered,
                        "release_reason": rng.choice(RELEASE_REASONS),
                        "last_followup_at": entered - timedelta(days=rng.uniform(30, 200)),
                    }
                else:
                    values = {
                        "owner": rng.choice(owners),
                        **_owned_customer_times(rng, now, created),
                    }
                grade = rng.choices(["A", "B", "C", ""], weights=[10, 30, 40, 20])[0]
                rows.append(
                    Customer(
                        org=plan.org,
                        created_by=values.get("owner") or plan.admin,
                        name=company.name,
                        normalized_name=normalized,
                        name_pinyin=full,
                        name_initials=initials,
                        short_name=company.short_name,
                        customer_type=rng.choices(
                            ["enterprise", "government", "institution"], weights=[85, 8, 7]
                        )[0],
                        category=rng.choice(["prospect", "customer", "customer", "partner"]),
                        business_category=rng.choice(["product", "project", "service"]),
                        industry=company.industry,
                        source=rng.choice(LEAD_SOURCES),
                        grade=grade,
                        is_new=rng.random() < 0.3,
                        signed_amount_12m=(
                            Decimal(rng.randrange(10_000, 5_000_000)) / 100
                            if values.get("last_won_at")
                            else Decimal("0")
                        ),
                        pool=plan.pool,
                        phone=phone,
                        phone_digits=phone_digits(phone),
                        email=f"info{i}@example.com.cn" if rng.random() < 0.3 else "",
                        region=region,
                        address=f"{city}市{rng.choice(['高新区', '经开区', '中心城区'])}"
                        f"{rng.randrange(1, 999)}号",
                        open_opportunities=rng.choice([1, 2, 3]) if rng.random() < 0.2 else 0,
                        created_at=created,
                        updated_at=_between(rng, created, now),
                        **values,
                    )
                )
            Customer.objects.bulk_create(rows)
            counter.add("customers_customer", len(rows))
            contacts: list[Contact] = []
            tag_links = []
            collab_links = []
            events: list[Event] = []
            for c in rows:
                for k in range(sizes.contacts_per_customer):
                    number = mobile(rng)
                    contacts.append(
                        Contact(
                            org=plan.org,
                            customer_id=c.pk,
                            created_by=c.created_by,
                            name=person_name(rng),
                            title=rng.choice(TITLES),
                            department=rng.choice(CONTACT_DEPARTMENTS),
                            mobile=number,
                            mobile_digits=phone_digits(number),
                            email=f"c{c.pk}_{k}@example.com.cn" if rng.random() < 0.4 else "",
                            owner_id=c.owner_id,
                            is_primary=k == 0,
                            created_at=c.created_at,
                            updated_at=c.created_at,
                        )
                    )
                if rng.random() < 0.25:
                    for tag in rng.sample(plan.tags, rng.choice([1, 1, 2])):
                        tag_links.append(tag_through(customer_id=c.pk, tag_id=tag.pk))
                if c.owner_id is not None and rng.random() < 0.02:
                    other = rng.choice(plan.reps)
                    if other.pk != c.owner_id:
                        collab_links.append(collab_through(customer_id=c.pk, user_id=other.pk))
                if sizes.events:
                    events.append(
                        Event(
                            org=plan.org,
                            actor_id=c.created_by_id,
                            verb="customer.created",
                            object_type="customers.customer",
                            object_id=str(c.pk),
                            object_repr=c.name[:200],
                            changes={"name": [None, c.name], "owner": [None, c.owner_id]},
                            created_at=c.created_at,
                            updated_at=c.created_at,
                        )
                    )
            Contact.objects.bulk_create(contacts)
            tag_through.objects.bulk_create(tag_links)
            collab_through.objects.bulk_create(collab_links)
            Event.objects.bulk_create(events)
            counter.add("customers_contact", len(contacts))
            counter.add("customers_customer_tags", len(tag_links))
            counter.add("customers_customer_collaborators", len(collab_links))
            counter.add("core_event", len(events))
            done = start + len(rows)
            if done % 50_000 < batch or done == sizes.customers:
                elapsed = time.perf_counter() - started
                log(
                    f"  org {plan.index}: {done:,} customers "
                    f"({done / elapsed:,.0f} customers/s, {counter.total:,} rows so far)"
                )


def build_leads(
    plan: OrgPlan,
    n: int,
    rng: random.Random,
    now: datetime,
    counter: Counter,
    *,
    batch: int = 5_000,
) -> None:
    """Leads: 65 % assigned to reps (new … converted, invalid), the rest waiting unassigned in
    the total pool."""
    names = company_names(n, seed=plan.index * 1_000 + 77)
    assert plan.lead_pool is not None
    statuses = [
        LeadStatus.NEW,
        LeadStatus.CONTACTED,
        LeadStatus.QUALIFIED,
        LeadStatus.CONVERTED,
        LeadStatus.INVALID,
    ]
    with explicit_timestamps(Lead):
        for start in range(0, n, batch):
            rows = []
            for i in range(start, min(start + batch, n)):
                created = now - timedelta(days=rng.uniform(0, 365))
                assigned = rng.random() < 0.65
                number = mobile(rng)
                company = names[i]
                rows.append(
                    Lead(
                        org=plan.org,
                        pool=plan.lead_pool,
                        owner=rng.choice(plan.reps) if assigned else None,
                        source=rng.choice(LEAD_SOURCES),
                        company=company.name,
                        contact_name=person_name(rng),
                        title=rng.choice(TITLES),
                        mobile=number,
                        mobile_digits=phone_digits(number),
                        region=CITIES[company.city][1],
                        industry=company.industry,
                        score=rng.randrange(0, 100),
                        status=(
                            rng.choices(statuses, weights=[30, 30, 15, 15, 10])[0]
                            if assigned
                            else LeadStatus.NEW
                        ),
                        assigned_at=_between(rng, created, now) if assigned else None,
                        created_at=created,
                        updated_at=_between(rng, created, now),
                    )
                )
            Lead.objects.bulk_create(rows)
            counter.add("leads_lead", len(rows))


# --- Opportunities, their stage history, follow-ups and visit plans ------------------------------
PROJECTS = [
    "数据中心扩容项目",
    "ERP 升级改造",
    "网络安全等级保护建设",
    "智慧园区一期",
    "云桌面替换",
    "生产线 MES 实施",
    "视频会议系统采购",
    "灾备中心建设",
    "门户网站重构",
    "办公终端年度采购",
    "数据治理咨询",
    "运维外包服务续签",
    "信创替代项目",
    "财务共享平台",
    "仓储管理系统",
    "年度软件维保",
]
# (content, next step) by method
FOLLOWUP_TEXTS: dict[str, list[tuple[str, str]]] = {
    Method.CALL: [
        ("电话沟通需求，客户关注交付周期，约定下周发方案。", "发送技术方案"),
        ("电话确认预算已报批，等待领导签字。", "跟进审批结果"),
        ("电话回访方案反馈，客户希望再降一些价格。", "准备报价调整"),
    ],
    Method.WECHAT: [
        ("微信确认预算范围和采购流程，需走招标。", "确认招标时间"),
        ("微信发送案例资料，对方已转给技术负责人。", "约技术交流"),
    ],
    Method.VISIT: [
        ("上门拜访信息部，演示产品，客户技术负责人参与。", "安排 POC 测试"),
        ("与采购经理面谈商务条款，付款方式待定。", "商务谈判"),
        ("拜访分管领导，介绍同行业成功案例。", "提交项目建议书"),
    ],
    Method.MEETING: [
        ("参加客户方案评审会，对比了两家竞品。", "提交报价"),
        ("项目启动会，明确了双方对接人和里程碑。", "确认实施计划"),
    ],
    Method.EMAIL: [("邮件发送报价单和资质文件。", "电话跟进报价反馈")],
    Method.OTHER: [("展会上碰到客户负责人，简单交流了进展。", "约时间拜访")],
}
METHOD_WEIGHTS = {
    Method.CALL: 35,
    Method.WECHAT: 25,
    Method.VISIT: 18,
    Method.MEETING: 9,
    Method.EMAIL: 8,
    Method.OTHER: 5,
}
STATUS_WEIGHTS = {
    OpportunityStatus.CONTINUE: 70,
    OpportunityStatus.PAUSE: 5,
    OpportunityStatus.WON: 12,
    OpportunityStatus.LOST: 10,
    OpportunityStatus.ABANDONED: 3,
}
FEEDBACK_CYCLES = ["3d", "7d", "14d"]
FEEDBACK_CYCLE_WEIGHTS = [25, 50, 25]
ACTION_PRINCIPLES = ["ensure", "strive_hard", "strive", "track"]
LOSS_REASONS = ["price", "competitor", "no_budget", "project_cancelled", "requirements"]
LOSS_NOTES = [
    "价格比竞品高约 15%，客户更看重本地化服务。",
    "客户预算被砍，项目延后到明年。",
    "竞争对手与客户高层关系更紧密。",
    "",
]
PLAN_PURPOSES = [
    "拜访关键人，推进到下一阶段",
    "现场演示新版本",
    "商务条款沟通",
    "了解明年预算安排",
    "回访使用情况",
]
GRADE_WEIGHT = {"A": 3.0, "B": 1.6, "C": 1.0, "": 0.7}
#: A share of the owned customers never had an opportunity.
NO_OPPORTUNITY_SHARE = 0.25
#: A share of the follow-ups is about the customer only (no opportunity).
CUSTOMER_ONLY_FOLLOWUPS = 0.10
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


class OwnedCustomer(NamedTuple):
    pk: int
    owner_id: int
    name: str
    short_name: str
    created_at: datetime
    last_won_at: datetime | None
    last_followup_at: datetime | None
    grade: str
    source: str
    address: str

    @property
    def may_follow_up(self) -> bool:
        """Whether follow-ups may be added: a customer never followed up (owned for less than
        four weeks, no deal) stays so, since a follow-up would date its pool clock back and
        the sweep would return it."""
        return self.last_followup_at is not None or self.last_won_at is not None


@dataclass
class PipelineShape:
    """A pipeline's stages as the generator walks them: open stages in order (with their
    nodes), the won stage, the first lost stage, and the funnel: cumulative weights of the
    open stages for opportunities still open (more in the early stages)."""

    pipeline: Pipeline
    open_stages: list[Stage]
    nodes: dict[int, list[Stage]]
    won: Stage
    lost: Stage
    funnel: list[float]


@dataclass
class OpportunityWorld:
    """What the opportunities of one organisation are built from, read from the database (so
    it works the same on a data set built earlier)."""

    org_id: int
    pipelines: list[PipelineShape]  # the default first
    customers: list[OwnedCustomer]
    contacts: dict[int, list[int]]
    colleagues: dict[int, list[int]]  # owner -> people of the same department who own customers


def pipeline_shapes(org_id: int) -> list[PipelineShape]:
    shapes = []
    for pipeline in Pipeline.objects.filter(org_id=org_id, is_active=True).order_by(
        "-is_default", "sort_order", "pk"
    ):
        stages = list(
            Stage.objects.filter(pipeline=pipeline, is_active=True).order_by("sort_order", "pk")
        )
        top = [s for s in stages if s.parent_id is None]
        open_stages = [s for s in top if s.kind == StageKind.OPEN]
        won = next(s for s in top if s.kind == StageKind.WON)
        lost = next(s for s in top if s.kind == StageKind.LOST)
        nodes: dict[int, list[Stage]] = {}
        for s in stages:
            if s.parent_id is not None:
                nodes.setdefault(s.parent_id, []).append(s)
        funnel = list(itertools.accumulate(0.85**k for k in range(len(open_stages))))
        shapes.append(PipelineShape(pipeline, open_stages, nodes, won, lost, funnel))
    if not shapes:
        raise RuntimeError(f"organisation {org_id} has no pipeline")
    return shapes


def load_world(org_id: int) -> OpportunityWorld:
    """Pipelines, owned customers, contacts per customer and departments of the owners."""
    customers = [
        OwnedCustomer(*row)
        for row in Customer.objects.filter(
            org_id=org_id, owner__isnull=False, merged_into__isnull=True
        )
        .order_by("pk")
        .values_list(
            "pk",
            "owner_id",
            "name",
            "short_name",
            "created_at",
            "last_won_at",
            "last_followup_at",
            "grade",
            "source",
            "address",
        )
        .iterator(chunk_size=10_000)
    ]
    contacts: dict[int, list[int]] = {}
    for customer_id, pk in (
        Contact.objects.filter(org_id=org_id)
        .order_by("customer_id", "-is_primary", "pk")
        .values_list("customer_id", "pk")
        .iterator(chunk_size=20_000)
    ):
        contacts.setdefault(customer_id, []).append(pk)
    owners = {c.owner_id for c in customers}
    by_department: dict[int | None, list[int]] = {}
    department = dict(
        User.objects.filter(pk__in=owners).values_list("pk", "department_id").order_by("pk")
    )
    for pk in sorted(owners):
        by_department.setdefault(department.get(pk), []).append(pk)
    colleagues = {pk: by_department[department.get(pk)] for pk in owners}
    return OpportunityWorld(org_id, pipeline_shapes(org_id), customers, contacts, colleagues)


def _seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _amount(rng: random.Random) -> Decimal:
    """An expected amount in yuan with two decimals: log-normal around ¥150,000."""
    value = min(max(rng.lognormvariate(math.log(150_000), 1.0), 2_000.0), 50_000_000.0)
    return Decimal(f"{value:.2f}")


def _probability_level(probability: int) -> str:
    if probability >= 60:
        return "very_high"
    if probability >= 40:
        return "high"
    if probability >= 20:
        return "medium"
    return "low"


@dataclass
class _Draft:
    """One opportunity being built, with its history and follow-ups (not saved yet)."""

    opp: Opportunity
    customer: OwnedCustomer
    shape: PipelineShape
    history: list[StageHistory]
    end: datetime  # when it stopped being worked: now, or its closing moment
    followups: list[FollowUp] = field(default_factory=list)
    collaborators: list[int] = field(default_factory=list)


def _status_plan(
    world: OpportunityWorld, n: int, rng: random.Random
) -> tuple[list[str], list[tuple[int, bool]]]:
    """The status of each of the ``n`` opportunities (shuffled) and, in order, the customers of
    the won ones with whether the deal is the customer's last won deal. Every customer that has
    a last won deal gets it as an opportunity won at exactly that moment, so the customers'
    ``last_won_at`` stays what it was (the pool's steady state does not move)."""
    anchors = [i for i, c in enumerate(world.customers) if c.last_won_at is not None]
    rng.shuffle(anchors)
    anchors = anchors[:n]
    won_share = STATUS_WEIGHTS[OpportunityStatus.WON] / sum(STATUS_WEIGHTS.values())
    n_won = min(n, max(round(n * won_share), len(anchors))) if anchors else 0
    won = [(i, True) for i in anchors]
    won += [(i, False) for i in rng.choices(anchors, k=n_won - len(anchors))] if anchors else []
    others = [k for k in STATUS_WEIGHTS if k != OpportunityStatus.WON]
    statuses = [OpportunityStatus.WON.value] * n_won + [
        str(s)
        for s in rng.choices(others, weights=[STATUS_WEIGHTS[k] for k in others], k=n - n_won)
    ]
    rng.shuffle(statuses)
    return statuses, won


def _customer_weights(world: OpportunityWorld, rng: random.Random) -> list[float]:
    """Cumulative weights of the owned customers: busy owners and A-grade customers have many
    opportunities, a quarter of the customers none."""
    activity = {pk: rng.lognormvariate(0, 0.6) for pk in sorted(world.colleagues)}
    weights = [
        0.0
        if rng.random() < NO_OPPORTUNITY_SHARE
        else activity[c.owner_id] * GRADE_WEIGHT.get(c.grade, 1.0) * rng.lognormvariate(0, 0.5)
        for c in world.customers
    ]
    if not any(weights):
        weights = [1.0] * len(world.customers)
    return list(itertools.accumulate(weights))


def _draft(
    world: OpportunityWorld,
    customer: OwnedCustomer,
    status: str,
    last_won: bool,
    rng: random.Random,
    now: datetime,
) -> _Draft:
    """An opportunity of ``customer`` with ``status``: timeline, stage path, amounts."""
    shape = world.pipelines[0] if rng.random() < 0.7 else world.pipelines[-1]
    floor = max(customer.created_at, now - timedelta(days=730))
    closed: datetime | None = None
    if status == OpportunityStatus.WON:
        assert customer.last_won_at is not None
        closed = (
            customer.last_won_at
            if last_won
            else _between(
                rng, max(floor, customer.last_won_at - timedelta(days=540)), customer.last_won_at
            )
        )
        created = max(customer.created_at, closed - timedelta(days=rng.uniform(14, 240)))
    elif status in (OpportunityStatus.LOST, OpportunityStatus.ABANDONED):
        created = _between(rng, floor, max(floor, now - 10 * DAY))
        closed = min(now - HOUR, created + timedelta(days=rng.uniform(7, 200)))
    else:
        age = timedelta(days=min(rng.expovariate(1 / 150), 720))
        created = max(customer.created_at, now - age)
    if closed is not None and closed <= created:
        created = closed - HOUR
    created = _seconds(created)
    end = closed if closed is not None else now  # a last won deal keeps its exact moment
    k = len(shape.open_stages)
    if status == OpportunityStatus.WON:
        current = rng.randint(k // 2, k - 1)
        earlier = min(current, rng.choice([1, 2, 2, 3]))
    elif status == OpportunityStatus.LOST:
        current = bisect.bisect(shape.funnel, rng.random() * shape.funnel[-1])
        earlier = min(current, rng.choice([1, 2, 2, 3]))
    else:
        current = bisect.bisect(shape.funnel, rng.random() * shape.funnel[-1])
        earlier = min(current, rng.choice([2, 2, 3, 3, 4]))
    path = [shape.open_stages[j] for j in sorted(rng.sample(range(current), earlier))]
    path.append(shape.open_stages[current])
    node_choices = shape.nodes.get(shape.open_stages[current].pk, [])
    node = rng.choice(node_choices) if node_choices and rng.random() < 0.6 else None
    closing: Stage | None = None
    if status == OpportunityStatus.WON:
        closing = shape.won
    elif status == OpportunityStatus.LOST:
        closing = shape.lost
    # entry moments: the first at creation, the others in between, a closing stage at closing
    open_rows = len(path)
    between = sorted(_seconds(_between(rng, created, end)) for _ in range(open_rows - 1))
    moments = [created, *between]
    if closing is not None:
        path.append(closing)
        moments.append(end)
    owner_id = customer.owner_id
    if rng.random() < 0.08:
        owner_id = rng.choice(world.colleagues[customer.owner_id])
    contacts = world.contacts.get(customer.pk, [])
    contact_id = (contacts[0] if rng.random() < 0.8 else rng.choice(contacts)) if contacts else None
    abandoned_at = end if status == OpportunityStatus.ABANDONED else None
    history = []
    for j, (stage, entered) in enumerate(zip(path, moments, strict=True)):
        last = j == len(path) - 1
        history.append(
            StageHistory(
                org_id=world.org_id,
                pipeline_id=shape.pipeline.pk,
                stage_id=stage.pk,
                node=node if j == open_rows - 1 else None,
                contact_id=contact_id,
                person_id=owner_id,
                entered_at=entered,
                left_at=moments[j + 1] if not last else abandoned_at,
                created_at=entered,
                updated_at=entered,
            )
        )
    stage = path[-1]
    open_stage = shape.open_stages[current]
    if status == OpportunityStatus.WON:
        probability = 100
    elif status in (OpportunityStatus.LOST, OpportunityStatus.ABANDONED):
        probability = 0
    else:
        probability = stage.default_probability
    expected = _amount(rng)
    opp = Opportunity(
        org_id=world.org_id,
        created_by_id=owner_id,
        name=f"{customer.short_name or customer.name[:8]}{rng.choice(PROJECTS)}",
        customer_id=customer.pk,
        contact_id=contact_id,
        pipeline_id=shape.pipeline.pk,
        stage=stage,
        node=node if closing is None else None,
        stage_entered_at=moments[-1],
        business_type=shape.pipeline.business_type,
        source=customer.source,
        owner_id=owner_id,
        probability=probability,
        probability_level=_probability_level(open_stage.default_probability),
        feedback_cycle=rng.choices(FEEDBACK_CYCLES, weights=FEEDBACK_CYCLE_WEIGHTS)[0],
        action_principle=rng.choices(ACTION_PRINCIPLES, weights=[15, 25, 35, 25])[0],
        status=status,
        is_key=rng.random() < 0.08,
        expected_amount=expected,
        expected_close_date=timezone.localdate(created + timedelta(days=rng.uniform(30, 270))),
        created_at=created,
        updated_at=created,
    )
    if closed is not None:
        opp.closed_at = end
        opp.actual_close_date = timezone.localdate(end)
        if status == OpportunityStatus.WON:
            factor = Decimal(rng.choice(["0.85", "0.9", "0.95", "1", "1", "1.05"]))
            opp.actual_amount = (expected * factor).quantize(Decimal("0.01"))
        else:
            opp.loss_reason = rng.choice(LOSS_REASONS)
            opp.loss_note = rng.choice(LOSS_NOTES)
    draft = _Draft(opp, customer, shape, history, end)
    if rng.random() < 0.04:
        others = [pk for pk in world.colleagues[customer.owner_id] if pk != owner_id]
        draft.collaborators = rng.sample(others, min(len(others), rng.choice([1, 1, 2])))
    return draft


YEAR = timedelta(days=365)
WEEK = timedelta(days=7)


def _worked(draft: _Draft, now: datetime) -> tuple[datetime, datetime] | None:
    """The part of the last year during which the opportunity was worked (None: none)."""
    start = max(draft.opp.created_at, now - YEAR)
    if not draft.customer.may_follow_up:
        return None
    return (start, draft.end) if draft.end - start > HOUR else None


def _followup_moments(
    drafts: list[_Draft],
    wanted: int,
    status_weight: dict[str, float],
    rng: random.Random,
    now: datetime,
) -> list[list[datetime]]:
    """``wanted`` follow-up moments over the drafts, at a constant rate over the last year
    (as many follow-ups a year ago as last week, like a team in its steady state): each moment
    is drawn uniformly over the year, then given to one of the opportunities being worked in
    that week (by status weight), at a moment of that week when it was worked."""
    moments: list[list[datetime]] = [[] for _ in drafts]
    start = now - YEAR
    weeks = math.ceil(YEAR / WEEK)
    active: list[list[int]] = [[] for _ in range(weeks)]
    spans: dict[int, tuple[datetime, datetime]] = {}
    for j, d in enumerate(drafts):
        span = _worked(d, now)
        if span is None:
            continue
        spans[j] = span
        first = int((span[0] - start) / WEEK)
        last = min(weeks - 1, int((span[1] - start) / WEEK))
        for w in range(first, last + 1):
            active[w].append(j)
    if not spans:
        return moments
    heaviest = max(status_weight.values())
    placed = 0
    while placed < wanted:
        moment = start + YEAR * rng.random()
        w = min(weeks - 1, int((moment - start) / WEEK))
        if not active[w]:
            continue
        j = rng.choice(active[w])
        if rng.random() * heaviest > status_weight[drafts[j].opp.status]:
            continue
        lo, hi = spans[j]
        if not lo <= moment <= hi:  # worked that week, but not at that moment of it
            lo, hi = max(lo, start + w * WEEK), min(hi, start + (w + 1) * WEEK, now)
            if hi <= lo:
                continue
            moment = _between(rng, lo, hi)
        moments[j].append(_seconds(moment))
        placed += 1
    return moments


def _stage_at(draft: _Draft, moment: datetime) -> StageHistory:
    entered = [h.entered_at for h in draft.history]
    return draft.history[max(0, bisect.bisect_right(entered, moment) - 1)]


def _latitude_longitude(rng: random.Random) -> tuple[Decimal, Decimal]:
    return (
        Decimal(f"{rng.uniform(22.0, 40.0):.6f}"),
        Decimal(f"{rng.uniform(104.0, 121.5):.6f}"),
    )


def _followup(
    draft: _Draft | None,
    customer: OwnedCustomer,
    owner_id: int,
    world: OpportunityWorld,
    moment: datetime,
    rng: random.Random,
    now: datetime,
    *,
    latest: bool,
) -> FollowUp:
    method = rng.choices(list(METHOD_WEIGHTS), weights=list(METHOD_WEIGHTS.values()))[0]
    content, next_content = rng.choice(FOLLOWUP_TEXTS[method])
    is_open = draft is not None and draft.opp.status in OPEN_STATUSES
    next_at = None
    if (latest and is_open and rng.random() < 0.6) or (not latest and rng.random() < 0.3):
        next_at = _seconds(moment + timedelta(hours=rng.randint(20, 14 * 24)))
    contacts = world.contacts.get(customer.pk, [])
    history = _stage_at(draft, moment) if draft is not None else None
    colleagues = world.colleagues[customer.owner_id]
    collaborator = rng.choice(colleagues) if rng.random() < 0.05 else None
    visit = method == Method.VISIT
    latitude, longitude = _latitude_longitude(rng) if visit and rng.random() < 0.5 else (None, None)
    written = min(now, moment + timedelta(minutes=rng.randint(0, 120)))
    return FollowUp(
        org_id=world.org_id,
        created_by_id=owner_id,
        customer_id=customer.pk,
        opportunity_id=None,
        contact_id=rng.choice(contacts) if contacts and rng.random() < 0.9 else None,
        stage_id=history.stage_id if history else None,
        node_id=history.node_id if history else None,
        owner_id=owner_id,
        method=method,
        content=content,
        happened_at=moment,
        next_at=next_at,
        next_content=next_content if next_at else "",
        collaborator_id=collaborator if collaborator != owner_id else None,
        location=customer.address if visit else "",
        latitude=latitude,
        longitude=longitude,
        created_at=written,
        updated_at=written,
    )


def _add_followups(
    draft: _Draft,
    moments: list[datetime],
    world: OpportunityWorld,
    rng: random.Random,
    now: datetime,
) -> None:
    """Follow-ups at ``moments``, then the opportunity's last/next follow-up blocks from the
    latest one and its deadlines as ``derive_deadlines`` sets them."""
    opp = draft.opp
    for j, moment in enumerate(sorted(moments, reverse=True)):
        draft.followups.append(
            _followup(draft, draft.customer, opp.owner_id, world, moment, rng, now, latest=j == 0)
        )
    if draft.followups:
        last = draft.followups[0]
        opp.last_followup_at = last.happened_at
        opp.last_followup_contact_id = last.contact_id
        opp.last_followup_by_id = last.owner_id
        opp.last_followup_content = last.content
        opp.next_followup_at = last.next_at
        opp.next_followup_collaborator_id = last.collaborator_id
        opp.next_followup_content = last.next_content
    derive_deadlines(opp, opp.stage)
    if opp.stall_due_at is not None and opp.stall_due_at < now:
        # steady state: the 30-minute stalled job has already flagged it
        opp.stall_notified_at = min(now, opp.stall_due_at + timedelta(minutes=rng.randint(1, 30)))
    touched = max([opp.stage_entered_at, *(f.created_at for f in draft.followups[:1])])
    opp.updated_at = min(now, touched + timedelta(minutes=rng.randint(0, 600)))


def _visit_plan(
    status: str, draft: _Draft, world: OpportunityWorld, rng: random.Random, now: datetime
) -> VisitPlan:
    """A visit plan of the opportunity with ``status``: done (with one of its visit follow-ups,
    which recorded it), planned (from a day ago to two weeks ahead: older ones were marked
    missed by the hourly job), missed or cancelled (over its last year)."""
    opp = draft.opp
    followup = None
    if status == PlanStatus.DONE:
        followup = rng.choice([f for f in draft.followups if f.method == Method.VISIT])
        planned = followup.happened_at - timedelta(hours=rng.randint(0, 3))
    elif status == PlanStatus.PLANNED:
        planned = now + timedelta(hours=rng.uniform(-20, 14 * 24))
    else:
        planned = _between(rng, max(opp.created_at, now - timedelta(days=365)), draft.end - DAY)
    planned = planned.replace(minute=0, second=0, microsecond=0)
    contacts = world.contacts.get(draft.customer.pk, [])
    written = min(now, max(opp.created_at, planned - timedelta(days=rng.uniform(0.5, 7))))
    return VisitPlan(
        org_id=world.org_id,
        created_by_id=opp.owner_id,
        owner_id=opp.owner_id,
        customer_id=opp.customer_id,
        opportunity_id=opp.pk,
        contact_id=contacts[0] if contacts else None,
        method=Method.VISIT if rng.random() < 0.85 else Method.MEETING,
        planned_at=planned,
        purpose=rng.choice(PLAN_PURPOSES),
        status=status,
        followup_id=followup.pk if followup else None,
        done_at=followup.happened_at if followup else None,
        created_at=written,
        updated_at=min(now, followup.happened_at) if followup else written,
    )


def _visit_plans(
    drafts: list[_Draft], n: int, world: OpportunityWorld, rng: random.Random, now: datetime
) -> list[VisitPlan]:
    """``n`` visit plans over the batch: ≈ 45 % done, 25 % planned, 22 % missed, 8 % cancelled
    (fewer when the batch has no opportunity a kind fits)."""
    visited = [d for d in drafts if any(f.method == Method.VISIT for f in d.followups)]
    working = [d for d in drafts if d.opp.status in OPEN_STATUSES]
    past = [d for d in drafts if d.end - max(d.opp.created_at, now - timedelta(days=365)) > 2 * DAY]
    plans = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.45 and visited:
            plans.append(_visit_plan(PlanStatus.DONE, rng.choice(visited), world, rng, now))
        elif roll < 0.70 and working:
            plans.append(_visit_plan(PlanStatus.PLANNED, rng.choice(working), world, rng, now))
        elif past:
            status = PlanStatus.MISSED if roll < 0.92 else PlanStatus.CANCELLED
            plans.append(_visit_plan(status, rng.choice(past), world, rng, now))
    return plans


def _share(total: int, start: int, end: int, n: int) -> int:
    """The part of ``total`` that falls on items [start, end) of ``n``: exact over all batches."""
    return round(total * end / n) - round(total * start / n)


def build_opportunities(
    org_id: int,
    sizes: Sizes,
    rng: random.Random,
    now: datetime,
    counter: Counter,
    *,
    batch: int = 2_000,
    log: Log = print,
) -> None:
    """``sizes.opportunities`` opportunities of the organisation's owned customers (skewed: busy
    owners and A-grade customers have many, a quarter of the customers none), owned by the
    customer's owner (a colleague of the same department for 8 %), in the default pipeline
    (70 %) or the other template; status ≈ 70 % continue, 5 % paused, 12 % won, 10 % lost, 3 %
    abandoned. Each has its stage history (≈ 3 rows; the last row open unless abandoned),
    follow-ups (``sizes.followups`` in all, a tenth of them about the customer only, over the
    last year) that set its last/next follow-up blocks, its deadlines as ``derive_deadlines``
    sets them, and ``sizes.visit_plans`` visit plans are spread over them."""
    n = sizes.opportunities
    if n <= 0:
        return
    world = load_world(org_id)
    if not world.customers:
        raise RuntimeError(f"organisation {org_id} has no owned customer")
    cumulative = _customer_weights(world, rng)
    statuses, won = _status_plan(world, n, rng)
    won_iter = iter(won)
    total_weight = cumulative[-1]
    opp_followups = round(sizes.followups * (1 - CUSTOMER_ONLY_FOLLOWUPS))
    customer_followups = sizes.followups - opp_followups
    collab_through = Opportunity.collaborators.through
    status_weight: dict[str, float] = {
        OpportunityStatus.CONTINUE: 1.2,
        OpportunityStatus.PAUSE: 1.0,
        OpportunityStatus.WON: 1.3,
        OpportunityStatus.LOST: 0.8,
        OpportunityStatus.ABANDONED: 0.5,
    }
    started = time.perf_counter()
    with explicit_timestamps(Opportunity, StageHistory, FollowUp, VisitPlan):
        for start in range(0, n, batch):
            end = min(start + batch, n)
            drafts: list[_Draft] = []
            for i in range(start, end):
                status = statuses[i]
                if status == OpportunityStatus.WON:
                    index, last_won = next(won_iter)
                else:
                    index = bisect.bisect(cumulative, rng.random() * total_weight)
                    index, last_won = min(index, len(world.customers) - 1), False
                drafts.append(_draft(world, world.customers[index], status, last_won, rng, now))
            # follow-ups of this batch's share, at a constant rate over the last year
            moments = _followup_moments(
                drafts, _share(opp_followups, start, end, n), status_weight, rng, now
            )
            for d, when in zip(drafts, moments, strict=True):
                _add_followups(d, when, world, rng, now)
            Opportunity.objects.bulk_create([d.opp for d in drafts])
            history: list[StageHistory] = []
            followups: list[FollowUp] = []
            links = []
            for d in drafts:
                for h in d.history:
                    h.opportunity_id = d.opp.pk
                history += d.history
                for f in d.followups:
                    f.opportunity_id = d.opp.pk
                followups += d.followups
                links += [
                    collab_through(opportunity_id=d.opp.pk, user_id=pk) for pk in d.collaborators
                ]
            followed = [d.customer for d in drafts if d.customer.may_follow_up]
            for _ in range(_share(customer_followups, start, end, n) if followed else 0):
                customer = rng.choice(followed)
                lo = max(customer.created_at, now - timedelta(days=365))
                moment = _seconds(_between(rng, lo, now))
                followups.append(
                    _followup(
                        None, customer, customer.owner_id, world, moment, rng, now, latest=False
                    )
                )
            StageHistory.objects.bulk_create(history)
            FollowUp.objects.bulk_create(followups)
            collab_through.objects.bulk_create(links)
            plans = _visit_plans(drafts, _share(sizes.visit_plans, start, end, n), world, rng, now)
            VisitPlan.objects.bulk_create(plans)
            counter.add(Opportunity._meta.db_table, len(drafts))
            counter.add(StageHistory._meta.db_table, len(history))
            counter.add(FollowUp._meta.db_table, len(followups))
            counter.add(collab_through._meta.db_table, len(links))
            counter.add(VisitPlan._meta.db_table, len(plans))
            if end % 100_000 < batch or end == n:
                elapsed = time.perf_counter() - started
                log(
                    f"  org {org_id}: {end:,} opportunities "
                    f"({end / elapsed:,.0f} opportunities/s, {counter.total:,} rows so far)"
                )


def refresh_customers(org_id: int) -> int:
    """One set-based UPDATE: every customer's open-opportunity count and last won deal exactly
    as ``refresh_customer`` computes them, and its last follow-up moved up to its latest
    follow-up (never back: the pool's steady state does not move)."""
    opps = Opportunity.objects.filter(customer_id=OuterRef("pk")).order_by().values("customer_id")
    open_count = opps.filter(status__in=OPEN_STATUSES).annotate(n=Count("pk")).values("n")
    last_won = opps.filter(status=OpportunityStatus.WON).annotate(m=Max("closed_at")).values("m")
    last_followup = (
        FollowUp.objects.filter(customer_id=OuterRef("pk"))
        .order_by()
        .values("customer_id")
        .annotate(m=Max("happened_at"))
        .values("m")
    )
    latest = Subquery(last_followup)
    return Customer.objects.filter(org_id=org_id).update(
        open_opportunities=Coalesce(Subquery(open_count), Value(0)),
        last_won_at=Subquery(last_won),
        last_followup_at=Greatest(
            Coalesce(F("last_followup_at"), latest), Coalesce(latest, F("last_followup_at"))
        ),
    )


# --- The database ---------------------------------------------------------------------------------
def erase_events(org_id: int, after: int) -> int:
    """Delete the organisation's audit events above ``after`` (what a scenario appended). The
    events table is append-only; its trigger lets rows go only under ``crm.audit_erase_org`` (the
    organisation-erasure path), set here for this transaction alone."""
    from django.db import connection, transaction

    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('crm.audit_erase_org', %s, true)", [str(org_id)])
        deleted, _ = Event.objects.filter(org_id=org_id, pk__gt=after).delete()
    return deleted


def _maintenance_connection() -> Any:
    import psycopg

    db = settings.DATABASES["default"]
    return psycopg.connect(
        dbname="postgres",
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        host=db["HOST"],
        port=db["PORT"],
        autocommit=True,
    )


def _bench_db_name() -> str:
    name = str(settings.DATABASES["default"]["NAME"])
    if not name.startswith("crm_bench"):  # never touch any other database
        raise RuntimeError(f"refusing to manage database {name!r}: not a crm_bench database")
    return name


def database_exists() -> bool:
    with _maintenance_connection() as conn:
        return bool(
            conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [_bench_db_name()]
            ).fetchone()
        )


def create_database(*, drop: bool) -> None:
    """Create the crm_bench database (dropping it first when ``drop``). No other database is
    ever touched."""
    from psycopg import sql

    name = _bench_db_name()
    connection.close()
    with _maintenance_connection() as conn:
        if drop:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def current_dataset() -> dict[str, Any] | None:
    """The sizes the data in the database were generated with (None: no complete data set)."""
    if connection.vendor == "postgresql" and not database_exists():
        return None
    try:
        org = Organization.objects.filter(**{f"settings__{MARKER}__index": 1}).first()
    except Exception:  # no tables yet
        connection.close()
        return None
    if org is None:
        return None
    marker = org.settings.get(MARKER, {})
    return marker if marker.get("complete") else None


def _analyze(tables: list[str] | None = None) -> None:
    """VACUUM ANALYZE the database (``tables`` only: ANALYZE them)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {', '.join(tables)}" if tables else "VACUUM ANALYZE")


VOLUME_TABLES = ["customers_customer", "customers_contact", "core_event", "leads_lead"]
OPPORTUNITY_TABLES = [
    Opportunity._meta.db_table,
    Opportunity.collaborators.through._meta.db_table,
    StageHistory._meta.db_table,
    StageStay._meta.db_table,
    FollowUp._meta.db_table,
    VisitPlan._meta.db_table,
]


@contextmanager
def deferred_indexes(tables: list[str], log: Log = print) -> Iterator[None]:
    """The classic bulk-load order on PostgreSQL: drop the secondary indexes of ``tables``
    (not primary keys, not those behind constraints), load, then recreate each from its saved
    definition (``pg_get_indexdef``), so the schema ends exactly as the migrations made it."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            """,
            [tables],
        )
        saved = cursor.fetchall()
        for name, _definition in saved:
            cursor.execute(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem TO '512MB'")
            for _name, definition in saved:
                cursor.execute(definition)
        log(f"  {len(saved)} indexes rebuilt in {time.perf_counter() - started:.0f} s")


# Shared with the worker processes (fork): names, search columns, sizes, generation time.
_SHARED: dict[str, Any] = {}


def build_organisation(index: int, log: Log = print) -> tuple[int, dict[str, int]]:
    """Build organisation ``index`` completely (sign-up, departments, users, customers with
    contacts, tags and events, leads) from the shared names; returns (org id, rows per table)."""
    sizes: Sizes = _SHARED["sizes"]
    now: datetime = _SHARED["now"]
    counter = Counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")  # this session only: bulk load
    rng = random.Random(sizes.seed * 100 + index)
    log(f"Organisation {index}: sign-up, {sizes.departments} departments, {sizes.users} users")
    plan = build_org(index)
    build_departments(plan, sizes.departments)
    counter.add("org_user", build_users(plan, sizes.users, rng))
    build_customers(plan, _SHARED["names"], _SHARED["derived"], sizes, rng, now, counter, log=log)
    build_leads(plan, sizes.leads, rng, now, counter)
    log(f"  org {index}: {sizes.leads:,} leads")
    connection.close()
    return plan.org.pk, counter.rows


def _build_in_worker(index: int) -> tuple[int, dict[str, int]]:
    return build_organisation(index, log=lambda text: print(text, flush=True))


def generate(
    sizes: Sizes, *, workers: int = 2, log: Log = print, scale: str = "custom"
) -> dict[str, Any]:
    """Build ``sizes.orgs`` organisations into the (migrated, empty) database, one process per
    organisation (up to ``workers``); returns the report (rows per table, seconds, rows per
    second) that is also kept on each organisation."""
    started = time.perf_counter()
    now = timezone.now().replace(microsecond=0)
    counter = Counter()
    log(f"Names and search columns for {sizes.customers:,} customers …")
    t0 = time.perf_counter()
    names = company_names(sizes.customers, seed=sizes.seed)
    derived = derive_search_columns(names, workers=workers)
    names_seconds = time.perf_counter() - t0
    log(f"  {names_seconds:.1f} s ({sizes.customers / max(names_seconds, 1e-9):,.0f} names/s)")
    _SHARED.update(names=names, derived=derived, sizes=sizes, now=now)
    built: list[tuple[int, dict[str, int]]] = []
    t0 = time.perf_counter()
    with deferred_indexes(VOLUME_TABLES, log=log):
        indexes = list(range(1, sizes.orgs + 1))
        if workers > 1 and sizes.orgs > 1 and connection.vendor == "postgresql":
            connections.close_all()  # each process opens its own
            with get_context("fork").Pool(min(workers, sizes.orgs)) as pool:
                built = pool.map(_build_in_worker, indexes, chunksize=1)
        else:
            built = [build_organisation(i, log=log) for i in indexes]
    load_seconds = time.perf_counter() - t0
    for _org_id, rows in built:
        for table, n in rows.items():
            counter.add(table, n)
    t0 = time.perf_counter()
    _analyze()
    analyze_seconds = time.perf_counter() - t0
    total_seconds = time.perf_counter() - started
    report = {
        # the opportunities are not there yet (generate_opportunities adds them and their sizes)
        "sizes": {**sizes.as_dict(), **dict.fromkeys((*OPPORTUNITY_KEYS, *CONTRACT_KEYS), 0)},
        "scale": scale,
        "generated_at": now.isoformat(),
        "rows": counter.rows,
        "rows_total": counter.total,
        "seconds": round(total_seconds, 1),
        "names_seconds": round(names_seconds, 1),
        "load_seconds": round(load_seconds, 1),
        "analyze_seconds": round(analyze_seconds, 1),
        "rows_per_second": round(counter.total / max(load_seconds, 1e-9)),
        "customers_per_second": round(sizes.customers * sizes.orgs / max(load_seconds, 1e-9)),
        "complete": True,
    }
    for index, (org_id, _rows) in enumerate(built, start=1):
        org = Organization.objects.get(pk=org_id)
        org.settings = {**org.settings, MARKER: {**report, "index": index}}
        org.save(update_fields=["settings"])
    log(
        f"Done: {counter.total:,} rows in {total_seconds:.0f} s: load {load_seconds:.0f} s "
        f"({report['rows_per_second']:,} rows/s, {report['customers_per_second']:,} customers/s "
        f"with their contacts, tags and events, indexes included), names "
        f"{names_seconds:.0f} s, VACUUM ANALYZE {analyze_seconds:.0f} s"
    )
    return report


def _build_opportunities_of(org_id: int, log: Log = print) -> dict[str, int]:
    """Build the opportunities of one organisation (in a worker process on PostgreSQL)."""
    sizes: Sizes = _SHARED["sizes"]
    now: datetime = _SHARED["opportunities_now"]
    counter = Counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")  # this session only: bulk load
    index = _SHARED["org_index"][org_id]
    rng = random.Random(sizes.seed * 1_000 + index)
    log(f"Organisation {index}: {sizes.opportunities:,} opportunities")
    build_opportunities(org_id, sizes, rng, now, counter, log=log)
    connection.close()
    return counter.rows


def _opportunities_in_worker(org_id: int) -> dict[str, int]:
    return _build_opportunities_of(org_id, log=lambda text: print(text, flush=True))


def _clear_opportunities() -> None:
    """Remove the opportunities' part of a data set (to build it again at other sizes)."""
    if connection.vendor == "postgresql":
        _bench_db_name()  # never on another database
        tables = [*OPPORTUNITY_TABLES, Reminder._meta.db_table]
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    else:
        for model in (Reminder, VisitPlan, FollowUp, StageStay, StageHistory, Opportunity):
            model.objects.all().delete()


def bench_orgs() -> list[Organization]:
    """The generated organisations, in the order of their index."""
    orgs = Organization.objects.filter(**{f"settings__{MARKER}__index__gte": 1})
    return sorted(orgs, key=lambda o: o.settings[MARKER]["index"])


def generate_opportunities(sizes: Sizes, *, workers: int = 2, log: Log = print) -> dict[str, Any]:
    """Add the opportunities' part of ``sizes`` to the organisations already generated: one
    process per organisation (up to ``workers``), secondary indexes deferred, then one
    set-based UPDATE of the customers per organisation and VACUUM ANALYZE. The report goes into
    each organisation's data-set marker, whose sizes then say what the database holds."""
    orgs = bench_orgs()
    if not orgs:
        raise RuntimeError("no generated organisation to add opportunities to")
    started = time.perf_counter()
    now = timezone.now().replace(microsecond=0)
    if Opportunity.objects.exists():
        log("Removing the opportunities of another size …")
        _clear_opportunities()
    _SHARED.update(
        sizes=sizes,
        opportunities_now=now,
        org_index={o.pk: o.settings[MARKER]["index"] for o in orgs},
    )
    counter = Counter()
    ids = [o.pk for o in orgs]
    t0 = time.perf_counter()
    with deferred_indexes(OPPORTUNITY_TABLES, log=log):
        if workers > 1 and len(ids) > 1 and connection.vendor == "postgresql":
            connections.close_all()  # each process opens its own
            with get_context("fork").Pool(min(workers, len(ids))) as pool:
                built = pool.map(_opportunities_in_worker, ids, chunksize=1)
        else:
            built = [_build_opportunities_of(pk, log=log) for pk in ids]
    load_seconds = time.perf_counter() - t0
    for rows in built:
        for table, n in rows.items():
            counter.add(table, n)
    t0 = time.perf_counter()
    _analyze(OPPORTUNITY_TABLES)  # plans of the UPDATE below need the new tables' statistics
    for pk in ids:
        refresh_customers(pk)
    refresh_seconds = time.perf_counter() - t0
    # the funnel's stays, from the history just loaded: set-based, 20,000 opportunities a batch
    t0 = time.perf_counter()
    n_stays = sum(stays.rebuild(pk) for pk in ids)
    stays_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    _analyze()
    analyze_seconds = time.perf_counter() - t0
    total_seconds = time.perf_counter() - started
    report = {
        "generated_at": now.isoformat(),
        "rows": counter.rows,
        "rows_total": counter.total,
        "seconds": round(total_seconds, 1),
        "load_seconds": round(load_seconds, 1),
        "refresh_customers_seconds": round(refresh_seconds, 1),
        "stage_stays": n_stays,
        "stage_stays_seconds": round(stays_seconds, 1),
        "analyze_seconds": round(analyze_seconds, 1),
        "rows_per_second": round(counter.total / max(load_seconds, 1e-9)),
        "opportunities_per_second": round(sizes.opportunities * len(ids) / max(load_seconds, 1e-9)),
    }
    dataset: dict[str, Any] = {}
    for org in orgs:
        org.refresh_from_db(fields=["settings"])
        marker = dict(org.settings[MARKER])
        # the customers' rows stay as they were; the opportunities' are in their own report
        rows = {k: v for k, v in marker.get("rows", {}).items() if k not in OPPORTUNITY_TABLES}
        # the contracts (if any) went with the opportunities they were signed from
        marker.update(
            sizes={**sizes.as_dict(), **dict.fromkeys(CONTRACT_KEYS, 0)},
            rows=rows,
            opportunities=report,
        )
        marker.pop("contracts", None)
        marker["rows_total"] = sum(rows.values())
        org.settings = {**org.settings, MARKER: marker}
        org.save(update_fields=["settings"])
        dataset = marker
    log(
        f"Opportunities done: {counter.total:,} rows in {total_seconds:.0f} s: load "
        f"{load_seconds:.0f} s ({report['rows_per_second']:,} rows/s, "
        f"{report['opportunities_per_second']:,} opportunities/s with their history, follow-ups "
        f"and plans, indexes included), customers refreshed in {refresh_seconds:.0f} s, "
        f"{n_stays:,} stays per stage built in {stays_seconds:.0f} s, "
        f"VACUUM ANALYZE {analyze_seconds:.0f} s"
    )
    return dataset


def matches(dataset: dict[str, Any] | None, sizes: Sizes) -> bool:
    return opportunities_match(dataset, sizes) and contracts_match(dataset, sizes)


def opportunities_match(dataset: dict[str, Any] | None, sizes: Sizes) -> bool:
    """The data set holds the customers and opportunities of ``sizes`` (whatever its contracts)."""
    return bool(dataset) and _without_contracts(dataset.get("sizes", {})) == _without_contracts(  # type: ignore[union-attr]
        sizes.as_dict()
    )


def contracts_match(dataset: dict[str, Any] | None, sizes: Sizes) -> bool:
    return bool(dataset) and (dataset.get("contracts") or {}).get("count", 0) == sizes.contracts  # type: ignore[union-attr]


def add_contracts(sizes: Sizes, log: Log = print) -> dict[str, Any]:
    """Build the contracts' part of ``sizes`` (``bench.contracts``) on the generated
    organisations and record it in their data-set marker."""
    from bench import contracts

    orgs = bench_orgs()
    report = contracts.generate_contracts(
        [o.pk for o in orgs], sizes.contracts, seed=sizes.seed, log=log
    )
    dataset: dict[str, Any] = {}
    for org in orgs:
        org.refresh_from_db(fields=["settings"])
        marker = dict(org.settings[MARKER])
        marker.update(sizes=sizes.as_dict(), contracts=report)
        org.settings = {**org.settings, MARKER: marker}
        org.save(update_fields=["settings"])
        dataset = marker
    return dataset


def customers_match(dataset: dict[str, Any] | None, sizes: Sizes) -> bool:
    """The data set holds the customers of ``sizes`` (whatever its opportunities)."""
    return bool(dataset) and _customer_part(dataset.get("sizes", {})) == sizes.customer_part()  # type: ignore[union-attr]


def prepare(sizes: Sizes, *, scale: str, reset: bool, if_needed: bool, log: Log = print) -> dict:
    """Make sure crm_bench holds the data set of ``sizes``: build it (on a fresh database) when
    missing, when ``reset``, or when ``if_needed`` and the data present were built with other
    sizes. Returns the data set's report."""
    dataset = current_dataset()
    if dataset and not reset:
        if matches(dataset, sizes):
            log(f"Data set present ({scale}, generated {dataset['generated_at']}): reusing it.")
            return dataset
        if opportunities_match(dataset, sizes):
            log(
                f"Customers and opportunities present (generated {dataset['generated_at']}): "
                f"adding {sizes.contracts:,} contracts per organisation."
            )
            call_command("migrate", verbosity=0, interactive=False)  # tables of newer modules
            return add_contracts(sizes, log=log)
        if customers_match(dataset, sizes):
            log(
                f"Customers present (generated {dataset['generated_at']}): adding "
                f"{sizes.opportunities:,} opportunities per organisation."
            )
            call_command("migrate", verbosity=0, interactive=False)  # tables of newer modules
            generate_opportunities(sizes, log=log)
            return add_contracts(sizes, log=log)
        if not if_needed:
            raise SystemExit(
                "crm_bench holds a data set of other sizes: pass --reset to rebuild it."
            )
    log(f"Creating database {_bench_db_name()} …")
    create_database(drop=True)
    call_command("migrate", verbosity=0, interactive=False)
    report = generate(sizes, scale=scale, log=log)
    if sizes.opportunities > 0:
        report = generate_opportunities(sizes, log=log)
        if sizes.contracts > 0:
            report = add_contracts(sizes, log=log)
    return report


def sizes_from_args(args: argparse.Namespace) -> tuple[Sizes, str]:
    base = SMALL if args.small else FULL
    changes = {
        k: v
        for k, v in {
            "customers": args.org_customers,
            "leads": args.leads,
            "departments": args.departments,
            "users": args.users,
            "orgs": args.orgs,
            "seed": args.seed,
            "opportunities": args.opportunities,
            "followups": args.followups,
            "visit_plans": args.visit_plans,
            "contracts": args.contracts,
        }.items()
        if v is not None
    }
    sizes = Sizes(**{**base.as_dict(), **changes})
    scale = "small" if sizes == SMALL else "full" if sizes == FULL else "custom"
    return sizes, scale


def add_size_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--small",
        action="store_true",
        help="20,000 customers, 10,000 leads, 50,000 opportunities, 150,000 follow-ups, "
        "5,000 contracts",
    )
    parser.add_argument("--org-customers", type=int, help="customers per organisation (300,000)")
    parser.add_argument("--leads", type=int, help="leads per organisation (100,000)")
    parser.add_argument("--departments", type=int, help="departments per organisation (50)")
    parser.add_argument("--users", type=int, help="users per organisation (500)")
    parser.add_argument("--orgs", type=int, help="organisations of the same shape (2)")
    parser.add_argument("--seed", type=int, help="random seed (8)")
    parser.add_argument(
        "--opportunities", type=int, help="opportunities per organisation (1,000,000; 0: none)"
    )
    parser.add_argument("--followups", type=int, help="follow-ups per organisation (3,000,000)")
    parser.add_argument("--visit-plans", type=int, help="visit plans per organisation (100,000)")
    parser.add_argument(
        "--contracts",
        type=int,
        help="contracts per organisation, from won opportunities, with plans and receipts "
        "(100,000; --small 5,000)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__)
    add_size_arguments(parser)
    parser.add_argument("--reset", action="store_true", help="drop and rebuild crm_bench")
    parser.add_argument("--if-needed", action="store_true", help="rebuild only if the sizes differ")
    args = parser.parse_args(argv)
    sizes, scale = sizes_from_args(args)
    prepare(sizes, scale=scale, reset=args.reset, if_needed=args.if_needed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
