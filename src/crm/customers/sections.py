"""The sections of the customer 360 page (``record_sections["customers.customer"]``).

Every module adds its own section with ``crm.core.registry.register_section``::

    register_section("customers.customer", Section(30, "opportunities", _("Opportunities"),
                     "pipeline/customer_section.html", opportunities_for))

``context(request, customer) -> dict | None`` is called with the customer the user may see (the
page checked scope); it must read through ``visible_to`` itself. ``None`` hides the section. The
template renders the *body* of a card (the page draws the card and its title) and receives the
context plus ``customer``, ``section``, ``request``, ``user`` and ``csrf_token``.

Orders used here: contacts 10, parent and subsidiaries 20, history 1000 (always last).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm.core.registry import Section, register_section
from crm.core.rights import may
from crm.core.views import history_context

from .api_helpers import is_masked, masked_email, masked_phone
from .models import Contact, Customer
from .selectors import active_customers


def contacts_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """The customer's contacts; phones and e-mails masked while it waits in a masking pool."""
    user: Any = request.user
    contacts = Contact.objects.visible_to(user).filter(customer=customer).select_related("owner")
    editable = (
        customer.owner_id is not None
        and customer.merged_into_id is None
        and user.can("customers", "edit")
        and may(user, customer, "edit")  # read with the customer by its page
    )
    return {
        "contacts": [
            {
                "contact": c,
                "mobile": masked_phone(customer, c.mobile),
                "office_phone": masked_phone(customer, c.office_phone),
                "email": masked_email(customer, c.email),
            }
            for c in contacts
        ],
        "masked": is_masked(customer),
        "can_edit": editable,
        "can_delete": editable and user.can("customers", "delete"),
    }


def family_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """The parent customer (if the user may see it) and the subsidiaries the user may see."""
    visible = active_customers(request.user)
    parent = visible.filter(pk=customer.parent_id).first() if customer.parent_id else None
    subsidiaries = list(
        visible.filter(parent=customer).select_related("owner").order_by("name_pinyin", "pk")[:100]
    )
    return {"parent": parent, "subsidiaries": subsidiaries}


def history_section_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    return history_context(customer)


def register() -> None:
    register_section(
        "customers.customer",
        Section(
            10, "contacts", _("Contacts"), "customers/sections/contacts.html", contacts_context
        ),
    )
    register_section(
        "customers.customer",
        Section(
            20,
            "family",
            _("Parent and subsidiaries"),
            "customers/sections/family.html",
            family_context,
        ),
    )
    register_section(
        "customers.customer",
        Section(
            1000,
            "history",
            _("History"),
            "customers/sections/history.html",
            history_section_context,
        ),
    )


register()
