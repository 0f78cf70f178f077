"""Reads of the knowledge base: the articles a user sees, search, and the articles related to an
opportunity (its stage or its customer's industry)."""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from crm.pipeline.models import Opportunity

from .models import Article, ArticleStatus

_LATIN = re.compile(r"[^a-z0-9]")


def articles(user: Any) -> QuerySet[Article]:
    """Every article ``user`` sees: published ones of the organisation, and the drafts of their
    own and of the authors inside their ``knowledge`` scope."""
    return Article.objects.visible_to(user, "view").select_related("author", "category")


def published(user: Any) -> QuerySet[Article]:
    return articles(user).filter(status=ArticleStatus.PUBLISHED)


def tag_q(tag: str) -> Q:
    return Q(tags__icontains="," + tag.strip() + ",")


def text_q(text: str) -> Q:
    """Substring match on title, body text and tags (Chinese has no word boundaries, so this is
    the match on SQLite and the fallback beside full-text search on PostgreSQL), plus pinyin and
    initials of the title (``xsjq`` or ``xiaoshou`` finds 销售技巧)."""
    q = Q(title__icontains=text) | Q(body_text__icontains=text) | Q(tags__icontains=text)
    latin = _LATIN.sub("", text.lower())
    if latin and latin == text.lower().replace(" ", ""):
        q |= Q(title_initials__startswith=latin) | Q(title_pinyin__startswith=latin)
        if len(latin) >= 2:
            q |= Q(title_initials__contains=latin) | Q(title_pinyin__contains=latin)
    return q


def search(qs: QuerySet[Article], text: str) -> QuerySet[Article]:
    """Filter ``qs`` by ``text``. PostgreSQL: full-text search (``simple`` configuration over
    title, weight A, and body, weight B; web-search syntax: ``"exact phrase"``, ``-not``, ``or``)
    ORed with the substring and pinyin match, ranked by relevance. SQLite: the substring and
    pinyin match, newest first."""
    text = " ".join((text or "").split())[:200]
    if not text:
        return qs
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        vector = SearchVector("title", weight="A", config="simple") + SearchVector(
            "body_text", weight="B", config="simple"
        )
        query = SearchQuery(text, config="simple", search_type="websearch")
        return (
            qs.annotate(search_rank=SearchRank(vector, query))
            .annotate(search_doc=vector)
            .filter(Q(search_doc=query) | text_q(text))
            .order_by("-search_rank", "-updated_at", "-pk")
        )
    return qs.filter(text_q(text)).order_by("-updated_at", "-pk")


def related_q(opportunity: Opportunity) -> Q:
    stage_ids = [opportunity.stage_id] + ([opportunity.node_id] if opportunity.node_id else [])
    q = Q(stages__in=stage_ids)
    industry = opportunity.customer.industry
    if industry:
        q |= Q(industries__kind="industry", industries__value=industry)
    return q


def related_to_opportunity(user: Any, opportunity: Opportunity, limit: int = 20) -> list[Article]:
    """Published articles linked to the opportunity's current stage (or node) or its customer's
    industry: one query whatever the number of articles, links or matches."""
    ids = published(user).filter(related_q(opportunity)).values("pk").distinct()
    return list(
        published(user)
        .filter(pk__in=ids)
        .order_by("category__sort_order", "category_id", "-updated_at", "-pk")[:limit]
    )


def case_studies_of(user: Any, opportunity: Opportunity) -> list[Article]:
    return list(articles(user).filter(opportunity=opportunity).order_by("-pk")[:5])
