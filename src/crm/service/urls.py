"""Pages of the service module (H-SVC): /service/."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "service"

urlpatterns = [
    path("tickets/", views.ticket_list, name="ticket_list"),
    path("tickets/new/", views.ticket_create, name="ticket_create"),
    path("tickets/<int:pk>/", views.ticket_detail, name="ticket_detail"),
    path("tickets/<int:pk>/edit/", views.ticket_edit, name="ticket_edit"),
    path("tickets/<int:pk>/status/", views.ticket_status, name="ticket_status"),
    path("tickets/<int:pk>/transfer/", views.ticket_transfer, name="ticket_transfer"),
    path("tickets/<int:pk>/delete/", views.ticket_delete, name="ticket_delete"),
    path("visits/", views.visit_list, name="visit_list"),
    path("visits/new/", views.visit_create, name="visit_create"),
    path("visits/<int:pk>/reschedule/", views.visit_reschedule, name="visit_reschedule"),
    path("visits/<int:pk>/complete/", views.visit_complete, name="visit_complete"),
    path("visits/<int:pk>/cancel/", views.visit_cancel, name="visit_cancel"),
    path("analysis/", views.analysis, name="analysis"),
    path("settings/", views.sla_settings, name="settings"),
]
