"""``crm serve``: the embedded default's all-in-one — web server and job worker together.

Starts two child processes with the current settings (``DJANGO_SETTINGS_MODULE``):

* the web server: gunicorn serving ``crm.wsgi:application``;
* the job worker: ``crm worker`` (Huey's consumer, see ``worker.py``).

SIGINT and SIGTERM are forwarded to both children, and ``crm serve`` stops (stopping the other
child too) as soon as either of them dies. For a team, run ``gunicorn`` and ``crm worker`` as
separate services instead (docs/deployment.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

STOP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.2


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, a pre-exec hook asking the kernel to SIGTERM the child if ``crm serve`` dies
    without a chance to forward a signal (e.g. SIGKILL), so no orphaned server keeps the port."""
    if not sys.platform.startswith("linux"):
        return None

    def hook() -> None:
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass

    return hook


class Command(BaseCommand):
    """Run the web server and the job worker as child processes."""

    help = (
        "Serve the CRM: the web server (gunicorn) and the job worker (Huey) together, "
        "for the embedded SQLite default or any single host."
    )
    requires_system_checks: list[str] = []  # the children run the checks themselves

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=8000, help="port to listen on")
        parser.add_argument(
            "--workers", type=int, default=2, help="web server processes (default 2)"
        )
        parser.add_argument(
            "--threads", type=int, default=4, help="threads per web server process (default 4)"
        )
        parser.add_argument(
            "--job-workers",
            type=int,
            default=None,
            help="job worker threads (default: HUEY['consumer'] in settings)",
        )
        parser.add_argument(
            "--access-log", action="store_true", help="log every request to standard output"
        )

    # --- the two children ------------------------------------------------------------------
    def web_command(self, options: dict[str, Any]) -> list[str]:
        host = options["host"]
        bind = f"[{host}]:{options['port']}" if ":" in host else f"{host}:{options['port']}"
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "crm.wsgi:application",
            "--bind",
            bind,
            "--workers",
            str(max(options["workers"], 1)),
            "--threads",
            str(max(options["threads"], 1)),
            "--graceful-timeout",
            str(int(STOP_TIMEOUT_SECONDS) - 2),
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ]
        if options["access_log"]:
            cmd += ["--access-logfile", "-"]
        return cmd

    def worker_command(self, options: dict[str, Any]) -> list[str]:
        cmd = [sys.executable, "-m", "crm.cli", "worker"]
        if options["job_workers"]:
            cmd += ["--workers", str(options["job_workers"])]
        return cmd

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.dev")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # --- supervision -----------------------------------------------------------------------
    def handle(self, *args: Any, **options: Any) -> None:
        env = self.child_env()
        # Children get their own process group, so a Ctrl+C in the terminal reaches only this
        # supervisor, which forwards it exactly once (a second SIGINT would abort Huey's
        # graceful shutdown).
        popen: dict[str, Any] = {
            "env": env,
            "start_new_session": True,
            "preexec_fn": _die_with_parent(),
        }
        children: dict[str, subprocess.Popen[bytes]] = {}
        received: list[int] = []

        def forward(signum: int, _frame: FrameType | None) -> None:
            received.append(signum)
            for proc in children.values():
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signum)

        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            try:
                # Fixed argument lists (our interpreter, our modules), no shell.
                web, worker = self.web_command(options), self.worker_command(options)
                children["web server"] = subprocess.Popen(web, **popen)  # noqa: S603
                children["job worker"] = subprocess.Popen(worker, **popen)  # noqa: S603
            except OSError as exc:
                self.stop_all(children, signal.SIGTERM)
                raise CommandError(f"crm serve: could not start a child process: {exc}") from exc
            host = options["host"]
            shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104
            shown = f"[{shown}]" if ":" in shown else shown
            self.stdout.write(
                f"crm serve: the CRM is at http://{shown}:{options['port']}/ "
                f"(web server pid {children['web server'].pid}, "
                f"job worker pid {children['job worker'].pid}, "
                f"settings {env['DJANGO_SETTINGS_MODULE']}). Press Ctrl+C to stop."
            )
            self.stdout.flush()
            exit_code = self.supervise(children, received)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if exit_code:
            sys.exit(exit_code)

    def supervise(self, children: dict[str, subprocess.Popen[bytes]], received: list[int]) -> int:
        """Wait until a signal arrives or a child dies, then stop the rest; return the exit code."""
        while not received:
            for name, proc in children.items():
                code = proc.poll()
                if code is not None:
                    self.stderr.write(
                        f"crm serve: the {name} (pid {proc.pid}) exited with code {code}; "
                        "stopping the other process."
                    )
                    self.stop_all(children, signal.SIGTERM)
                    return code if code > 0 else 1
            time.sleep(POLL_SECONDS)
        signame = signal.Signals(received[0]).name
        self.stdout.write(f"crm serve: {signame} received, stopping the web server and the worker.")
        self.stdout.flush()
        self.stop_all(children, None)
        return 0

    def stop_all(self, children: dict[str, subprocess.Popen[bytes]], signum: int | None) -> None:
        """Send ``signum`` (unless already forwarded) and wait; kill what is left after the
        timeout."""
        if signum is not None:
            for proc in children.values():
                if proc.poll() is None:
                    proc.send_signal(signum)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for name, proc in children.items():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"crm serve: the {name} did not stop in time; killing it.")
                proc.kill()
                proc.wait()
