"""Pages of the marketing module (H-CAMP), mounted at /marketing/."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "marketing"

urlpatterns = [
    path("campaigns/", views.campaign_list, name="list"),
    path("campaigns/attribution/", views.comparison, name="compare"),
    path("campaigns/new/", views.campaign_create, name="create"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="detail"),
    path("campaigns/<int:pk>/edit/", views.campaign_edit, name="edit"),
    path("campaigns/<int:pk>/status/", views.campaign_status, name="status"),
    path("campaigns/<int:pk>/form-token/", views.campaign_form_token, name="form_token"),
    path("campaigns/<int:pk>/delete/", views.campaign_delete, name="delete"),
    path("form/<str:token>/", views.web_form, name="webform"),
]
