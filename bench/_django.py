"""Start Django for the command-line entry points (``python -m bench.generate`` / ``bench.run``).

Under pytest Django is already set up with the test settings, and this does nothing.
"""

from __future__ import annotations

import os


def ensure_django() -> None:
    """Set Django up with ``bench.settings`` unless it already is (with any settings)."""
    from django.apps import apps

    if apps.ready:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
