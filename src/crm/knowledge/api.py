"""/api/v1/knowledge/: articles (CRUD, publish), search, and the articles related to an
opportunity (its stage or its customer's industry); case studies from closed opportunities.

Thin handlers: check the function permission, look records up through the scoped layer (another
tenant's, out-of-scope and other people's draft ids answer 404), call a service, serialise.
"""

from typing import Any

from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from ninja.pagination import paginate

from crm.core.api import FilterId, Paginated, scoped_get
from crm.core.errors import PermissionDenied, ValidationFailed
from crm.org.models import User
from crm.pipeline.models import Opportunity

from . import selectors, services
from .models import Article, Category
from .schemas import (
    ArticleBrief,
    ArticleCategoryCreate,
    ArticleCategoryRead,
    ArticleCategoryUpdate,
    ArticleCreate,
    ArticleFilter,
    ArticleRead,
    ArticleStatusIn,
    ArticleUpdate,
)

router = Router()


def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _require(request: HttpRequest, action: str) -> None:
    if not _me(request).can("knowledge", action):
        raise PermissionDenied()


def _read_qs(request: HttpRequest) -> QuerySet[Article]:
    return selectors.articles(_me(request)).prefetch_related("stages", "industries")


def _article(request: HttpRequest, article_id: int) -> Article:
    _require(request, "view")
    article: Article = scoped_get(request, _read_qs(request), article_id)
    return article


def _category_value(request: HttpRequest, category_id: int | None, key: str | None) -> Any:
    """The category an article write names: an id of the organisation's (another tenant's id is
    refused like an unknown one), or a built-in key; None for the default."""
    if category_id is not None:
        row = Category.objects.visible_to(_me(request)).filter(pk=category_id).first()
        if row is None:
            raise ValidationFailed(
                field_errors={"category_id": [_("Choose a category from the list.")]}
            )
        return str(row.pk)
    return key


@router.get(
    "/articles",
    response=list[ArticleBrief],
    summary="Articles you see (published ones, and drafts in your scope), newest first",
)
@paginate(Paginated)
def list_articles(request: HttpRequest, filters: Query[ArticleFilter]) -> Any:
    _require(request, "view")
    qs = selectors.articles(_me(request))
    if filters.category_id:
        qs = qs.filter(category_id=filters.category_id)
    if filters.category:
        qs = qs.filter(category__key=filters.category)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.tag:
        qs = qs.filter(selectors.tag_q(filters.tag))
    if filters.stage_id:
        qs = qs.filter(
            pk__in=Article.objects.visible_to(_me(request))
            .filter(stages=filters.stage_id)
            .values("pk")
        )
    if filters.industry:
        qs = qs.filter(
            pk__in=Article.objects.visible_to(_me(request))
            .filter(industries__value=filters.industry)
            .values("pk")
        )
    if filters.q:
        return selectors.search(qs, filters.q)
    return qs.order_by("-updated_at", "-pk")


@router.post("/articles", response={201: ArticleRead}, summary="Write an article (a draft)")
def create_article(request: HttpRequest, payload: ArticleCreate) -> Any:
    _require(request, "create")
    me = _me(request)
    if payload.publish and not me.can("knowledge", "edit"):
        raise PermissionDenied()
    data = payload.dict(include={"title", "body", "tags"})
    data["category"] = _category_value(request, payload.category_id, payload.category)
    article = services.create_article(
        actor=me,
        data=data,
        stage_ids=payload.stage_ids,
        industries=payload.industries,
        publish=payload.publish,
    )
    return Status(201, _article(request, article.pk))


@router.get("/articles/{article_id}", response=ArticleRead, summary="An article")
def get_article(request: HttpRequest, article_id: int) -> Any:
    return _article(request, article_id)


@router.patch("/articles/{article_id}", response=ArticleRead, summary="Change an article")
def update_article(request: HttpRequest, article_id: int, payload: ArticleUpdate) -> Any:
    article = _article(request, article_id)
    data = payload.dict(exclude_unset=True, include={"title", "body", "tags"})
    if payload.category_id is not None or payload.category is not None:
        data["category"] = _category_value(request, payload.category_id, payload.category)
    services.update_article(
        actor=_me(request),
        article=article,
        data={k: v for k, v in data.items() if v is not None},
        stage_ids=payload.stage_ids,
        industries=payload.industries,
        version=payload.version,
    )
    return _article(request, article_id)


@router.post(
    "/articles/{article_id}/status",
    response=ArticleRead,
    summary="Publish an article (organisation-wide) or take it back to draft",
)
def set_article_status(request: HttpRequest, article_id: int, payload: ArticleStatusIn) -> Any:
    article = _article(request, article_id)
    services.set_status(
        actor=_me(request), article=article, status=payload.status, version=payload.version
    )
    return _article(request, article_id)


@router.delete("/articles/{article_id}", response={204: None}, summary="Delete an article")
def delete_article(request: HttpRequest, article_id: int) -> Any:
    article = _article(request, article_id)
    services.delete_article(actor=_me(request), article=article)
    return Status(204, None)


@router.get(
    "/search",
    response=list[ArticleBrief],
    summary="Search articles: full text in Chinese and English, pinyin of titles",
)
@paginate(Paginated)
def search_articles(
    request: HttpRequest,
    q: str = Query("", max_length=200, description="Words, a phrase or pinyin of a title"),
) -> Any:
    _require(request, "view")
    if not q.strip():
        raise ValidationFailed(field_errors={"q": [_("Enter something to search for.")]})
    return selectors.search(selectors.articles(_me(request)), q)


@router.get(
    "/opportunities/{opportunity_id}/related",
    response=list[ArticleBrief],
    summary="Published articles linked to the opportunity's stage or its customer's industry",
)
def related_articles(request: HttpRequest, opportunity_id: int) -> Any:
    _require(request, "view")
    opportunity = scoped_get(
        request,
        Opportunity.objects.visible_to(_me(request)).select_related("customer"),
        opportunity_id,
    )
    return selectors.related_to_opportunity(_me(request), opportunity)


@router.post(
    "/opportunities/{opportunity_id}/case-study",
    response={201: ArticleRead},
    summary="Write a won or lost opportunity up as a draft case study, prefilled",
)
def create_case_study(request: HttpRequest, opportunity_id: int) -> Any:
    _require(request, "create")
    opportunity = scoped_get(
        request,
        Opportunity.objects.visible_to(_me(request)).select_related("customer"),
        opportunity_id,
    )
    article = services.write_up_case(actor=_me(request), opportunity=opportunity)
    return Status(201, _article(request, article.pk))


# --- categories ---------------------------------------------------------------------------------
def _category(request: HttpRequest, category_id: int) -> Category:
    row: Category = scoped_get(
        request, Category.objects.visible_to(_me(request), "configure"), category_id, "configure"
    )
    return row


def _category_read(request: HttpRequest, row: Category) -> dict[str, Any]:
    count = Article.objects.visible_to(_me(request)).filter(category=row).count()
    return {
        "id": row.pk,
        "name": row.name,
        "key": row.key,
        "sort_order": row.sort_order,
        "is_active": row.is_active,
        "article_count": count,
    }


@router.get(
    "/categories",
    response=list[ArticleCategoryRead],
    summary="The organisation's article categories, in list order",
)
def list_categories(request: HttpRequest, active: bool | None = None) -> Any:
    _require(request, "view")
    me = _me(request)
    services.categories(me.org_id)  # type: ignore[arg-type]  # seeds an organisation without any
    rows = Category.objects.visible_to(me).order_by("sort_order", "pk")
    if active is not None:
        rows = rows.filter(is_active=active)
    counts = dict(
        Article.objects.visible_to(me)
        .order_by()
        .values_list("category")
        .annotate(n=Count("pk"))
        .values_list("category", "n")
    )
    return [
        {
            "id": c.pk,
            "name": c.name,
            "key": c.key,
            "sort_order": c.sort_order,
            "is_active": c.is_active,
            "article_count": counts.get(c.pk, 0),
        }
        for c in rows
    ]


@router.post(
    "/categories",
    response={201: ArticleCategoryRead},
    summary="Add an article category (knowledge:configure)",
)
def create_category(request: HttpRequest, payload: ArticleCategoryCreate) -> Any:
    _require(request, "configure")
    row = services.create_category(
        actor=_me(request), name=payload.name, sort_order=payload.sort_order
    )
    return Status(201, _category_read(request, row))


@router.patch(
    "/categories/{category_id}",
    response=ArticleCategoryRead,
    summary="Rename, move or (de)activate an article category",
)
def update_category(request: HttpRequest, category_id: int, payload: ArticleCategoryUpdate) -> Any:
    _require(request, "configure")
    row = services.update_category(
        actor=_me(request),
        category=_category(request, category_id),
        data=payload.dict(exclude_unset=True),
    )
    return _category_read(request, row)


@router.delete(
    "/categories/{category_id}",
    response={204: None},
    summary="Delete an article category; one in use needs move_to_id (else 409)",
)
def delete_category(
    request: HttpRequest,
    category_id: int,
    move_to_id: FilterId | None = Query(  # noqa: B008 - ninja's parameter declaration
        None, description="Move the category's articles here first"
    ),
) -> Any:
    _require(request, "configure")
    row = _category(request, category_id)
    move_to = None
    if move_to_id is not None:
        move_to = (
            Category.objects.visible_to(_me(request), "configure").filter(pk=move_to_id).first()
        )
        if move_to is None:
            raise ValidationFailed(
                field_errors={"move_to_id": [_("Choose another category of the list.")]}
            )
    services.delete_category(actor=_me(request), category=row, move_to=move_to)
    return Status(204, None)
