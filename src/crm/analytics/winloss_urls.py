"""Pages of the analytics module owned by H-MAVEN (included by ``crm.analytics.urls``): the
win/loss analysis."""

from __future__ import annotations

from typing import Any

from django.urls import path

from . import winloss_views

urlpatterns: list[Any] = [
    path("winloss/", winloss_views.winloss_page, name="winloss"),
]
