"""The demo organisation 演示科技有限公司, built through the real services (``crm demo``).

Department tree::

    演示科技有限公司
    ├── 总经办
    ├── 销售一部 ── 华东组, 华南组
    ├── 销售二部 ── 华东组, 华南组
    ├── 市场部
    └── 财务部

Twelve people, one or more in every built-in role; all log in with the password
:data:`DEMO_PASSWORD`, by username or by e-mail.

Later modules add their own demo data by registering a builder, e.g. in ``AppConfig.ready()``::

    from crm.org.demo import demo_builder

    @demo_builder
    def demo_customers(org, users):
        ...  # users["rep1"] etc.; call your services with actor=users["admin"] or the owner

A module whose models protect users or departments from deletion (``on_delete=PROTECT``)
registers a cleaner in :data:`DEMO_CLEANERS` that deletes its demo rows first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from crm.core.dbroles import erase_audit_trail

from . import services
from .models import Department, Organization, Role, User
from .permissions import BuiltinRole

DEMO_ORG_NAME = "演示科技有限公司"
DEMO_PASSWORD = "Demo-2026-crm"  # noqa: S105 - published in README.md on purpose
DEMO_EMAIL_DOMAIN = "demo.crm.local"

DemoBuilder = Callable[[Organization, dict[str, User]], None]
DemoCleaner = Callable[[Organization], None]

#: Callables ``fn(org, users)`` run, in order, after the demo people exist. ``users`` maps the
#: demo usernames (``admin``, ``director``, ``manager1``, ``rep1`` … ``rep6``, ``marketing``,
#: ``finance``) to users.
DEMO_BUILDERS: list[DemoBuilder] = []

#: Callables ``fn(org)`` run before the previous demo organisation's users and departments are
#: deleted, for modules whose rows would otherwise block that deletion.
DEMO_CLEANERS: list[DemoCleaner] = []


def demo_builder(fn: DemoBuilder) -> DemoBuilder:
    """Register ``fn`` in :data:`DEMO_BUILDERS` (once); usable as a decorator."""
    if fn not in DEMO_BUILDERS:
        DEMO_BUILDERS.append(fn)
    return fn


# Department keys -> (name, parent key). The root is created with the organisation.
DEPARTMENTS: list[tuple[str, str, str]] = [
    ("office", "总经办", "root"),
    ("sales1", "销售一部", "root"),
    ("sales1_east", "华东组", "sales1"),
    ("sales1_south", "华南组", "sales1"),
    ("sales2", "销售二部", "root"),
    ("sales2_east", "华东组", "sales2"),
    ("sales2_south", "华南组", "sales2"),
    ("marketing", "市场部", "root"),
    ("finance", "财务部", "root"),
]


@dataclass(frozen=True)
class DemoPerson:
    """One demo login: username, Chinese name, e-mail local part, role, department, manager."""

    username: str
    name: str
    email_local: str
    role: str
    department: str
    manager: str | None = None

    @property
    def email(self) -> str:
        return f"{self.email_local}@{DEMO_EMAIL_DOMAIN}"


ADMIN = DemoPerson("admin", "王芳", "wang.fang", BuiltinRole.ADMIN, "office")
PEOPLE: list[DemoPerson] = [
    ADMIN,
    DemoPerson("director", "张伟", "zhang.wei", BuiltinRole.DIRECTOR, "office"),
    DemoPerson("manager1", "李娜", "li.na", BuiltinRole.MANAGER, "sales1", "director"),
    DemoPerson("manager2", "刘洋", "liu.yang", BuiltinRole.MANAGER, "sales2", "director"),
    DemoPerson("rep1", "陈静", "chen.jing", BuiltinRole.REP, "sales1_east", "manager1"),
    DemoPerson("rep2", "杨帆", "yang.fan", BuiltinRole.REP, "sales1_east", "manager1"),
    DemoPerson("rep3", "赵磊", "zhao.lei", BuiltinRole.REP, "sales1_south", "manager1"),
    DemoPerson("rep4", "黄丽", "huang.li", BuiltinRole.REP, "sales2_east", "manager2"),
    DemoPerson("rep5", "周杰", "zhou.jie", BuiltinRole.REP, "sales2_south", "manager2"),
    DemoPerson("rep6", "吴敏", "wu.min", BuiltinRole.REP, "sales2_south", "manager2"),
    DemoPerson("marketing", "徐静怡", "xu.jingyi", BuiltinRole.MARKETING, "marketing"),
    DemoPerson("finance", "孙强", "sun.qiang", BuiltinRole.FINANCE, "finance"),
]

# Department key -> username of its head.
HEADS: dict[str, str] = {
    "root": "director",
    "office": "director",
    "sales1": "manager1",
    "sales1_east": "manager1",
    "sales1_south": "manager1",
    "sales2": "manager2",
    "sales2_east": "manager2",
    "sales2_south": "manager2",
    "marketing": "marketing",
    "finance": "finance",
}


@dataclass
class DemoResult:
    """What :func:`reset_demo` built."""

    org: Organization
    users: dict[str, User] = field(default_factory=dict)
    departments: dict[str, Department] = field(default_factory=dict)


def delete_organization(org: Organization) -> None:
    """Delete ``org`` and everything of it.

    ``User.department`` and ``Department.parent`` are PROTECT, so the order is: registered
    cleaners, the users (and their sessions), the departments deepest first, then the
    organisation (which cascades to every other tenant row).
    """
    for cleaner in DEMO_CLEANERS:
        cleaner(org)
    # The audit trail is append-only on PostgreSQL (core/0008): the organisation's events go
    # first, through the one deletion the trigger allows (owner role only), before deleting the
    # users would try to clear their ``actor``.
    erase_audit_trail(org)
    user_ids = {str(pk) for pk in User.objects.filter(org=org).values_list("pk", flat=True)}
    if user_ids:
        stale = [
            s.pk
            for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
            if str(s.get_decoded().get(SESSION_KEY)) in user_ids
        ]
        Session.objects.filter(pk__in=stale).delete()
    Department.objects.filter(org=org).update(head=None)
    User.objects.filter(org=org).update(manager=None)
    User.objects.filter(org=org).delete()
    departments = list(Department.objects.filter(org=org).only("pk", "path"))
    for dept in sorted(departments, key=lambda d: (d.path.count("/"), d.pk), reverse=True):
        Department.objects.filter(pk=dept.pk).delete()
    org.delete()


def delete_demo_organizations() -> int:
    """Delete every organisation marked ``is_demo``. Returns how many were deleted."""
    orgs = list(Organization.objects.filter(is_demo=True))
    for org in orgs:
        delete_organization(org)
    return len(orgs)


@transaction.atomic
def reset_demo() -> DemoResult:
    """Delete the previous demo organisation and build a fresh one, in one transaction."""
    delete_demo_organizations()
    org, admin = services.create_organization(
        name=DEMO_ORG_NAME,
        admin_email=ADMIN.email,
        admin_password=DEMO_PASSWORD,
        admin_name=ADMIN.name,
        admin_username=ADMIN.username,
        is_demo=True,
    )
    result = DemoResult(org=org, users={ADMIN.username: admin})
    root = admin.department
    assert root is not None
    result.departments["root"] = root
    for key, name, parent in DEPARTMENTS:
        result.departments[key] = services.create_department(
            actor=admin, name=name, parent=result.departments[parent]
        )

    roles = {r.code: r for r in Role.objects.filter(org=org, is_builtin=True)}
    services.update_user(actor=admin, user=admin, department=result.departments[ADMIN.department])
    for n, person in enumerate(PEOPLE, start=1):
        if person.username == ADMIN.username:
            continue
        user, _invite = services.create_user(
            actor=admin,
            username=person.username,
            email=person.email,
            name=person.name,
            department=result.departments[person.department],
            roles=[roles[person.role]],
            password=DEMO_PASSWORD,
            mobile=f"1390000{n:04d}",
            manager=result.users[person.manager] if person.manager else None,
        )
        result.users[person.username] = user

    for key, username in HEADS.items():
        services.update_department(
            actor=admin, department=result.departments[key], head=result.users[username]
        )
    for builder in DEMO_BUILDERS:
        builder(org, result.users)
    return result
