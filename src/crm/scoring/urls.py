"""Pages of the scoring module, mounted at /scoring/."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "scoring"

urlpatterns = [
    path("", views.model, name="model"),
    path("retrain/", views.retrain, name="retrain"),
]
