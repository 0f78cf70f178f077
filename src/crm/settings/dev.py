"""The embedded default: SQLite (WAL) in ./var, SQLite-backed jobs, console e-mail."""

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("CRM_DEBUG", False)
# Serve static files straight from the app directories (no collectstatic needed for a trial).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
