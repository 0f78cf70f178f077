"""Pages of custom reports and their schedules (R8.8, H-REPORTS), included by
``crm.analytics.urls``."""

from __future__ import annotations

from typing import Any

from django.urls import path

from . import report_views

urlpatterns: list[Any] = [
    path("reports/", report_views.report_list, name="reports"),
    path("reports/new/", report_views.builder_page, name="report_builder"),
    path("reports/preview/", report_views.preview, name="report_preview"),
    path("reports/<int:report_id>/", report_views.detail, name="report_detail"),
    path("reports/<int:report_id>/edit/", report_views.edit_page, name="report_edit"),
    path("reports/<int:report_id>/delete/", report_views.delete, name="report_delete"),
    path("reports/<int:report_id>/schedule/", report_views.schedule_page, name="report_schedule"),
    path("reports/schedules/<int:schedule_id>/", report_views.schedule_edit, name="schedule_edit"),
    path(
        "reports/schedules/<int:schedule_id>/delete/",
        report_views.schedule_delete,
        name="schedule_delete",
    ),
    path(
        "reports/deliveries/<int:delivery_id>/",
        report_views.delivery_detail,
        name="delivery_detail",
    ),
]
