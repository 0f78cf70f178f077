from django.urls import include, path
from django.views.i18n import JavaScriptCatalog, set_language

from crm.api import api, mount_routers

mount_routers()

urlpatterns = [
    path("", include("crm.core.urls")),
    path("", include("crm.org.urls")),
    path("customers/", include("crm.customers.urls")),
    path("leads/", include("crm.leads.urls")),
    path("pipeline/", include("crm.pipeline.urls")),
    path("opportunities/", include("crm.pipeline.urls_opportunities")),
    path("activities/", include("crm.activities.urls")),
    path("collab/", include("crm.core.collab_urls")),
    path("sales/", include("crm.sales.urls")),
    path("finance/", include("crm.finance.urls")),
    path("imports/", include("crm.imports.urls")),
    path("analytics/", include("crm.analytics.urls")),
    path("service/", include("crm.service.urls")),
    path("knowledge/", include("crm.knowledge.urls")),
    path("marketing/", include("crm.marketing.urls")),
    path("mailing/", include("crm.mailing.urls")),
    path("scoring/", include("crm.scoring.urls")),
    path("settings/webhooks/", include("crm.core.webhook_urls")),
    path("settings/custom-fields/", include("crm.core.custom_field_urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("i18n/js/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/", api.urls),
]

handler400 = "crm.core.views.bad_request"
handler403 = "crm.core.views.permission_denied"
handler404 = "crm.core.views.page_not_found"
handler500 = "crm.core.views.server_error"
