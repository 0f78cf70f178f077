"""Comments and attachments on record pages: the record kinds that take them, and the
"Comments" and "Attachments" cards of the customer 360 page and the opportunity page.

Imported once the apps are ready (``CoreConfig.ready``); registering twice replaces.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from . import collab
from .audit import register_verbs
from .registry import Section, register_section


def _customer_url(customer: Any) -> str:
    return reverse("customers:detail", args=[customer.pk])


def _opportunity_url(opportunity: Any) -> str:
    return reverse("opportunities:detail", args=[opportunity.pk])


def _followup_url(followup: Any) -> str:
    """A follow-up is shown on its customer's page."""
    return reverse("customers:detail", args=[followup.customer_id])


def _base(request: HttpRequest, record: Any) -> dict[str, Any]:
    spec = collab.spec_of(record)
    return {
        "key": spec.key,
        "id": record.pk,
        "dom": f"{spec.key}-{record.pk}",
    }


def comments_context(request: HttpRequest, record: Any) -> dict[str, Any]:
    """The record's comments (the page checked that the user sees the record)."""
    user: Any = request.user
    admin = user.is_org_admin
    rows = [
        {
            "comment": c,
            "html": collab.render_body(c),
            "can_edit": c.author_id == user.pk,
            "can_delete": c.author_id == user.pk or admin,
        }
        for c in collab.comments_on(record)
    ]
    return {"collab": _base(request, record), "comments": rows}


def attachments_context(request: HttpRequest, record: Any) -> dict[str, Any]:
    """The record's files, and whether the user may add some (edit rights on the record)."""
    user: Any = request.user
    editable = collab.may(user, record, "edit")
    rows = [
        {
            "file": a,
            "can_delete": editable or a.uploaded_by_id == user.pk,
        }
        for a in collab.attachments_on(record)
    ]
    extensions = collab.allowed_extensions()
    return {
        "collab": _base(request, record),
        "attachments": rows,
        "can_upload": editable,
        "limit": filesizeformat(collab.max_bytes()),
        "accept": ",".join(f".{e}" for e in extensions),
        "types": ", ".join(e.upper() for e in extensions),
    }


def register() -> None:
    collab.register_target("customer", "customers.Customer", _customer_url)
    collab.register_target("opportunity", "pipeline.Opportunity", _opportunity_url)
    collab.register_target("followup", "activities.FollowUp", _followup_url)
    register_verbs(collab.VERBS)
    for label, comments_order, files_order in (
        ("customers.customer", 50, 60),
        ("pipeline.opportunity", 30, 40),
    ):
        register_section(
            label,
            Section(
                comments_order,
                "comments",
                _("Comments"),
                "core/collab/section_comments.html",
                comments_context,
            ),
        )
        register_section(
            label,
            Section(
                files_order,
                "attachments",
                _("Attachments"),
                "core/collab/section_attachments.html",
                attachments_context,
            ),
        )


register()
