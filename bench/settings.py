"""Settings of the benchmark: the shared base profile on PostgreSQL 127.0.0.1:5432, database
``crm_bench`` (created by ``bench.generate`` when missing). The test-only apps are not installed.

Connections are kept between requests and health-checked, as the production profile does with
``DATABASE_URL`` (``conn_max_age=60``), so no request pays for a new connection.
"""

import os

from crm.settings.base import *  # noqa: F403
from crm.settings.base import PG_OPTIONS

DEBUG = False
SECRET_KEY = "bench-secret-key-not-for-production-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

BENCH_DB_NAME = os.environ.get("CRM_BENCH_DB", "crm_bench")
if not BENCH_DB_NAME.startswith("crm_bench"):
    raise RuntimeError("the benchmark database's name must start with crm_bench")

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": BENCH_DB_NAME,
        "USER": os.environ.get("CRM_PG_USER", "postgres"),
        "PASSWORD": os.environ.get("CRM_PG_PASSWORD", ""),
        "HOST": os.environ.get("CRM_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("CRM_PG_PORT", "5432"),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": dict(PG_OPTIONS),
    }
}

# The reminder job's e-mails are built but go nowhere (the console backend would print
# thousands of them; an SMTP server's time is not the CRM's).
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.dummy.EmailBackend"}}

# Rendering {% static %} must not need a collectstatic manifest.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
