"""Pages of the import wizard and the list exports, mounted at /imports/ (``imports:<page>``)."""

from django.urls import path

from . import views, views_export

app_name = "imports"

urlpatterns = [
    path("", views.import_list, name="list"),
    path("template/", views.template_download, name="template"),
    path("mappings/<int:pk>/delete/", views.template_delete, name="mapping_delete"),
    path("<int:pk>/", views.import_detail, name="detail"),
    path("<int:pk>/map/", views.import_map, name="map"),
    path("<int:pk>/preview/", views.import_preview, name="preview"),
    path("<int:pk>/run/", views.import_run, name="run"),
    path("<int:pk>/status/", views.import_status, name="status"),
    path("<int:pk>/errors.xlsx", views.import_errors, name="errors"),
    path("<int:pk>/resume/", views.import_resume, name="resume"),
    path("<int:pk>/cancel/", views.import_cancel, name="cancel"),
    path("export/customers/", views_export.export_customers, name="export_customers"),
    path("export/opportunities/", views_export.export_opportunities, name="export_opportunities"),
    path("export/leads/", views_export.export_leads, name="export_leads"),
]
