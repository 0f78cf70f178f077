"""/opportunities/…: the opportunity form and page, and one POST address per action."""

from django.urls import path

from . import page_views as v

urlpatterns = [
    path("new/", v.opportunity_create, name="create"),
    path("<int:pk>/", v.opportunity_detail, name="detail"),
    path("<int:pk>/sections/", v.opportunity_sections, name="sections"),
    path("<int:pk>/edit/", v.opportunity_edit, name="edit"),
    path("<int:pk>/move/", v.opportunity_move, name="move"),
    path("<int:pk>/win/", v.opportunity_win, name="win"),
    path("<int:pk>/lose/", v.opportunity_lose, name="lose"),
    path("<int:pk>/abandon/", v.opportunity_abandon, name="abandon"),
    path("<int:pk>/pause/", v.opportunity_pause, name="pause"),
    path("<int:pk>/resume/", v.opportunity_resume, name="resume"),
    path("<int:pk>/reopen/", v.opportunity_reopen, name="reopen"),
    path("<int:pk>/key/", v.opportunity_key, name="key"),
    path("<int:pk>/transfer/", v.opportunity_transfer, name="transfer"),
    path("<int:pk>/delete/", v.opportunity_delete, name="delete"),
]
