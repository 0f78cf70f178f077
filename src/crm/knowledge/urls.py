"""Pages of the knowledge module (H-KB), mounted at /knowledge/."""

from __future__ import annotations

from typing import Any

from django.urls import path

from . import views

app_name = "knowledge"

urlpatterns: list[Any] = [
    path("", views.article_list, name="list"),
    path("new/", views.article_create, name="create"),
    path("<int:pk>/", views.article_detail, name="detail"),
    path("<int:pk>/edit/", views.article_edit, name="edit"),
    path("<int:pk>/status/", views.article_status, name="status"),
    path("<int:pk>/delete/", views.article_delete, name="delete"),
    path("cases/<int:opportunity_id>/", views.case_create, name="case_create"),
    path("categories/", views.category_list, name="categories"),
    path("categories/<int:pk>/edit/", views.category_edit, name="category_edit"),
    path("categories/<int:pk>/move/", views.category_move, name="category_move"),
    path("categories/<int:pk>/active/", views.category_active, name="category_active"),
    path("categories/<int:pk>/delete/", views.category_delete, name="category_delete"),
]
