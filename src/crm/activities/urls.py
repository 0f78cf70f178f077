"""/activities/: my day, follow-ups, visit plans, reminders, reminder rules."""

from django.urls import path

from . import views

app_name = "activities"

urlpatterns = [
    path("my-day/", views.my_day, name="my_day"),
    path("followups/", views.followup_list, name="followup_list"),
    path("followups/new/", views.followup_create, name="followup_create"),
    path("followups/links/", views.followup_links, name="followup_links"),
    path("followups/<int:pk>/edit/", views.followup_edit, name="followup_edit"),
    path("followups/<int:pk>/delete/", views.followup_delete, name="followup_delete"),
    path("plans/", views.plan_calendar, name="plan_calendar"),
    path("plans/new/", views.plan_create, name="plan_create"),
    path("plans/analysis/", views.plan_analysis, name="plan_analysis"),
    path("plans/<int:pk>/", views.plan_edit, name="plan_edit"),
    path("plans/<int:pk>/status/", views.plan_status, name="plan_status"),
    path("reminders/", views.reminder_list, name="reminder_list"),
    path("reminders/<int:pk>/done/", views.reminder_done, name="reminder_done"),
    path("rules/", views.rule_list, name="rule_list"),
    path("rules/new/", views.rule_create, name="rule_create"),
    path("rules/<int:pk>/edit/", views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/delete/", views.rule_delete, name="rule_delete"),
]
