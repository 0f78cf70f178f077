"""Cookie flags, security headers and error hygiene (RELIABILITY C5, B6, D2, M-section).

- Session cookie HttpOnly and SameSite=Lax, CSRF and language cookies SameSite=Lax; in the
  production profile (a subprocess with ``crm.settings.prod``) all of them Secure, and HSTS.
- The production profile names them ``__Host-sessionid`` and ``__Host-csrftoken`` (Secure,
  Path=/, no Domain), and the API's session auth reads the configured name.
- Every HTML page carries a Content-Security-Policy whose script-src has neither 'unsafe-inline'
  nor 'unsafe-eval' (Alpine is its CSP build; templates hold no inline expressions),
  X-Frame-Options DENY and frame-ancestors 'none' (except the framable lead web form),
  X-Content-Type-Options nosniff and a Referrer-Policy.
- DEBUG is off in the embedded default and the production profile, and the 500 handlers of the
  pages and of the API answer a generic body: no traceback, SQL or setting.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.urls import reverse

from crm.core.access import FRAMEABLE, OBJECTS, PAGES
from crm.core.testing.world import PASSWORD
from tests.security.conftest import Tenant
from tests.security.routes import login, page_routes, route_kwargs

ROOT = Path(__file__).resolve().parents[2]


# --- Cookies ------------------------------------------------------------------------------------
def test_session_and_csrf_cookies_are_httponly_and_samesite_lax(tenant: Tenant) -> None:
    # C5: a real login sets the session cookie; the login page sets the CSRF cookie
    client = Client()
    page = client.get(reverse("org:login"))
    csrf = page.cookies["csrftoken"]
    assert csrf["samesite"] == "Lax"
    r = client.post(reverse("org:login"), {"login": tenant.owner.username, "password": PASSWORD})
    assert r.status_code == 302, r.content
    session = r.cookies["sessionid"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert int(session["max-age"]) == settings.CRM_SESSION_ABSOLUTE_SECONDS
    lang = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert lang.cookies[settings.LANGUAGE_COOKIE_NAME]["samesite"] == "Lax"


PROD_PROBE = """
import json, django
django.setup()
from django.conf import settings
# collectstatic is not run here: the manifest storage would refuse to render the page
settings.STORAGES = {**settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
from django.test import Client
client = Client(HTTP_HOST="crm.example.com")
page = client.get("/login/", secure=True)
plain = client.get("/login/")
print(json.dumps({
    "debug": settings.DEBUG,
    "status": page.status_code,
    "headers": dict(page.headers),
    "cookies": {k: dict(v.items()) for k, v in page.cookies.items()},
    "plain": [plain.status_code, plain.headers.get("Location", "")],
    "session": [settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY,
                settings.SESSION_COOKIE_SAMESITE],
    "csrf": [settings.CSRF_COOKIE_SECURE, settings.CSRF_COOKIE_SAMESITE],
    "language": [settings.LANGUAGE_COOKIE_SECURE, settings.LANGUAGE_COOKIE_SAMESITE],
    "names": [settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME],
    "paths": [settings.SESSION_COOKIE_PATH, settings.CSRF_COOKIE_PATH],
    "domains": [settings.SESSION_COOKIE_DOMAIN, settings.CSRF_COOKIE_DOMAIN],
    "api_cookie": __import__("crm.core.api", fromlist=["SessionAuth"]).SessionAuth().param_name,
}))
"""


def run_profile(tmp_path: Path, module: str, **extra: str) -> dict[str, Any]:
    """Run PROD_PROBE under a settings profile in a clean environment (like tests/test_ops.py)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CRM_", "DJANGO_"))
        and k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS"}
    }
    data = tmp_path / "data"
    (data / "static").mkdir(parents=True, exist_ok=True)
    env.update(DJANGO_SETTINGS_MODULE=module, PYTHONPATH="src", CRM_DATA_DIR=str(data), **extra)
    result = subprocess.run(
        [sys.executable, "-c", PROD_PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_profile_marks_cookies_secure_and_sends_hsts(tmp_path: Path) -> None:
    # C5 M-section: Secure cookies, HSTS with subdomains, HTTPS redirect, DEBUG off
    out = run_profile(
        tmp_path,
        "crm.settings.prod",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="crm.example.com",
    )
    assert out["debug"] is False
    assert out["status"] == 200
    assert out["headers"]["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    assert out["plain"] == [301, "https://crm.example.com/login/"]
    csrf = out["cookies"]["__Host-csrftoken"]
    assert csrf["secure"] is True and csrf["samesite"] == "Lax"
    assert out["session"] == [True, True, "Lax"]
    assert out["csrf"] == [True, "Lax"]
    assert out["language"] == [True, "Lax"]
    script = _directive(out["headers"]["Content-Security-Policy"], "script-src")
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script


def test_production_cookies_carry_the_host_prefix(tmp_path: Path) -> None:
    # SECURITY C5: __Host- cookies (Secure, Path=/, no Domain) for the session and CSRF token
    out = run_profile(
        tmp_path,
        "crm.settings.prod",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="crm.example.com",
    )
    assert out["names"] == ["__Host-sessionid", "__Host-csrftoken"]
    assert out["paths"] == ["/", "/"]
    assert out["domains"] == [None, None]
    csrf = out["cookies"]["__Host-csrftoken"]
    assert csrf["secure"] is True
    assert csrf["path"] == "/"
    assert csrf["domain"] == ""
    assert "csrftoken" not in out["cookies"]
    assert out["api_cookie"] == "__Host-sessionid"


def test_the_embedded_profile_keeps_plain_cookie_names(tmp_path: Path) -> None:
    # SECURITY C5: __Host- needs HTTPS; the plain-HTTP trial profile keeps the ordinary names
    out = run_profile(tmp_path, "crm.settings.dev", ALLOWED_HOSTS="crm.example.com")
    assert out["names"] == ["sessionid", "csrftoken"]
    assert out["api_cookie"] == "sessionid"


def test_embedded_default_profile_runs_without_debug(tmp_path: Path) -> None:
    # D2: the trial profile never shows Django's debug pages (unless CRM_DEBUG is set)
    out = run_profile(tmp_path, "crm.settings.dev", ALLOWED_HOSTS="crm.example.com")
    assert out["debug"] is False
    assert out["status"] == 200


def test_the_script_policy_allows_no_eval() -> None:
    # SECURITY B6: the configured policy itself (every page's header is checked below)
    script = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["script-src"]
    assert script == ["'self'"]


# Alpine's CSP build evaluates property paths, literals, comparisons and calls of the component's
# own methods; globals (document, navigator, String), arrow functions and inline objects fail at
# run time. Templates may only name registered components and refer to their members.
ALPINE_ATTR = re.compile(r'\s(x-[a-z]+(?::[a-z.-]+)?|@[a-z.-]+)="([^"]*)"')
FORBIDDEN_IN_ALPINE = re.compile(r"=>|[{};]|\b(?:document|window|navigator|String|Number|JSON)\b")


def test_templates_hold_no_inline_alpine_code() -> None:
    # SECURITY B6: x-data names a component; no expression reaches for globals or defines code
    problems = []
    templates = sorted((ROOT / "src" / "crm").rglob("templates/**/*.html"))
    assert len(templates) > 50
    for path in templates:
        text = path.read_text()
        for match in ALPINE_ATTR.finditer(text):
            name, expr = match.groups()
            if name == "x-data" and not re.fullmatch(r"[A-Za-z]+", expr):
                problems.append(f"{path.name}: {name}={expr!r} (register it with Alpine.data)")
            elif FORBIDDEN_IN_ALPINE.search(re.sub(r"{{.*?}}|{%.*?%}", "", expr)):
                problems.append(f"{path.name}: {name}={expr!r}")
    assert problems == [], "\n".join(problems)


def test_the_vendored_alpine_is_the_csp_build() -> None:
    # SECURITY B6: the copied bundle must not fall back to new Function() for expressions
    vendor = ROOT / "src" / "crm" / "static" / "vendor" / "alpine" / "alpine.min.js"
    # `make test` runs `make setup`, which copies the bundle: a missing file is a broken set-up
    assert vendor.exists(), "front-end assets not copied: run `make setup`"
    assert "CSP Parser Error" in vendor.read_text()
    assert '"@alpinejs/csp"' in (ROOT / "package.json").read_text()
    assert "@alpinejs/csp/dist/cdn.min.js" in (ROOT / "scripts" / "vendor.sh").read_text()


# --- Headers of every page ----------------------------------------------------------------------
def _directive(csp: str, name: str) -> str:
    for part in csp.split(";"):
        words = part.strip().split()
        if words and words[0] == name:
            return " ".join(words[1:])
    return ""


def header_problems(name: str, response: Any) -> list[str]:
    csp = response.headers.get("Content-Security-Policy", "")
    problems = []
    script = _directive(csp, "script-src") or _directive(csp, "default-src")
    if (
        not script
        or "'unsafe-inline'" in script
        or "'unsafe-eval'" in script
        or "*" in script.split()
    ):
        problems.append(f"script-src {script!r}")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no nosniff")
    if not response.headers.get("Referrer-Policy"):
        problems.append("no Referrer-Policy")
    if name not in FRAMEABLE:
        if response.headers.get("X-Frame-Options") != "DENY":
            problems.append(f"X-Frame-Options {response.headers.get('X-Frame-Options')!r}")
        if _directive(csp, "frame-ancestors") != "'none'":
            problems.append(f"frame-ancestors {_directive(csp, 'frame-ancestors')!r}")
    return problems


def test_every_html_page_carries_csp_frame_nosniff_and_referrer_headers(tenant: Tenant) -> None:
    # B6 C-section: as the administrator (pages render) and anonymously (login, public pages)
    failures: list[str] = []
    html = 0
    for who, client in (("admin", login(tenant.admin)), ("anonymous", Client())):
        for route in page_routes():
            if route.name not in PAGES or (route.takes_id and route.name not in OBJECTS):
                continue
            url = route.url(**route_kwargs(route, tenant)[0])
            r = client.get(url)
            if not r.headers.get("Content-Type", "").startswith("text/html"):
                continue
            html += 1
            failures += [f"{who} {url}: {p}" for p in header_problems(route.name, r)]
    assert html > 70
    assert failures == [], "\n".join(failures)


def test_the_web_form_may_be_framed_but_keeps_its_script_policy(tenant: Tenant) -> None:
    # B6: the documented exception — framable by any site, scripts still restricted
    pool = tenant.first("leads.LeadPool")
    r = Client().get(reverse("leads:webform", args=[pool.form_token]))
    assert r.status_code == 200
    assert "X-Frame-Options" not in r.headers
    csp = r.headers["Content-Security-Policy"]
    assert _directive(csp, "frame-ancestors") == "*"
    assert "'unsafe-inline'" not in _directive(csp, "script-src")
    assert "'unsafe-eval'" not in _directive(csp, "script-src")
    assert frozenset({"leads:webform"}) == FRAMEABLE


# --- Error hygiene -------------------------------------------------------------------------------
LEAKY = "Traceback (most recent call last): SELECT password FROM org_user; SECRET_KEY=hunter2"


def test_the_api_500_handler_answers_only_the_generic_shape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # D2: no traceback, SQL or setting in the body; the error goes to the log
    from django.utils import translation

    from crm.api import server_error

    request = RequestFactory().get("/api/v1/customers/customers")
    with translation.override("en"):
        response = server_error(request, RuntimeError(LEAKY))
    assert response.status_code == 500
    assert json.loads(response.content) == {
        "code": "server_error",
        "message": "Something went wrong on our side. The error has been logged.",
        "errors": [],
    }
    for word in ("Traceback", "SELECT", "SECRET_KEY", "hunter2", "RuntimeError"):
        assert word not in response.content.decode()
    assert "unhandled API error" in caplog.text


def test_the_page_500_handler_shows_no_details(tenant: Tenant) -> None:
    # D2: the page handler renders the plain error page
    from crm.core.views import server_error

    request = RequestFactory().get("/customers/")
    request.user = tenant.admin
    response = server_error(request)
    body = response.content.decode()
    assert response.status_code == 500
    assert "Traceback" not in body and "SECRET_KEY" not in body and settings.SECRET_KEY not in body
    assert settings.DEBUG is False
