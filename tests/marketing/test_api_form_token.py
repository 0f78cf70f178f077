"""POST /api/v1/marketing/campaigns/{id}/form-token (issue 7, R10.1 api-gaps): a new web-form
address through ``regenerate_form_token`` with its campaign.form_token event."""

from __future__ import annotations

from typing import Any

from crm.core.models import Event
from crm.marketing import services
from crm.marketing.models import Campaign
from tests.marketing.conftest import Mk


def test_regenerating_the_form_token_changes_the_address(
    mk: Mk, mk_other: Mk, api_client: Any
) -> None:
    # R10.1: marketing:edit needed (a rep with view only: 403), another organisation: 404
    campaign = services.create_campaign(actor=mk.marketer, data={"name": "表单活动"})
    old = campaign.form_token
    url = f"/api/v1/marketing/campaigns/{campaign.pk}/form-token"
    assert api_client(mk.rep).post(url).status_code == 403
    assert api_client(mk_other.marketer).post(url).status_code == 404
    assert Campaign.objects.get(pk=campaign.pk).form_token == old
    r = api_client(mk.marketer).post(url)
    assert r.status_code == 200, r.content
    assert r.json()["id"] == campaign.pk
    assert Campaign.objects.get(pk=campaign.pk).form_token != old
    assert Event.objects.filter(verb="campaign.form_token", object_id=str(campaign.pk)).count() == 1
