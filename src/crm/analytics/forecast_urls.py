"""Pages of the analytics module owned by H-FORECAST (included by ``crm.analytics.urls``):
the sales funnel and the forecast with its commit and adjustment actions."""

from __future__ import annotations

from typing import Any

from django.urls import path

from . import forecast_views

urlpatterns: list[Any] = [
    path("funnel/", forecast_views.funnel_page, name="funnel"),
    path("forecast/", forecast_views.forecast_page, name="forecast"),
    path("forecast/commit/", forecast_views.commit_view, name="forecast_commit"),
    path(
        "forecast/commits/<int:commit_id>/adjust/",
        forecast_views.adjust_view,
        name="forecast_adjust",
    ),
]
