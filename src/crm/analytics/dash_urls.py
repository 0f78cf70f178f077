"""Pages of the analytics module owned by H-DASH (included by ``crm.analytics.urls``): the
executive dashboard (the Reports landing page), key customers, customers by stage per rep,
behaviour analysis and the targets grid."""

from __future__ import annotations

from typing import Any

from django.urls import path

from . import dash_views as v

urlpatterns: list[Any] = [
    path("", v.dashboard, name="dashboard"),
    path("key-customers/", v.key_customers, name="key_customers"),
    path("stages/", v.stages_by_rep, name="stages_by_rep"),
    path("behaviour/", v.behaviour, name="behaviour"),
    path("targets/", v.target_grid, name="targets"),
]
