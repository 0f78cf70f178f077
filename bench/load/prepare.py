"""Prepare a load run: for the rep, manager and director of the bench organisation (or, on the
embedded SQLite default, of the demo organisation) an API token, a logged-in session and the
records they work on; written as JSON for ``bench/load/locustfile.py``.

``python -m bench.load.prepare OUT.json`` with the Django settings of the server under load.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402

from crm.customers.models import Customer  # noqa: E402
from crm.org import services as org_services  # noqa: E402
from crm.org.models import ApiToken, Department, Organization, User  # noqa: E402
from crm.org.permissions import BuiltinRole  # noqa: E402
from crm.pipeline.choices import OpportunityStatus  # noqa: E402
from crm.pipeline.models import Opportunity  # noqa: E402

TOKEN_NAME = "load"  # noqa: S105 - the name of the tokens this run creates


def actors(org: Organization) -> dict[str, User]:
    """A rep who owns open opportunities, a manager above them (or any) and a director."""
    people = User.objects.filter(org=org, is_active=True).order_by("pk")
    busy = (
        Opportunity.objects.filter(
            org=org, status=OpportunityStatus.CONTINUE, owner__roles__code=BuiltinRole.REP
        )
        .values_list("owner_id", flat=True)
        .first()
    )
    rep = people.filter(pk=busy).first() if busy else None
    manager = None
    if rep is not None and rep.department is not None:
        above = Department.objects.filter(
            org=org, pk__in=[int(p) for p in rep.department.path.strip("/").split("/") if p]
        ).values_list("pk", flat=True)
        manager = people.filter(roles__code=BuiltinRole.MANAGER, department__in=list(above)).first()
    found = {
        "rep": rep,
        "manager": manager or people.filter(roles__code=BuiltinRole.MANAGER).first(),
        "director": people.filter(roles__code=BuiltinRole.DIRECTOR).first(),
    }
    missing = [k for k, u in found.items() if u is None]
    if missing:
        raise SystemExit(f"no {', '.join(missing)} in {org}")
    return found  # type: ignore[return-value]


def main(out: str) -> int:
    org = (
        Organization.objects.filter(settings__has_key="bench").order_by("pk").first()
        or Organization.objects.order_by("pk").first()
    )
    if org is None:
        raise SystemExit("no organisation: load the demo data or build crm_bench first")
    found = actors(org)
    ApiToken.objects.filter(user__in=found.values(), name=TOKEN_NAME).delete()
    context: dict[str, Any] = {"org": org.name, "actors": {}}
    for key, user in found.items():
        _token, raw = org_services.create_token(actor=user, name=TOKEN_NAME)
        client = Client()
        client.force_login(user, backend="crm.org.backends.LoginBackend")
        own = Opportunity.objects.filter(
            org=org, owner=user, status=OpportunityStatus.CONTINUE
        ).order_by("-pk")
        if not own.exists():
            own = Opportunity.objects.visible_to(user).filter(status=OpportunityStatus.CONTINUE)
        # only opportunities of customers the actor may record follow-ups for
        own = own.filter(customer__in=Customer.objects.visible_to(user, "create"))
        opportunities = list(own.values_list("pk", "customer_id")[:50])
        names = list(
            Customer.objects.visible_to(user)
            .filter(merged_into__isnull=True)
            .order_by("pk")
            .values_list("name", flat=True)[:50]
        )
        context["actors"][key] = {
            "user_id": user.pk,
            "token": raw,
            "session_cookie": settings.SESSION_COOKIE_NAME,
            "session": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "opportunities": opportunities,
            "search_terms": sorted({n[2:4] for n in names if len(n) >= 4})[:20] or ["公司"],
        }
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(context, fh, ensure_ascii=False, indent=1)
    print(f"Wrote {out}: {', '.join(f'{k} #{u.pk}' for k, u in found.items())} of {org}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m bench.load.prepare OUT.json")
    sys.exit(main(sys.argv[1]))
