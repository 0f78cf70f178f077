"""The "Service" section of the customer 360 page and the return-visit block of My day."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm.core.registry import Section, register_my_day_block, register_section

from . import selectors


def customer_section(request: HttpRequest, customer: Any) -> Any:
    return selectors.customer_service(request.user, customer)


def my_day_block(request: HttpRequest, user: Any) -> Any:
    return selectors.my_day(user)


def register() -> None:
    register_section(
        "customers.customer",
        Section(45, "service", _("Service"), "service/sections/customer.html", customer_section),
    )
    register_my_day_block(
        Section(
            30,
            "service",
            _("Return visits and overdue tickets"),
            "service/sections/my_day.html",
            my_day_block,
        )
    )


register()
