"""A working day's mix of reads and writes against a running CRM (issue 8/9, RELIABILITY L).

Three kinds of users, as many of each as locust spawns (``--users``; weights 6 : 3 : 1): the rep,
the manager and the director that ``bench/load/prepare.py`` picked, with their API token (the
API calls) and a logged-in session (the pages). What each does, by weight:

==========================================  ======
opportunity list (API, 20 a page)            5
opportunity detail (API)                     4
customer search (API, a two-character term)  4
board (page)                                 2
executive dashboard (page)                   1
follow-up create (API)                       2
opportunity update (API, read then PATCH)    1
==========================================  ======

``CRM_LOAD_CONTEXT`` names the JSON file ``prepare.py`` wrote. Every write is a real one (a
follow-up "压测跟进" on one of the actor's opportunities; the opportunity's key flag toggled).
"""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from locust import HttpUser, between, task

with open(os.environ["CRM_LOAD_CONTEXT"], encoding="utf-8") as fh:
    CONTEXT: dict[str, Any] = json.load(fh)


class Actor(HttpUser):
    abstract = True
    role = ""
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        me = CONTEXT["actors"][self.role]
        self.me = me
        self.api = {"Authorization": f"Bearer {me['token']}", "Accept-Language": "en"}
        self.client.cookies.set(me["session_cookie"], me["session"])

    def _opportunity(self) -> tuple[int, int]:
        pk, customer = random.choice(self.me["opportunities"])
        return int(pk), int(customer)

    @task(5)
    def opportunity_list(self) -> None:
        self.client.get(
            "/api/v1/opportunities/?page_size=20", headers=self.api, name="opportunity list"
        )

    @task(4)
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
        self.client.get("/opportunities/board/", name="board page")

    @task(1)
    def dashboard(self) -> None:
        self.client.get("/analytics/", name="dashboard page")

    @task(2)
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

    @task(1)
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
