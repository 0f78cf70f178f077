"""Runtime wiring that the test profile replaces for speed: Argon2 hashing and Redis-backed
jobs and cache (R1.4, R11.3). These run against the real libraries and the real Redis server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.hashers import check_password, make_password
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]
BASE_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]


def test_passwords_are_hashed_with_argon2() -> None:
    # R1.4: the real profiles hash with Argon2id
    from crm.settings import base

    assert base.PASSWORD_HASHERS == BASE_HASHERS
    with override_settings(PASSWORD_HASHERS=BASE_HASHERS):
        encoded = make_password("Long-enough-2026")
        assert encoded.startswith("argon2$argon2id$")
        assert check_password("Long-enough-2026", encoded)
        assert not check_password("long-enough-2026", encoded)


def _settings_in_subprocess(env: dict[str, str], expr: str) -> str:
    code = f"import django; django.setup(); from django.conf import settings as s; print({expr})"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "crm.settings.dev",
            "PYTHONPATH": str(ROOT),
            **env,
        },
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_redis_url_switches_jobs_and_cache_to_redis(tmp_path: Path) -> None:
    # R11.3: with REDIS_URL, Huey and the cache use Redis; without it, SQLite and local memory
    data = {"CRM_DATA_DIR": str(tmp_path)}
    with_redis = _settings_in_subprocess(
        {**data, "REDIS_URL": "redis://127.0.0.1:6379/3"},
        "s.HUEY['huey_class'], s.CACHES['default']['BACKEND']",
    )
    assert with_redis == "huey.RedisHuey django.core.cache.backends.redis.RedisCache"
    without = _settings_in_subprocess(
        {**data, "REDIS_URL": ""}, "s.HUEY['huey_class'], s.CACHES['default']['BACKEND']"
    )
    assert without == "huey.SqliteHuey django.core.cache.backends.locmem.LocMemCache"


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379 (CI has one)")
def test_a_task_travels_through_redis_exactly_once() -> None:
    # R11.3 R9.2: a task enqueued by one process is dequeued and run once from Redis
    from huey import RedisHuey

    huey = RedisHuey(f"crm-test-{uuid.uuid4().hex[:8]}", url="redis://127.0.0.1:6379/15")
    results: list[int] = []

    @huey.task()
    def add(a: int, b: int) -> int:
        results.append(a + b)
        return a + b

    try:
        pending = add(2, 3)
        assert huey.pending_count() == 1
        task = huey.dequeue()
        huey.execute(task)
        assert huey.dequeue() is None
        assert pending.get() == 5
        assert results == [5]
    finally:
        huey.storage.flush_all()
