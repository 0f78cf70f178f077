"""An htmx request whose session has ended (crm.core.middleware.HtmxLoginMiddleware): the
window goes to the login page and comes back to the page the user was on, instead of the login
page being swapped into a card (R1.1, RELIABILITY D: idle expiry)."""

from __future__ import annotations

from django.test import Client

from crm.core.testing.world import World
from tests.conftest import login_client
from tests.pipeline.test_page_views import customer_of

HTMX = {"HX-Request": "true"}


def test_a_section_fetch_after_the_session_ended_redirects_the_window(world: World) -> None:
    customer = customer_of(world)
    url = f"/customers/{customer.pk}/sections/?keys=followups"
    anonymous = Client()
    response = anonymous.get(
        url, headers={**HTMX, "HX-Current-URL": f"http://testserver/customers/{customer.pk}/"}
    )
    assert response.status_code == 401
    assert response["HX-Redirect"] == f"/login/?next=%2Fcustomers%2F{customer.pk}%2F"
    assert response.content == b""  # nothing to swap into the card


def test_a_foreign_current_url_is_not_a_place_to_return_to(world: World) -> None:
    customer = customer_of(world)
    response = Client().get(
        f"/customers/{customer.pk}/sections/?keys=followups",
        headers={**HTMX, "HX-Current-URL": "https://evil.example/phish"},
    )
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/login/?next=%2F"


def test_plain_requests_and_other_redirects_are_untouched(world: World) -> None:
    customer = customer_of(world)
    plain = Client().get(f"/customers/{customer.pk}/")
    assert plain.status_code == 302 and plain["Location"].startswith("/login/")
    # a logged-in htmx request is answered as before
    client = login_client(world.users["rep_east"])
    page = client.get(f"/customers/{customer.pk}/sections/?keys=followups", headers=HTMX)
    assert page.status_code == 200 and "HX-Redirect" not in page
