"""The import wizard pages and the API (R10.3): upload → map (suggested, saved as a template)
→ preview → run → live progress → counts and the bad-rows download; resume of a killed job;
templates to download. A job is its uploader's: colleagues, managers and other tenants get 404
on every page and operation, and nothing changes."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from openpyxl import load_workbook

from crm.core.testing.world import World
from crm.customers.models import Customer
from crm.imports.models import ImportJob, ImportTemplate
from tests.imports.conftest import csv_bytes, fresh, new_job

ROWS = [
    ["客户名称", "手机", "联系人", "行业"],
    ["杭州网页一号有限公司", "13800138001", "张三", "制造业"],
    ["", "13800138002", "李四", ""],
    ["杭州网页三号有限公司", "13800138003", "王五", "不存在的行业"],
]


def upload(
    client: Any, rows: list[list[str]] = ROWS, resource: str = "customers", **extra: Any
) -> Any:
    data = csv_bytes(rows, encoding="gbk")
    return client.post(
        "/imports/",
        {
            "resource": resource,
            "file": SimpleUploadedFile("客户清单.csv", data),
            "encoding": "auto",
            **extra,
        },
    )


def mapping_post(job: ImportJob, **extra: Any) -> dict[str, Any]:
    data = {f"col_{i}": key for i, key in enumerate(job.mapping)}
    return {"duplicate_mode": "skip", **data, **extra}


def test_the_wizard_from_upload_to_the_bad_rows(
    iw: World, client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # R10.3: upload (GBK CSV) → map → preview → run → progress → results → bad rows
    rep = iw.users["rep_east"]
    client = client_for(rep)
    page = client.get("/imports/")
    assert page.status_code == 200
    assert b'data-resource="customers"' in page.content and b'data-resource="leads"' in page.content
    assert b'data-nav="customers_import"' in client.get("/customers/").content
    response = upload(client)
    job = ImportJob.objects.get(created_by=rep)
    assert response.status_code == 302 and response["Location"] == f"/imports/{job.pk}/map/"
    assert (job.encoding, job.total_rows) == ("gb18030", 3)
    page = client.get(f"/imports/{job.pk}/map/")
    assert page.status_code == 200
    assert '<option value="contact_mobile" selected>' in page.content.decode()
    assert "13800138001" in page.content.decode()  # first values of each column
    response = client.post(f"/imports/{job.pk}/map/", mapping_post(job, save_as="我的模板"))
    assert response.status_code == 302 and response["Location"] == f"/imports/{job.pk}/preview/"
    assert ImportTemplate.objects.get(owner=rep).name == "我的模板"
    page = client.get(f"/imports/{job.pk}/preview/")
    html = page.content.decode()
    assert html.count('data-action="created"') == 1 and html.count('data-action="failed"') == 2
    assert Customer.objects.filter(org=iw.org).count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/imports/{job.pk}/run/")
    assert response["Location"] == f"/imports/{job.pk}/"
    page = client.get(f"/imports/{job.pk}/")
    html = page.content.decode()
    assert 'data-status="done"' in html and "hx-trigger" not in html
    assert 'data-count="created">1<' in html and 'data-count="failed">2<' in html
    assert 'data-line="3"' in html and 'data-line="4"' in html
    download = client.get(f"/imports/{job.pk}/errors.xlsx")
    assert download.status_code == 200
    data = b"".join(download.streaming_content)
    rows = list(
        load_workbook(io.BytesIO(data), read_only=True).worksheets[0].iter_rows(values_only=True)
    )
    assert len(rows) == 3 and rows[1][1] == "13800138002"
    assert Customer.objects.filter(org=iw.org).count() == 1


def test_a_saved_mapping_is_applied_from_the_picker(iw: World, client_for: Any) -> None:
    # R10.3: the mapping page offers my saved mappings for this resource
    rep = iw.users["rep_east"]
    job = new_job(
        rep,
        "customers",
        [["单位", "号码"], ["甲公司", "13800138000"]],
        mapping=["name", "contact_mobile"],
    )
    from crm.imports import services

    template = services.save_template(actor=fresh(rep), job=job, name="旧系统")
    other = new_job(
        rep, "customers", [["单位", "号码"], ["乙公司", "13900139000"]], mapping=["name", ""]
    )
    client = client_for(rep)
    html = client.get(f"/imports/{other.pk}/map/?template={template.pk}").content.decode()
    assert '<option value="contact_mobile" selected>' in html
    assert "旧系统" in html
    response = client.post(f"/imports/mappings/{template.pk}/delete/", {"job": other.pk})
    assert response["Location"] == f"/imports/{other.pk}/map/"
    assert not ImportTemplate.objects.exists()


def test_upload_errors_are_shown_on_the_form(iw: World, client_for: Any) -> None:
    # R10.3: a bad file is refused with its reason; nothing is stored
    client = client_for(iw.users["rep_east"])
    bomb = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512
    response = client.post(
        "/imports/",
        {
            "resource": "customers",
            "file": SimpleUploadedFile("加密.xlsx", bomb),
            "encoding": "auto",
        },
    )
    assert response.status_code == 200
    assert "invalid-feedback" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_someone_without_import_rights_is_refused(iw: World, client_for: Any) -> None:
    # R10.3: "nobody" may not import anything; rep_east2 may not import leads
    client = client_for(iw.users["nobody"])
    page = client.get("/imports/").content.decode()
    assert 'id="upload-form"' not in page and 'id="template-links"' not in page
    assert upload(client).status_code == 403
    assert client.get("/imports/template/?resource=customers").status_code == 403
    other = client_for(iw.users["rep_east2"])
    page = upload(other, resource="leads")
    assert page.status_code == 200 and not ImportJob.objects.exists()
    assert other.get("/imports/template/?resource=nothing").status_code == 404


def test_templates_download_for_each_resource(iw: World, client_for: Any) -> None:
    # R10.3: a template per resource (XLSX, Chinese titles, example row)
    client = client_for(iw.users["director"])
    for resource, first in (
        ("customers", "客户名称*"),
        ("contacts", "客户名称*"),
        ("leads", "公司"),
        ("opportunities", "商机名称*"),
        ("followups", "客户名称*"),
    ):
        response = client.get(f"/imports/template/?resource={resource}")
        assert response.status_code == 200, resource
        data = b"".join(response.streaming_content)
        rows = list(
            load_workbook(io.BytesIO(data), read_only=True)
            .worksheets[0]
            .iter_rows(values_only=True)
        )
        assert rows[0][0] == first and len(rows) == 2


def test_progress_is_polled_while_running_and_a_killed_job_can_be_resumed(
    iw: World, client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # R10.3: the status partial polls every 2 s while the job runs; a stale job offers Resume
    rep = iw.users["rep_east"]
    job = new_job(rep, "customers", [["客户名称"], ["甲公司"], ["乙公司"]])
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", next_row=1, created_count=1, total_rows=2, heartbeat_at=timezone.now()
    )
    client = client_for(rep)
    partial = client.get(f"/imports/{job.pk}/status/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in partial and "width: 50%" in partial
    assert "<html" not in partial and "import-resume" not in partial
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert 'id="import-resume"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/imports/{job.pk}/resume/")
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.created_count, job.next_row) == ("done", 2, 2)
    assert list(Customer.objects.filter(org=iw.org).values_list("name", flat=True)) == ["乙公司"]


def test_other_people_get_404_on_every_page_of_my_job(
    iw: World, other_world: World, client_for: Any
) -> None:
    # R10.3 + R1.3: colleagues, my manager, the director, admins and other tenants: 404
    rep = iw.users["rep_east"]
    job = new_job(rep, "customers", [["客户名称"], ["甲公司"]])
    from crm.imports import services

    template = services.save_template(actor=fresh(rep), job=job, name="私人")
    pages = ["", "map/", "preview/", "status/", "errors.xlsx"]
    actions = ["run/", "resume/", "cancel/"]
    for intruder in (
        iw.users["rep_east2"],
        iw.users["manager1"],
        iw.users["director"],
        iw.admin,
        other_world.admin,
    ):
        client = client_for(intruder)
        for page in pages:
            assert client.get(f"/imports/{job.pk}/{page}").status_code == 404, page
        for action in actions:
            assert client.post(f"/imports/{job.pk}/{action}").status_code == 404, action
        assert client.post(f"/imports/mappings/{template.pk}/delete/").status_code == 404
        assert "甲公司" not in client.get("/imports/").content.decode()
    job.refresh_from_db()
    assert job.status == "draft" and ImportTemplate.objects.filter(pk=template.pk).exists()


def test_the_api_runs_an_import_and_hides_it_from_others(
    iw: World, other_world: World, api_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # R10.3 + R10.1: the same engine through /api/v1/imports/; others get 404
    rep = iw.users["rep_east"]
    client = api_client(rep)
    resources = client.get("/api/v1/imports/resources").json()
    assert [r["key"] for r in resources] == [
        "customers",
        "contacts",
        "leads",
        "opportunities",
        "followups",
    ]
    response = client.post(
        "/api/v1/imports/jobs",
        {"resource": "customers", "file": SimpleUploadedFile("a.csv", csv_bytes(ROWS))},
    )
    assert response.status_code == 201, response.content
    job = response.json()
    assert job["mapping"] == ["name", "contact_mobile", "contact_name", "industry"]
    assert job["status"] == "draft" and job["total_rows"] == 3
    url = f"/api/v1/imports/jobs/{job['id']}"
    patched = client.patch(
        url,
        json.dumps({"mapping": ["name", "contact_mobile", "contact_name", ""]}),
        content_type="application/json",
    )
    assert patched.status_code == 200 and patched.json()["mapping"][3] == ""
    preview = client.post(f"{url}/preview").json()
    assert [p["action"] for p in preview] == ["created", "failed", "created"]
    for intruder in (iw.users["manager1"], other_world.admin):
        other = api_client(intruder)
        assert other.get(url).status_code == 404
        assert other.post(f"{url}/start").status_code == 404
        assert other.get(f"{url}/errors").status_code == 404
        assert job["id"] not in [j["id"] for j in other.get("/api/v1/imports/jobs").json()["items"]]
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"{url}/start")
    assert started.status_code == 200
    done = client.get(url).json()
    assert (done["status"], done["created"], done["failed"], done["rows_done"]) == ("done", 2, 1, 3)
    errors = client.get(f"{url}/errors").json()
    assert errors["items"] == [{"line": 3, "message": errors["items"][0]["message"]}]
    bad = client.post(
        "/api/v1/imports/jobs",
        {
            "resource": "customers",
            "file": SimpleUploadedFile("a.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64),
        },
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "file"
