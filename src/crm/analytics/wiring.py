"""How the analytics module plugs into the base layer (menu, audit labels, jobs, importers).

Each part registers itself from its own module; this function only imports them once."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

VERBS = {
    "target.saved": _("Targets saved"),
    "forecast.committed": _("Forecast committed"),
    "forecast.adjusted": _("Forecast adjusted"),
    "report.saved": _("Report saved"),
    "report.deleted": _("Report deleted"),
    "report.scheduled": _("Report scheduled"),
}


def register() -> None:
    from crm.core.audit import register_verbs

    register_verbs(VERBS)
    # Menu entries, periodic jobs (forecast snapshots, report deliveries) and the targets importer.
    from . import (  # noqa: F401
        dash_menu,
        forecast_menu,
        forecast_tasks,
        report_menu,
        report_tasks,
        target_import,
        winloss_menu,
    )

    target_import.register()
    # The funnel's stays follow every change of stage history, in the writer's transaction.
    from crm.pipeline.services import register_history_hooks

    from . import stays

    register_history_hooks(stays.refresh_for, stays.refresh_pipeline)
    register_verbs(
        {
            "report.unscheduled": _("Report schedule deleted"),
            "maven.loaded": _("Maven data set loaded"),
        }
    )
