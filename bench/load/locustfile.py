"""A working day's mix of reads and writes against a running CRM (issue 8/9, RELIABILITY L1).

Three kinds of users, as many of each as locust spawns (``--users``; weights 6 : 3 : 1): the rep,
the manager and the director that ``bench/load/prepare.py`` picked. The pages are read with
their logged-in session (a browser), the API with their token and no cookie (an integration or
the phone app). What each does, by weight, and the share of requests it makes (RELIABILITY L1
asks for 60 % list, detail and htmx partials, 20 % search, 15 % updates, 5 % creates):

==============================================  ======  =============================
opportunity list (API, 20 a page)                5      reads 64 %
opportunity detail (API)                         2      (with the updates' reads)
board (page)                                     2
executive dashboard (page)                       1
a customer page's later sections (htmx)         1
customer search (API, a two-character term)      4      search 18 %
opportunity update (API, read then PATCH)        3      updates 14 %
follow-up create (API)                           1      creates 4.5 %
==============================================  ======  =============================

Every write is a real one (a follow-up "压测跟进" on one of the actor's opportunities; the
opportunity's key flag toggled). Pacing: each user waits 0.5 – 2 s between tasks, or, with
``LOAD_PACE`` (tasks per second per user), runs at that constant rate, so that ``LOAD_USERS ×
LOAD_PACE × 22/19`` requests per second arrive (L1: 50 req/s). ``CRM_LOAD_CONTEXT`` names the
JSON file ``prepare.py`` wrote. The client is locust's ``FastHttpUser`` (geventhttpclient), so the
load generator, on the same two cores as the server, takes as little of them as it can.
"""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime, timedelta
from http.cookiejar import DefaultCookiePolicy
from typing import Any

from locust import FastHttpUser, between, constant_throughput, task

with open(os.environ["CRM_LOAD_CONTEXT"], encoding="utf-8") as fh:
    CONTEXT: dict[str, Any] = json.load(fh)

PACE = float(os.environ.get("LOAD_PACE") or 0)


class Actor(FastHttpUser):
    abstract = True
    role = ""
    wait_time = constant_throughput(PACE) if PACE else between(0.5, 2.0)

    def on_start(self) -> None:
        me = self.me = CONTEXT["actors"][self.role]
        self.api = {"Authorization": f"Bearer {me['token']}", "Accept-Language": "en"}
        # no cookie jar: the pages send the session themselves, the API calls send none
        self.client.cookiejar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self.page = {"Cookie": f"{me['session_cookie']}={me['session']}"}

    def _opportunity(self) -> tuple[int, int]:
        pk, customer = random.choice(self.me["opportunities"])
        return int(pk), int(customer)

    @task(5)
    def opportunity_list(self) -> None:
        self.client.get(
            "/api/v1/opportunities/?page_size=20", headers=self.api, name="opportunity list"
        )

    @task(2)
    def opportunity_detail(self) -> None:
        pk, _ = self._opportunity()
        self.client.get(f"/api/v1/opportunities/{pk}", headers=self.api, name="opportunity detail")

    @task(4)
    def customer_search(self) -> None:
        term = random.choice(self.me["search_terms"])
        self.client.get(
            "/api/v1/customers/customers",
            params={"q": term, "page_size": 20},
            headers=self.api,
            name="customer search",
        )

    @task(2)
    def board(self) -> None:
        self.client.get("/opportunities/board/", headers=self.page, name="board page")

    @task(1)
    def dashboard(self) -> None:
        self.client.get("/analytics/", headers=self.page, name="dashboard page")

    @task(1)
    def customer_sections(self) -> None:
        _, customer = self._opportunity()
        self.client.get(
            f"/customers/{customer}/sections/?keys=followups,opportunities,contracts",
            headers={**self.page, "HX-Request": "true"},
            name="customer sections (htmx)",
        )

    @task(1)
    def followup_create(self) -> None:
        pk, customer = self._opportunity()
        happened = datetime.now(UTC) - timedelta(minutes=random.randint(1, 120))
        self.client.post(
            "/api/v1/activities/followups",
            json={
                "customer_id": customer,
                "opportunity_id": pk,
                "method": "call",
                "content": "压测跟进",
                "happened_at": happened.isoformat(),
            },
            headers=self.api,
            name="follow-up create",
        )

    @task(3)
    def opportunity_update(self) -> None:
        pk, _ = self._opportunity()
        read = self.client.get(
            f"/api/v1/opportunities/{pk}", headers=self.api, name="opportunity detail"
        )
        if read.status_code != 200:
            return
        body = read.json()
        with self.client.patch(
            f"/api/v1/opportunities/{pk}",
            json={"version": body["version"], "is_key": not body.get("is_key", False)},
            headers=self.api,
            name="opportunity update",
            catch_response=True,
        ) as response:
            if response.status_code == 409:  # another user changed it in between: expected
                response.success()


class Rep(Actor):
    role = "rep"
    weight = 6


class Manager(Actor):
    role = "manager"
    weight = 3


class Director(Actor):
    role = "director"
    weight = 1
