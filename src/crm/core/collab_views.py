"""Pages of comments and attachments (R4.9): add, edit and delete comments; upload, download and
delete files; the colleagues an @mention may name.

Every action looks the record up through ``crm.core.collab`` (another organisation's and
out-of-scope records answer 404) and calls one service. htmx requests get the refreshed card
back; plain form posts are redirected to an on-site ``next`` or to the record's page.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import collab
from .collab_sections import attachments_context, comments_context
from .errors import DomainError, PermissionDenied
from .forms import error_text, raise_unless_form_error

#: files one upload request may carry
MAX_FILES_PER_UPLOAD = 10


def _me(request: HttpRequest) -> Any:
    return request.user


def _next_url(request: HttpRequest) -> str | None:
    """The ``next`` of a POST or GET, if it is a safe address on this site."""
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return None


def _record_url(record: Any, section: str) -> str:
    url = collab.spec_of(record).url(record)
    return f"{url}#section-{section}" if url else reverse("core:home")


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _respond(
    request: HttpRequest,
    record: Any,
    section: str,
    *,
    errors: list[str] | None = None,
    notices: list[str] | None = None,
    success: str = "",
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """The refreshed card for htmx; otherwise flash messages and back to where the user was."""
    if _is_htmx(request):
        builder = comments_context if section == "comments" else attachments_context
        context = {
            **builder(request, record),
            "errors": errors or [],
            "notices": notices or [],
            **(extra or {}),
        }
        return render(request, f"core/collab/_{section}.html", context)
    for text in errors or []:
        messages.error(request, text)
    for text in notices or []:
        messages.warning(request, text)
    if success:
        messages.success(request, success)
    return redirect(_next_url(request) or _record_url(record, section))


def _unreachable_notice(comment: Any) -> list[str]:
    users = getattr(comment, "unreachable", None) or []
    if not users:
        return []
    names = "、".join(u.display_name for u in users)
    return [_("%(names)s may not see this record and was not notified.") % {"names": names}]


# --- Comments ----------------------------------------------------------------------------------
@login_required
@require_POST
def comment_add(request: HttpRequest, target: str, pk: int) -> HttpResponse:
    """Comment on a record the user may see; @mentioned colleagues are notified."""
    me = _me(request)
    record = collab.get_target(me, target, pk)
    body = request.POST.get("body", "")
    try:
        comment = collab.add_comment(actor=me, target=record, body=body)
    except DomainError as exc:
        raise_unless_form_error(exc)
        return _respond(
            request, record, "comments", errors=[error_text(exc)], extra={"draft": body}
        )
    return _respond(
        request,
        record,
        "comments",
        notices=_unreachable_notice(comment),
        success=_("Comment added."),
    )


@login_required
@require_http_methods(["GET", "POST"])
def comment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit one's own comment (inline on the record page, or this page without JavaScript)."""
    me = _me(request)
    comment, record = collab.get_comment(me, pk)
    if comment.author_id != me.pk:
        raise PermissionDenied(_("Only the author may edit a comment."))
    back = _next_url(request) or _record_url(record, "comments")
    errors: list[str] = []
    body = comment.body
    if request.method == "POST":
        body = request.POST.get("body", "")
        try:
            comment = collab.edit_comment(actor=me, comment=comment, body=body)
        except DomainError as exc:
            raise_unless_form_error(exc)
            errors = [error_text(exc)]
            if _is_htmx(request):
                return _respond(request, record, "comments", errors=errors)
        else:
            return _respond(
                request,
                record,
                "comments",
                notices=_unreachable_notice(comment),
                success=_("Comment saved."),
            )
    spec = collab.spec_of(record)
    return render(
        request,
        "core/collab/comment_edit.html",
        {
            "comment": comment,
            "record": record,
            "body": body,
            "errors": errors,
            "back": back,
            "crumbs": [(str(record), spec.url(record) or None), (_("Edit comment"), None)],
        },
    )


@login_required
@require_POST
def comment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a comment: its author, or an organisation administrator."""
    me = _me(request)
    comment, record = collab.get_comment(me, pk)
    collab.delete_comment(actor=me, comment=comment)
    return _respond(request, record, "comments", success=_("Comment deleted."))


@login_required
@require_GET
def mention_users(request: HttpRequest) -> JsonResponse:
    """Active colleagues whose login name starts with, or whose name contains, ``q`` (at most
    8), with the ``handle`` to write after @: the name, or the login name when two share it."""
    from crm.org.models import User

    me = _me(request)
    q = (request.GET.get("q") or "").strip()[:50]
    colleagues = User.objects.visible_to(me).filter(is_active=True)
    found = colleagues.exclude(pk=me.pk)
    if q:
        found = found.filter(Q(username__istartswith=q) | Q(name__icontains=q))
    users = list(found.order_by("name", "username")[:8])
    shared = Counter(
        colleagues.filter(name__in=[u.name for u in users if u.name]).values_list("name", flat=True)
    )
    return JsonResponse(
        {
            "results": [
                {
                    "id": u.pk,
                    "username": u.username,
                    "name": u.display_name,
                    "handle": u.name if u.name and shared[u.name] == 1 else u.username,
                }
                for u in users
            ]
        }
    )


# --- Attachments -------------------------------------------------------------------------------
@login_required
@require_POST
def attachment_add(request: HttpRequest, target: str, pk: int) -> HttpResponse:
    """Upload one or more files to a record the user may edit; each file is checked alone."""
    me = _me(request)
    record = collab.get_target(me, target, pk)
    if not collab.may(me, record, "edit"):
        raise PermissionDenied(_("You may read this record but not add files to it."))
    files = request.FILES.getlist("files") or request.FILES.getlist("file")
    description = request.POST.get("description", "")
    errors: list[str] = []
    added = 0
    if not files:
        errors.append(_("Choose a file to upload."))
    elif len(files) > MAX_FILES_PER_UPLOAD:
        errors.append(_("Upload at most %(n)d files at a time.") % {"n": MAX_FILES_PER_UPLOAD})
    else:
        for upload in files:
            try:
                collab.upload_attachment(
                    actor=me, target=record, uploaded_file=upload, description=description
                )
                added += 1
            except DomainError as exc:
                raise_unless_form_error(exc)
                errors.append(error_text(exc))
    success = (
        ngettext("%(n)d file attached.", "%(n)d files attached.", added) % {"n": added}
        if added
        else ""
    )
    notices = [success] if success and errors and _is_htmx(request) else []
    return _respond(request, record, "attachments", errors=errors, notices=notices, success=success)


@login_required
@require_GET
def attachment_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The file, to whoever may see its record (checked again on every download)."""
    attachment, _record = collab.get_attachment(_me(request), pk)
    return collab.file_response(attachment)


@login_required
@require_POST
def attachment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove a file: its uploader, or someone who may edit the record."""
    me = _me(request)
    attachment, record = collab.get_attachment(me, pk)
    collab.delete_attachment(actor=me, attachment=attachment)
    return _respond(request, record, "attachments", success=_("File removed."))
