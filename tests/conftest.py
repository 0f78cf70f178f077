"""Shared fixtures. The database is SQLite by default, PostgreSQL with CRM_TEST_DB=postgres."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client

from crm.core.testing.world import PASSWORD, World, build_world


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_pg = os.environ.get("CRM_TEST_DB") == "postgres"
    for item in items:
        if "postgres" in item.keywords and not on_pg:
            item.add_marker(
                pytest.mark.skip(
                    reason="needs PostgreSQL: run with CRM_TEST_DB=postgres (make test-pg)"
                )
            )


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Each test starts with an empty cache: ids restart after a rollback, so a figure cached
    by an earlier test could otherwise match a later test's organisation, person and marker."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Each test starts and ends in the default language (Simplified Chinese) and time zone.
    A request through the test client runs the locale middleware in the test's own thread,
    and its ``activate`` would otherwise outlive the test: a later test on the same worker
    then compares a page in Chinese with a label rendered in English."""
    from django.utils import timezone, translation

    translation.deactivate()
    timezone.deactivate()
    yield
    translation.deactivate()
    timezone.deactivate()


@pytest.fixture
def world(db: None) -> World:
    return build_world()


@pytest.fixture
def other_world(db: None) -> World:
    return build_world("另一家公司")


@pytest.fixture
def password() -> str:
    return PASSWORD


def login_client(user: object) -> Client:
    client = Client()
    client.force_login(user, backend="crm.org.backends.LoginBackend")  # type: ignore[arg-type]
    return client


@pytest.fixture
def client_for():
    return login_client


@pytest.fixture
def token_for(db: None):
    from crm.org.services import create_token

    def make(user: object) -> str:
        return create_token(actor=user, name="test")[1]  # type: ignore[arg-type]

    return make


@pytest.fixture
def api_client(db: None):
    """A client that calls the API with a bearer token of ``user``."""
    from crm.org.services import create_token

    def make(user: object) -> Client:
        raw = create_token(actor=user, name="api-test")[1]  # type: ignore[arg-type]
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_ACCEPT_LANGUAGE="en")

    return make


assert settings.configured
