"""Production profile: HTTPS only, HSTS, secure cookies, CSP; passes `crm check --deploy`.

Requires SECRET_KEY and ALLOWED_HOSTS; set DATABASE_URL (PostgreSQL) and REDIS_URL for a team.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env, env_bool

# The embedded default's console e-mail is for trials only: production sends through SMTP,
# a local mail relay (localhost:25) unless CRM_EMAIL_HOST names another (see base.py).
if not env("CRM_EMAIL_HOST"):
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": "localhost",
                "port": int(env("CRM_EMAIL_PORT", "25")),
                "use_tls": env_bool("CRM_EMAIL_TLS", False),
            },
        }
    }

DEBUG = False
if not env("SECRET_KEY"):
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment for the prod profile")
SECRET_KEY = env("SECRET_KEY")

SECURE_SSL_REDIRECT = env_bool("CRM_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# SECURITY C5: the __Host- prefix makes browsers accept these cookies only when Secure, with
# Path=/ and no Domain, so a sibling subdomain cannot plant or overwrite them. htmx reads the CSRF
# token from <meta name="csrf-token">, not from the cookie, so the name does not matter to it.
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"
SESSION_COOKIE_PATH = "/"
CSRF_COOKIE_PATH = "/"
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None
LANGUAGE_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
