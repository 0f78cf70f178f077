"""Reusable contract suites that every API resource subclasses (STYLE.md §2.8, RELIABILITY A1/A2).

A resource declares how to make a record owned by a given user and its URLs; the suite proves:
anonymous → 401; a user without the module permission sees nothing; another tenant and an
out-of-scope colleague get 404 on read and on every write, and nothing changes; the owner and
in-scope colleagues can read; the list never contains records outside the scope.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from django.test import Client

from crm.core.models import Event
from crm.core.testing.world import World


class ApiContract:
    """Subclass in a test module and set the attributes below; pytest collects the tests.

    Requires the fixtures ``world``, ``other_world`` and ``api_client`` (tests/conftest.py).
    """

    list_url: ClassVar[str]
    detail_url: ClassVar[str]  # with "{id}"
    update_payload: ClassVar[dict[str, Any]] = {}
    update_method: ClassVar[str] = "patch"
    create_payload: ClassVar[dict[str, Any] | None] = None
    deletable: ClassVar[bool] = True
    #: world user who owns the record, one who must see it, and one who must not
    owner_key: ClassVar[str] = "rep_east"
    in_scope_key: ClassVar[str] = "manager1"
    out_of_scope_key: ClassVar[str] = "rep_east2"

    # --- to implement --------------------------------------------------------------------------
    def make_record(self, world: World, owner: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def state(self, obj: Any) -> Any:
        """A comparable snapshot of the record (default: all concrete field values)."""
        return type(obj)._base_manager.filter(pk=obj.pk).values().first()

    # --- helpers ---------------------------------------------------------------------------
    def _url(self, obj: Any) -> str:
        return self.detail_url.format(id=obj.pk)

    def _write(
        self, client: Client, method: str, url: str, payload: dict[str, Any] | None = None
    ) -> Any:
        return getattr(client, method)(
            url, data=json.dumps(payload or {}), content_type="application/json"
        )

    def _ids(self, response: Any) -> set[int]:
        body = response.json()
        items = body["items"] if isinstance(body, dict) else body
        return {item["id"] for item in items}

    def _all_pages(self, client: Client) -> set[int]:
        ids: set[int] = set()
        page = 1
        while True:
            sep = "&" if "?" in self.list_url else "?"
            r = client.get(f"{self.list_url}{sep}page={page}&page_size=200")
            assert r.status_code == 200, r.content
            batch = self._ids(r)
            ids |= batch
            body = r.json()
            if not isinstance(body, dict) or page * body["page_size"] >= body["count"]:
                return ids
            page += 1

    # --- the contract -------------------------------------------------------------------------
    def test_anonymous_is_refused_and_changes_nothing(self, world: World) -> None:  # A1
        obj = self.make_record(world, world.users[self.owner_key])
        before, events = self.state(obj), Event.objects.count()
        anon = Client()
        assert anon.get(self.list_url).status_code == 401
        assert anon.get(self._url(obj)).status_code == 401
        assert self._write(
            anon, self.update_method, self._url(obj), self.update_payload
        ).status_code in (401, 403)
        if self.deletable:
            assert anon.delete(self._url(obj)).status_code in (401, 403)
        assert self.state(obj) == before
        assert Event.objects.count() == events

    def test_other_tenant_gets_404_and_changes_nothing(
        self, world: World, other_world: World, api_client: Any
    ) -> None:  # A2
        obj = self.make_record(world, world.users[self.owner_key])
        before = self.state(obj)
        for intruder in (other_world.admin, other_world.users["director"]):
            client = api_client(intruder)
            events = Event.objects.filter(org=world.org).count()
            assert client.get(self._url(obj)).status_code == 404
            assert obj.pk not in self._all_pages(client)
            r = self._write(client, self.update_method, self._url(obj), self.update_payload)
            assert r.status_code == 404, r.content
            if self.deletable:
                assert client.delete(self._url(obj)).status_code == 404
            assert self.state(obj) == before
            assert Event.objects.filter(org=world.org).count() == events

    def test_out_of_scope_colleague_gets_404_and_changes_nothing(
        self, world: World, api_client: Any
    ) -> None:  # A1
        obj = self.make_record(world, world.users[self.owner_key])
        before = self.state(obj)
        client = api_client(world.users[self.out_of_scope_key])
        events = Event.objects.count()
        r = client.get(self._url(obj))
        assert r.status_code == 404 and r.json()["code"] == "not_found"
        assert obj.pk not in self._all_pages(client)
        assert (
            self._write(client, self.update_method, self._url(obj), self.update_payload).status_code
            == 404
        )
        if self.deletable:
            assert client.delete(self._url(obj)).status_code == 404
        assert self.state(obj) == before
        assert Event.objects.count() == events

    def test_user_without_permission_sees_nothing(self, world: World, api_client: Any) -> None:
        obj = self.make_record(world, world.users[self.owner_key])
        client = api_client(world.users["nobody"])
        assert client.get(self._url(obj)).status_code == 404
        r = client.get(self.list_url)
        assert r.status_code in (200, 403)
        if r.status_code == 200:
            assert self._ids(r) == set()

    def test_owner_and_in_scope_colleague_read(self, world: World, api_client: Any) -> None:
        obj = self.make_record(world, world.users[self.owner_key])
        for key in (self.owner_key, self.in_scope_key):
            client = api_client(world.users[key])
            r = client.get(self._url(obj))
            assert r.status_code == 200, (key, r.content)
            assert r.json()["id"] == obj.pk
            assert obj.pk in self._all_pages(client)

    def test_owner_updates_and_the_change_is_audited(self, world: World, api_client: Any) -> None:
        assert self.update_payload, "a resource contract must declare update_payload"
        obj = self.make_record(world, world.users[self.owner_key])
        client = api_client(world.users[self.owner_key])
        r = self._write(client, self.update_method, self._url(obj), self.update_payload)
        assert r.status_code == 200, r.content
        event = Event.objects.filter(
            object_id=str(obj.pk), object_type=obj._meta.label_lower
        ).latest("id")
        assert event.actor_id == world.users[self.owner_key].pk
        assert event.changes
