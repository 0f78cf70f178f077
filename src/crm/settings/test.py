"""Test profile: SQLite by default, PostgreSQL when CRM_TEST_DB=postgres; jobs run immediately."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import DATA_DIR, HUEY, PG_OPTIONS, STATIC_ROOT

SECRET_KEY = "test-secret-key-not-for-production-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; Argon2 is tested apart
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
HUEY = {**HUEY, "immediate": True}
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = DATA_DIR / "test-media"
ROOT_URLCONF = "tests.urls"
MIGRATE_DATABASE_URL = ""  # tests migrate their own test database as the test user
INSTALLED_APPS = [*INSTALLED_APPS, "tests.scopeapp"]  # noqa: F405

if os.environ.get("CRM_TEST_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("CRM_PG_NAME", "crm"),
            "USER": os.environ.get("CRM_PG_USER", "postgres"),
            "HOST": os.environ.get("CRM_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("CRM_PG_PORT", "5432"),
            "PASSWORD": os.environ.get("CRM_PG_PASSWORD", ""),
            "TEST": {"NAME": os.environ.get("CRM_PG_TEST_NAME", "crm_test")},
            "OPTIONS": dict(PG_OPTIONS),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "test.sqlite3"),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
            # One file per test process, so parallel runs never share a database.
            "TEST": {"NAME": str(Path(tempfile.gettempdir()) / f"crm-test-{os.getpid()}.sqlite3")},
        }
    }
