"""Imports (导入): the job of one uploaded file, saved column mappings, the keys that make
re-runs idempotent, and the rows an import refused.

An :class:`ImportJob` belongs to the person who uploaded the file and only they see it (its
file may hold any data of the organisation). Its rows are written through the services of the
module the resource belongs to (``crm.imports.resources``), batch by batch; the counters and
``next_row`` are written in the same transaction as each batch, so a killed import resumes
exactly after its last committed batch.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.core.models import TenantModel
from crm.core.scoping import ScopedQuerySet, ScopeFields

from .choices import DuplicateMode, Encoding, FileFormat, JobStatus


def _import_path(instance: ImportJob, filename: str) -> str:
    """``imports/<org>/<yyyy>/<mm>/<random>.<ext>``: the user's file name is never a path."""
    import secrets

    from django.utils import timezone

    ext = "xlsx" if filename.lower().endswith(".xlsx") else "csv"
    now = timezone.now()
    return f"imports/{instance.org_id}/{now:%Y/%m}/{secrets.token_hex(16)}.{ext}"


class ImportJob(TenantModel):
    """One uploaded file being imported into one resource (customers, leads…).

    ``headers`` are the file's column titles and ``mapping`` the field key chosen for each
    column ("" = not imported), aligned by position. ``next_row`` counts the data rows already
    committed (blank rows are not counted); ``run_token`` names the worker that runs the job,
    ``heartbeat_at`` when it last committed (a running job whose heartbeat is old was killed).
    """

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    resource = models.CharField(_("import into"), max_length=30)
    file = models.FileField(_("file"), upload_to=_import_path, max_length=300)
    file_name = models.CharField(_("file name"), max_length=255)
    file_size = models.PositiveBigIntegerField(_("size"), default=0)
    file_format = models.CharField(
        _("format"), max_length=10, choices=FileFormat.choices, default=FileFormat.CSV
    )
    encoding = models.CharField(
        _("encoding"), max_length=20, choices=Encoding.choices, default=Encoding.AUTO
    )
    headers = models.JSONField(_("columns"), default=list, blank=True)
    mapping = models.JSONField(_("column mapping"), default=list, blank=True)
    duplicate_mode = models.CharField(
        _("when a row matches an existing record"),
        max_length=10,
        choices=DuplicateMode.choices,
        default=DuplicateMode.SKIP,
    )
    strict = models.BooleanField(_("all or nothing"), default=False)
    status = models.CharField(
        _("status"), max_length=12, choices=JobStatus.choices, default=JobStatus.DRAFT
    )
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    next_row = models.PositiveIntegerField(_("rows done"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    skipped_count = models.PositiveIntegerField(_("skipped"), default=0)
    failed_count = models.PositiveIntegerField(_("failed"), default=0)
    message = models.TextField(_("message"), blank=True)
    run_token = models.CharField(max_length=32, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner="created_by", personal=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "created_by", "-created_at"], name="import_owner_idx"),
            models.Index(fields=["org", "status", "heartbeat_at"], name="import_status_idx"),
        ]

    def __str__(self) -> str:
        return self.file_name


class ImportTemplate(TenantModel):
    """A saved column mapping (导入模板) of one person for one resource: column title → field,
    plus the options chosen with it."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("owner"),
    )
    resource = models.CharField(_("import into"), max_length=30)
    name = models.CharField(_("name"), max_length=100)
    columns = models.JSONField(_("column mapping"), default=dict, blank=True)
    duplicate_mode = models.CharField(
        _("when a row matches an existing record"),
        max_length=10,
        choices=DuplicateMode.choices,
        default=DuplicateMode.SKIP,
    )
    strict = models.BooleanField(_("all or nothing"), default=False)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner="owner", personal=True)

    class Meta:
        verbose_name = _("import mapping")
        verbose_name_plural = _("import mappings")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "owner", "resource", "name"], name="import_template_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ImportRowKey(TenantModel):
    """A row already imported into ``resource``: ``key`` is ``h:<sha256 of its values>`` or
    ``x:<external id>``; ``object_id`` the record it created or updated. Re-running a file
    skips rows whose key is known (while the record still exists), so nothing is created twice.
    Bookkeeping of the import engine: never shown to users."""

    resource = models.CharField(max_length=30)
    key = models.CharField(max_length=200)
    object_id = models.CharField(max_length=64)
    job = models.ForeignKey(
        ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    line = models.PositiveIntegerField(default=0)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "settings"

    class Meta:
        verbose_name = _("imported row")
        verbose_name_plural = _("imported rows")
        constraints = [
            models.UniqueConstraint(fields=["org", "resource", "key"], name="import_rowkey_unique")
        ]

    def __str__(self) -> str:
        return f"{self.resource}:{self.key}"


class ImportRowError(TenantModel):
    """A row an import refused: its line in the file and the reason, in the uploader's
    language. The row's values are read again from the file for the bad-rows download."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row_index = models.PositiveIntegerField()
    line = models.PositiveIntegerField(_("line"))
    message = models.TextField(_("reason"))

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(via="job")

    class Meta:
        verbose_name = _("refused row")
        verbose_name_plural = _("refused rows")
        ordering = ["line", "pk"]
        indexes = [models.Index(fields=["org", "job", "line"], name="import_error_line_idx")]

    def __str__(self) -> str:
        return f"{self.line}: {self.message[:50]}"
