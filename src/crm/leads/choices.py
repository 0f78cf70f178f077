"""Values the leads module branches on (TextChoices). Sources and invalid reasons are
dictionary items (``DictionaryKind.SOURCE``, ``DictionaryKind.INVALID_REASON``), not choices."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class PoolKind(models.TextChoices):
    """The total lead pool (one per organisation, run by marketing) or a sub-pool."""

    TOTAL = "total", _("Total pool")
    SUB = "sub", _("Sub-pool")


class LeadStatus(models.TextChoices):
    """``new → contacted → qualified → converted``; any open status → ``invalid`` (with a
    reason); ``invalid`` can be reopened (back to ``new``)."""

    NEW = "new", _("New")
    CONTACTED = "contacted", _("Contacted")
    QUALIFIED = "qualified", _("Qualified")
    CONVERTED = "converted", _("Converted")
    INVALID = "invalid", _("Invalid")


#: statuses in which a lead is still being worked (counts towards a rep's open workload)
OPEN_STATUSES = [LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED]


class Strategy(models.TextChoices):
    """How an assignment rule picks the rep."""

    ROUND_ROBIN = "round_robin", _("Round-robin")
    LEAST_LOAD = "least_load", _("Least open workload")
    FIXED_USER = "fixed_user", _("Fixed person")


class RuleObject(models.TextChoices):
    """What an assignment rule assigns (leads now; other record types may follow)."""

    LEAD = "lead", _("Lead")


#: the lead attributes an assignment rule may put conditions on
CONDITION_FIELDS = ["region", "industry", "source", "product_line"]

#: H-LSCORE: score bounds an assignment rule may add to its conditions (integers, inclusive)
MIN_SCORE = "min_score"
MAX_SCORE = "max_score"
SCORE_CONDITIONS = [MIN_SCORE, MAX_SCORE]
#: the most a score bound may be (either sign)
SCORE_BOUND = 1_000_000
