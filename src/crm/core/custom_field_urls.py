"""Settings pages of custom fields (H-CF, R10.5), mounted at /settings/custom-fields/."""

from __future__ import annotations

from django.urls import path

from . import custom_field_views as views

app_name = "customfields"

urlpatterns = [
    path("", views.field_list, name="list"),
    path("new/", views.field_create, name="create"),
    path("<int:pk>/", views.field_edit, name="edit"),
    path("<int:pk>/retire/", views.field_retire, name="retire"),
    path("<int:pk>/restore/", views.field_restore, name="restore"),
    path("<int:pk>/move/", views.field_move, name="move"),
]
