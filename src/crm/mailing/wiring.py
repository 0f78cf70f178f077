"""How the e-mail campaign module plugs into the base layer (H-MAIL): menu, audit labels and
the sending job."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

VERBS = {
    "emailcampaign.created": _("E-mail campaign composed"),
    "emailcampaign.updated": _("E-mail campaign changed"),
    "emailcampaign.scheduled": _("E-mail campaign scheduled"),
    "emailcampaign.sending": _("E-mail campaign sent"),
    "emailcampaign.cancelled": _("E-mail campaign cancelled"),
    "emailcampaign.deleted": _("E-mail campaign deleted"),
    "mailing.unsubscribed": _("Address unsubscribed"),
    "mailing.unsubscribe_removed": _("Address removed from the unsubscribe list"),
}


def register() -> None:
    from crm.core.audit import register_verbs

    register_verbs(VERBS)
    from crm.org.demo import DEMO_CLEANERS

    if clean_demo not in DEMO_CLEANERS:
        DEMO_CLEANERS.insert(0, clean_demo)
    from . import menu, tasks  # noqa: F401 - menu entries, periodic job


def clean_demo(org: object) -> None:
    """E-mail campaigns protect their owners: a demo reset deletes them first."""
    from .models import EmailCampaign

    EmailCampaign.objects.for_org(org.pk).delete()  # type: ignore[attr-defined]
