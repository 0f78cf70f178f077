"""Fixtures and helpers of the pipeline tests: a sales rep with the built-in role (may view
opportunities, not configure them), the organisation's two template pipelines, and a snapshot of
everything the pipeline services can change (to prove refused actions wrote nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from crm.core.models import Event
from crm.core.testing.world import World, make_user, role
from crm.org.models import Organization, User
from crm.pipeline import services
from crm.pipeline.models import DictionaryItem, Pipeline, Stage


def fresh(user: User) -> User:
    """The user as a new request sees it (no cached roles or scopes)."""
    return User.objects.get(pk=user.pk)


def state(org: Organization) -> tuple[Any, ...]:
    """Every row the pipeline services write in ``org``, and the number of events."""
    return (
        list(Pipeline.objects.filter(org=org).order_by("pk").values()),
        list(Stage.objects.filter(org=org).order_by("pk").values()),
        list(DictionaryItem.objects.filter(org=org).order_by("pk").values()),
        Event.objects.filter(org=org).count(),
    )


def it_pipeline(org: Organization) -> Pipeline:
    """The IT-project template pipeline (the default of a new organisation)."""
    return Pipeline.objects.get(org=org, is_default=True)


def b2b_pipeline(org: Organization) -> Pipeline:
    return Pipeline.objects.get(org=org, is_default=False, business_type="product")


def top(pipeline: Pipeline) -> list[Stage]:
    """The stages (not nodes) of ``pipeline`` in order, retired ones included."""
    return list(Stage.objects.filter(pipeline=pipeline, parent=None).order_by("sort_order", "pk"))


def names(stages: list[Stage]) -> list[str]:
    return [s.name for s in stages]


def stage_named(pipeline: Pipeline, name: str) -> Stage:
    return Stage.objects.get(pipeline=pipeline, name=name)


def tree(pipeline: Pipeline) -> list[tuple[Any, ...]]:
    """(name, kind, probability, max_days, active, [node names]) of every stage in order."""
    return [
        (
            s.name,
            s.kind,
            s.default_probability,
            s.max_days,
            s.is_active,
            [n.name for n in Stage.objects.filter(parent=s).order_by("sort_order", "pk")],
        )
        for s in top(pipeline)
    ]


@pytest.fixture(autouse=True)
def _no_stage_hooks():
    """Each test starts without ``stage_in_use`` hooks and leaves none behind."""
    saved = list(services.stage_in_use_hooks)
    services.stage_in_use_hooks.clear()
    yield
    services.stage_in_use_hooks[:] = saved


@pytest.fixture
def rep(world: World) -> User:
    """A sales rep with the built-in role: views opportunities, may not configure."""
    return make_user(world.admin, "商机销售", world.depts["east"], [role(world.org, "rep")])


@pytest.fixture
def admin(world: World) -> User:
    return fresh(world.admin)


def english(client: Client) -> Client:
    client.cookies["crm_language"] = "en"
    return client
