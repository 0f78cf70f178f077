"""Customer care reminders: contact birthdays and holiday greetings, to the owners, each exactly
once (a unique key per reminder and year makes repeated or concurrent runs harmless).

Organisation settings (``Organization.settings``):
  ``birthday_days_before`` (default 1): remind this many days ahead of a contact's birthday.
  ``holidays``: list of ``{"name": "国庆节", "month": 10, "day": 1}`` (every year) or
  ``{"name": "春节", "date": "2027-02-06"}`` (one year, for lunar holidays), each with an optional
  ``"days_before"`` (default 3). Defaults: 元旦, 劳动节, 国庆节.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.core.notifications import notify

from .models import CareReminderLog, Contact, Customer

DEFAULT_HOLIDAYS: list[dict[str, Any]] = [
    {"name": gettext_lazy("New Year's Day"), "month": 1, "day": 1},
    {"name": gettext_lazy("Labour Day"), "month": 5, "day": 1},
    {"name": gettext_lazy("National Day"), "month": 10, "day": 1},
]


def _once(org_id: int, key: str) -> bool:
    """True the first time ``key`` is seen for the organisation, False ever after."""
    try:
        with transaction.atomic():
            CareReminderLog.objects.create(org_id=org_id, key=key[:200])
    except IntegrityError:
        return False
    return True


def _birthday_this_year(birthday: date, year: int) -> date:
    if birthday.month == 2 and birthday.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return birthday.replace(year=year)


def holidays_on(org: Any, today: date) -> list[tuple[str, date]]:
    """Holidays whose reminder day is ``today``: (name, holiday date)."""
    result = []
    for h in (org.settings or {}).get("holidays") or DEFAULT_HOLIDAYS:
        try:
            if "date" in h:
                when = date.fromisoformat(str(h["date"]))
            else:
                when = date(today.year, int(h["month"]), int(h["day"]))
                if when < today:
                    when = date(today.year + 1, int(h["month"]), int(h["day"]))
        except (KeyError, TypeError, ValueError):
            continue
        if when - timedelta(days=int(h.get("days_before", 3))) == today:
            result.append((str(h.get("name", "")), when))
    return result


def remind_org(org: Any, today: date | None = None) -> int:
    """Send today's birthday and holiday reminders of one organisation; returns how many."""
    with timezone.override(org.time_zone):
        today = today or timezone.localdate()
    sent = 0
    ahead = int((org.settings or {}).get("birthday_days_before", 1))
    target = today + timedelta(days=ahead)
    candidates = Contact.objects.filter(
        org_id=org.pk,
        birthday__isnull=False,
        customer__owner__isnull=False,
        customer__merged_into__isnull=True,
    )
    months = {target.month} | ({2} if target.month == 2 else set())
    for contact in candidates.filter(birthday__month__in=months).select_related("customer__owner"):
        if _birthday_this_year(contact.birthday, target.year) != target:  # type: ignore[arg-type]
            continue
        owner = contact.customer.owner
        if owner and owner.is_active and _once(org.pk, f"birthday:{contact.pk}:{target.year}"):
            notify(
                recipient=owner,
                verb="contact.birthday",
                target=contact.customer,
                url=f"/customers/{contact.customer_id}/",
                message=_("%(name)s of “%(customer)s” has a birthday on %(date)s.")
                % {
                    "name": contact.name,
                    "customer": contact.customer.name,
                    "date": target.strftime("%m-%d"),
                },
            )
            sent += 1
    for name, when in holidays_on(org, today):
        per_owner: dict[int, int] = defaultdict(int)
        for owner_id in Customer.objects.filter(
            org_id=org.pk, owner__isnull=False, owner__is_active=True, merged_into__isnull=True
        ).values_list("owner_id", flat=True):
            per_owner[owner_id] += 1
        from crm.org.models import User

        for owner in User.objects.filter(pk__in=list(per_owner)):
            if _once(org.pk, f"holiday:{name}:{when.isoformat()}:{owner.pk}"):
                notify(
                    recipient=owner,
                    verb="holiday.greeting",
                    url="/customers/",
                    message=_("%(holiday)s is on %(date)s: send greetings to your %(n)d customers.")
                    % {"holiday": name, "date": when.strftime("%m-%d"), "n": per_owner[owner.pk]},
                )
                sent += 1
    return sent
