"""/api/v1/imports/: import files through the same engine as the wizard.

Upload a file (multipart) to get a draft job with a suggested column mapping, change the
mapping and options with PATCH, check the first rows with ``preview`` (nothing is saved),
``start`` it and poll the job until it is done; refused rows are listed with their line
numbers. An import belongs to its uploader: anyone else gets 404.
"""

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from crm.core.api import Paginated, scoped, scoped_get
from crm.org.models import User

from . import services
from .models import ImportJob, ImportRowError, ImportTemplate
from .registry import resources_for
from .schemas import (
    ImportJobRead,
    ImportJobUpdate,
    ImportPreviewRead,
    ImportResourceRead,
    ImportRowErrorRead,
)

router = Router()


class ImportMappingRead(Schema):
    """A saved column mapping (导入模板) of mine: column title → field key, and its options."""

    id: int
    resource: str
    name: str
    columns: dict[str, str]
    duplicate_mode: str
    strict: bool


class ImportMappingCreate(Schema):
    """Save the mapping and options of one of my imports under a name (same name: replaced)."""

    job_id: int = Field(..., ge=1, le=2**63 - 1)
    name: str = Field(..., min_length=1, max_length=100)


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _job(request: HttpRequest, job_id: int) -> ImportJob:
    return scoped_get(request, ImportJob, job_id)


@router.get(
    "/resources",
    response=list[ImportResourceRead],
    summary="What I may import, with the fields and the column titles each field recognises",
)
def list_resources(request: HttpRequest) -> Any:
    return resources_for(request.user)


@router.get("/jobs", response=list[ImportJobRead], summary="My imports, newest first")
@paginate(Paginated)
def list_jobs(request: HttpRequest) -> Any:
    return scoped(request, ImportJob).order_by("-created_at", "-pk")


#: optional in the schema, so that a missing or empty file (some clients drop an empty part) gets
#: the service's clear 400 "Upload a .csv or .xlsx file." instead of a bare 422
UPLOAD = File(None, description="The CSV or XLSX file (required)")


@router.post(
    "/jobs",
    response={201: ImportJobRead},
    summary="Upload a CSV or XLSX file (multipart: resource, file, encoding): a draft import",
)
def create_job(
    request: HttpRequest,
    file: UploadedFile | None = UPLOAD,
    resource: str = Form(
        ..., min_length=1, max_length=30, description="customers, contacts, leads, …"
    ),
    encoding: Literal["auto", "utf-8", "gb18030"] = Form("auto"),
) -> Any:
    job = services.create_job(
        actor=_me(request), resource=resource, uploaded_file=file, encoding=encoding
    )
    return Status(201, job)


@router.get("/jobs/{job_id}", response=ImportJobRead, summary="One import and its progress")
def get_job(request: HttpRequest, job_id: int) -> Any:
    return _job(request, job_id)


@router.patch(
    "/jobs/{job_id}", response=ImportJobRead, summary="Change the mapping and options of a draft"
)
def update_job(request: HttpRequest, job_id: int, payload: ImportJobUpdate) -> Any:
    job = _job(request, job_id)
    return services.configure_job(
        actor=_me(request),
        job=job,
        mapping=job.mapping if payload.mapping is None else payload.mapping,
        duplicate_mode=payload.duplicate_mode or job.duplicate_mode,
        strict=job.strict if payload.strict is None else payload.strict,
    )


@router.post(
    "/jobs/{job_id}/preview",
    response=list[ImportPreviewRead],
    summary="What the first 20 rows would do (computed and rolled back: nothing is saved)",
)
def preview_job(request: HttpRequest, job_id: int) -> Any:
    return services.preview(actor=_me(request), job=_job(request, job_id))


@router.post("/jobs/{job_id}/start", response=ImportJobRead, summary="Run a draft import")
def start_job(request: HttpRequest, job_id: int) -> Any:
    job = services.start_job(actor=_me(request), job=_job(request, job_id))
    job.refresh_from_db()
    return job


@router.post(
    "/jobs/{job_id}/resume",
    response=ImportJobRead,
    summary="Continue an interrupted import after its last committed batch",
)
def resume_job(request: HttpRequest, job_id: int) -> Any:
    job = services.resume_job(actor=_me(request), job=_job(request, job_id))
    job.refresh_from_db()
    return job


@router.post("/jobs/{job_id}/cancel", response=ImportJobRead, summary="Stop or drop an import")
def cancel_job(request: HttpRequest, job_id: int) -> Any:
    return services.cancel_job(actor=_me(request), job=_job(request, job_id))


@router.get(
    "/jobs/{job_id}/errors",
    response=list[ImportRowErrorRead],
    summary="The refused rows of an import: line number and reason",
)
@paginate(Paginated)
def list_job_errors(request: HttpRequest, job_id: int) -> Any:
    job = _job(request, job_id)
    return scoped(request, ImportRowError).filter(job=job).order_by("line", "pk")


# --- saved mappings (R10.1, api-gaps: the wizard's "save this mapping" and its delete) ------------
@router.get(
    "/mappings", response=list[ImportMappingRead], summary="My saved column mappings, by name"
)
@paginate(Paginated)
def list_mappings(
    request: HttpRequest,
    resource: str | None = Query(None, max_length=30, description="Only those of one resource"),
) -> Any:
    qs = scoped(request, ImportTemplate)
    if resource:
        qs = qs.filter(resource=resource)
    return qs.order_by("name", "pk")


@router.post(
    "/mappings",
    response={201: ImportMappingRead},
    summary="Save an import's mapping and options under a name (replaces one of that name)",
)
def create_mapping(request: HttpRequest, payload: ImportMappingCreate) -> Any:
    job = _job(request, payload.job_id)
    return Status(201, services.save_template(actor=_me(request), job=job, name=payload.name))


@router.delete("/mappings/{mapping_id}", response={204: None}, summary="Delete a saved mapping")
def delete_mapping(request: HttpRequest, mapping_id: int) -> Any:
    template = scoped_get(request, ImportTemplate, mapping_id)
    services.delete_template(actor=_me(request), template=template)
    return Status(204, None)
