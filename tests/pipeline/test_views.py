"""Settings pages of pipelines, stages and dictionaries (R4.4, R4.5, R11.1): what an admin sees
and does, the 403 a rep gets, the 404 another organisation gets, and that refused actions change
nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from crm.core.testing.world import World
from crm.org.models import User
from crm.pipeline import services
from crm.pipeline.models import DictionaryItem, DictionaryKind, Pipeline, Stage

from .conftest import b2b_pipeline, english, it_pipeline, state, top

P = "/pipeline/settings"


def flashes(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def admin_client(world: World, client_for: Any) -> Client:
    return english(client_for(world.admin))


def page_urls(world: World) -> list[str]:
    it = it_pipeline(world.org)
    stage = top(it)[4]
    item = DictionaryItem.objects.get(org=world.org, kind="loss_reason", value="price")
    return [
        f"{P}/pipelines/",
        f"{P}/pipelines/new/",
        f"{P}/pipelines/{it.pk}/",
        f"{P}/pipelines/{it.pk}/edit/",
        f"{P}/pipelines/{it.pk}/copy/",
        f"{P}/pipelines/{it.pk}/stages/new/",
        f"{P}/pipelines/{it.pk}/stages/new/?parent={stage.pk}",
        f"{P}/stages/{stage.pk}/edit/",
        f"{P}/dictionaries/",
        f"{P}/dictionaries/?kind=feedback_cycle",
        f"{P}/dictionaries/{item.pk}/edit/",
    ]


def post_urls(world: World) -> list[str]:
    it = it_pipeline(world.org)
    stage = top(it)[4]
    item = DictionaryItem.objects.get(org=world.org, kind="loss_reason", value="price")
    return [
        f"{P}/pipelines/new/",
        f"{P}/pipelines/{it.pk}/edit/",
        f"{P}/pipelines/{it.pk}/copy/",
        f"{P}/pipelines/{it.pk}/stages/new/",
        f"{P}/stages/{stage.pk}/edit/",
        f"{P}/stages/{stage.pk}/move/down/",
        f"{P}/stages/{stage.pk}/retire/",
        f"{P}/stages/{stage.pk}/restore/",
        f"{P}/stages/{stage.pk}/delete/",
        f"{P}/dictionaries/",
        f"{P}/dictionaries/{item.pk}/edit/",
        f"{P}/dictionaries/{item.pk}/move/down/",
        f"{P}/dictionaries/{item.pk}/deactivate/",
        f"{P}/dictionaries/{item.pk}/reactivate/",
    ]


FORM = {"name": "改名", "label": "改名", "default_probability": "50", "kind": "open"}


def test_admin_opens_every_page(world: World, admin_client: Client) -> None:
    # R4.4 R11.1: every settings page renders for an admin
    for url in page_urls(world):
        response = admin_client.get(url)
        assert response.status_code == 200, url


def test_pipeline_page_shows_the_stage_tree(world: World, admin_client: Client) -> None:
    # R4.4 R4.5: stages with nodes, probability, kind, stalled days and guidance
    it = it_pipeline(world.org)
    html = admin_client.get(f"{P}/pipelines/{it.pk}/").content.decode()
    for stage in top(it):
        assert f'id="stage-{stage.pk}"' in html
        assert stage.name in html
    for node in Stage.objects.filter(pipeline=it, parent__isnull=False):
        assert f'data-node="{node.pk}"' in html
    assert html.count('data-kind="open"') == 8
    assert html.count('data-kind="won"') == html.count('data-kind="lost"') == 1
    assert "180 days" in html and "85%" in html
    assert top(it)[7].guidance.split("<")[0][:20] in html


def test_menu_has_the_settings_entries(world: World, admin_client: Client, client_for: Any) -> None:
    # R4.4: Settings → Pipelines and stages, Dictionaries
    html = admin_client.get(f"{P}/pipelines/").content.decode()
    assert 'data-nav="pipelines"' in html and 'data-nav="dictionaries"' in html
    rep_html = client_for(world.users["rep_east"]).get("/").content.decode()
    assert 'data-nav="pipelines"' not in rep_html


def test_a_rep_gets_403_and_changes_nothing(world: World, client_for: Any, rep: User) -> None:
    # R1.3 R4.4: the settings pages need a configure permission
    client = english(client_for(rep))
    before = state(world.org)
    for url in page_urls(world):
        assert client.get(url).status_code == 403, url
    for url in post_urls(world):
        assert client.post(url, FORM).status_code == 403, url
    assert state(world.org) == before


def test_another_organisation_gets_404_and_changes_nothing(
    world: World, other_world: World, client_for: Any
) -> None:
    # R1.1: another organisation's admin cannot open or change these records
    client = english(client_for(other_world.admin))
    before, theirs = state(world.org), state(other_world.org)
    own_pages = {  # pages of the outsider's own organisation
        f"{P}/pipelines/",
        f"{P}/pipelines/new/",
        f"{P}/dictionaries/",
        f"{P}/dictionaries/?kind=feedback_cycle",
    }
    urls = [u for u in page_urls(world) if u not in own_pages]
    assert len(urls) == 7
    for url in urls:
        assert client.get(url).status_code == 404, url
    for url in post_urls(world):
        if url in own_pages:
            continue
        assert client.post(url, FORM).status_code == 404, url
    assert (state(world.org), state(other_world.org)) == (before, theirs)


def test_create_and_edit_a_pipeline(world: World, admin_client: Client) -> None:
    # R4.4: the form creates a pipeline with won/lost stages; a taken name is shown on the form
    response = admin_client.post(
        f"{P}/pipelines/new/",
        {"name": "渠道销售", "business_type": "service", "description": "", "is_active": "on"},
    )
    pipeline = Pipeline.objects.get(org=world.org, name="渠道销售")
    assert response.status_code == 302
    assert response["Location"] == f"{P}/pipelines/{pipeline.pk}/"
    assert [s.kind for s in top(pipeline)] == ["won", "lost"]
    before = state(world.org)
    response = admin_client.post(
        f"{P}/pipelines/{pipeline.pk}/edit/",
        {"name": it_pipeline(world.org).name, "is_active": "on"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"name": ["A pipeline with this name exists."]}
    assert state(world.org) == before


def test_add_stage_and_node_through_the_forms(world: World, admin_client: Client) -> None:
    # R4.4: stages and nodes added from the pipeline page
    b2b = b2b_pipeline(world.org)
    response = admin_client.post(
        f"{P}/pipelines/{b2b.pk}/stages/new/",
        {
            "name": "签约",
            "kind": "open",
            "default_probability": "90",
            "max_days": "",
            "guidance": "盖章",
        },
    )
    stage = Stage.objects.get(pipeline=b2b, name="签约")
    assert response["Location"] == f"{P}/pipelines/{b2b.pk}/#stage-{stage.pk}"
    assert (stage.sort_order, stage.default_probability, stage.max_days, stage.guidance) == (
        5,
        90,
        None,
        "盖章",
    )
    response = admin_client.post(
        f"{P}/pipelines/{b2b.pk}/stages/new/",
        {"parent": stage.pk, "name": "法务审核", "default_probability": "90", "guidance": ""},
    )
    node = Stage.objects.get(parent=stage)
    assert (node.name, node.kind, response.status_code) == ("法务审核", "open", 302)
    # a second won stage is refused on the kind field
    before = state(world.org)
    response = admin_client.post(
        f"{P}/pipelines/{b2b.pk}/stages/new/",
        {"name": "大单", "kind": "won", "default_probability": "100"},
    )
    assert response.context["form"].errors == {
        "kind": ["A pipeline has exactly one active won stage."]
    }
    assert state(world.org) == before


def test_edit_move_retire_and_delete_stages(world: World, admin_client: Client) -> None:
    # R4.4: up/down, retire, restore, delete; a stage in use is only retired
    b2b = b2b_pipeline(world.org)
    ids = [s.pk for s in top(b2b)]
    admin_client.post(f"{P}/stages/{ids[1]}/move/up/")
    assert [s.pk for s in top(b2b)] == [ids[1], ids[0], *ids[2:]]
    response = admin_client.post(f"{P}/stages/{ids[3]}/move/down/")
    assert flashes(response) == ["Open stages come before the won and lost stages."]
    assert [s.pk for s in top(b2b)] == [ids[1], ids[0], *ids[2:]]
    assert admin_client.post(f"{P}/stages/{ids[3]}/move/sideways/").status_code == 404
    response = admin_client.post(
        f"{P}/stages/{ids[0]}/edit/",
        {"name": "首次接触", "kind": "open", "default_probability": "15", "max_days": "10"},
        follow=True,
    )
    assert response.redirect_chain == [(f"{P}/pipelines/{b2b.pk}/#stage-{ids[0]}", 302)]
    assert Stage.objects.filter(pk=ids[0]).values_list("name", "default_probability", "max_days")[
        0
    ] == ("首次接触", 15, 10)
    services.register_stage_in_use(lambda stage: stage.pk == ids[0])
    before = state(world.org)
    response = admin_client.post(f"{P}/stages/{ids[0]}/delete/")
    assert flashes(response) == [
        "Opportunities use this stage, so it cannot be deleted: retire it."
    ]
    assert state(world.org) == before
    admin_client.post(f"{P}/stages/{ids[0]}/retire/")
    assert Stage.objects.get(pk=ids[0]).is_active is False
    admin_client.post(f"{P}/stages/{ids[0]}/restore/")
    assert Stage.objects.get(pk=ids[0]).is_active is True
    response = admin_client.post(f"{P}/stages/{ids[2]}/delete/")
    assert response["Location"] == f"{P}/pipelines/{b2b.pk}/"
    assert not Stage.objects.filter(pk=ids[2]).exists()


def test_dictionary_page(world: World, admin_client: Client) -> None:
    # R4.4: a tab per list; add, rename, reorder, deactivate, reactivate
    html = admin_client.get(f"{P}/dictionaries/?kind=action_principle").content.decode()
    for kind in DictionaryKind.values:
        assert f'data-kind="{kind}"' in html
    items = list(
        DictionaryItem.objects.filter(org=world.org, kind="action_principle").order_by("sort_order")
    )
    for item in items:
        assert f'data-item="{item.pk}"' in html
    assert admin_client.get(f"{P}/dictionaries/?kind=nonsense").status_code == 404
    response = admin_client.post(
        f"{P}/dictionaries/", {"kind": "action_principle", "label": "观望", "value": "wait"}
    )
    assert response["Location"] == f"{P}/dictionaries/?kind=action_principle"
    added = DictionaryItem.objects.get(org=world.org, kind="action_principle", value="wait")
    assert (added.label, added.sort_order) == ("观望", 5)
    before = state(world.org)
    response = admin_client.post(
        f"{P}/dictionaries/", {"kind": "action_principle", "label": "再观望", "value": "wait"}
    )
    assert response.context["form"].errors == {
        "value": ["This list already has an item with this value."]
    }
    assert state(world.org) == before
    admin_client.post(f"{P}/dictionaries/{added.pk}/edit/", {"label": "观望中"})
    admin_client.post(f"{P}/dictionaries/{added.pk}/move/up/")
    admin_client.post(f"{P}/dictionaries/{added.pk}/deactivate/")
    added.refresh_from_db()
    assert (added.value, added.label, added.is_active) == ("wait", "观望中", False)
    assert list(
        DictionaryItem.objects.filter(org=world.org, kind="action_principle")
        .order_by("sort_order")
        .values_list("value", flat=True)
    ) == ["ensure", "strive_hard", "strive", "track", "wait", "abandon"]
    admin_client.post(f"{P}/dictionaries/{added.pk}/reactivate/")
    assert DictionaryItem.objects.get(pk=added.pk).is_active is True
