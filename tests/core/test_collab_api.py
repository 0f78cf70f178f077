"""The comments and attachments API (R4.9, R10.1): /api/v1/collab/ lists and adds comments and
files of a record named by ?target=&id=, edits and deletes them by id, downloads files; the same
rules as the pages (view to comment, edit to attach, author or administrator to delete), 404 for
records of other organisations and outside the caller's scope, one error shape."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from crm.core import collab
from crm.core.models import Attachment, Comment, Event, Notification
from crm.core.testing.world import World, make_role, make_user
from crm.customers import services as customer_services
from crm.customers.models import Customer
from crm.org.models import User
from crm.pipeline import opportunities

BASE = "/api/v1/collab"
PDF = b"%PDF-1.4\n%%EOF\n"
_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def customer_of(world: World, owner: User) -> Customer:
    return customer_services.create_customer(
        actor=world.admin, owner=owner, data={"name": f"接口客户{next(_seq)}号"}
    )


def send(client: Client, method: str, url: str, payload: dict[str, Any] | None = None) -> Any:
    return getattr(client, method)(
        url, data=json.dumps(payload or {}), content_type="application/json"
    )


def state() -> tuple[Any, ...]:
    return (
        list(Comment.objects.order_by("pk").values("pk", "body")),
        list(Attachment.objects.order_by("pk").values_list("pk", flat=True)),
        Event.objects.count(),
        Notification.objects.count(),
    )


def test_comments_list_add_edit_delete(world: World, api_client: Any) -> None:
    # R4.9 R10.1: the contract of the comment operations
    rep, lead = world.users["rep_east"], world.users["dept_east"]
    customer = customer_of(world, rep)
    client = api_client(rep)
    where = f"?target=customer&id={customer.pk}"
    r = send(client, "post", f"{BASE}/comments{where}", {"body": "@华东组长 请看"})
    assert r.status_code == 201, r.content
    created = r.json()
    assert created["target"] == "customer" and created["target_id"] == customer.pk
    assert created["body"] == "@华东组长 请看" and created["edited_at"] is None
    assert created["author"] == {"id": rep.pk, "username": rep.username, "name": rep.name}
    assert [m["id"] for m in created["mentions"]] == [lead.pk]
    assert Notification.objects.filter(recipient=lead, verb="comment.mention").count() == 1

    send(client, "post", f"{BASE}/comments{where}", {"body": "第二条"})
    listed = client.get(f"{BASE}/comments{where}&page_size=1&page=2").json()
    assert (listed["count"], listed["page"], listed["page_size"]) == (2, 2, 1)
    assert [c["body"] for c in listed["items"]] == ["第二条"]

    r = send(client, "patch", f"{BASE}/comments/{created['id']}", {"body": "改过了"})
    assert r.status_code == 200 and r.json()["body"] == "改过了" and r.json()["edited_at"]
    r = send(api_client(lead), "patch", f"{BASE}/comments/{created['id']}", {"body": "别人改"})
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    assert send(api_client(lead), "delete", f"{BASE}/comments/{created['id']}").status_code == 403
    r = client.delete(f"{BASE}/comments/{created['id']}")
    assert r.status_code == 204
    assert not Comment.objects.filter(pk=created["id"]).exists()
    r = send(client, "post", f"{BASE}/comments{where}", {"body": "  "})
    assert r.status_code == 400
    assert r.json()["errors"] == [{"field": "body", "message": "Write a comment."}]


def test_comments_on_opportunities(world: World, api_client: Any) -> None:
    # R4.9: the opportunity is named target=opportunity
    rep = world.users["rep_east"]
    customer = customer_of(world, rep)
    opp = opportunities.create_opportunity(
        actor=fresh(rep), customer=customer, data={"name": "接口商机"}
    )
    client = api_client(world.users["director"])
    where = f"?target=opportunity&id={opp.pk}"
    r = send(client, "post", f"{BASE}/comments{where}", {"body": "推进"})
    assert r.status_code == 201 and r.json()["target"] == "opportunity"
    assert [c["body"] for c in client.get(f"{BASE}/comments{where}").json()["items"]] == ["推进"]
    owner_note = Notification.objects.get(recipient=rep, verb="comment.added")
    assert owner_note.target_type == "pipeline.opportunity"


def test_attachments_upload_list_download_delete(world: World, api_client: Any) -> None:
    # R4.9 R10.1: multipart upload; the download is an attachment with the original name
    rep = world.users["rep_east"]
    customer = customer_of(world, rep)
    client = api_client(rep)
    where = f"?target=customer&id={customer.pk}"
    r = client.post(
        f"{BASE}/attachments{where}",
        {"file": SimpleUploadedFile("合同 终稿.pdf", PDF), "description": "盖章版"},
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert {k: body[k] for k in ("target", "target_id", "name", "size", "content_type")} == {
        "target": "customer",
        "target_id": customer.pk,
        "name": "合同 终稿.pdf",
        "size": len(PDF),
        "content_type": "application/pdf",
    }
    assert body["description"] == "盖章版" and body["uploaded_by"]["id"] == rep.pk
    assert body["download_url"] == f"{BASE}/attachments/{body['id']}/download"
    listed = client.get(f"{BASE}/attachments{where}").json()
    assert [a["id"] for a in listed["items"]] == [body["id"]]

    r = api_client(world.users["manager1"]).get(body["download_url"])
    assert r.status_code == 200 and b"".join(r.streaming_content) == PDF
    assert r["Content-Disposition"] == f"attachment; filename*=utf-8''{quote('合同 终稿.pdf')}"
    assert r["X-Content-Type-Options"] == "nosniff"

    assert client.delete(f"{BASE}/attachments/{body['id']}").status_code == 204
    assert not Attachment.objects.filter(pk=body["id"]).exists()


def test_upload_refusals_have_the_error_shape(world: World, api_client: Any, settings: Any) -> None:
    # R4.9 R11.4: too large, wrong type, wrong content → 400 with the field "file"
    settings.CRM_ATTACHMENT_MAX_BYTES = 100
    rep = world.users["rep_east"]
    customer = customer_of(world, rep)
    client = api_client(rep)
    url = f"{BASE}/attachments?target=customer&id={customer.pk}"
    before = state()
    for name, content in (
        ("big.pdf", PDF + b" " * 200),
        ("x.exe", b"MZ"),
        ("x.html", b"<html></html>"),
        ("x.pdf", b"MZ\x90\x00"),
        ("empty.pdf", b""),  # a file part without content: "the file is empty", not "missing"
    ):
        r = client.post(url, {"file": SimpleUploadedFile(name, content)})
        assert r.status_code == 400, (name, r.content)
        assert r.json()["code"] == "validation_error"
        assert [e["field"] for e in r.json()["errors"]] == ["file"]
    assert (
        "at most 100"
        in client.post(url, {"file": SimpleUploadedFile("b.pdf", PDF * 20)}).json()["message"]
    )
    assert client.post(url).status_code == 422  # no file
    assert state() == before


def test_a_viewer_may_comment_but_not_upload(world: World, api_client: Any) -> None:
    # R4.9: view rights suffice for comments; files need edit rights (403, nothing stored)
    role = make_role(world.admin, "接口只读", "all", ["customers:view"])
    viewer = make_user(world.admin, "接口只读同事", world.depts["sales1"], [role])
    customer = customer_of(world, world.users["rep_east"])
    client = api_client(viewer)
    where = f"?target=customer&id={customer.pk}"
    assert send(client, "post", f"{BASE}/comments{where}", {"body": "看过"}).status_code == 201
    before = state()
    r = client.post(f"{BASE}/attachments{where}", {"file": SimpleUploadedFile("a.pdf", PDF)})
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    assert state() == before


def test_other_tenants_and_out_of_scope_callers_get_404_and_change_nothing(
    world: World, other_world: World, api_client: Any
) -> None:
    # R4.9 R1.3: every operation answers 404 with the body of a missing record
    rep = world.users["rep_east"]
    customer = customer_of(world, rep)
    comment = collab.add_comment(actor=fresh(rep), target=customer, body="秘密评论")
    attachment = collab.upload_attachment(
        actor=fresh(rep), target=customer, uploaded_file=SimpleUploadedFile("秘密.pdf", PDF)
    )
    where = f"?target=customer&id={customer.pk}"
    intruders = [world.users["rep_east2"], world.users["nobody"], other_world.admin]
    clients = [api_client(intruder) for intruder in intruders]  # a token each (an event)
    before = state()
    for intruder, client in zip(intruders, clients, strict=True):
        missing = client.get(f"{BASE}/comments?target=customer&id=987654321").json()
        calls = [
            client.get(f"{BASE}/comments{where}"),
            send(client, "post", f"{BASE}/comments{where}", {"body": "越权"}),
            send(client, "patch", f"{BASE}/comments/{comment.pk}", {"body": "越权"}),
            client.delete(f"{BASE}/comments/{comment.pk}"),
            client.get(f"{BASE}/attachments{where}"),
            client.post(f"{BASE}/attachments{where}", {"file": SimpleUploadedFile("x.pdf", PDF)}),
            client.get(f"{BASE}/attachments/{attachment.pk}/download"),
            client.delete(f"{BASE}/attachments/{attachment.pk}"),
        ]
        for r in calls:
            assert r.status_code == 404, (intruder, r.request["PATH_INFO"], r.content)
            assert r.json() == missing
            assert "秘密" not in r.content.decode()
    assert state() == before
    r = api_client(rep).get(f"{BASE}/comments?target=contract&id={customer.pk}")
    assert r.status_code == 404
    assert api_client(rep).get(f"{BASE}/comments?target=customer").status_code == 422


def test_anonymous_calls_answer_401(world: World) -> None:
    # R10.1: no token, no session
    client = Client()
    for method, url in (
        ("get", f"{BASE}/comments?target=customer&id=1"),
        ("post", f"{BASE}/comments?target=customer&id=1"),
        ("get", f"{BASE}/attachments/1/download"),
        ("delete", f"{BASE}/attachments/1"),
    ):
        r = getattr(client, method)(url)
        assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
