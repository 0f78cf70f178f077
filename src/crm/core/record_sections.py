"""Rendering the sections other modules register for a record page (``registry.record_sections``)
— the customer 360 page, the opportunity page, the contract page.

A page renders its first ``inline`` sections with itself and leaves the rest to be fetched
right after it loads (htmx, ``hx-trigger="load"``), ``PER_REQUEST`` sections per request: each
section reads its own rows from its own module, so a page that rendered all twelve issued
twice the 15 queries a page may (issue 8, R11.2). The page's own request stays within budget,
and so does each request for its sections. Each section request checks the record's scope
again, exactly as the page does.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import batched
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template.loader import get_template, render_to_string
from django.utils.safestring import mark_safe

from .registry import Section, record_sections

#: sections fetched by one request after the page (each reads one to four queries)
PER_REQUEST = 3

#: the request attribute naming the record page a section request renders for
_PAGE_ATTR = "record_page_url"


def back_to(request: HttpRequest, anchor: str) -> str:
    """Where a link in a section returns to: the record page at ``#anchor``. A section
    rendered with its page returns to the page's own address (with its query); one fetched
    after the page returns to the record page, never to the section fragment."""
    page = getattr(request, _PAGE_ATTR, None) or request.get_full_path()
    return f"{page}#{anchor}"


def _render(
    request: HttpRequest, obj: Any, sections: Iterable[Section], base: dict[str, Any]
) -> list[dict[str, Any]]:
    context = {"request": request, "user": request.user, "csrf_token": get_token(request), **base}
    rendered = []
    for section in sections:
        extra = section.context(request, obj)
        if extra is None:
            continue  # a context function answering None hides its section
        html = get_template(section.template).render({**context, "section": section, **extra})
        rendered.append({"key": section.key, "title": section.title, "html": mark_safe(html)})  # noqa: S308 - our own rendered template
    return rendered


def page_sections(
    request: HttpRequest,
    model_label: str,
    obj: Any,
    base: dict[str, Any],
    *,
    url: str,
    inline: int | None = None,
) -> list[dict[str, Any]]:
    """The sections of ``obj``'s page in order: the first ``inline`` rendered (None: all), the
    others as placeholders ``{"lazy": True, "keys", "titles", "url"}`` whose ``url`` (the
    page's section view, ``url``) answers them ``PER_REQUEST`` at a time."""
    sections = record_sections.get(model_label, [])
    now = sections if inline is None else sections[:inline]
    later = [] if inline is None else sections[inline:]
    result = _render(request, obj, now, base)
    for chunk in batched(later, PER_REQUEST):
        keys = [s.key for s in chunk]
        result.append(
            {
                "lazy": True,
                "keys": keys,
                "titles": [s.title for s in chunk],
                "url": f"{url}?{urlencode({'keys': ','.join(keys)})}",
            }
        )
    return result


def sections_response(
    request: HttpRequest, model_label: str, obj: Any, base: dict[str, Any], *, page_url: str
) -> HttpResponse:
    """The view behind a placeholder: the sections named by ``?keys=a,b`` (unknown keys are
    ignored; at most ``PER_REQUEST``), rendered as the page renders its own. Links in them
    return to ``page_url``, the record's page (``back_to``)."""
    setattr(request, _PAGE_ATTR, page_url)
    wanted = (request.GET.get("keys") or "").split(",")[:PER_REQUEST]
    chosen = [s for s in record_sections.get(model_label, []) if s.key in wanted]
    # a fragment: without the page's context processors (menu, unread notifications)
    html = render_to_string(
        "components/record_sections.html", {"sections": _render(request, obj, chosen, base)}
    )
    return HttpResponse(html)
