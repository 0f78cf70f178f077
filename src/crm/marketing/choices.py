"""Campaign vocabularies."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CampaignType(models.TextChoices):
    EXHIBITION = "exhibition", _("Exhibition")
    WEBINAR = "webinar", _("Webinar")
    EMAIL = "email", _("E-mail")
    ADS = "ads", _("Advertising")
    REFERRAL = "referral", _("Referral")
    OTHER = "other", _("Other")


class CampaignStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
