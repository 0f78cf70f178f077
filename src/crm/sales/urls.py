"""/sales/: products and quotes (``quote_urls``), contracts, approvals, orders and returns
(``contract_urls``)."""

from . import contract_urls, quote_urls

app_name = "sales"

urlpatterns = [*quote_urls.urlpatterns, *contract_urls.urlpatterns]
