"""Operations: the demo organisation, the production profile and ``crm serve``.

Requirement IDs: R1.1 (many isolated companies), R1.2 (department tree, built-in roles),
R1.4 (protected in transit: the production profile), R11.3 (web server and job workers).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client, RequestFactory

from crm.core.models import Event
from crm.core.testing.world import build_world, make_org
from crm.org import demo
from crm.org.models import ApiToken, Department, Organization, Role, User

ROOT = Path(__file__).resolve().parent.parent

EXPECTED_TREE = {
    ("演示科技有限公司",),
    ("演示科技有限公司", "总经办"),
    ("演示科技有限公司", "销售一部"),
    ("演示科技有限公司", "销售一部", "华东组"),
    ("演示科技有限公司", "销售一部", "华南组"),
    ("演示科技有限公司", "销售二部"),
    ("演示科技有限公司", "销售二部", "华东组"),
    ("演示科技有限公司", "销售二部", "华南组"),
    ("演示科技有限公司", "市场部"),
    ("演示科技有限公司", "财务部"),
}

# username -> (role code, department path below the root, manager's username)
EXPECTED_USERS = {
    "admin": ("admin", ("总经办",), None),
    "director": ("director", ("总经办",), None),
    "manager1": ("manager", ("销售一部",), "director"),
    "manager2": ("manager", ("销售二部",), "director"),
    "rep1": ("rep", ("销售一部", "华东组"), "manager1"),
    "rep2": ("rep", ("销售一部", "华东组"), "manager1"),
    "rep3": ("rep", ("销售一部", "华南组"), "manager1"),
    "rep4": ("rep", ("销售二部", "华东组"), "manager2"),
    "rep5": ("rep", ("销售二部", "华南组"), "manager2"),
    "rep6": ("rep", ("销售二部", "华南组"), "manager2"),
    "marketing": ("marketing", ("市场部",), None),
    "finance": ("finance", ("财务部",), None),
}

# department path below the root -> username of the head
EXPECTED_HEADS = {
    (): "director",
    ("总经办",): "director",
    ("销售一部",): "manager1",
    ("销售一部", "华东组"): "manager1",
    ("销售一部", "华南组"): "manager1",
    ("销售二部",): "manager2",
    ("销售二部", "华东组"): "manager2",
    ("销售二部", "华南组"): "manager2",
    ("市场部",): "marketing",
    ("财务部",): "finance",
}


def names_path(dept: Department) -> tuple[str, ...]:
    """The department's names from the root down, e.g. ('演示科技有限公司', '销售一部')."""
    by_id = {d.pk: d.name for d in Department.objects.filter(org_id=dept.org_id)}
    return tuple(by_id[int(p)] for p in dept.path.strip("/").split("/"))


def demo_org() -> Organization:
    return Organization.objects.get(is_demo=True)


def orphan_counts() -> dict[str, int]:
    """Rows that point at an organisation or user that no longer exists."""
    org_ids = set(Organization.objects.values_list("pk", flat=True))
    user_ids = set(User.objects.values_list("pk", flat=True))
    dept_ids = set(Department.objects.values_list("pk", flat=True))
    role_ids = set(Role.objects.values_list("pk", flat=True))
    user_roles = User.roles.through.objects.all()
    scope_depts = Role.scope_departments.through.objects.all()
    return {
        "departments": Department.objects.exclude(org_id__in=org_ids).count(),
        "users": User.objects.exclude(org_id__in=org_ids).exclude(org=None).count(),
        "roles": Role.objects.exclude(org_id__in=org_ids).count(),
        "events": Event.objects.exclude(org_id__in=org_ids).count(),
        "tokens": ApiToken.objects.exclude(user_id__in=user_ids).count(),
        "user_roles": user_roles.exclude(user_id__in=user_ids).count()
        + user_roles.exclude(role_id__in=role_ids).count(),
        "scope_departments": scope_depts.exclude(department_id__in=dept_ids).count(),
    }


# --- crm demo ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_demo_builds_the_department_tree_and_people_in_every_role() -> None:
    # R1.2: the demo organisation has the realistic tree and a user in every built-in role
    call_command("demo")

    org = demo_org()
    assert org.name == "演示科技有限公司"
    depts = list(Department.objects.filter(org=org))
    assert {names_path(d) for d in depts} == EXPECTED_TREE
    assert len(depts) == len(EXPECTED_TREE)

    users = {u.username: u for u in User.objects.filter(org=org)}
    assert set(users) == set(EXPECTED_USERS)
    for username, (role_code, dept_path, manager) in EXPECTED_USERS.items():
        user = users[username]
        assert [r.code for r in user.roles.all()] == [role_code], username
        assert user.department is not None
        assert names_path(user.department) == ("演示科技有限公司", *dept_path), username
        assert (user.manager.username if user.manager else None) == manager, username
        assert user.email.endswith("@demo.crm.local")
        assert user.name and user.is_active
    assert users["director"].email == "zhang.wei@demo.crm.local"
    for dept in depts:
        assert dept.head is not None
        assert dept.head.username == EXPECTED_HEADS[names_path(dept)[1:]], dept.path
    assert users["admin"].is_org_admin
    assert not users["rep1"].is_org_admin
    assert set(Role.objects.filter(org=org, is_builtin=True).values_list("code", flat=True)) == {
        "rep",
        "manager",
        "director",
        "marketing",
        "finance",
        "admin",
    }


@pytest.mark.django_db
def test_every_demo_user_logs_in_with_username_and_email() -> None:
    # R1.1, R1.2: the README's demo logins work, by username and by e-mail
    call_command("demo")
    request = RequestFactory().post("/login/")
    for person in demo.PEOPLE:
        for login in (person.username, person.email):
            user = authenticate(request, username=login, password="Demo-2026-crm")
            assert user is not None, login
            assert user.username == person.username
    assert authenticate(request, username="rep1", password="wrong-Password-1") is None


@pytest.mark.django_db
def test_running_demo_twice_leaves_one_demo_organisation_and_no_orphans() -> None:
    # R1.1: resetting the demo deletes all of the previous demo organisation
    call_command("demo")
    first = demo_org()
    rep = User.objects.get(username="rep1")
    client = Client()
    client.force_login(rep, backend="crm.org.backends.LoginBackend")
    assert Session.objects.count() == 1
    counts = {
        "users": User.objects.count(),
        "departments": Department.objects.count(),
        "roles": Role.objects.count(),
        "events": Event.objects.count(),
    }

    call_command("demo")

    assert Organization.objects.filter(is_demo=True).count() == 1
    assert demo_org().pk != first.pk
    assert not Organization.objects.filter(pk=first.pk).exists()
    assert counts == {
        "users": User.objects.count(),
        "departments": Department.objects.count(),
        "roles": Role.objects.count(),
        "events": Event.objects.count(),
    }
    assert orphan_counts() == dict.fromkeys(orphan_counts(), 0)
    assert Session.objects.count() == 0  # the old demo user's session is gone with them


@pytest.mark.django_db
def test_if_empty_does_nothing_when_an_organisation_exists() -> None:
    # R1.1: `make run` never overwrites a real installation
    org, _admin = make_org("真实客户公司")
    call_command("demo", if_empty=True)
    assert list(Organization.objects.all()) == [org]


@pytest.mark.django_db
def test_if_empty_builds_the_demo_on_an_empty_database() -> None:
    call_command("demo", if_empty=True)
    assert demo_org().users.count() == 12


@pytest.mark.django_db
def test_demo_leaves_other_organisations_untouched() -> None:
    # R1.1: tenants are isolated; resetting the demo never touches a real organisation
    world = build_world("客户公司")

    def state() -> dict[str, object]:
        return {
            "org": Organization.objects.filter(pk=world.org.pk).values().get(),
            "users": list(User.objects.filter(org=world.org).order_by("pk").values()),
            "departments": list(Department.objects.filter(org=world.org).order_by("pk").values()),
            "roles": list(Role.objects.filter(org=world.org).order_by("pk").values()),
            "events": Event.objects.filter(org=world.org).count(),
        }

    before = state()
    call_command("demo")
    call_command("demo")
    assert state() == before
    assert Organization.objects.count() == 2


@pytest.mark.django_db
def test_registered_demo_builders_run_after_the_people_exist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # R1.2: later modules add their demo data through DEMO_BUILDERS
    seen: list[tuple[int, list[str]]] = []

    def builder(org: Organization, users: dict[str, User]) -> None:
        assert User.objects.filter(org=org).count() == 12
        seen.append((org.pk, sorted(users)))

    monkeypatch.setattr(demo, "DEMO_BUILDERS", [])
    assert demo.demo_builder(builder) is builder
    demo.demo_builder(builder)  # registering twice runs it once
    call_command("demo")
    assert seen == [(demo_org().pk, sorted(EXPECTED_USERS))]


# --- production profile --------------------------------------------------------------------------
def prod_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CRM_", "DJANGO_"))
        and k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="crm.settings.prod",
        PYTHONPATH="src",
        CRM_DATA_DIR=str(tmp_path / "data"),
        **extra,
    )
    return env


def test_prod_profile_passes_check_deploy_without_warnings(tmp_path: Path) -> None:
    # R1.4: HTTPS only, HSTS, secure cookies, CSP — `check --deploy` has nothing to say
    env = prod_env(tmp_path, SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="crm.example.com")
    result = subprocess.run(
        [sys.executable, "-m", "django", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_prod_profile_refuses_to_start_without_secret_key(tmp_path: Path) -> None:
    # R1.4: no silently generated or default key in production
    result = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=ROOT,
        env=prod_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set" in result.stderr


# --- crm serve -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_pids(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def heartbeat_runs(db_path: Path) -> int:
    try:
        with sqlite3.connect(db_path, timeout=5) as conn:
            row = conn.execute(
                "SELECT runs FROM core_jobrun WHERE name = 'heartbeat' AND last_status = 'ok'"
            ).fetchone()
    except sqlite3.Error:
        return 0
    return row[0] if row else 0


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_crm_serve_runs_web_server_and_worker_and_stops_both(tmp_path: Path) -> None:
    # R11.3: `crm serve` runs the web server and the job worker; both stop with it
    data_dir = tmp_path / "data"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CRM_", "DJANGO_")) and k not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(DJANGO_SETTINGS_MODULE="crm.settings.dev", CRM_DATA_DIR=str(data_dir))
    crm = [sys.executable, "-m", "crm.cli"]
    subprocess.run(
        [*crm, "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )
    port = free_port()
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(
        [*crm, "serve", "--port", str(port), "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    children: list[int] = []
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and status != 200:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5) as r:
                    status = r.status
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        assert status == 200, (tmp_path / "serve.log").read_text()

        children = child_pids(proc.pid)
        commands = [cmdline(pid) for pid in children]
        assert len(children) == 2, commands
        assert any("gunicorn" in c and "crm.wsgi:application" in c for c in commands), commands
        assert any("crm.cli worker" in c for c in commands), commands
        # The worker runs the periodic heartbeat as soon as it starts.
        while time.monotonic() < deadline and not heartbeat_runs(data_dir / "crm.sqlite3"):
            time.sleep(0.3)
        assert heartbeat_runs(data_dir / "crm.sqlite3") >= 1, (tmp_path / "serve.log").read_text()
        assert all(is_running(pid) for pid in children)
        output = (tmp_path / "serve.log").read_text()
        assert f"http://127.0.0.1:{port}/" in output

        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        stop_deadline = time.monotonic() + 10
        while time.monotonic() < stop_deadline and any(is_running(p) for p in children):
            time.sleep(0.1)
        assert not any(is_running(p) for p in children)
        assert proc.returncode == 0, (tmp_path / "serve.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in children:
            if is_running(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_crm_serve_stops_when_a_child_dies(tmp_path: Path) -> None:
    # R11.3: a dead worker is not hidden behind a running web server
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CRM_", "DJANGO_")) and k not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(DJANGO_SETTINGS_MODULE="crm.settings.dev", CRM_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "crm.cli", "serve", "--port", str(free_port()), "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    children: list[int] = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(children) < 2:
            time.sleep(0.2)
            children = child_pids(proc.pid)
        assert len(children) == 2
        worker = next(p for p in children if "worker" in cmdline(p))
        os.kill(worker, signal.SIGKILL)
        output, _ = proc.communicate(timeout=15)
        assert proc.returncode != 0
        assert "job worker" in output and "exited" in output
        assert not any(is_running(p) for p in children)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in children:
            if is_running(pid):
                os.kill(pid, signal.SIGKILL)
