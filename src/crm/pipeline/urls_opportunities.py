"""/opportunities/: the list with saved queries, the board (``list_urls``) and the opportunity
pages and actions (``page_urls``)."""

from . import list_urls, page_urls

app_name = "opportunities"

urlpatterns = [*list_urls.urlpatterns, *page_urls.urlpatterns]
