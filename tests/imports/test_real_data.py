"""A realistic import (R10.3) of the Maven Analytics CRM data in /work/shared/data/maven_crm
(CRLF line endings, English titles): the 85 accounts as customers, then part of the pipeline as
opportunities. The data's quirks are reported, never guessed: sectors that are not in the
industry list, and open deals without an account, are refused with their line numbers."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from crm.core.testing.world import World
from crm.customers.models import Customer
from crm.imports import services
from crm.imports.models import ImportRowError
from crm.pipeline.models import Opportunity
from tests.imports.conftest import csv_bytes, fresh

#: ../shared beside the checkout (as on CI); absent on a user's machine
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "maven_crm"
pytestmark = pytest.mark.skipif(
    not (DATA / "accounts.csv").exists(),
    reason=f"the shared data set is not at {DATA} (it sits beside the checkout on CI)",
)


def read(name: str) -> list[dict[str, str]]:
    with open(DATA / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def upload(actor: Any, resource: str, data: bytes, name: str) -> Any:
    return services.create_job(
        actor=fresh(actor), resource=resource, uploaded_file=SimpleUploadedFile(name, data)
    )


def test_the_maven_accounts_and_pipeline_import_with_their_quirks_reported(
    iw: World, run: Any
) -> None:
    # R10.3: real file, English titles mapped, list values checked, re-run adds the rest
    director = iw.users["director"]
    accounts = read("accounts.csv")
    assert len(accounts) == 85
    job = upload(director, "customers", (DATA / "accounts.csv").read_bytes(), "accounts.csv")
    assert job.headers[0] == "account" and job.total_rows == 85
    suggested = dict(zip(job.headers, job.mapping, strict=True))
    assert suggested["account"] == "name"
    assert suggested["sector"] == "industry"
    assert suggested["office_location"] == "region"
    assert suggested["subsidiary_of"] == ""
    job = run(job)
    # "finance" and "retail" are codes of the industry list; "technolgy", "medical"… are not
    known = [a for a in accounts if a["sector"] in ("finance", "retail")]
    assert (job.created_count, job.failed_count) == (len(known), 85 - len(known))
    refused = dict(ImportRowError.objects.filter(job=job).values_list("line", "message"))
    typo_line = next(i for i, a in enumerate(accounts, start=2) if a["sector"] == "technolgy")
    assert "technolgy" in refused[typo_line]
    # the same file without the sector column: the imported ones are duplicates (skipped)
    again = services.create_job(
        actor=fresh(director),
        resource="customers",
        uploaded_file=SimpleUploadedFile("accounts.csv", (DATA / "accounts.csv").read_bytes()),
    )
    mapping = [
        "" if h == "sector" else k for h, k in zip(again.headers, again.mapping, strict=True)
    ]
    services.configure_job(actor=fresh(director), job=again, mapping=mapping)
    again = run(again)
    assert (again.created_count, again.skipped_count, again.failed_count) == (
        85 - len(known),
        len(known),
        0,
    )
    names = set(Customer.objects.filter(org=iw.org).values_list("name", flat=True))
    assert names == {a["account"] for a in accounts}
    acme = Customer.objects.get(org=iw.org, name="Acme Corporation")
    assert acme.region == "United States" and acme.owner_id == director.pk

    # 200 deals: the id as the name and external id, the account, the value
    deals = read("sales_pipeline.csv")[:200]
    rows = [["opportunity_id", "account", "close_value"]] + [
        [d["opportunity_id"], d["account"], d["close_value"]] for d in deals
    ]
    job = upload(director, "opportunities", csv_bytes(rows), "pipeline.csv")
    assert job.mapping == ["", "customer", "expected_amount"]
    services.configure_job(
        actor=fresh(director), job=job, mapping=["name", "customer", "expected_amount"]
    )
    job = run(job)
    blank = [i for i, d in enumerate(deals, start=2) if not d["account"]]
    assert blank, "the first 200 deals include open deals without an account"
    assert (job.created_count, job.failed_count) == (200 - len(blank), len(blank))
    assert list(ImportRowError.objects.filter(job=job).values_list("line", flat=True)) == blank
    won = next(d for d in deals if d["account"] and d["close_value"] not in ("", "0"))
    deal = Opportunity.objects.get(org=iw.org, name=won["opportunity_id"])
    assert deal.customer.name == won["account"]
    assert str(int(deal.expected_amount)) == won["close_value"]
