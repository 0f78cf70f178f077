"""Pages of the import wizard (R10.3): upload → map columns → preview → run → progress and
results, plus the templates to download and the bad rows to fix.

An import belongs to the person who uploaded it: every page about one job reads it through
``get_scoped_or_404`` (anyone else, in or out of the organisation, gets 404). Which resources a
user may import into follows their permissions (importing customers needs customers:create…);
the rows themselves go through the modules' services, which check every rule again.
"""

from __future__ import annotations

import tempfile
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm.core.errors import DomainError, NotFound, PermissionDenied
from crm.core.forms import apply_domain_error, error_text, raise_unless_form_error
from crm.core.scoping import get_scoped_or_404
from crm.org.models import User

from . import readers, services
from .choices import ACTIVE_STATUSES, STATUS_COLORS, JobStatus
from .exporters import CHUNK, XLSX_TYPE, download
from .forms import MappingForm, UploadForm
from .models import ImportJob, ImportRowError, ImportTemplate
from .registry import apply_template, get_resource, resources_for

IMPORTS = gettext_lazy("Import")
SHOWN_ERRORS = 200


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _job(request: HttpRequest, pk: int) -> ImportJob:
    return get_scoped_or_404(ImportJob, _me(request), pk)


def _crumbs(job: ImportJob | None = None) -> list[tuple[Any, str | None]]:
    if job is None:
        return [(IMPORTS, None)]
    return [(IMPORTS, reverse("imports:list")), (job.file_name, None)]


def _file_response(write: Any, filename: str) -> StreamingHttpResponse:
    """Write an XLSX with ``write(handle)`` to a temporary file and stream it."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the response's generator closes it
    try:
        write(handle)
    except BaseException:
        handle.close()
        raise
    handle.seek(0)

    def chunks() -> Any:
        with handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    return download(chunks(), filename, XLSX_TYPE)


# --- step 1: the list and the upload ---------------------------------------------------------
@login_required
def import_list(request: HttpRequest) -> HttpResponse:
    """My imports, the upload form and the templates of what I may import."""
    me = _me(request)
    resources = resources_for(me)
    form = UploadForm(
        request.POST or None,
        request.FILES or None,
        resources=resources,
        initial={"resource": request.GET.get("resource", "")},
    )
    if request.method == "POST":
        if not resources:
            raise PermissionDenied()
        if form.is_valid():
            try:
                job = services.create_job(
                    actor=me,
                    resource=form.cleaned_data["resource"],
                    uploaded_file=form.cleaned_data["file"],
                    encoding=form.cleaned_data["encoding"],
                )
            except DomainError as exc:
                raise_unless_form_error(exc)
                apply_domain_error(form, exc)
            else:
                return redirect("imports:map", pk=job.pk)
    jobs = ImportJob.objects.visible_to(me).order_by("-created_at", "-pk")[:50]
    labels = {r.key: r.label for r in resources}
    return render(
        request,
        "imports/import_list.html",
        {
            "form": form,
            "resources": resources,
            "jobs": [
                {
                    "job": j,
                    "label": labels.get(j.resource)
                    or getattr(get_resource(j.resource), "label", ""),
                    "color": STATUS_COLORS.get(j.status, "secondary"),
                }
                for j in jobs
            ],
            "max_bytes": readers.max_bytes(),
            "max_rows": readers.max_rows(),
            "crumbs": _crumbs(),
        },
    )


@login_required
def template_download(request: HttpRequest) -> HttpResponseBase:
    """The XLSX template of a resource: its column titles in Chinese and an example row."""
    resource = get_resource(request.GET.get("resource") or "", _me(request).org_id)
    if resource is None:
        raise NotFound()
    if not resource.may_import(_me(request)):
        raise PermissionDenied()
    return _file_response(
        lambda handle: services.write_template(resource, handle),
        f"{_('Import template')}-{resource.label}.xlsx",
    )


# --- step 2: mapping -------------------------------------------------------------------------
def _samples(job: ImportJob) -> list[list[str]]:
    try:
        with services.open_job_table(job) as table:
            rows = []
            for _line, cells in table.rows():
                rows.append(cells)
                if len(rows) >= 3:
                    break
            return rows
    except DomainError:
        return []


@login_required
def import_map(request: HttpRequest, pk: int) -> HttpResponse:
    """Choose the field of each column (suggested from the titles, or from a saved mapping),
    what duplicates do and strict mode; optionally save the mapping."""
    me = _me(request)
    job = _job(request, pk)
    resource = get_resource(job.resource, job.org_id)
    if resource is None:
        raise NotFound()
    if job.status != JobStatus.DRAFT:
        return redirect("imports:detail", pk=job.pk)
    templates = ImportTemplate.objects.visible_to(me).filter(resource=job.resource)
    mapping = list(job.mapping)
    initial: dict[str, Any] = {"duplicate_mode": job.duplicate_mode, "strict": job.strict}
    chosen = request.GET.get("template") or ""
    if chosen.isdigit():
        template = templates.filter(pk=int(chosen)).first()
        if template is not None:
            mapping = apply_template(resource, job.headers, template.columns)
            initial = {"duplicate_mode": template.duplicate_mode, "strict": template.strict}
    initial |= {f"col_{i}": key for i, key in enumerate(mapping)}
    form = MappingForm(
        request.POST or None,
        resource=resource,
        headers=job.headers,
        samples=_samples(job),
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.configure_job(
                actor=me,
                job=job,
                mapping=form.mapping(),
                duplicate_mode=form.cleaned_data["duplicate_mode"],
                strict=form.cleaned_data["strict"],
            )
            if form.cleaned_data.get("save_as"):
                saved = services.save_template(actor=me, job=job, name=form.cleaned_data["save_as"])
                messages.success(request, _("Mapping “%(name)s” saved.") % {"name": saved.name})
        except DomainError as exc:
            raise_unless_form_error(exc)
            apply_domain_error(form, exc)
        else:
            return redirect("imports:preview", pk=job.pk)
    return render(
        request,
        "imports/import_map.html",
        {
            "job": job,
            "resource": resource,
            "form": form,
            "columns": form.bound_columns(),
            "templates": templates,
            "chosen_template": chosen,
            "required": resource.required,
            "crumbs": _crumbs(job),
        },
    )


@login_required
@require_POST
def template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete one of my saved mappings."""
    template = get_scoped_or_404(ImportTemplate, _me(request), pk)
    services.delete_template(actor=_me(request), template=template)
    messages.success(request, _("Mapping “%(name)s” deleted.") % {"name": template.name})
    back = request.POST.get("job") or ""
    if back.isdigit() and ImportJob.objects.visible_to(_me(request)).filter(pk=int(back)).exists():
        return redirect("imports:map", pk=int(back))
    return redirect("imports:list")


# --- step 3: preview -------------------------------------------------------------------------
@login_required
def import_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The first rows with what the import would do to each, computed by the import itself
    in a transaction that is rolled back."""
    me = _me(request)
    job = _job(request, pk)
    resource = get_resource(job.resource, job.org_id)
    if resource is None:
        raise NotFound()
    if job.status != JobStatus.DRAFT:
        return redirect("imports:detail", pk=job.pk)
    try:
        outcomes = services.preview(actor=me, job=job)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
        return redirect("imports:map", pk=job.pk)
    mapped = [(i, resource.field_named(key)) for i, key in enumerate(job.mapping) if key]
    return render(
        request,
        "imports/import_preview.html",
        {
            "job": job,
            "resource": resource,
            "columns": [(job.headers[i], f.label if f else "") for i, f in mapped],
            "rows": [
                {
                    "outcome": o,
                    "cells": [o.values[i] if i < len(o.values) else "" for i, _f in mapped],
                }
                for o in outcomes
            ],
            "counts": {
                key: sum(1 for o in outcomes if o.action == key)
                for key in (services.CREATED, services.UPDATED, services.SKIPPED, services.FAILED)
            },
            "crumbs": _crumbs(job),
        },
    )


# --- step 4: run, progress, results ----------------------------------------------------------
@login_required
@require_POST
def import_run(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    try:
        services.start_job(actor=_me(request), job=job)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
        return redirect("imports:map", pk=job.pk)
    return redirect("imports:detail", pk=job.pk)


def _status_context(job: ImportJob, user: User) -> dict[str, Any]:
    total = max(job.total_rows, 1)
    done = min(job.next_row, job.total_rows)
    finished = job.status not in (*ACTIVE_STATUSES, JobStatus.DRAFT)
    errors = (
        list(ImportRowError.objects.visible_to(user).filter(job=job)[:SHOWN_ERRORS])
        if finished or job.failed_count
        else []
    )
    return {
        "job": job,
        "active": job.status in ACTIVE_STATUSES,
        "finished": finished,
        "percent": 100 if job.status == JobStatus.DONE else int(done * 100 / total),
        "done": done,
        "color": STATUS_COLORS.get(job.status, "secondary"),
        "stale": services.is_stale(job),
        "errors": errors,
        "more_errors": max(0, job.failed_count - len(errors)),
    }


@login_required
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The job's live progress (polled every 2 s while it runs) and, at the end, its counts,
    refused rows and the bad-rows download."""
    job = _job(request, pk)
    if job.status == JobStatus.DRAFT:
        return redirect("imports:map", pk=job.pk)
    resource = get_resource(job.resource, job.org_id)
    return render(
        request,
        "imports/import_detail.html",
        {**_status_context(job, _me(request)), "resource": resource, "crumbs": _crumbs(job)},
    )


@login_required
def import_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress partial the detail page polls."""
    job = _job(request, pk)
    return render(request, "imports/_status.html", _status_context(job, _me(request)))


@login_required
def import_errors(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The refused rows as XLSX with an extra "error" column, to fix and upload again."""
    job = _job(request, pk)
    if not job.failed_count:
        raise NotFound()
    stem = job.file_name.rsplit(".", 1)[0]
    return _file_response(
        lambda handle: services.write_bad_rows(job, handle),
        f"{stem}-{_('errors')}.xlsx",
    )


@login_required
@require_POST
def import_resume(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    try:
        services.resume_job(actor=_me(request), job=job)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("The import continues after its last saved batch."))
    return redirect("imports:detail", pk=job.pk)


@login_required
@require_POST
def import_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    try:
        services.cancel_job(actor=_me(request), job=job)
    except DomainError as exc:
        raise_unless_form_error(exc)
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Import cancelled."))
    return redirect("imports:list")
