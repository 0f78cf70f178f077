"""The "Follow-ups" section of the customer 360 page and of the opportunity page (R5.3, R4.2): a
timeline of the record's follow-ups, its planned visits, and buttons to add either.

The page has checked that the user sees the record; the section shows all of the record's
follow-ups (``selectors.record_followups``), and offers edit, delete and "record the visit"
only where the user's own scope allows it. Users without ``activities:view`` do not get the
section.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from crm.core.record_sections import back_to
from crm.core.registry import Section, register_section
from crm.core.rights import may, with_rights

from . import selectors
from .choices import METHOD_ICONS
from .models import FollowUp

SECTION_LIMIT = 30


def _link(name: str, **params: Any) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return reverse(name) + (f"?{urlencode(clean)}" if clean else "")


def _photos(followups: list[FollowUp]) -> dict[int, list[dict[str, Any]]]:
    """Photos attached to the follow-ups (through the comments-and-attachments module)."""
    from crm.core.models import Attachment

    if not followups:
        return {}
    rows = (
        Attachment.objects.for_org(followups[0].org_id)
        .filter(
            target_type=FollowUp._meta.label_lower,
            target_id__in=[str(f.pk) for f in followups],
        )
        .order_by("created_at", "pk")
    )
    result: dict[int, list[dict[str, Any]]] = {}
    for attachment in rows:
        try:
            url = reverse("collab:attachment_download", args=[attachment.pk])
        except NoReverseMatch:
            url = ""
        result.setdefault(int(attachment.target_id), []).append(
            {"name": attachment.name, "url": url}
        )
    return result


def _context(request: HttpRequest, record: Any, customer_id: int, opportunity_id: Any) -> Any:
    user: Any = request.user
    if not user.can("activities", "view"):
        return None
    back = back_to(request, "section-followups")
    # what the user may do to each row is read with the rows (one EXISTS per action, R11.2)
    followups = list(
        with_rights(selectors.record_followups(record), user, ("edit", "delete"))[
            : SECTION_LIMIT + 1
        ]
    )
    more = len(followups) > SECTION_LIMIT
    followups = followups[:SECTION_LIMIT]
    editable = {f.pk for f in followups if may(user, f, "edit")}
    deletable = {f.pk for f in followups if may(user, f, "delete")}
    photos = _photos(followups)
    plans = list(with_rights(selectors.record_plans(record), user, ("edit",))[:20])
    plan_editable = {p.pk for p in plans if may(user, p, "edit")}
    can_create = (
        user.can("activities", "create") and getattr(record, "merged_into_id", None) is None
    )
    return {
        "followups": [
            {
                "followup": f,
                "icon": METHOD_ICONS.get(f.method, "ti-message"),
                "can_edit": f.pk in editable and user.can("activities", "edit"),
                "can_delete": f.pk in deletable and user.can("activities", "delete"),
                "photos": photos.get(f.pk, []),
            }
            for f in followups
        ],
        "more_url": _link("activities:followup_list", customer=customer_id) if more else "",
        "plans": [
            {
                "plan": p,
                "can_edit": p.pk in plan_editable and user.can("activities", "edit"),
                "record_url": _link("activities:followup_create", plan=p.pk, next=back),
                "edit_url": reverse("activities:plan_edit", args=[p.pk])
                + "?"
                + urlencode({"next": back}),
            }
            for p in plans
        ],
        "can_create": can_create,
        "add_url": _link(
            "activities:followup_create",
            customer=customer_id,
            opportunity=opportunity_id,
            next=back,
        ),
        "plan_url": _link(
            "activities:plan_create", customer=customer_id, opportunity=opportunity_id, next=back
        ),
        "back": back,
        "show_opportunity": opportunity_id is None,
    }


def customer_followups(request: HttpRequest, customer: Any) -> Any:
    """The customer's follow-ups and planned visits (the page checked the user sees it);
    None (no section) for users who may not view follow-ups."""
    return _context(request, customer, customer.pk, None)


def opportunity_followups(request: HttpRequest, opportunity: Any) -> Any:
    """The opportunity's follow-ups and planned visits (the page checked the user sees it);
    None (no section) for users who may not view follow-ups."""
    return _context(request, opportunity, opportunity.customer_id, opportunity.pk)


def register() -> None:
    register_section(
        "customers.customer",
        Section(
            40,
            "followups",
            _("Follow-ups"),
            "activities/sections/followups.html",
            customer_followups,
        ),
    )
    register_section(
        "pipeline.opportunity",
        Section(
            20,
            "followups",
            _("Follow-ups"),
            "activities/sections/followups.html",
            opportunity_followups,
        ),
    )


register()
