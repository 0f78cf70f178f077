"""Settings shared by every profile. Everything deployment-specific comes from the environment.

Environment variables (see docs/configuration.md):
  CRM_DATA_DIR      where the embedded default keeps SQLite files, secret key, uploads (./var)
  DATABASE_URL      e.g. postgres://crm_app@db/crm; default: SQLite in CRM_DATA_DIR
  MIGRATE_DATABASE_URL  e.g. postgres://crm_owner@db/crm: the role `crm migrate` connects as
  REDIS_URL         e.g. redis://127.0.0.1:6379/0; enables the Redis cache and Redis-backed jobs
  SECRET_KEY        required in production; the embedded default generates and keeps one
  ALLOWED_HOSTS     comma-separated host names
  CRM_TIME_ZONE     default time zone of new organisations and of the server (Asia/Shanghai)
  CRM_LANGUAGE      default UI language (zh-hans)
  EMAIL_URL-style settings: CRM_EMAIL_HOST, CRM_EMAIL_PORT, CRM_EMAIL_USER, CRM_EMAIL_PASSWORD,
                    CRM_EMAIL_TLS, CRM_DEFAULT_FROM_EMAIL
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # src/crm
PROJECT_DIR = PACKAGE_DIR.parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DATA_DIR = Path(env("CRM_DATA_DIR", str(PROJECT_DIR / "var"))).resolve()


def load_or_create_secret_key() -> str:
    """The embedded default keeps its own random key in the data directory."""
    if key := env("SECRET_KEY"):
        return key
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = False
# Required in production (prod.py); the embedded default (dev.py) generates and keeps its own.
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "huey.contrib.djhuey",
    "axes",
    "crm.core",
    "crm.org",
    "crm.pipeline",
    "crm.customers",
    "crm.leads",
    "crm.activities",
    "crm.sales",
    "crm.finance",
    "crm.imports",
    "crm.analytics",
    "crm.service",
    "crm.knowledge",
    "crm.marketing",
    "crm.mailing",
    "crm.scoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "crm.core.middleware.RequestIdMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crm.org.middleware.SessionLifetimeMiddleware",
    "crm.org.middleware.TenantMiddleware",
    "crm.org.middleware.TwoFactorMiddleware",
    "crm.core.idempotency.IdempotencyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "crm.core.middleware.HtmxLoginMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"
AUTH_USER_MODEL = "org.User"
LOGIN_URL = "org:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "org:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.core.context_processors.shell",
            ],
            "builtins": ["django.templatetags.i18n", "django.templatetags.static"],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
SQLITE_OPTIONS = {
    # WAL lets readers run beside one writer; IMMEDIATE transactions take the write lock up
    # front so two writers queue (busy timeout) instead of failing with "database is locked".
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}


#: PostgreSQL sessions run without JIT compilation: the planner switches it on for any
#: statement estimated above 100,000 (every aggregate over a large organisation) and it then
#: spent 0.3-0.5 s compiling a statement that ran in 0.4 s (issue 8). The usual setting for
#: short transactional queries; see docs/deployment.md.
PG_OPTIONS = {"options": "-c jit=off"}


def database_from_env(default_sqlite: Path) -> dict:
    url = env("DATABASE_URL")
    if url:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        if config["ENGINE"].endswith("sqlite3"):
            config["OPTIONS"] = dict(SQLITE_OPTIONS)
            config["CONN_MAX_AGE"] = 0
        elif "postgresql" in config["ENGINE"]:
            config["OPTIONS"] = {**PG_OPTIONS, **config.get("OPTIONS", {})}
        return dict(config)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(default_sqlite),
        "OPTIONS": dict(SQLITE_OPTIONS),
    }


DATABASES = {"default": database_from_env(DATA_DIR / "crm.sqlite3")}
# Two PostgreSQL roles (docs/deployment.md §2): DATABASE_URL connects as the runtime role
# (crm_app); MIGRATE_DATABASE_URL, when set, names the owner role (crm_owner) that `crm migrate`
# connects as instead: same host, port and database, another user. Set it only where
# migrations run (the release job), never on app servers or worker hosts.
MIGRATE_DATABASE_URL = env("MIGRATE_DATABASE_URL")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and jobs ---------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": env("CRM_HUEY_NAME", "crm"),
        "url": REDIS_URL,
        "immediate": False,
        # Periodic jobs run on the server's clock (TIME_ZONE, default Asia/Shanghai): a job at
        # hour 8 runs at 08:00 Shanghai time, not 08:00 UTC.
        "utc": False,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "crm",
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": False,
        # Periodic jobs run on the server's clock (TIME_ZONE, default Asia/Shanghai): a job at
        # hour 8 runs at 08:00 Shanghai time, not 08:00 UTC.
        "utc": False,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }

# --- Authentication and sessions ---------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "crm.org.backends.LoginBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "crm.org.validators.CharacterClassValidator"},
]
# API lists count matching rows exactly up to this many and answer ``count_exact: false`` beyond
# (issue 8: counting a million rows costs more than reading a page); ``?exact_count=true`` asks
# for the exact figure. 0 counts exactly always.
CRM_LIST_COUNT_CAP = int(env("CRM_LIST_COUNT_CAP", "10000"))
# The dashboard, funnel and forecast are cached per viewer until the organisation's next change
# (crm.core.figure_cache), and at most this long; 0 turns the cache off.
CRM_FIGURE_CACHE_SECONDS = int(env("CRM_FIGURE_CACHE_SECONDS", "300"))
# Idle and absolute session limits (enforced by crm.org.middleware.SessionLifetimeMiddleware).
CRM_SESSION_IDLE_SECONDS = int(env("CRM_SESSION_IDLE_SECONDS", str(30 * 60)))
CRM_SESSION_ABSOLUTE_SECONDS = int(env("CRM_SESSION_ABSOLUTE_SECONDS", str(12 * 3600)))
SESSION_COOKIE_AGE = CRM_SESSION_ABSOLUTE_SECONDS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
PASSWORD_RESET_TIMEOUT = 3600  # one hour; the link works once (the hash covers the password)

# django-axes: five wrong passwords for one account lock it for 15 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_USERNAME_CALLABLE = "crm.org.backends.axes_username"
AXES_RESET_ON_SUCCESS = True
# A fixed 15-minute window: attempts during the lock do not extend it (else anyone could keep a
# colleague locked out for ever).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "crm.org.views.locked_out"
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False
# Locks are per account (the requirement). An IP-wide lock would lock out a whole office behind
# one NAT address, so axes' advice to add ip_address is deliberately not followed.
# models.W040: a covering index's INCLUDE columns (PostgreSQL) are left out on SQLite, where the
# index still serves its key columns.
SILENCED_SYSTEM_CHECKS = ["axes.W006", "models.W040"]

# --- Internationalisation ----------------------------------------------------------------------
LANGUAGE_CODE = env("CRM_LANGUAGE", "zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = env("CRM_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True
LANGUAGE_COOKIE_NAME = "crm_language"
LANGUAGE_COOKIE_SAMESITE = "Lax"

# --- Static and media --------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS: list[Path] = [PACKAGE_DIR / "static"]
MEDIA_ROOT = Path(env("CRM_MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Files attached to records (crm.core.collab): the limit per file, and the allowed extensions
# (any of jpg,jpeg,png,gif,webp,pdf,docx,xlsx,pptx,doc,xls,txt,csv,zip; others are ignored).
CRM_ATTACHMENT_MAX_BYTES = int(env("CRM_ATTACHMENT_MAX_BYTES", str(20 * 1024 * 1024)))
CRM_ATTACHMENT_TYPES = env_list(
    "CRM_ATTACHMENT_TYPES", "jpg,jpeg,png,gif,webp,pdf,docx,xlsx,pptx,doc,xls,txt,csv,zip"
)
# Imports (crm.imports): the largest file and the most data rows one import may have.
CRM_IMPORT_MAX_BYTES = int(env("CRM_IMPORT_MAX_BYTES", str(20 * 1024 * 1024)))
CRM_IMPORT_MAX_ROWS = int(env("CRM_IMPORT_MAX_ROWS", "200000"))
# Rows per committed batch (default 500, 100 on SQLite), minutes without progress after which
# a running import counts as killed and is resumed, days uploaded files are kept.
CRM_IMPORT_BATCH_SIZE = int(env("CRM_IMPORT_BATCH_SIZE", "0")) or None
CRM_IMPORT_STALE_SECONDS = int(env("CRM_IMPORT_STALE_SECONDS", "600"))
CRM_IMPORT_KEEP_DAYS = int(env("CRM_IMPORT_KEEP_DAYS", "30"))
# Nightly backup (crm.core.backup): archives go to CRM_BACKUP_DIR (unset: no scheduled backup);
# the newest CRM_BACKUP_KEEP are kept.
CRM_BACKUP_DIR = env("CRM_BACKUP_DIR")
CRM_BACKUP_KEEP = int(env("CRM_BACKUP_KEEP", "7"))

# --- E-mail (console by default) ---------------------------------------------------------------
if env("CRM_EMAIL_HOST"):
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env("CRM_EMAIL_HOST"),
                "port": int(env("CRM_EMAIL_PORT", "587")),
                "username": env("CRM_EMAIL_USER"),
                "password": env("CRM_EMAIL_PASSWORD"),
                "use_tls": env_bool("CRM_EMAIL_TLS", True),
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
DEFAULT_FROM_EMAIL = env("CRM_DEFAULT_FROM_EMAIL", "crm@localhost")
# Public address of the CRM, used in links in e-mails (e.g. https://crm.example.com).
CRM_BASE_URL = env("CRM_BASE_URL").rstrip("/")

# --- Security headers --------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content security policy: no inline scripts and no eval (SECURITY B6). Alpine is its CSP build
# (@alpinejs/csp): templates only name components registered in static files (crm/components.js)
# and refer to their properties and methods.
from csp.constants import NONE, SELF, UNSAFE_INLINE  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],  # Tabler and ECharts set inline styles
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

# --- API -----------------------------------------------------------------------------------------
NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_PER_PAGE_SIZE = 200
CRM_API_TOKEN_PREFIX = "crm_"  # noqa: S105 - a visible prefix, not a secret

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("CRM_LOG_LEVEL", "INFO")},
    "loggers": {"huey": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
