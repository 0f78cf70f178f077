"""The public web form of a pool (R2.1): embeddable (only this view may be framed), keeps every
extra attribute, honeypot and rate limit against spam, signed stamp instead of a cookie."""

from __future__ import annotations

from typing import Any

from django.test import Client

from crm.core.models import Event
from crm.core.testing.world import World
from crm.leads import webform
from crm.leads.models import Lead, LeadPool
from tests.leads.conftest import Pools


def url(pool: LeadPool, query: str = "") -> str:
    return f"/leads/form/{pool.form_token}/" + (f"?{query}" if query else "")


def post(client: Client, pool: LeadPool, ip: str = "203.0.113.7", **fields: Any) -> Any:
    data = {
        "stamp": webform.form_stamp(pool),
        "company": "厦门宏发电声",
        "name": "林女士",
        "mobile": "13959201234",
        "email": "lin@hongfa.com",
        "message": "想了解报价",
        **fields,
    }
    return client.post(url(pool), data, REMOTE_ADDR=ip)


def test_the_form_renders_inside_any_site_and_only_this_view_may_be_framed(
    lw: World, pools: Pools
) -> None:
    # R2.1: the form page may be framed by other sites; every other page still may not
    client = Client()
    r = client.get(url(pools.east, "utm_source=baidu&utm_campaign=spring"))
    assert r.status_code == 200
    assert "X-Frame-Options" not in r.headers
    assert not r.cookies  # no session or CSRF cookie: nothing a third-party frame would drop
    assert "frame-ancestors *" in r.headers["Content-Security-Policy"]
    html = r.content.decode()
    assert 'name="utm_source" value="baidu"' in html
    assert 'name="utm_campaign" value="spring"' in html
    assert 'name="website"' in html  # the honeypot
    assert "<script" not in html
    other = client.get("/login/")
    assert other.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in other.headers["Content-Security-Policy"]


def test_a_post_creates_a_lead_in_the_pool_with_every_attribute(lw: World, pools: Pools) -> None:
    # R2.1: web form → lead in the form's pool, source web_form, extra attributes kept
    r = post(
        Client(enforce_csrf_checks=True),  # no cookie: works inside a third-party iframe
        pools.east,
        utm_source="baidu",
        utm_campaign="spring",
        page="https://www.example.cn/products",
        region="华东",
        source="wechat_menu",
    )
    assert r.status_code == 200
    assert 'id="webform-done"' in r.content.decode()
    lead = Lead.objects.get()
    assert (lead.pool_id, lead.source, lead.owner_id, lead.created_by_id) == (
        pools.east.pk,
        "web_form",
        None,
        None,
    )
    assert (lead.company, lead.contact_name, lead.mobile, lead.email, lead.notes, lead.region) == (
        "厦门宏发电声",
        "林女士",
        "13959201234",
        "lin@hongfa.com",
        "想了解报价",
        "华东",
    )
    assert lead.extra == {
        "utm_source": "baidu",
        "utm_campaign": "spring",
        "page": "https://www.example.cn/products",
        "source": "wechat_menu",
    }
    created = Event.objects.get(object_id=str(lead.pk), verb="lead.created")
    assert (created.actor_id, created.actor_label) == (None, "system")


def test_the_honeypot_pretends_success_and_stores_nothing(lw: World, pools: Pools) -> None:
    # R2.1: anti-spam honeypot
    r = post(Client(), pools.east, website="http://spam.example")
    assert r.status_code == 200 and 'id="webform-done"' in r.content.decode()
    assert Lead.objects.count() == 0
    assert not Event.objects.filter(object_type="leads.lead").exists()


def test_the_sixth_post_within_the_window_is_refused(lw: World, pools: Pools) -> None:
    # R2.1: rate limit per IP and form: 5 per 10 minutes, then a friendly 429
    client = Client()
    for i in range(5):
        assert post(client, pools.east, email=f"v{i}@example.com").status_code == 200
    r = post(client, pools.east, email="v6@example.com")
    assert r.status_code == 429
    assert 'id="webform-limited"' in r.content.decode()
    assert Lead.objects.count() == 5
    # another visitor, and the same visitor on another form, are not affected
    assert post(client, pools.east, ip="198.51.100.9").status_code == 200
    assert post(client, pools.south).status_code == 200
    assert Lead.objects.count() == 7


def test_invalid_input_is_shown_and_nothing_is_stored(lw: World, pools: Pools) -> None:
    # R2.1: the visitor sees what to correct
    r = post(Client(), pools.east, company="", name="", mobile="123", email="")
    assert r.status_code == 400
    html = r.content.decode()
    assert 'id="lead-webform"' in html and "invalid-feedback" in html
    assert Lead.objects.count() == 0


def test_a_forged_or_expired_stamp_is_refused(lw: World, pools: Pools) -> None:
    # R2.1: the stamp ties the post to a form we rendered for this pool
    for stamp in ("", "forged", webform.form_stamp(pools.south)):
        r = post(Client(), pools.east, stamp=stamp)
        assert r.status_code == 400
    assert Lead.objects.count() == 0


def test_unknown_disabled_or_renewed_tokens_answer_404(lw: World, pools: Pools) -> None:
    # R2.1: the token is the credential
    from crm.leads import services
    from tests.leads.conftest import fresh

    client = Client()
    assert client.get("/leads/form/no-such-token/").status_code == 404
    old = pools.east.form_token
    services.regenerate_form_token(actor=fresh(lw.users["marketing"]), pool=pools.east)
    assert client.get(f"/leads/form/{old}/").status_code == 404
    services.save_pool(
        actor=fresh(lw.users["marketing"]), pool=pools.south, data={"form_enabled": False}
    )
    assert client.get(url(pools.south)).status_code == 404
    assert post(client, LeadPool.objects.get(pk=pools.south.pk)).status_code == 404
    assert Lead.objects.count() == 0
