"""API schemas of the knowledge base. Write schemas list what a client may set: author, status
timestamps, pinyin columns, the plain text and the version are kept by the services; ``body`` is
HTML that is sanitised on save (scripts, styles, event handlers, ``javascript:`` links removed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from crm.core.api import FilterId, RecordId
from crm.customers.schemas import UserBrief

CATEGORIES = Literal["playbook", "faq", "competitor", "purchase_process", "case_study", "other"]
STATUSES = Literal["draft", "published"]


class ArticleStageBrief(Schema):
    id: int
    name: str
    pipeline_id: int


class ArticleCategoryBrief(Schema):
    id: int
    name: str
    key: str = Field(description="The built-in category's key (playbook, faq…), blank for own ones")


class ArticleCategoryRead(ArticleCategoryBrief):
    """One of the organisation's article categories, in list order."""

    sort_order: int
    is_active: bool
    article_count: int = Field(0, description="Articles in it that you see")


class ArticleCategoryCreate(Schema):
    name: str = Field(..., min_length=1, max_length=60)
    sort_order: int | None = Field(
        None, ge=0, le=1_000_000, description="Place in the list (default: at the end)"
    )


class ArticleCategoryUpdate(Schema):
    """Rename, move or (de)activate: only the fields sent change."""

    name: str | None = Field(None, min_length=1, max_length=60)
    sort_order: int | None = Field(None, ge=0, le=1_000_000)
    is_active: bool | None = Field(None, description="An inactive category takes no new articles")


class ArticleBrief(Schema):
    """An article in a list (no body)."""

    id: int
    title: str
    category: ArticleCategoryBrief
    status: STATUSES
    tags: list[str]
    excerpt: str
    author: UserBrief
    published_at: datetime | None
    updated_at: datetime

    @staticmethod
    def resolve_tags(obj: Any) -> list[str]:
        return list(obj.tag_list)

    @staticmethod
    def resolve_excerpt(obj: Any) -> str:
        text = " ".join((obj.body_text or "").split())
        return text[:200]


class ArticleRead(ArticleBrief):
    body: str = Field(description="Sanitised HTML")
    stages: list[ArticleStageBrief]
    industries: list[str] = Field(description="Industry values (dictionary `industry`)")
    opportunity_id: int | None = Field(
        None, description="The closed opportunity a case study was written from"
    )
    version: int

    @staticmethod
    def resolve_stages(obj: Any) -> list[Any]:
        return list(obj.stages.all())

    @staticmethod
    def resolve_industries(obj: Any) -> list[str]:
        return [i.value for i in obj.industries.all()]


class ArticleCreate(Schema):
    title: str = Field(..., max_length=200)
    body: str = Field("", max_length=200_000, description="HTML; sanitised on save")
    category_id: RecordId | None = Field(
        None, description="One of the organisation's active categories (default: the first)"
    )
    category: CATEGORIES | None = Field(
        None, description="Deprecated: a built-in category's key; use category_id"
    )
    tags: list[str] = Field(default_factory=list, max_length=20)
    stage_ids: list[RecordId] = Field(default_factory=list, max_length=200)
    industries: list[str] = Field(default_factory=list, max_length=100)
    publish: bool = Field(False, description="Publish at once (needs knowledge:edit)")


class ArticleUpdate(Schema):
    """Only the fields sent change."""

    title: str | None = Field(None, max_length=200)
    body: str | None = Field(None, max_length=200_000)
    category_id: RecordId | None = None
    category: CATEGORIES | None = Field(
        None, description="Deprecated: a built-in category's key; use category_id"
    )
    tags: list[str] | None = Field(None, max_length=20)
    stage_ids: list[RecordId] | None = Field(None, max_length=200)
    industries: list[str] | None = Field(None, max_length=100)
    version: int | None = Field(None, ge=1, description="The version you read (stale → 409)")


class ArticleStatusIn(Schema):
    status: STATUSES
    version: int | None = Field(None, ge=1)


class ArticleFilter(Schema):
    q: str | None = Field(
        None,
        max_length=200,
        description="Full text (title and body), Chinese or English, or pinyin of the title",
    )
    category_id: FilterId | None = None
    category: CATEGORIES | None = Field(None, description="A built-in category's key")
    status: STATUSES | None = None
    tag: str | None = Field(None, max_length=30)
    stage_id: RecordId | None = None
    industry: str | None = Field(None, max_length=60)
