"""The win/loss page (R4.8): figures per rep, department, parent department and product, lost
by reason and by stage, open deals per stage; each a chart, a table and an Excel export.

Needs ``analytics:view`` (the export ``analytics:export``); every figure reads the business
models through ``visible_to`` (see ``crm.analytics.winloss``), so it follows the viewer's scope.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from crm.core.views import require_perm

from .figures import export_figure, page_context
from .winloss import closed_groups, figures
from .winloss_forms import WinLossFilterForm


@login_required
def winloss_page(request: HttpRequest) -> HttpResponse:
    require_perm(request, "analytics", "view")
    me: Any = request.user
    form = WinLossFilterForm(request.GET, user=me)
    ctx: dict[str, Any] = {
        "form": form,
        "crumbs": [(_("Reports"), None), (_("Win/loss analysis"), None)],
        **page_context(request),
    }
    if form.is_valid():
        f = form.filters()
        groups = closed_groups(me, f)  # reps, departments and the total in one query
        figs = figures(me, f, groups)
        if request.GET.get("export"):
            require_perm(request, "analytics", "export")
            return export_figure(request, list(figs.values()))
        ctx.update({"filters": f, "figs": figs, "total": groups.total})
    return render(request, "analytics/winloss.html", ctx)
