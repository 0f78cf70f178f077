"""How the knowledge module plugs into the base layer (H-KB): menu, opportunity-page section,
global search, attachments on articles, audit labels."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

VERBS = {
    "article.created": _("Article written"),
    "article.updated": _("Article changed"),
    "article.published": _("Article published"),
    "article.unpublished": _("Article taken back to draft"),
    "article.deleted": _("Article deleted"),
    "category.created": _("Article category added"),
    "category.updated": _("Article category changed"),
    "category.deleted": _("Article category deleted"),
}


def search_articles(user: Any, text: str, limit: int) -> list[dict[str, Any]]:
    """Global search (top bar): articles the user sees."""
    if not user.can("knowledge", "view") or not text.strip():
        return []
    from . import selectors

    return [
        {
            "kind": _("Article"),
            "title": a.title,
            "subtitle": a.category.name,
            "url": f"/knowledge/{a.pk}/",
        }
        for a in selectors.search(selectors.articles(user), text)[:limit]
    ]


def _article_url(article: Any) -> str:
    from django.urls import reverse

    return reverse("knowledge:detail", args=[article.pk])


def register() -> None:
    from crm.core import collab
    from crm.core.audit import register_verbs
    from crm.core.registry import register_org_initializer, register_search

    from . import menu, sections, services

    menu.register()
    sections.register()
    register_search(search_articles)
    register_org_initializer(services.install_default_categories)
    register_verbs(VERBS)
    collab.register_target("article", "knowledge.Article", _article_url)
    from crm.org.demo import DEMO_CLEANERS

    if clean_demo not in DEMO_CLEANERS:
        DEMO_CLEANERS.insert(0, clean_demo)


def clean_demo(org: Any) -> None:
    """Articles protect their authors (and categories): a demo reset deletes the demo
    organisation's articles."""
    from .models import Article

    Article.objects.for_org(org.pk).delete()
