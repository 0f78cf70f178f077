"""Build the benchmark data set: organisations of realistic shape and volume, with bulk inserts.

``python -m bench.generate [--org-customers 300000] [--leads 100000] [--small] [--reset]``
(with ``PYTHONPATH=.`` and ``DJANGO_SETTINGS_MODULE=bench.settings``; ``make bench`` does this).

Each organisation is signed up through the real service (``create_organization``, so its
dictionaries, default public pool and total lead pool exist) and its 50 departments through
``create_department``; the volume (users, customers, contacts, tags, collaborators, creation
events, leads) goes in with ``bulk_create`` in batches. Search columns are filled by the real
helpers (``normalize_name``, ``pinyin_of``, ``phone_digits``), so the search indexes hold what
production would hold. A second organisation of the same shape makes every query prove that it
filters by tenant.

The data are in a steady state: no owned customer is due for return by the pool rules at the
generation time (the 15-minute sweep would already have returned it); ``bench.run`` makes 1 % due
before it times the sweep. The pieces (``build_org``, ``company_names``, ``build_customers`` …)
are usable on their own, which the smoke test does on SQLite with tiny numbers.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from multiprocessing import Pool, get_context
from typing import Any

from bench._django import ensure_django

ensure_django()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, models  # noqa: E402
from django.utils import timezone  # noqa: E402

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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FULL = Sizes()
SMALL = Sizes(customers=20_000, leads=10_000)


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


# --- The database ---------------------------------------------------------------------------------
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


def _analyze() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


VOLUME_TABLES = ["customers_customer", "customers_contact", "core_event", "leads_lead"]


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
        "sizes": sizes.as_dict(),
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


def matches(dataset: dict[str, Any] | None, sizes: Sizes) -> bool:
    return bool(dataset) and dataset.get("sizes") == sizes.as_dict()  # type: ignore[union-attr]


def prepare(sizes: Sizes, *, scale: str, reset: bool, if_needed: bool, log: Log = print) -> dict:
    """Make sure crm_bench holds the data set of ``sizes``: build it (on a fresh database) when
    missing, when ``reset``, or when ``if_needed`` and the data present were built with other
    sizes. Returns the data set's report."""
    dataset = current_dataset()
    if dataset and not reset:
        if matches(dataset, sizes):
            log(f"Data set present ({scale}, generated {dataset['generated_at']}): reusing it.")
            return dataset
        if not if_needed:
            raise SystemExit(
                "crm_bench holds a data set of other sizes: pass --reset to rebuild it."
            )
    log(f"Creating database {_bench_db_name()} …")
    create_database(drop=True)
    call_command("migrate", verbosity=0, interactive=False)
    return generate(sizes, scale=scale, log=log)


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
        }.items()
        if v is not None
    }
    sizes = Sizes(**{**base.as_dict(), **changes})
    scale = "small" if sizes == SMALL else "full" if sizes == FULL else "custom"
    return sizes, scale


def add_size_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--small", action="store_true", help="20,000 customers, 10,000 leads")
    parser.add_argument("--org-customers", type=int, help="customers per organisation (300,000)")
    parser.add_argument("--leads", type=int, help="leads per organisation (100,000)")
    parser.add_argument("--departments", type=int, help="departments per organisation (50)")
    parser.add_argument("--users", type=int, help="users per organisation (500)")
    parser.add_argument("--orgs", type=int, help="organisations of the same shape (2)")
    parser.add_argument("--seed", type=int, help="random seed (8)")


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
