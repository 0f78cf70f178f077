"""Values the pipeline code branches on (R4.4). Admin-edited lists are dictionary tables instead
(``crm.pipeline.models.DictionaryItem``)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class StageKind(models.TextChoices):
    """What reaching a stage means. Code decides on the kind, never on a stage's name."""

    OPEN = "open", pgettext_lazy("stage kind", "Open")
    WON = "won", pgettext_lazy("stage kind", "Won")
    LOST = "lost", pgettext_lazy("stage kind", "Lost")


#: Tabler badge colour per stage kind.
STAGE_KIND_COLORS: dict[str, str] = {
    StageKind.OPEN: "blue",
    StageKind.WON: "green",
    StageKind.LOST: "red",
}

CLOSED_KINDS = (StageKind.WON, StageKind.LOST)


class OpportunityStatus(models.TextChoices):
    """An opportunity's status (seed 001: 继续, 暂停, 成功, 失败, 放弃)."""

    CONTINUE = "continue", _("Continue")
    PAUSE = "pause", _("Paused")
    WON = "won", pgettext_lazy("opportunity status", "Won")
    LOST = "lost", pgettext_lazy("opportunity status", "Lost")
    ABANDONED = "abandoned", _("Abandoned")


#: Tabler badge colour per opportunity status.
STATUS_COLORS: dict[str, str] = {
    OpportunityStatus.CONTINUE: "blue",
    OpportunityStatus.PAUSE: "yellow",
    OpportunityStatus.WON: "green",
    OpportunityStatus.LOST: "red",
    OpportunityStatus.ABANDONED: "secondary",
}

#: Statuses of an opportunity that is still being worked.
OPEN_STATUSES = (OpportunityStatus.CONTINUE, OpportunityStatus.PAUSE)
#: Statuses that close an opportunity (need a manager to reopen).
CLOSED_STATUSES = (OpportunityStatus.WON, OpportunityStatus.LOST, OpportunityStatus.ABANDONED)
