"""The contract suites applied to the test-only Memo resource (R1.1, R1.3): proves the suites
themselves and the API conventions every later resource inherits."""

from typing import Any

from crm.core.testing.contracts import ApiContract
from crm.core.testing.world import World
from tests.scopeapp.models import Memo


class TestMemoApiContract(ApiContract):
    list_url = "/api/v1/test/memos"
    detail_url = "/api/v1/test/memos/{id}"
    update_payload = {"title": "changed"}

    def make_record(self, world: World, owner: Any) -> Memo:
        return Memo.objects.create(org=world.org, title="contract memo", owner=owner)
