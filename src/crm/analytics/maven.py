"""Load the Maven Analytics "CRM + Sales + Opportunities" data set into an organisation.

``crm load-maven PATH`` (``load_maven``) reads the five CSV files of ``PATH`` and builds, in one
transaction, an organisation (default "Maven Tech", found again by its import slug, so a second
run reuses it and adds nothing):

- ``sales_teams`` → a department tree root → regional office (Central, East, West) → one
  department per manager, named after the manager and headed by them; managers get the built-in
  manager role (their team and below), agents the rep role, both with a login; a director
  (``<slug>.director``, all data) and the organisation's administrator (``<slug>.admin``);
- ``accounts`` → customers (sector → the industry list, office_location → region,
  subsidiary_of → parent customer; revenue, employees and year established in custom data),
  owned by the agent with most deals on the account;
- ``products`` → the product catalogue (code and name = product, series → category,
  sales_price → list price);
- ``sales_pipeline`` → opportunities of a pipeline "Maven" with the stages Prospecting and
  Engaging (open), Won and Lost, one product line each, and their stage history.

Organisations, departments, users, dictionary items, customers, products and the pipeline go
through the services (they are few). The 8,800 opportunities, their lines and stage history are
written with ``bulk_create`` keeping the invariants of ``crm.pipeline.opportunities``: one open
stage-history row per opportunity, ``stage_entered_at`` = the entry of the current stage, won
and lost status with close date and ``closed_at``, deadlines derived by ``derive_deadlines``
(none for closed deals), the customers' open-opportunity count and last won deal refreshed.

Every quirk met is counted and reported (:class:`Report`), never fixed silently.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from crm.core.errors import ValidationFailed
from crm.org import services as org_services
from crm.org.models import Department, Organization, Role, User
from crm.org.permissions import BuiltinRole

from . import stays

DEFAULT_SLUG = "maven"
DEFAULT_NAME = "Maven Tech"
DEFAULT_PASSWORD = "Maven-2026-crm"  # noqa: S105 - demo logins, published in docs/maven.md
PIPELINE_NAME = "Maven"
FILES = ("sales_teams.csv", "accounts.csv", "products.csv", "sales_pipeline.csv")
#: Settings key of the organisation that records which import built it.
SLUG_KEY = "maven_slug"
#: Custom-data key of an opportunity holding its ``opportunity_id``.
ID_KEY = "maven_id"
#: The stages of the Maven pipeline: (name, kind, default win probability).
STAGES = [
    ("Prospecting", "open", 10),
    ("Engaging", "open", 50),
    ("Won", "won", 100),
    ("Lost", "lost", 0),
]
#: Maven sectors → values of the default industry list. Other sectors become new items.
SECTOR_INDUSTRY = {
    "technolgy": "it",
    "technology": "it",
    "software": "it",
    "medical": "healthcare",
    "retail": "retail",
    "finance": "finance",
    "telecommunications": "telecom",
}
#: Name of the placeholder customer of an agent's deals without an account.
PLACEHOLDER = "[Maven] No account – {agent}"
LOSS_REASON = "other"
BATCH = 1000


class MavenError(Exception):
    """The files cannot be loaded (missing file or column)."""


@dataclass
class Report:
    """What a load did: rows created and reused per table, and every quirk with its count."""

    org: Organization | None = None
    created: Counter[str] = field(default_factory=Counter)
    reused: Counter[str] = field(default_factory=Counter)
    quirks: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def quirk(self, key: str, count: int, note: str) -> None:
        self.quirks[key] = count
        self.notes[key] = note

    def lines(self) -> list[str]:
        org = self.org
        out = [f"Organisation: {org.name if org else '-'} (id {org.pk if org else '-'})"]
        for table in sorted(set(self.created) | set(self.reused)):
            out.append(
                f"  {table}: {self.created[table]} created, {self.reused[table]} already there"
            )
        out.append("Quirks:")
        for key, count in self.quirks.items():
            out.append(f"  {key}: {count} — {self.notes[key]}")
        return out


# --- reading -------------------------------------------------------------------------------------


def read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise MavenError(f"Missing file: {path}")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise MavenError(f"{path.name}: missing columns {', '.join(missing)}")
        return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


@dataclass
class MavenData:
    teams: list[dict[str, str]]
    accounts: list[dict[str, str]]
    products: list[dict[str, str]]
    deals: list[dict[str, str]]


def read(folder: Path | str) -> MavenData:
    folder = Path(folder)
    return MavenData(
        teams=read_csv(folder / "sales_teams.csv", ("sales_agent", "manager", "regional_office")),
        accounts=read_csv(
            folder / "accounts.csv",
            ("account", "sector", "revenue", "employees", "office_location", "subsidiary_of"),
        ),
        products=read_csv(folder / "products.csv", ("product", "series", "sales_price")),
        deals=read_csv(
            folder / "sales_pipeline.csv",
            (
                "opportunity_id",
                "sales_agent",
                "product",
                "account",
                "deal_stage",
                "engage_date",
                "close_date",
                "close_value",
            ),
        ),
    )


def product_key(name: str) -> str:
    """Names compared without case and spaces: "GTXPro" and "GTX Pro" are one product."""
    return re.sub(r"\s+", "", name).lower()


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _amount(value: str) -> Decimal | None:
    try:
        return Decimal(value).quantize(Decimal("0.01")) if value else None
    except InvalidOperation:
        return None


def _username(slug: str, name: str) -> str:
    return f"{slug}.{slugify(name) or 'user'}"[:150]


def _email(slug: str, name: str) -> str:
    return f"{slugify(name) or 'user'}@{slug}.crm.local"


# --- loading -------------------------------------------------------------------------------------


class _Loader:
    def __init__(self, data: MavenData, slug: str, name: str, password: str) -> None:
        self.data = data
        self.slug = slug
        self.name = name
        self.password = password
        self.report = Report()
        self.now = timezone.now()

    # organisation and people -------------------------------------------------------------------
    def organisation(self) -> tuple[Organization, User]:
        org = Organization.objects.filter(**{f"settings__{SLUG_KEY}": self.slug}).first()
        admin_username = f"{self.slug}.admin"
        if org is not None:
            self.report.reused["organisation"] += 1
            admin = User.objects.get(org=org, username=admin_username)
            return org, admin
        org, admin = org_services.create_organization(
            name=self.name,
            admin_email=f"admin@{self.slug}.crm.local",
            admin_password=self.password,
            admin_name=f"{self.name} Admin",
            admin_username=admin_username,
        )
        org.settings = {**(org.settings or {}), SLUG_KEY: self.slug}
        org.save(update_fields=["settings"])
        self.report.created["organisation"] += 1
        return org, admin

    def department(self, name: str, parent: Department) -> Department:
        dept = Department.objects.filter(org=self.org, parent=parent, name=name).first()
        if dept is not None:
            self.report.reused["department"] += 1
            return dept
        self.report.created["department"] += 1
        return org_services.create_department(actor=self.admin, name=name, parent=parent)

    def user(
        self,
        name: str,
        role: str,
        department: Department,
        manager: User | None = None,
        key: str = "",
    ) -> User:
        username = _username(self.slug, key or name)
        user = User.objects.filter(org=self.org, username=username).first()
        if user is not None:
            self.report.reused["user"] += 1
            return user
        user, _invite = org_services.create_user(
            actor=self.admin,
            username=username,
            email=_email(self.slug, key or name),
            name=name,
            department=department,
            roles=[self.roles[role]],
            password=self.password,
            manager=manager,
        )
        self.report.created["user"] += 1
        return user

    def people(self) -> None:
        root = self.admin.department
        assert root is not None
        self.roles = {r.code: r for r in Role.objects.filter(org=self.org, is_builtin=True)}
        director = self.user(f"{self.name} Director", BuiltinRole.DIRECTOR, root, key="director")
        self.director = director
        self.agents: dict[str, User] = {}
        self.managers: dict[str, User] = {}
        offices: dict[str, Department] = {}
        teams: dict[str, Department] = {}
        for row in self.data.teams:
            office_name, manager_name = row["regional_office"], row["manager"]
            if office_name not in offices:
                offices[office_name] = self.department(office_name, root)
            if manager_name not in teams:
                team = self.department(manager_name, offices[office_name])
                teams[manager_name] = team
                manager = self.user(manager_name, BuiltinRole.MANAGER, team, director)
                self.managers[manager_name] = manager
                if team.head_id != manager.pk:
                    org_services.update_department(actor=self.admin, department=team, head=manager)
            self.agents[row["sales_agent"]] = self.user(
                row["sales_agent"],
                BuiltinRole.REP,
                teams[manager_name],
                self.managers[manager_name],
            )

    # dictionaries, customers and products ---------------------------------------------------------
    def industries(self) -> dict[str, str]:
        from crm.pipeline import dictionaries
        from crm.pipeline.models import DictionaryItem, DictionaryKind
        from crm.pipeline.services import add_dictionary_item

        result: dict[str, str] = {}
        for sector in sorted({a["sector"] for a in self.data.accounts if a["sector"]}):
            value = SECTOR_INDUSTRY.get(sector.lower(), "")
            if value and dictionaries.is_valid(self.org.pk, DictionaryKind.INDUSTRY, value):
                result[sector] = value
                continue
            value = f"maven_{slugify(sector).replace('-', '_')}"[:60]
            if not DictionaryItem.objects.filter(
                org=self.org, kind=DictionaryKind.INDUSTRY, value=value
            ).exists():
                add_dictionary_item(
                    actor=self.admin,
                    kind=DictionaryKind.INDUSTRY,
                    label=sector.capitalize(),
                    value=value,
                )
                self.report.created["industry"] += 1
            result[sector] = value
        return result

    def customers(self) -> None:
        from crm.customers.models import Customer
        from crm.customers.services import create_customer

        industry = self.industries()
        deals_by_account: dict[str, Counter[str]] = defaultdict(Counter)
        for deal in self.data.deals:
            if deal["account"]:
                deals_by_account[deal["account"]][deal["sales_agent"]] += 1
        existing = {
            c.name: c for c in Customer.objects.filter(org=self.org, merged_into__isnull=True)
        }
        self.customers_by_name: dict[str, Any] = {}
        by_name = {a["account"]: a for a in self.data.accounts}
        # parents before their subsidiaries
        pending = list(self.data.accounts)
        ordered: list[dict[str, str]] = []
        placed: set[str] = set()
        while pending:
            ready = [
                a
                for a in pending
                if not a["subsidiary_of"]
                or a["subsidiary_of"] in placed
                or a["subsidiary_of"] not in by_name
            ]
            if not ready:  # a cycle: load the rest without parents
                ready = pending
            ordered += ready
            placed |= {a["account"] for a in ready}
            pending = [a for a in pending if a["account"] not in placed]
        unknown_parents = 0
        custom_updates = []
        for account in ordered:
            name = account["account"]
            if name in existing:
                self.customers_by_name[name] = existing[name]
                self.report.reused["customer"] += 1
                continue
            counts = deals_by_account.get(name)
            if counts:
                agent = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
                owner = self.agents.get(agent, self.director)
            else:
                owner = self.director
            parent = self.customers_by_name.get(account["subsidiary_of"])
            if account["subsidiary_of"] and parent is None:
                unknown_parents += 1
            customer = create_customer(
                actor=self.admin,
                data={
                    "name": name,
                    "industry": industry.get(account["sector"], ""),
                    "region": account["office_location"],
                    "source": "import",
                },
                owner=owner,
                parent=parent,
                allow_duplicate=True,
            )
            customer.custom = {
                "maven_sector": account["sector"],
                "revenue_musd": account["revenue"],
                "employees": account["employees"],
                "year_established": account.get("year_established", ""),
            }
            custom_updates.append(customer)
            self.customers_by_name[name] = customer
            self.report.created["customer"] += 1
        Customer.objects.bulk_update(custom_updates, ["custom"])
        self.report.quirk(
            "sector_typo_technolgy",
            sum(1 for a in self.data.accounts if a["sector"] == "technolgy"),
            "accounts with sector 'technolgy' (typo), loaded as industry 'it'",
        )
        if unknown_parents:
            self.report.quirk(
                "unknown_parent_account", unknown_parents, "subsidiary_of names no account"
            )
        # one placeholder customer per agent with deals without an account
        blank_by_agent = Counter(d["sales_agent"] for d in self.data.deals if not d["account"])
        self.placeholders: dict[str, Any] = {}
        for agent_name in sorted(blank_by_agent):
            rep = self.agents.get(agent_name)
            if rep is None:
                continue
            name = PLACEHOLDER.format(agent=agent_name)
            placeholder = existing.get(name)
            if placeholder is None:
                placeholder = create_customer(
                    actor=self.admin,
                    data={"name": name, "source": "import"},
                    owner=rep,
                    allow_duplicate=True,
                )
                self.report.created["customer"] += 1
            else:
                self.report.reused["customer"] += 1
            self.placeholders[agent_name] = placeholder
        blank = sum(blank_by_agent.values())
        self.report.quirk(
            "blank_account",
            blank,
            f"open deals without an account, attached to {len(self.placeholders)} placeholder "
            "customers '[Maven] No account – <agent>' (one per agent)",
        )

    def products(self) -> None:
        from crm.sales.models import Product
        from crm.sales.product_services import create_product

        existing = {p.code: p for p in Product.objects.filter(org=self.org)}
        self.products_by_key: dict[str, tuple[str, Decimal]] = {}
        for row in self.data.products:
            price = _amount(row["sales_price"]) or Decimal("0.00")
            if row["product"] in existing:
                self.report.reused["product"] += 1
            else:
                create_product(
                    actor=self.admin,
                    data={
                        "code": row["product"],
                        "name": row["product"],
                        "category": row["series"],
                        "list_price": str(price),
                        "unit": "",
                    },
                )
                self.report.created["product"] += 1
            self.products_by_key[product_key(row["product"])] = (row["product"], price)

    # pipeline and opportunities -------------------------------------------------------------------
    def pipeline(self) -> None:
        from crm.pipeline.models import Pipeline, Stage
        from crm.pipeline.services import add_stage, save_pipeline, update_stage

        pipeline = Pipeline.objects.filter(org=self.org, name=PIPELINE_NAME).first()
        if pipeline is None:
            pipeline = save_pipeline(
                actor=self.admin,
                data={
                    "name": PIPELINE_NAME,
                    "description": "Maven Analytics CRM data set (sales_pipeline.csv)",
                },
            )
            closing = {
                s.kind: s for s in Stage.objects.filter(pipeline=pipeline, parent__isnull=True)
            }
            for name, kind, probability in STAGES:
                if kind == "open":
                    add_stage(
                        actor=self.admin,
                        pipeline=pipeline,
                        data={"name": name, "kind": kind, "default_probability": probability},
                    )
                else:
                    update_stage(actor=self.admin, stage=closing[kind], data={"name": name})
            self.report.created["pipeline"] += 1
        else:
            self.report.reused["pipeline"] += 1
        self.pipeline_obj = pipeline
        stages = {
            s.name: s
            for s in Stage.objects.filter(pipeline=pipeline, parent__isnull=True, is_active=True)
        }
        missing = [n for n, _k, _p in STAGES if n not in stages]
        if missing:
            raise MavenError(f"The pipeline {PIPELINE_NAME} has no stage {', '.join(missing)}")
        self.stages = stages

    def loss_reason(self) -> str:
        from crm.pipeline import dictionaries
        from crm.pipeline.models import DictionaryKind
        from crm.pipeline.services import add_dictionary_item

        if dictionaries.is_valid(self.org.pk, DictionaryKind.LOSS_REASON, LOSS_REASON):
            return LOSS_REASON
        item = add_dictionary_item(
            actor=self.admin, kind=DictionaryKind.LOSS_REASON, label="Unknown", value="unknown"
        )
        return item.value

    def opportunities(self) -> None:
        from crm.pipeline.choices import OpportunityStatus
        from crm.pipeline.models import Opportunity, OpportunityLine, StageHistory
        from crm.pipeline.opportunities import derive_deadlines, refresh_customer

        existing = set(
            Opportunity.objects.filter(org=self.org, pipeline=self.pipeline_obj).values_list(
                f"custom__{ID_KEY}", flat=True
            )
        )
        reason = self.loss_reason()
        org_id = self.org.pk
        currency = self.org.currency or "CNY"
        from crm.pipeline import dictionaries
        from crm.pipeline.models import DictionaryKind

        cycle = "7d" if dictionaries.is_valid(org_id, DictionaryKind.FEEDBACK_CYCLE, "7d") else ""
        quirks: Counter[str] = Counter()
        alias_pairs: Counter[tuple[str, str]] = Counter()
        new: list[tuple[Opportunity, list[tuple[Any, datetime, datetime | None]], str]] = []
        seen: set[str] = set()
        for deal in self.data.deals:
            oid = deal["opportunity_id"]
            if not oid or oid in seen:
                quirks["duplicate_or_blank_id"] += 1
                continue
            seen.add(oid)
            product = self.products_by_key.get(product_key(deal["product"]))
            if product is not None and product[0] != deal["product"]:
                alias_pairs[(deal["product"], product[0])] += 1
            if oid in existing:
                self.report.reused["opportunity"] += 1
                continue
            agent = self.agents.get(deal["sales_agent"])
            stage_name = deal["deal_stage"]
            if agent is None:
                quirks["unknown_agent"] += 1
                continue
            if product is None:
                quirks["unknown_product"] += 1
                continue
            if stage_name not in self.stages:
                quirks["unknown_stage"] += 1
                continue
            product_name, price = product
            if deal["account"]:
                customer = self.customers_by_name.get(deal["account"])
                if customer is None:
                    quirks["unknown_account"] += 1
                    continue
            else:
                customer = self.placeholders[deal["sales_agent"]]
            engaged, closed_day = _day(deal["engage_date"]), _day(deal["close_date"])
            value = _amount(deal["close_value"])
            stage = self.stages[stage_name]
            history: list[tuple[Any, datetime, datetime | None]] = []
            opp = Opportunity(
                org_id=org_id,
                created_by=self.admin,
                customer=customer,
                pipeline=self.pipeline_obj,
                stage=stage,
                owner=agent,
                source="import",
                currency=currency,
                feedback_cycle=cycle,
                probability=stage.default_probability,
                custom={ID_KEY: oid},
                created_at=self.now,
            )
            if stage.kind == "open":
                if stage_name == "Prospecting" or engaged is None:
                    if engaged is None:
                        quirks["open_without_engage_date"] += 1
                    entered = self.now
                else:
                    entered = _at(engaged)
                history.append((stage, entered, None))
                opp.status = OpportunityStatus.CONTINUE
                opp.expected_amount = price
                if deal["close_date"] or deal["close_value"]:
                    quirks["open_with_close_data"] += 1
            else:
                if closed_day is None:
                    quirks["closed_without_close_date"] += 1
                    continue
                closed = _at(closed_day)
                if engaged is None:
                    quirks["closed_without_engage_date"] += 1
                elif engaged > closed_day:
                    quirks["closed_before_engaged"] += 1
                else:
                    history.append((self.stages["Engaging"], _at(engaged), closed))
                history.append((stage, closed, None))
                entered = closed
                opp.closed_at = closed
                opp.actual_close_date = closed_day
                opp.expected_close_date = closed_day
                if stage.kind == "won":
                    if value is None:
                        quirks["won_without_value"] += 1
                        continue
                    opp.status = OpportunityStatus.WON
                    opp.actual_amount = value
                    opp.expected_amount = value
                    opp.probability = 100
                else:
                    opp.status = OpportunityStatus.LOST
                    opp.loss_reason = reason
                    opp.expected_amount = price
                    opp.probability = 0
                    if value == 0:
                        quirks["lost_with_value_0"] += 1
                    elif value:
                        quirks["lost_with_value"] += 1
            opp.stage_entered_at = entered
            opp.name = f"{deal['account'] or '—'} · {product_name} ({oid})"[:200]
            derive_deadlines(opp, stage)
            new.append((opp, history, product_name))

        for start in range(0, len(new), BATCH):
            chunk = new[start : start + BATCH]
            Opportunity.objects.bulk_create([o for o, _h, _p in chunk])
            lines, rows = [], []
            for opp, history, product_name in chunk:
                amount = opp.expected_amount or Decimal("0.00")
                lines.append(
                    OpportunityLine(
                        org_id=org_id,
                        opportunity=opp,
                        sort_order=1,
                        product=product_name,
                        quantity=Decimal("1.00"),
                        unit_price=amount,
                        amount=amount,
                    )
                )
                for stage, entered, left in history:
                    rows.append(
                        StageHistory(
                            org_id=org_id,
                            opportunity=opp,
                            pipeline=self.pipeline_obj,
                            stage=stage,
                            person=opp.owner,
                            entered_at=entered,
                            left_at=left,
                            note="Maven import",
                        )
                    )
            OpportunityLine.objects.bulk_create(lines)
            StageHistory.objects.bulk_create(rows)
            stays.refresh_for(org_id, [o.pk for o, _h, _p in chunk])
        self.report.created["opportunity"] += len(new)
        touched = {o.customer_id for o, _h, _p in new}
        for customer_id in sorted(touched):
            refresh_customer(customer_id)
        if touched:
            from crm.customers.models import Customer

            Customer.objects.filter(
                pk__in=Opportunity.objects.filter(
                    org=self.org, status=OpportunityStatus.WON, customer_id__in=touched
                ).values("customer_id")
            ).update(is_new=False)

        deals = self.data.deals
        for (raw, canonical), count in sorted(alias_pairs.items()):
            self.report.quirk(
                f"product_alias:{raw}",
                count,
                f"sales_pipeline says '{raw}' where products.csv says '{canonical}'",
            )
        self.report.quirk(
            "blank_engage_date",
            sum(1 for d in deals if not d["engage_date"]),
            "deals without engage_date (Prospecting): stage entered at the load time",
        )
        self.report.quirk(
            "open_without_close",
            sum(1 for d in deals if not d["close_date"] and not d["close_value"]),
            "open deals with blank close_date and close_value (expected)",
        )
        self.report.quirk(
            "lost_value_0",
            sum(1 for d in deals if d["deal_stage"] == "Lost" and _amount(d["close_value"]) == 0),
            "lost deals with close_value 0: no actual amount, expected = list price",
        )
        dealt = {d["sales_agent"] for d in deals}
        idle = sorted(a for a in self.agents if a not in dealt)
        self.report.quirk(
            "agents_without_deals",
            len(idle),
            "agents of sales_teams.csv without a deal (users created): " + ", ".join(idle),
        )
        for key, count in sorted(quirks.items()):
            if key not in ("open_without_engage_date", "lost_with_value_0"):
                self.report.quirk(key, count, "rows skipped or kept as noted")

    def run(self) -> Report:
        with transaction.atomic():
            self.org, self.admin = self.organisation()
            self.report.org = self.org
            with timezone.override(self.org.time_zone):
                self.people()
                self.customers()
                self.products()
                self.pipeline()
                self.opportunities()
                if self.report.created:
                    from crm.core import audit

                    audit.record(
                        actor=self.admin,
                        obj=self.org,
                        verb="maven.loaded",
                        org_id=self.org.pk,
                        data={"created": dict(self.report.created), "quirks": self.report.quirks},
                    )
        return self.report


def _at(day: date) -> datetime:
    """Midnight of ``day`` in the current (the organisation's) time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def load(
    folder: Path | str,
    *,
    slug: str = DEFAULT_SLUG,
    name: str = DEFAULT_NAME,
    password: str = DEFAULT_PASSWORD,
) -> Report:
    """Load the Maven CSV files of ``folder`` (see the module docstring). Raises MavenError for
    missing files or columns, ValidationFailed for a bad slug or password."""
    slug = (slug or "").strip().lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", slug):
        raise ValidationFailed(field_errors={"org": ["Use lowercase letters, digits and '-'."]})
    return _Loader(read(folder), slug, name, password).run()
