"""Record pages fetch their later sections after the page (crm.core.record_sections; issue 8,
R11.2: no request issues more than 15 queries): the placeholders name the sections, each
section request answers what the page used to render, and checks the record's scope again."""

from __future__ import annotations

import html
import re

from django.test import Client

from crm.core.record_sections import PER_REQUEST
from crm.core.registry import record_sections
from crm.core.testing.world import World, build_world
from tests.conftest import login_client
from tests.pipeline.test_page_views import customer_of, fresh, opportunity_of

SECTION_URL = re.compile(r'hx-get="([^"]*/sections/\?keys=[^"]+)"')


def _fetched(client: Client, page_url: str) -> tuple[str, list[str], str]:
    """The page, its section URLs and everything they answered."""
    page = client.get(page_url)
    assert page.status_code == 200
    text = page.content.decode()
    urls = [html.unescape(u) for u in SECTION_URL.findall(text)]
    parts = []
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        parts.append(response.content.decode())
    return text, urls, "".join(parts)


def test_the_360_page_fetches_every_later_section(world: World) -> None:
    # R3.1 R11.2: the contacts come with the page; follow-ups, comments, history… right after
    customer = customer_of(world)
    page, urls, sections = _fetched(
        login_client(fresh(world.users["rep_east"])), f"/customers/{customer.pk}/"
    )
    registered = [s.key for s in record_sections["customers.customer"]]
    assert 'data-section="contacts"' in page and "王经理" in page
    asked = [k for url in urls for k in url.split("keys=")[1].replace("%2C", ",").split(",")]
    assert asked == registered[2:]  # every other section, in order, once
    assert all(len(url.split("%2C")) <= PER_REQUEST for url in urls)
    assert 'data-section="followups"' in sections and 'data-section="history"' in sections
    assert "<html" not in sections  # fragments, not pages


def test_the_opportunity_page_fetches_its_sections(world: World) -> None:
    # R4.2 R11.2
    customer = customer_of(world)
    deal = opportunity_of(world, customer)
    page, urls, sections = _fetched(
        login_client(fresh(world.users["rep_east"])), f"/opportunities/{deal.pk}/"
    )
    assert "智慧园区一期" in page and urls
    assert 'data-section="followups"' in sections


def test_section_requests_check_the_scope_like_the_page(world: World) -> None:
    # R1.2 A1: out of scope and another tenant answer 404 like a missing record; no section
    customer = customer_of(world)
    deal = opportunity_of(world, customer)
    keys = "followups,comments,history"
    for url in (
        f"/customers/{customer.pk}/sections/?keys={keys}",
        f"/opportunities/{deal.pk}/sections/?keys={keys}",
    ):
        assert login_client(fresh(world.users["rep_east"])).get(url).status_code == 200
        assert login_client(fresh(world.users["rep_south"])).get(url).status_code == 404
        other = build_world("另一家分区公司")
        assert login_client(fresh(other.users["director"])).get(url).status_code == 404
        assert Client().get(url).status_code == 302  # to the login page


def test_unknown_and_surplus_keys_are_ignored(world: World) -> None:
    customer = customer_of(world)
    client = login_client(fresh(world.users["rep_east"]))
    empty = client.get(f"/customers/{customer.pk}/sections/?keys=nothing,../../etc")
    assert empty.status_code == 200 and b"data-section" not in empty.content
    many = ",".join(s.key for s in record_sections["customers.customer"])
    answered = client.get(f"/customers/{customer.pk}/sections/?keys={many}").content.decode()
    assert answered.count("data-section=") <= PER_REQUEST


def test_links_in_a_later_section_return_to_the_record_page(world: World) -> None:
    # R5.3 R11.2: "record a follow-up" in a section fetched after the page comes back to the
    # page, not to the section fragment (a phone user once landed on a bare fragment)
    customer = customer_of(world)
    deal = opportunity_of(world, customer)
    client = login_client(fresh(world.users["rep_east"]))
    for page_url in (f"/customers/{customer.pk}/", f"/opportunities/{deal.pk}/"):
        _, _, sections = _fetched(client, page_url)
        nexts = [html.unescape(n) for n in re.findall(r"[?&](?:amp;)?next=([^\"&]+)", sections)]
        assert nexts, page_url
        for value in nexts:
            back = value.replace("%2F", "/").replace("%23", "#")
            assert back.startswith(page_url + "#section-"), (page_url, back)
            assert "sections" not in back
