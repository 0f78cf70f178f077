"""Pages of the mailing module, mounted at /mailing/."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "mailing"

urlpatterns = [
    path("", views.campaign_list, name="campaign_list"),
    path("new/", views.campaign_create, name="campaign_create"),
    path("<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("<int:pk>/edit/", views.campaign_edit, name="campaign_edit"),
    path("<int:pk>/send/", views.campaign_send, name="campaign_send"),
    path("<int:pk>/cancel/", views.campaign_cancel, name="campaign_cancel"),
    path("<int:pk>/delete/", views.campaign_delete, name="campaign_delete"),
    path("unsubscribes/", views.unsubscribe_list, name="unsubscribe_list"),
    path("unsubscribes/<int:pk>/remove/", views.unsubscribe_remove, name="unsubscribe_remove"),
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
