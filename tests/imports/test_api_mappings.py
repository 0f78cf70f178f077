"""/api/v1/imports/mappings (issue 7, R10.1 api-gaps): the wizard's saved column mappings —
list, save from one of my imports, delete — through ``save_template``/``delete_template``."""

from __future__ import annotations

import json
from typing import Any

from crm.core.testing.world import World
from crm.imports.models import ImportTemplate
from tests.imports.conftest import new_job


def test_mappings_are_saved_listed_and_deleted_by_their_owner_only(
    iw: World, other_world: World, api_client: Any
) -> None:
    # R10.1: my mappings only; someone else's job or mapping is a 404
    rep = iw.users["rep_east"]
    job = new_job(rep, "customers", [["客户名称", "电话"], ["甲公司", "0571-88886666"]])
    mine = api_client(rep)
    r = mine.post(
        "/api/v1/imports/mappings",
        json.dumps({"job_id": job.pk, "name": "标准客户表"}),
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    saved = r.json()
    assert saved["resource"] == "customers" and saved["columns"]["客户名称"]
    listed = mine.get("/api/v1/imports/mappings?resource=customers").json()
    assert [m["id"] for m in listed["items"]] == [saved["id"]]
    other = api_client(iw.users["rep_east2"])
    assert other.get("/api/v1/imports/mappings").json()["count"] == 0
    r = other.post(
        "/api/v1/imports/mappings",
        json.dumps({"job_id": job.pk, "name": "偷用"}),
        content_type="application/json",
    )
    assert r.status_code == 404
    assert other.delete(f"/api/v1/imports/mappings/{saved['id']}").status_code == 404
    outsider = api_client(other_world.admin)
    assert outsider.delete(f"/api/v1/imports/mappings/{saved['id']}").status_code == 404
    assert mine.delete(f"/api/v1/imports/mappings/{saved['id']}").status_code == 204
    assert not ImportTemplate.objects.filter(pk=saved["id"]).exists()
