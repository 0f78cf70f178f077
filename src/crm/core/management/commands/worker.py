"""``crm worker``: the Huey consumer that runs background and periodic jobs.

A thin alias of huey's ``run_huey`` management command, so every consumer option passes through
(``-w/--workers``, ``-k/--worker-type``, ``-f/--flush-locks`` …). The queue is the SQLite file
``$CRM_DATA_DIR/huey.sqlite3`` by default and Redis when ``REDIS_URL`` is set; run as many
worker hosts as needed against one Redis.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from huey.contrib.djhuey.management.commands.run_huey import Command as RunHueyCommand


class Command(RunHueyCommand):
    """Run the job worker (Huey consumer) with the project's settings."""

    help = (
        "Run the background-job worker (Huey consumer): queued jobs and periodic schedules. "
        "Options are those of run_huey, e.g. -w/--workers N."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        backend = "Redis" if getattr(settings, "REDIS_URL", "") else "SQLite"
        self.stdout.write(f"crm worker: consuming the {backend} job queue (Ctrl+C to stop)")
        self.stdout.flush()
        huey_logger = logging.getLogger("huey")
        if not huey_logger.handlers and not options.get("logfile"):
            # Log through the project's root handler (one line per message) rather than letting
            # run_huey attach a second handler of its own.
            huey_logger.addHandler(logging.NullHandler())
            huey_logger.setLevel(logging.DEBUG if options.get("verbose") else logging.INFO)
        super().handle(*args, **options)
