"""The API's shared conventions (R10.1, R11.4): OpenAPI document, authentication on every
operation, one error shape translated by Accept-Language, pagination and sorting."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from openapi_spec_validator import validate

from crm.core.testing.world import World
from tests.scopeapp.models import Memo


@pytest.fixture
def spec(db: None) -> dict:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_openapi_document_is_valid(spec: dict) -> None:
    # R10.1: the published document validates against the OpenAPI specification
    validate(spec)
    assert spec["info"]["title"] == "CRM API"
    assert any(path.startswith("/api/v1/org/") for path in spec["paths"])


def test_every_operation_requires_authentication(spec: dict) -> None:
    # R10.1 R1.1: every operation declares security, and answers 401 without credentials
    client = Client()
    operations = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            operations += 1
            assert op.get("security"), f"{method.upper()} {path} has no security"
            url = path
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    url = url.replace("{" + param["name"] + "}", "1")
            if method == "get":
                response = client.get(url)
            else:
                response = getattr(client, method)(url, data="{}", content_type="application/json")
            assert response.status_code == 401, f"{method.upper()} {path} -> {response.status_code}"
            assert response.json()["code"] == "not_authenticated"
    assert operations >= 20


def test_docs_page_is_served(db: None) -> None:
    # R10.1: /api/docs renders the interactive documentation
    response = Client().get("/api/docs")
    assert response.status_code == 200


def test_a_bad_token_is_refused(world: World) -> None:
    # R1.1: made-up and malformed tokens get 401 with the error shape
    for header in ("Bearer crm_not-a-real-token", "Bearer ", "Basic abc", "Bearer x" * 50):
        r = Client(HTTP_AUTHORIZATION=header).get("/api/v1/org/me")
        assert r.status_code == 401
        assert set(r.json()) == {"code", "message", "errors"}


def test_session_auth_requires_csrf_on_unsafe_methods(world: World) -> None:
    # R1.1 C6: the UI's own session works for reads, but a POST without the CSRF token is refused
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.admin, backend="crm.org.backends.LoginBackend")
    assert client.get("/api/v1/org/me").status_code == 200
    r = client.post(
        "/api/v1/org/departments",
        data=json.dumps({"name": "无CSRF"}),
        content_type="application/json",
    )
    assert r.status_code in (401, 403)
    from crm.org.models import Department

    assert not Department.objects.filter(name="无CSRF").exists()


def test_validation_errors_have_one_shape_in_both_languages(world: World, token_for) -> None:
    # R11.4: the same error in English and in Chinese, by Accept-Language
    token = token_for(world.admin)
    bodies = {}
    for lang in ("en", "zh-hans"):
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE=lang)
        r = client.post(
            "/api/v1/org/departments",
            data=json.dumps({"parent_id": "x"}),
            content_type="application/json",
        )
        assert r.status_code == 422
        bodies[lang] = r.json()
        assert bodies[lang]["code"] == "validation_error"
        fields = {e["field"] for e in bodies[lang]["errors"]}
        assert {"name", "parent_id"} <= fields
    assert bodies["en"]["message"] == "Please correct the errors below."
    assert bodies["zh-hans"]["message"] != bodies["en"]["message"]


def test_domain_errors_are_translated(world: World, token_for) -> None:
    # R11.4: a business-rule error answers 400 with a translated message and field errors
    token = token_for(world.admin)
    for lang, expect in (("en", "A department with this name already exists here."),):
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE=lang)
        r = client.post(
            "/api/v1/org/departments",
            data=json.dumps({"name": "销售一部", "parent_id": world.depts["root"].pk}),
            content_type="application/json",
        )
        assert r.status_code == 400
        assert r.json()["errors"] == [{"field": "name", "message": expect}]


def test_not_json_body_is_a_clear_error(world: World, token_for) -> None:
    # R10.1: a malformed body gets 4xx with the error shape, never a traceback
    client = Client(
        HTTP_AUTHORIZATION=f"Bearer {token_for(world.admin)}", HTTP_ACCEPT_LANGUAGE="en"
    )
    r = client.post("/api/v1/org/departments", data="{not json", content_type="application/json")
    assert 400 <= r.status_code < 500
    assert set(r.json()) == {"code", "message", "errors"}


def test_pagination_and_sorting_convention(world: World, api_client) -> None:
    # R10.1: ?page, ?page_size (≤ 200), ?sort with allowed fields; unknown sort → 400
    for i in range(7):
        Memo.objects.create(org=world.org, title=f"m{i}", owner=world.users["director"])
    client = api_client(world.users["director"])
    r = client.get("/api/v1/test/memos?page=2&page_size=3&sort=-title")
    body = r.json()
    assert r.status_code == 200
    assert (body["count"], body["page"], body["page_size"]) == (7, 2, 3)
    assert [m["title"] for m in body["items"]] == ["m3", "m2", "m1"]
    assert client.get("/api/v1/test/memos?page_size=201").status_code == 422
    assert client.get("/api/v1/test/memos?page=0").status_code == 422
    bad = client.get("/api/v1/test/memos?sort=secret")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "sort"


def test_list_query_count_does_not_grow_with_page_size(
    world: World, api_client, django_assert_max_num_queries
) -> None:
    # R11.2: a list issues a fixed number of queries whatever its page size
    from crm.core.testing.world import make_user

    for i in range(30):
        make_user(world.admin, f"员工{i}", world.depts["east"], [])
    client = api_client(world.admin)
    client.get("/api/v1/org/users?page_size=1")
    with django_assert_max_num_queries(12):
        small = client.get("/api/v1/org/users?page_size=2")
    with django_assert_max_num_queries(12):
        large = client.get("/api/v1/org/users?page_size=40")
    assert len(small.json()["items"]) == 2 and len(large.json()["items"]) == 40


def test_list_count_is_capped_unless_exact_is_asked(world: World, api_client, settings) -> None:
    # R11.2 (issue 8): beyond CRM_LIST_COUNT_CAP a list says "at least the cap" instead of
    # counting every row; ?exact_count=true counts them all; the last page knows the total
    settings.CRM_LIST_COUNT_CAP = 5
    for i in range(7):
        Memo.objects.create(org=world.org, title=f"m{i}", owner=world.users["director"])
    client = api_client(world.users["director"])
    body = client.get("/api/v1/test/memos?page_size=3").json()
    assert (body["count"], body["count_exact"], len(body["items"])) == (5, False, 3)
    body = client.get("/api/v1/test/memos?page_size=3&exact_count=true").json()
    assert (body["count"], body["count_exact"]) == (7, True)
    body = client.get("/api/v1/test/memos?page_size=3&page=3").json()
    assert (body["count"], body["count_exact"], len(body["items"])) == (7, True, 1)
    body = client.get("/api/v1/test/memos?page_size=3&page=9").json()
    assert (body["count"], body["count_exact"], body["items"]) == (5, False, [])
    settings.CRM_LIST_COUNT_CAP = 10
    body = client.get("/api/v1/test/memos?page_size=3").json()
    assert (body["count"], body["count_exact"]) == (7, True)


def test_a_joined_page_reads_ids_first_in_the_same_order(world: World) -> None:
    # issue 8: the deferred join (page ids by the narrow query, then those rows with their
    # relations) answers the same rows in the same order as one joined query
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.core.paging import page_rows

    for i in range(9):
        Memo.objects.create(org=world.org, title=f"m{i % 4}", owner=world.users["director"])
    qs = Memo.objects.filter(org=world.org).select_related("owner").order_by("-title", "pk")
    for offset, size in [(0, 4), (4, 4), (8, 4), (20, 4)]:
        with CaptureQueriesContext(connection) as ctx:
            rows = page_rows(qs, offset, size)
            names = [m.owner.display_name for m in rows]  # the relation came with the rows
        assert [m.pk for m in rows] == [m.pk for m in qs[offset : offset + size]]
        assert len(ctx.captured_queries) == (2 if rows else 1)
        assert "JOIN" not in ctx.captured_queries[0]["sql"].upper()
        assert all(names) and len(names) == len(rows)


def test_list_pages_count_up_to_the_cap(world: World, settings) -> None:
    # R11.2 (issue 8): the list pages' paginator and tab badges count at most the cap and say
    # "5+" beyond it; below the cap they are exact
    from crm.core.paging import CappedPaginator, capped_counts, count_label

    settings.CRM_LIST_COUNT_CAP = 5
    for i in range(7):
        Memo.objects.create(org=world.org, title=f"m{i}", owner=world.users["director"])
    memos = Memo.objects.filter(org=world.org).select_related("owner").order_by("title", "pk")
    paginator = CappedPaginator(memos, 2)
    assert (paginator.count, paginator.count_exact, paginator.count_label) == (5, False, "5+")
    page = paginator.page(2)
    assert [m.title for m in page] == ["m2", "m3"] and page.has_next()
    assert paginator.num_pages == 3  # the pages stop at the cap
    counts = capped_counts(
        {"all": memos, "some": memos.filter(title__in=["m1", "m2"]), "none": memos.none()}, 5
    )
    assert counts == {"all": (5, False), "some": (2, True), "none": (0, True)}
    assert capped_counts({"all": memos}, 0) == {"all": (7, True)}
    assert count_label(12345, True) == "12,345" and count_label(10000, False) == "10,000+"
    settings.CRM_LIST_COUNT_CAP = 100
    exact = CappedPaginator(memos, 2)
    assert (exact.count, exact.count_exact, exact.count_label) == (7, True, "7")
    known = CappedPaginator(memos, 2, known=(40, False))
    assert (known.count, known.count_label) == (40, "40+")
