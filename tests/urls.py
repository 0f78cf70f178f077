"""Test URLconf: the real one plus the test-only ``memos`` resource that exercises the scoped
query layer and the contract suites before any business module exists."""

from crm.api import api
from tests.scopeapp.api import router as memo_router

api.add_router("/v1/test/", memo_router, tags=["test"])

from crm.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: E402

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
