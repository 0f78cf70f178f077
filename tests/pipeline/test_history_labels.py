"""History and edit conflicts read like the pages (R4.3, R11.1): list codes show their labels in the
organisation's list, times show in the local time zone, never as raw codes or ISO strings."""

from __future__ import annotations

from datetime import UTC, datetime

from crm.core import audit
from crm.core.testing.world import World
from crm.pipeline import services
from crm.pipeline.models import DictionaryItem


def test_dictionary_codes_show_the_organisations_label(world: World) -> None:
    item = DictionaryItem.objects.get(org=world.org, kind="action_principle", value="track")
    services.rename_dictionary_item(actor=world.admin, item=item, label="持续跟踪")
    label = audit.value_label("pipeline.opportunity", "action_principle", "track", world.org.pk)
    assert label == "持续跟踪"
    assert audit.value_label("customers.customer", "industry", "it", world.org.pk) == "信息技术"
    # without the organisation the code stays (no guessing across tenants)
    assert audit.value_label("pipeline.opportunity", "action_principle", "track") == "track"


def test_times_show_in_local_time_without_microseconds(world: World) -> None:
    from django.utils import translation

    moment = datetime(2026, 11, 24, 7, 31, 36, 870562, tzinfo=UTC).isoformat()
    with translation.override("zh-hans"):
        shown = str(audit.value_label("pipeline.opportunity", "stage_entered_at", moment))
    assert "15:31" in shown and "T" not in shown and "870562" not in shown
