"""The embedded default: SQLite (WAL) in ./var, SQLite-backed jobs, console e-mail."""

from .base import *  # noqa: F403
from .base import STATIC_ROOT, env_bool, load_or_create_secret_key

DEBUG = env_bool("CRM_DEBUG", False)
SECRET_KEY = load_or_create_secret_key()
# Serve static files straight from the app directories (no collectstatic needed for a trial).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
