"""Pages of the analytics module (报表): dashboards and targets, funnel and forecast, win/loss,
custom reports. Each part keeps its own URL list."""

from __future__ import annotations

from . import dash_urls, forecast_urls, report_urls, winloss_urls

app_name = "analytics"

urlpatterns = (
    dash_urls.urlpatterns
    + forecast_urls.urlpatterns
    + report_urls.urlpatterns
    + winloss_urls.urlpatterns
)
