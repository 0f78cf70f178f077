"""Values the import code branches on."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class JobStatus(models.TextChoices):
    """Where an import stands. ``running`` jobs whose heartbeat stopped were killed: they are
    resumed from the last committed batch."""

    DRAFT = "draft", _("Being set up")
    QUEUED = "queued", _("Waiting to run")
    RUNNING = "running", _("Running")
    DONE = "done", pgettext_lazy("import", "Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", pgettext_lazy("import", "Cancelled")


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
STATUS_COLORS: dict[str, str] = {
    JobStatus.DRAFT: "secondary",
    JobStatus.QUEUED: "azure",
    JobStatus.RUNNING: "blue",
    JobStatus.DONE: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "secondary",
}


class DuplicateMode(models.TextChoices):
    """What a row does when it matches an existing record."""

    SKIP = "skip", _("Skip the row")
    UPDATE = "update", _("Update the existing record")
    CREATE = "create", _("Create a new record anyway")


class Encoding(models.TextChoices):
    """Text encodings of CSV files (XLSX needs none)."""

    AUTO = "auto", _("Detect (UTF-8, else GBK/GB18030)")
    UTF8 = "utf-8", _("UTF-8")
    GB18030 = "gb18030", _("GBK / GB18030 (Excel on Chinese Windows)")


class FileFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"
