"""/collab/: comments and attachments on records (customers, opportunities, …)."""

from django.urls import path

from . import collab_views as views

app_name = "collab"

urlpatterns = [
    path("<slug:target>/<int:pk>/comments/", views.comment_add, name="comment_add"),
    path("comments/<int:pk>/edit/", views.comment_edit, name="comment_edit"),
    path("comments/<int:pk>/delete/", views.comment_delete, name="comment_delete"),
    path("mention-users/", views.mention_users, name="mention_users"),
    path("<slug:target>/<int:pk>/attachments/", views.attachment_add, name="attachment_add"),
    path("attachments/<int:pk>/download/", views.attachment_download, name="attachment_download"),
    path("attachments/<int:pk>/delete/", views.attachment_delete, name="attachment_delete"),
]
