"""Two-character name search (R3.1 search, R11.2): the bigram lookup finds exactly what a
case-insensitive substring search finds, and on PostgreSQL it is answered by the bigram index."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Q

from crm.core.testing.world import World
from crm.customers.models import Customer
from crm.customers.selectors import search_customers
from tests.customers.test_api import make_customer

NAMES = [
    "上海华信科技有限公司",
    "华信科技（北京）有限公司",
    "北京永诚华信贸易有限公司",  # the pair in the middle
    "深圳市信华电子有限公司",  # the same characters in the other order
    "华X信咨询有限公司",  # the characters apart
    "广州AB实验室",
    "杭州ab软件有限公司",  # a Latin pair in the other case
    "成都A B数据有限公司",
]


@pytest.mark.parametrize("term", ["华信", "信华", "AB", "ab", "有限", "公司", "%_", "司X"])
def test_a_pair_finds_exactly_the_names_holding_it(world: World, term: str) -> None:
    rep = world.users["rep_east"]
    made = [make_customer(world, rep, name) for name in NAMES]
    made[-1].short_name = "华信数据"
    made[-1].save(update_fields=["short_name"])
    want = {
        c.pk
        for c in made
        if term.upper() in c.name.upper() or term.upper() in (c.short_name or "").upper()
    }
    got = set(search_customers(rep, term).values_list("pk", flat=True))
    assert got == want
    # the same as the plain substring condition, on every database
    plain = set(
        Customer.objects.visible_to(rep)
        .filter(Q(name__icontains=term) | Q(short_name__icontains=term))
        .values_list("pk", flat=True)
    )
    assert got == plain


def test_the_pair_condition_uses_the_bigram_index_on_postgresql(world: World) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the bigram index exists on PostgreSQL only; SQLite uses LIKE")
    sql = str(Customer.objects.filter(name__has_pair="华信").query)
    assert "crm_bigrams(UPPER(" in sql
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM customers_customer "
            "WHERE crm_bigrams(UPPER(name)) @> ARRAY[UPPER(%s)]::text[]",
            ["华信"],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "cust_name_bigram" in plan, plan
