from django.urls import include, path

app_name = "org"

urlpatterns = [
    path("", include("crm.org.urls_auth")),
    path("settings/", include("crm.org.urls_settings")),
]
