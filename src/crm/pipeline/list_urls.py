"""/opportunities/: the list with saved queries, the board and its moves (R4.6)."""

from django.urls import path

from . import list_views as v

urlpatterns = [
    path("", v.opportunity_list, name="list"),
    path("transfer/", v.bulk_transfer, name="bulk_transfer"),
    path("queries/new/", v.query_save, name="query_save"),
    path("queries/<int:pk>/edit/", v.query_edit, name="query_edit"),
    path("queries/<int:pk>/delete/", v.query_delete, name="query_delete"),
    path("board/", v.board, name="board"),
    path("board/move/", v.board_move, name="board_move"),
]
