"""Lists, counts and exports agree with an independent scope oracle over generated worlds
(RELIABILITY A3, release gate 2: 0 mismatches).

Hypothesis generates who owns each customer and opportunity of an organisation and who
collaborates on them (another organisation gets a mirror image). For every person of the world —
own records, own department, department tree, whole organisation, chosen departments, no role —
the API's customer and opportunity lists (every page), their counts, and the customer export are
compared with the oracle below: a plain-Python statement of the data-scope rule of
DESIGN.md/`docs/roles-and-scopes.md`, written without the scoped query layer.

Worlds per run: ``CRM_ORACLE_WORLDS`` (or its older name ``CRM_ORACLE_EXAMPLES``; default 12 in
the fast tier). The long tier is ``make oracle-long`` (300 worlds unless CRM_ORACLE_WORLDS says
otherwise; the nightly tier runs thousands). Each example runs in a savepoint that is rolled back.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.core.scoping import DataScope
from crm.core.testing.world import World, build_world, make_role, make_user
from crm.customers import services as customer_services
from crm.org.models import User
from crm.org.services import create_token
from crm.pipeline import opportunities as opportunity_services

EXAMPLES = int(os.environ.get("CRM_ORACLE_WORLDS") or os.environ.get("CRM_ORACLE_EXAMPLES") or "12")
ACTORS = ["rep_east", "rep_east2", "rep_south", "dept_east", "manager1", "director", "custom"]
OWNERS = ["rep_east", "rep_east2", "rep_south", "rep_sales2", "dept_east", "manager1", "custom"]
_names = itertools.count(1)

pytestmark = pytest.mark.django_db


class Rollback(Exception):
    pass


@dataclass(frozen=True)
class Spec:
    owner: str
    collaborators: tuple[str, ...]


record = st.builds(
    Spec,
    owner=st.sampled_from(OWNERS),
    collaborators=st.lists(st.sampled_from(ACTORS), max_size=2, unique=True).map(tuple),
)
worlds = st.fixed_dictionaries(
    {
        "customers": st.lists(record, min_size=1, max_size=8),
        "opportunities": st.lists(
            st.tuples(st.integers(min_value=0, max_value=7), record), max_size=8
        ),
    }
)


# --- the oracle: the scope rule, stated on plain values ------------------------------------------
def path_of(user: User) -> str:
    return user.department.path if user.department else ""


def sees(actor: User, owner: User, collaborators: list[User], custom_paths: list[str]) -> bool:
    """May ``actor`` (one role, as in the world) see a record of ``owner``?"""
    if actor.org_id != owner.org_id:
        return False
    if actor.pk in {c.pk for c in collaborators}:
        return True
    role = actor.roles.first()
    if role is None:
        return False
    scope = role.data_scope
    if scope == DataScope.ALL:
        return True
    if scope == DataScope.SELF:
        return owner.pk == actor.pk
    if scope == DataScope.DEPT:
        return owner.department_id == actor.department_id
    if scope == DataScope.DEPT_TREE:
        return path_of(owner).startswith(path_of(actor))
    if scope == DataScope.CUSTOM:
        return owner.pk == actor.pk or any(path_of(owner).startswith(p) for p in custom_paths)
    return False


# --- the world ------------------------------------------------------------------------------------
@pytest.fixture
def setup(db: None) -> dict[str, Any]:
    home, other = build_world("甲公司"), build_world("乙公司")
    # The director may export (the export is compared with the oracle too).
    exporter_role = make_role(
        home.admin,
        "导出专员",
        DataScope.DEPT_TREE,
        ["customers:view", "customers:export", "opportunities:view"],
    )
    home.users["exporter"] = make_user(
        home.admin, "一部导出员", home.depts["sales1"], [exporter_role]
    )
    clients = {}
    for key in [*ACTORS, "exporter", "nobody"]:
        raw = create_token(actor=home.users[key], name="oracle")[1]
        clients[key] = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_ACCEPT_LANGUAGE="en")
    custom_paths = [home.depts["south"].path, home.depts["sales2"].path]
    return {"home": home, "other": other, "clients": clients, "custom_paths": custom_paths}


def populate(w: World, example: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    customers = []
    for spec in example["customers"]:
        customer = customer_services.create_customer(
            actor=w.admin,
            owner=w.users[spec.owner],
            data={"name": f"神谕客户{next(_names)}号"},
        )
        if spec.collaborators:
            customer_services.set_collaborators(
                actor=w.admin, customer=customer, users=[w.users[k] for k in spec.collaborators]
            )
        customers.append((customer, spec))
    opportunities = []
    for index, spec in example["opportunities"]:
        customer = customers[index % len(customers)][0]
        opportunity = opportunity_services.create_opportunity(
            actor=w.admin,
            customer=customer,
            owner=w.users[spec.owner],
            data={"name": f"神谕商机{next(_names)}", "expected_amount": "1000"},
            collaborators=[w.users[k] for k in spec.collaborators],
        )
        opportunities.append((opportunity, spec))
    return customers, opportunities


def all_ids(client: Client, url: str) -> tuple[list[int], int]:
    ids: list[int] = []
    page, count = 1, -1
    while True:
        response = client.get(url, {"page": page, "page_size": 3})
        assert response.status_code == 200, response.content
        body = response.json()
        count = body["count"]
        ids += [item["id"] for item in body["items"]]
        if len(ids) >= count or not body["items"]:
            return ids, count
        page += 1


def expected(w: World, rows: list[Any], actor: User, custom_paths: list[str]) -> set[int]:
    return {
        obj.pk
        for obj, spec in rows
        if sees(actor, w.users[spec.owner], [w.users[k] for k in spec.collaborators], custom_paths)
    }


def exported_names(client: Client) -> set[str]:
    response = client.get("/imports/export/customers/", {"format": "csv", "view": "all"})
    assert response.status_code == 200, response.status_code
    text = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(text)))
    return {r[0] for r in rows[1:] if r}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(example=worlds)
def test_lists_counts_and_exports_equal_the_oracle(setup: dict[str, Any], example: Any) -> None:
    # A3: for every actor, list ids, list counts and export rows = the oracle's visible set
    home: World = setup["home"]
    other: World = setup["other"]
    try:
        with transaction.atomic():
            customers, opportunities = populate(home, example)
            populate(other, example)  # the mirror image in another organisation: never visible
            for key in ACTORS:
                actor = home.users[key]
                client = setup["clients"][key]
                want = expected(home, customers, actor, setup["custom_paths"])
                got, count = all_ids(client, "/api/v1/customers/customers")
                generated = {c.pk for c, _spec in customers}
                assert set(got) & generated == want, (key, "customers")
                assert len(got) == len(set(got)) == count, (key, "customer count")
                want = expected(home, opportunities, actor, setup["custom_paths"])
                got, count = all_ids(client, "/api/v1/opportunities/")
                assert set(got) == want, (key, "opportunities")
                assert count == len(want), (key, "opportunity count")
            nobody, _count = all_ids(setup["clients"]["nobody"], "/api/v1/customers/customers")
            assert nobody == []
            exporter = home.users["exporter"]
            want_names = {
                c.name
                for c, spec in customers
                if sees(
                    exporter,
                    home.users[spec.owner],
                    [home.users[k] for k in spec.collaborators],
                    setup["custom_paths"],
                )
            }
            from tests.conftest import login_client

            names = exported_names(login_client(exporter))
            generated_names = {c.name for c, _spec in customers}
            assert names & generated_names == want_names
            raise Rollback
    except Rollback:
        pass
