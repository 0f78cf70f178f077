"""The follow-up entries of the main menu: "My day" (我的一天) at the top, the follow-up section
(跟进: follow-ups, visit calendar, visit analysis, my reminders) and the reminder rules under
Settings. Imported once by ``wiring.register``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.core.navigation import MENU, MenuItem, register_menu_item

MY_DAY = MenuItem(
    "my_day", _("My day"), "ti-sun", module="activities", url_name="activities:my_day"
)

ITEMS = [
    MenuItem(
        "followups",
        _("Follow-ups"),
        "ti-message-dots",
        module="activities",
        url_name="activities:followup_list",
    ),
    MenuItem(
        "visit_calendar",
        _("Visit calendar"),
        "ti-calendar",
        module="activities",
        url_name="activities:plan_calendar",
    ),
    MenuItem(
        "visit_analysis",
        _("Visit analysis"),
        "ti-chart-bar",
        module="activities",
        url_name="activities:plan_analysis",
    ),
    MenuItem(
        "reminders",
        _("My reminders"),
        "ti-alarm",
        module="activities",
        url_name="activities:reminder_list",
    ),
]

SETTINGS_ITEM = MenuItem(
    "reminder_rules",
    _("Reminder rules"),
    "ti-bell-cog",
    module="settings",
    action="configure",
    url_name="activities:rule_list",
)


def register() -> None:
    # "My day" is a top-level entry right after Home (the menu has no hook for those).
    if all(item.key != MY_DAY.key for item in MENU):
        after_home = next((i + 1 for i, item in enumerate(MENU) if item.key == "home"), 0)
        MENU.insert(after_home, MY_DAY)
    for item in ITEMS:
        register_menu_item("activities", item)
    register_menu_item("settings", SETTINGS_ITEM)


register()
