"""Values the code branches on (TextChoices); admin-edited lists are dictionary items."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Grade(models.TextChoices):
    A = "A", _("A (key)")
    B = "B", _("B (important)")
    C = "C", _("C (ordinary)")


class MoveKind(models.TextChoices):
    """How a customer changed hands (公海 moves)."""

    CREATE = "create", pgettext_lazy("ownership move", "Created")
    CLAIM = "claim", _("Claimed from the pool")
    RELEASE = "release", _("Released to the pool")
    ASSIGN = "assign", _("Assigned from the pool")
    TRANSFER = "transfer", _("Transferred")
    RETURN = "return", _("Returned by rule")
    MERGE = "merge", _("Merged")


class ReturnReason(models.TextChoices):
    NO_FOLLOWUP = "no_followup", _("No follow-up in time")
    NO_DEAL = "no_deal", _("No won deal in time")
