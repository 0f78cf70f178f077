"""Pages of the win-probability module (R2.5): the model page (accuracy on held-back history,
calibration chart with table and Excel export, training size, last training) and retraining."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.core.errors import PermissionDenied
from crm.core.views import require_perm

from . import selectors, services
from .services import HOLDOUT, MIN_CLASS, MIN_CLOSED


def _org(request: HttpRequest) -> int:
    org_id: Any = getattr(request.user, "org_id", None)
    return int(org_id)


@login_required
def model(request: HttpRequest) -> HttpResponse:
    require_perm(request, "analytics", "view")
    from crm.analytics.figures import export_figure, page_context

    me = request.user
    data = selectors.model_page(_org(request))
    if request.GET.get("export"):
        if not me.can("analytics", "export"):  # type: ignore[union-attr]
            raise PermissionDenied()
        return export_figure(request, data["figures"])
    return render(
        request,
        "scoring/model.html",
        {
            **data,
            **page_context(request),
            "can_retrain": me.can("analytics", "configure"),  # type: ignore[union-attr]
            "min_closed": MIN_CLOSED,
            "min_class": MIN_CLASS,
            "holdout": int(HOLDOUT * 100),
            "crumbs": [(_("Reports"), None), (_("Win probability model"), None)],
        },
    )


@login_required
@require_POST
def retrain(request: HttpRequest) -> HttpResponse:
    require_perm(request, "analytics", "configure")
    run = services.train(_org(request), actor=request.user)
    if run.is_usable:
        messages.success(
            request,
            _("Model v%(version)d trained: AUC %(auc).3f on held-back history.")
            % {"version": run.version, "auc": run.auc},
        )
    else:
        messages.warning(request, run.reason)
    return redirect("scoring:model")
