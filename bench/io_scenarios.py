"""Bulk import and export scenarios of issue 8 (``python -m bench.io_scenarios``).

- ``import``: an XLSX of customers (``--rows``; 100,000 at full scale, 10,000 at ``--small``)
  goes through the product's import engine exactly as the wizard drives it: ``create_job``
  (upload checks, header reading, suggested mapping), ``configure_job`` (duplicate mode *skip*),
  ``start_job`` and the worker's ``run_job`` (batches, validation, duplicate detection, the
  customers' creation with their contacts, moves, events and row keys). Since R11.2 the worker
  takes the set-based path (``crm.imports.batch``); ``--per-row`` measures the row-by-row path
  (``CRM_IMPORT_SET_BASED = False``) instead. The worker is called in-process instead of
  through the queue, so the time is the engine's (the URL configuration, which a worker loads
  once for its first job, is loaded before the clock starts). 5 % of the rows repeat a
  customer of the organisation (skipped as duplicates), 1 % carry a 7-digit mobile (accepted).
  Rows per second (target ≥ 3,000/s). Everything the run created is deleted afterwards, its
  row keys included.
- ``export``: every opportunity of the organisation, as the director (scope ALL), through the
  product's streaming export view (``/imports/export/opportunities/``, CSV then XLSX), consumed
  chunk by chunk as a client would. Each format runs in a fresh subprocess, which reports its
  seconds, rows per second and its peak RSS (``ru_maxrss``) before and after the download: the
  growth per 100,000 rows is what says whether 1,000,000 rows stay under 250 MB.

``python -m bench.io_scenarios [--small] [--rows N] [--only import,export] [--per-row] [--label L]``
writes ``bench/results/<date>-<scale>-<label>.json`` (label ``io`` by default).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._django import ensure_django

ensure_django()

from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.db.models import Max  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import generate  # noqa: E402
from crm.core.models import Event, Notification  # noqa: E402
from crm.customers.models import Contact, Customer  # noqa: E402
from crm.org.models import Organization, User  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
IMPORT_TARGET = 3_000  # rows per second
EXPORT_RSS_TARGET_MB = 250  # for 1,000,000 rows
HEADERS = ["客户名称", "电话", "地区", "行业", "地址", "联系人", "手机", "职务"]
DUPLICATE_SHARE = 0.05
BAD_SHARE = 0.01


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def first_org() -> Organization:
    org = Organization.objects.filter(**{f"settings__{generate.MARKER}__index": 1}).first()
    if org is None:
        raise SystemExit("No data set: run python -m bench.generate (or make bench) first.")
    return org


def director_of(org: Organization) -> User:
    from bench.run import find_actors

    return find_actors(org)["director"]


# --- import ---------------------------------------------------------------------------------------
def customers_xlsx(org_id: int, rows: int, seed: int = 81) -> tuple[bytes, dict[str, int]]:
    """A workbook of ``rows`` customers as people fill the template in, with some duplicates of
    existing customers and some malformed rows; returns it and what it holds."""
    from openpyxl import Workbook

    rng = random.Random(seed)
    names = generate.company_names(rows, seed=seed * 1_000 + 7)
    existing = list(
        Customer.objects.filter(org_id=org_id)
        .order_by("?")
        .values_list("name", flat=True)[: max(1, int(rows * DUPLICATE_SHARE))]
    )
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("客户")
    ws.append(HEADERS)
    kinds = {"new": 0, "duplicate": 0, "short_mobile": 0}
    for i, company in enumerate(names):
        city, _region, area = rng.choice(generate.CITIES)
        roll = rng.random()
        name = company.name
        mobile = generate.mobile(rng)
        if roll < DUPLICATE_SHARE and existing:
            name = existing[i % len(existing)]
            kinds["duplicate"] += 1
        elif roll < DUPLICATE_SHARE + BAD_SHARE:
            mobile = "1380013"  # 7 digits: does validation refuse it?
            kinds["short_mobile"] += 1
        else:
            kinds["new"] += 1
        ws.append(
            [
                name,
                generate.landline(rng, area),
                city,
                rng.choice(["制造业", "信息技术", "零售与批发", "建筑与房地产", "其他"]),
                f"{city}市{rng.randint(1, 999)}号",
                generate.person_name(rng),
                mobile,
                rng.choice(generate.TITLES),
            ]
        )
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue(), kinds


def measure_import(rows: int, log: Any = print, *, per_row: bool = False) -> dict[str, Any]:
    """Import ``rows`` customers from XLSX as the director, through the wizard's services and
    the worker's job function (set-based, or ``per_row``); clean up afterwards."""
    from django.conf import settings
    from django.urls import reverse

    from crm.imports import services as imports
    from crm.imports.choices import DuplicateMode
    from crm.imports.models import ImportJob, ImportRowKey

    settings.CRM_IMPORT_SET_BASED = not per_row
    reverse("imports:detail", args=[1])  # the URL configuration, loaded once per worker
    org = first_org()
    director = User.objects.select_related("org").get(pk=director_of(org).pk)
    t0 = time.perf_counter()
    content, kinds = customers_xlsx(org.pk, rows)
    build_seconds = time.perf_counter() - t0
    log(f"import: workbook of {rows:,} rows ({len(content) / 1e6:.1f} MB) in {build_seconds:.1f} s")
    marks = {
        "customer": Customer.objects.filter(org=org).aggregate(m=Max("pk"))["m"] or 0,
        "contact": Contact.objects.filter(org=org).aggregate(m=Max("pk"))["m"] or 0,
        "event": Event.objects.filter(org=org).aggregate(m=Max("pk"))["m"] or 0,
        "notification": Notification.objects.filter(org=org).aggregate(m=Max("pk"))["m"] or 0,
    }
    job = None
    saved_enqueue = imports._enqueue
    imports._enqueue = lambda _job_id: None  # the worker runs below, in this process
    try:
        t0 = time.perf_counter()
        upload = SimpleUploadedFile("客户导入.xlsx", content)
        job = imports.create_job(actor=director, resource="customers", uploaded_file=upload)
        upload_seconds = time.perf_counter() - t0
        imports.configure_job(
            actor=director, job=job, mapping=job.mapping, duplicate_mode=DuplicateMode.SKIP
        )
        imports.start_job(actor=director, job=job)
        t0 = time.perf_counter()
        imports.run_job(job.pk)
        run_seconds = time.perf_counter() - t0
        job = ImportJob.objects.get(pk=job.pk)
        outcome = {
            k: getattr(job, k, None)
            for k in ("status", "total_rows", "next_row", "created_count", "message")
        }
        outcome.update(
            {
                k: getattr(job, k)
                for k in ("updated_count", "skipped_count", "failed_count")
                if hasattr(job, k)
            }
        )
        created = Customer.objects.filter(org=org, pk__gt=marks["customer"]).count()
        reasons: dict[str, int] = {}
        for message in job.row_errors.values_list("message", flat=True):
            reasons[message[:80]] = reasons.get(message[:80], 0) + 1
        outcome["failure_reasons"] = dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:5])
    finally:
        imports._enqueue = saved_enqueue
        t0 = time.perf_counter()
        new = Customer.objects.filter(org=org, pk__gt=marks["customer"])
        Contact.objects.filter(org=org, customer__in=new).delete()
        new.delete()
        generate.erase_events(org.pk, marks["event"])
        Notification.objects.filter(org=org, pk__gt=marks["notification"]).delete()
        if job is not None:
            job.file.delete(save=False)
            ImportRowKey.objects.filter(org=org, job=job).delete()
            ImportJob.objects.filter(pk=job.pk).delete()
        cleanup_seconds = time.perf_counter() - t0
    total = upload_seconds + run_seconds
    result = {
        "path": "per-row" if per_row else "set-based",
        "rows": rows,
        "kinds": kinds,
        "file_mb": round(len(content) / 1e6, 2),
        "upload_seconds": round(upload_seconds, 2),
        "run_seconds": round(run_seconds, 2),
        "rows_per_second": round(rows / max(run_seconds, 1e-9)),
        "rows_per_second_with_upload": round(rows / max(total, 1e-9)),
        "target_rows_per_second": IMPORT_TARGET,
        "meets_target": rows / max(run_seconds, 1e-9) >= IMPORT_TARGET,
        "job": outcome,
        "customers_created": created,
        "cleanup_seconds": round(cleanup_seconds, 1),
    }
    log(
        f"import: {rows:,} rows in {run_seconds:.1f} s = {result['rows_per_second']:,} rows/s "
        f"(upload checks {upload_seconds:.1f} s), created {created:,}, job {outcome}"
    )
    return result


# --- export ---------------------------------------------------------------------------------------
def export_once(fmt: str, query: str = "") -> dict[str, Any]:
    """One download of every opportunity as the director (``query``: a built-in list such as
    ``mine``, the few the director owns: the fixed cost of a download), in this process."""
    rss_start = _rss_mb()  # Django and the CRM's modules loaded, before any request
    org = first_org()
    director = director_of(org)
    client = Client()
    client.force_login(director)
    # No warm-up request: ru_maxrss is a peak, so the growth over the figure before the one
    # request is the whole request's (its first-use imports included: a conservative figure).
    rss_before = _rss_mb()
    started = time.perf_counter()
    params = {"export": fmt, **({"query": query} if query else {})}
    response = client.get("/imports/export/opportunities/", params)
    if response.status_code != 200:
        raise RuntimeError(f"export answered {response.status_code}")
    size = 0
    first_byte = None
    for chunk in response.streaming_content:
        if first_byte is None:
            first_byte = time.perf_counter() - started
        size += len(chunk)
    seconds = time.perf_counter() - started
    from crm.pipeline.models import Opportunity

    shown = Opportunity.objects.visible_to(director)
    rows = (shown.filter(owner=director) if query == "mine" else shown).count()
    rss_after = _rss_mb()
    return {
        "format": fmt,
        "query": query or "all",
        "rows": rows,
        "bytes": size,
        "seconds": round(seconds, 2),
        "first_byte_seconds": round(first_byte or 0.0, 2),
        "rows_per_second": round(rows / max(seconds, 1e-9)),
        "rss_start_mb": rss_start,
        "rss_before_mb": rss_before,
        "peak_rss_mb": rss_after,
        "rss_growth_mb": round(rss_after - rss_before, 1),
        "rss_growth_per_100k_rows_mb": round((rss_after - rss_before) * 100_000 / max(rows, 1), 1),
    }


def measure_export(fmt: str, query: str = "", log: Any = print) -> dict[str, Any]:
    """``export_once`` in a fresh Python process, so its peak RSS is the export's alone."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    env.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    proc = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "bench.io_scenarios", "export-once", "--format", fmt]
        + (["--query", query] if query else []),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    projected = result["rss_before_mb"] + result["rss_growth_per_100k_rows_mb"] * 10
    result["projected_rss_1m_rows_mb"] = round(projected, 1)
    result["target_rss_mb"] = EXPORT_RSS_TARGET_MB
    log(
        f"export {fmt}: {result['rows']:,} rows in {result['seconds']:.1f} s = "
        f"{result['rows_per_second']:,} rows/s, peak RSS {result['peak_rss_mb']} MB "
        f"(+{result['rss_growth_mb']} MB over {result['rss_before_mb']} MB; "
        f"+{result['rss_growth_per_100k_rows_mb']} MB per 100k rows)"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.io_scenarios", description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=["run", "export-once"])
    parser.add_argument("--small", action="store_true", help="10,000 import rows")
    parser.add_argument("--rows", type=int, help="import rows (100,000; --small 10,000)")
    parser.add_argument("--only", help="import,export (both)")
    parser.add_argument("--format", default="csv", choices=["csv", "xlsx"])
    parser.add_argument("--query", default="", help="export-once: a built-in list (mine)")
    parser.add_argument("--label", default="io", help="results file suffix (io)")
    parser.add_argument(
        "--per-row", action="store_true", help="import: the row-by-row path (for comparison)"
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "export-once":
        print(json.dumps(export_once(args.format, args.query)))
        return 0
    only = set(args.only.split(",")) if args.only else {"import", "export"}
    rows = args.rows or (10_000 if args.small else 100_000)
    dataset = first_org().settings[generate.MARKER]
    load_before = os.getloadavg()
    results: dict[str, Any] = {
        "date": timezone.localdate().isoformat(),
        "scale": dataset.get("scale", "custom"),
        "label": args.label,
        "dataset_sizes": dataset.get("sizes"),
    }
    if "import" in only:
        results["import"] = measure_import(rows, per_row=args.per_row)
    if "export" in only:
        results["export"] = [measure_export(fmt) for fmt in ("csv", "xlsx")]
        # the same download of the director's few own ones: what a download costs whatever its
        # size, so the growth above it is the rows' (RSS per 100k rows, net)
        small = {fmt: measure_export(fmt, "mine") for fmt in ("csv", "xlsx")}
        for row in results["export"]:
            base = small[row["format"]]
            extra = max(row["rows"] - base["rows"], 1)
            net = (row["peak_rss_mb"] - base["peak_rss_mb"]) * 100_000 / extra
            row["fixed_download"] = base
            row["net_rss_per_100k_rows_mb"] = round(net, 1)
            row["projected_rss_1m_rows_net_mb"] = round(base["peak_rss_mb"] + net * 10, 1)
    results["load_average"] = [round(load_before[0], 1), round(os.getloadavg()[0], 1)]
    if not args.no_record:
        path = RESULTS_DIR / f"{results['date']}-{results['scale']}-{args.label}.json"
        if path.exists() and args.only:  # a partial run updates its part of the file
            earlier = json.loads(path.read_text())
            results = {**earlier, **results, "load_average_earlier": earlier.get("load_average")}
        path.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
        print(f"Wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
