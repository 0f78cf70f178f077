"""Settings pages of pipelines, stages and dictionaries (/pipeline/settings/…)."""

from django.urls import path

from . import views as v

app_name = "pipeline"

urlpatterns = [
    path("settings/pipelines/", v.pipeline_list, name="pipeline_list"),
    path("settings/pipelines/new/", v.pipeline_create, name="pipeline_create"),
    path("settings/pipelines/<int:pk>/", v.pipeline_detail, name="pipeline_detail"),
    path("settings/pipelines/<int:pk>/edit/", v.pipeline_edit, name="pipeline_edit"),
    path("settings/pipelines/<int:pk>/copy/", v.pipeline_copy, name="pipeline_copy"),
    path("settings/pipelines/<int:pk>/stages/new/", v.stage_create, name="stage_create"),
    path("settings/stages/<int:pk>/edit/", v.stage_edit, name="stage_edit"),
    path("settings/stages/<int:pk>/move/<str:direction>/", v.stage_move, name="stage_move"),
    path("settings/stages/<int:pk>/retire/", v.stage_retire, name="stage_retire"),
    path("settings/stages/<int:pk>/restore/", v.stage_restore, name="stage_restore"),
    path("settings/stages/<int:pk>/delete/", v.stage_delete, name="stage_delete"),
    path("settings/dictionaries/", v.dictionary_list, name="dictionary_list"),
    path("settings/dictionaries/<int:pk>/edit/", v.dictionary_edit, name="dictionary_edit"),
    path(
        "settings/dictionaries/<int:pk>/move/<str:direction>/",
        v.dictionary_move,
        name="dictionary_move",
    ),
    path(
        "settings/dictionaries/<int:pk>/deactivate/",
        v.dictionary_deactivate,
        name="dictionary_deactivate",
    ),
    path(
        "settings/dictionaries/<int:pk>/reactivate/",
        v.dictionary_reactivate,
        name="dictionary_reactivate",
    ),
]
