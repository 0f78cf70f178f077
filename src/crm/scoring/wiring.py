"""How the win-probability module plugs in (H-WINP): audit label, the Reports menu entry, the
opportunity page section and the periodic training job."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

VERBS = {"winmodel.trained": _("Win-probability model trained")}


def register() -> None:
    from crm.core.audit import register_verbs

    register_verbs(VERBS)
    from . import menu, sections, tasks  # noqa: F401 - menu entry, section, periodic job
