"""A/B/C grading (R3.6) and customer care reminders (R3.7)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.core.models import Notification
from crm.core.testing.world import World
from crm.customers import care, grading, services
from crm.customers.models import Customer


@pytest.fixture
def amounts():
    """A registered amount provider fed by the test (what won opportunities/contracts supply)."""
    data: dict[int, list[tuple[object, Decimal]]] = {}

    def provider(org_id, since):
        return {
            pk: sum((a for when, a in rows if when >= since), Decimal("0"))
            for pk, rows in data.items()
            if Customer.objects.filter(pk=pk, org_id=org_id).exists()
        }

    grading.register_amount_provider(provider)
    yield data
    grading.amount_providers.remove(provider)


def test_grades_follow_the_signed_amount_of_the_last_12_months(world: World, amounts) -> None:
    # R3.6: thresholds per organisation; old deals make a customer "existing" but not graded
    rep = world.users["rep_east"]
    now = timezone.now()
    big, mid, small, old, _none = (
        services.create_customer(actor=rep, data={"name": n})
        for n in ("大客户", "中客户", "小客户", "老客户", "新客户")
    )
    amounts[big.pk] = [
        (now - timedelta(days=30), Decimal("800000.00")),
        (now - timedelta(days=200), Decimal("200000.00")),
    ]
    amounts[mid.pk] = [(now - timedelta(days=10), Decimal("100000.00"))]
    amounts[small.pk] = [(now - timedelta(days=10), Decimal("99999.99"))]
    amounts[old.pk] = [(now - timedelta(days=500), Decimal("5000000.00"))]
    result = grading.regrade_org(world.org)
    got = {
        c.name: (c.grade, c.signed_amount_12m, c.is_new)
        for c in Customer.objects.filter(org=world.org)
    }
    assert got == {
        "大客户": ("A", Decimal("1000000.00"), False),
        "中客户": ("B", Decimal("100000.00"), False),
        "小客户": ("C", Decimal("99999.99"), False),
        "老客户": ("C", Decimal("0.00"), False),
        "新客户": ("C", Decimal("0.00"), True),
    }
    assert result == {"A": 1, "B": 1}
    world.org.settings = {"grade_thresholds": {"A": "50000", "B": "10000"}}
    grading.regrade_org(world.org)
    assert Customer.objects.get(pk=small.pk).grade == "A"


def test_birthday_reminder_goes_to_the_owner_once(world: World) -> None:
    # R3.7: one reminder per contact per year, a day ahead by default
    rep = world.users["rep_east"]
    today = date(2026, 11, 24)
    services.create_customer(
        actor=rep,
        data={"name": "客户甲"},
        contacts=[
            {"name": "李总", "birthday": date(1980, 11, 25)},
            {"name": "王总", "birthday": date(1975, 11, 26)},
        ],
    )
    assert care.remind_org(world.org, today=today) == 1
    assert care.remind_org(world.org, today=today) == 0
    [note] = Notification.objects.filter(recipient=rep, verb="contact.birthday")
    assert "李总" in note.message and "11-25" in note.message


def test_leap_day_birthdays_are_remembered_in_other_years(world: World) -> None:
    # R3.7
    rep = world.users["rep_east"]
    services.create_customer(
        actor=rep,
        data={"name": "客户乙"},
        contacts=[{"name": "闰日", "birthday": date(1988, 2, 29)}],
    )
    assert care.remind_org(world.org, today=date(2027, 2, 27)) == 1


def test_holiday_greetings_remind_each_owner_once(world: World) -> None:
    # R3.7: configurable holidays, counted per owner
    rep, other = world.users["rep_east"], world.users["rep_south"]
    for i in range(3):
        services.create_customer(actor=rep, data={"name": f"甲{i}"})
    services.create_customer(actor=other, data={"name": "乙"})
    world.org.settings = {"holidays": [{"name": "春节", "date": "2027-02-06", "days_before": 2}]}
    assert care.remind_org(world.org, today=date(2027, 2, 3)) == 0
    assert care.remind_org(world.org, today=date(2027, 2, 4)) == 2
    assert care.remind_org(world.org, today=date(2027, 2, 4)) == 0
    [note] = Notification.objects.filter(recipient=rep, verb="holiday.greeting")
    assert "春节" in note.message and "3" in note.message
