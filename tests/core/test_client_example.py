"""The Python client example of docs/api.md (docs/examples/crm_client.py) runs against a live
server: create, a refused create, an optimistic-locking conflict, a paged list (R10.1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crm.core.testing.world import build_world
from crm.org.models import User
from crm.org.services import create_token

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "crm_client.py"


@pytest.mark.django_db(transaction=True)
def test_the_client_example_runs_against_a_live_server(live_server: Any) -> None:
    world = build_world()
    rep = User.objects.get(pk=world.users["rep_east"].pk)
    token = create_token(actor=rep, name="example")[1]
    env = {**os.environ, "CRM_URL": live_server.url, "CRM_TOKEN": token}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "created" in out and "苏州示例科技有限公司" in out
    assert "refused: validation_error ['name']" in out
    assert "conflict: 409 conflict" in out
    assert "short name 苏州示例" in out
    assert "customers I see: 1" in out
