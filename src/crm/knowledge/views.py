"""Pages of the knowledge base: list (categories, tags, search), article page, editor,
publishing, deletion, and the case study written up from a closed opportunity.

Every read goes through ``Article.objects.visible_to`` (``selectors.articles``); a missing or
invisible article answers 404; every write goes through ``crm.knowledge.services``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.core.collab_sections import attachments_context
from crm.core.errors import ValidationFailed
from crm.core.scoping import get_scoped_or_404
from crm.core.views import require_perm
from crm.pipeline.models import Opportunity

from . import selectors, services
from .forms import ArticleForm, FilterForm
from .models import Article, ArticleCategory, ArticleStatus

PAGE_SIZE = 20


def _crumbs(*extra: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return [(_("Knowledge"), reverse("knowledge:list")), *extra]


def _popular_tags(qs: Any, limit: int = 20) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for raw in qs.exclude(tags="").values_list("tags", flat=True)[:1000]:
        for tag in raw.split(","):
            if tag:
                counts[tag] = counts.get(tag, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


@login_required
def article_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_perm(request, "knowledge", "view")
    form = FilterForm(request.GET or None)
    base = selectors.articles(user)
    qs = base
    data = form.cleaned_data if form.is_valid() else {}
    if data.get("category"):
        qs = qs.filter(category=data["category"])
    if data.get("status"):
        qs = qs.filter(status=data["status"])
    if data.get("tag"):
        qs = qs.filter(selectors.tag_q(data["tag"]))
    qs = selectors.search(qs, data.get("q") or "")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = dict(
        base.order_by().values_list("category").annotate(n=Count("pk")).values_list("category", "n")
    )
    categories = [
        {"value": value, "label": label, "count": counts.get(value, 0)}
        for value, label in ArticleCategory.choices
    ]
    return render(
        request,
        "knowledge/article_list.html",
        {
            "form": form,
            "page": page,
            "categories": categories,
            "total": sum(counts.values()),
            "current_category": data.get("category") or "",
            "current_tag": data.get("tag") or "",
            "tags": _popular_tags(base),
            "can_create": user.can("knowledge", "create"),
            "crumbs": _crumbs(),
        },
    )


def _article(request: HttpRequest, pk: int) -> Article:
    qs = selectors.articles(request.user).prefetch_related("stages__pipeline", "industries")
    article: Article = get_scoped_or_404(qs, request.user, pk)
    return article


@login_required
def article_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    require_perm(request, "knowledge", "view")
    article = _article(request, pk)
    files = attachments_context(request, article)
    files["can_upload"] = files["can_upload"] and services.may_edit(user, article)
    can_edit = services.may_edit(user, article)
    return render(
        request,
        "knowledge/article_detail.html",
        {
            "article": article,
            "body": mark_safe(article.body),  # noqa: S308 - sanitised on save (knowledge.html)
            "can_edit": can_edit,
            "can_publish": can_edit and user.can("knowledge", "edit"),
            "can_delete": services.may_delete(user, article),
            "crumbs": _crumbs((article.title, None)),
            **files,
        },
    )


def _initial(article: Article) -> dict[str, Any]:
    return {
        "title": article.title,
        "category": article.category,
        "tags": ", ".join(article.tag_list),
        "body": article.body,
        "stage_ids": [str(pk) for pk in article.stages.values_list("pk", flat=True)],
        "industries": list(article.industries.values_list("value", flat=True)),
        "version": article.version,
    }


def _save(request: HttpRequest, form: ArticleForm, article: Article | None) -> Article | None:
    """Hand the cleaned form to the service; field errors go back onto the form."""
    user: Any = request.user
    d = form.cleaned_data
    data = {"title": d["title"], "category": d["category"], "tags": d["tags"], "body": d["body"]}
    stage_ids = [int(pk) for pk in d["stage_ids"]]
    publish = "publish" in request.POST
    try:
        if article is None:
            publish = publish and user.can("knowledge", "edit")
            return services.create_article(
                actor=user,
                data=data,
                stage_ids=stage_ids,
                industries=d["industries"],
                publish=publish,
            )
        article = services.update_article(
            actor=user,
            article=article,
            data=data,
            stage_ids=stage_ids,
            industries=d["industries"],
            version=d.get("version"),
        )
        if publish and not article.is_published:
            article = services.set_status(
                actor=user, article=article, status=ArticleStatus.PUBLISHED
            )
        return article
    except ValidationFailed as exc:
        for field, errors in exc.field_errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        if not exc.field_errors:
            form.add_error(None, str(exc.message))
        return None


@login_required
def article_create(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    require_perm(request, "knowledge", "create")
    if request.method == "POST":
        form = ArticleForm(request.POST, org_id=user.org_id)
        if form.is_valid() and (article := _save(request, form, None)):
            messages.success(request, _("Article saved."))
            return redirect("knowledge:detail", article.pk)
    else:
        initial = {}
        if request.GET.get("category") in ArticleCategory.values:
            initial["category"] = request.GET["category"]
        form = ArticleForm(initial=initial, org_id=user.org_id)
    return _editor(request, form, None)


def _editor(request: HttpRequest, form: ArticleForm, article: Article | None) -> HttpResponse:
    user: Any = request.user
    title = _("Edit article") if article else _("New article")
    crumbs = (
        _crumbs((article.title, reverse("knowledge:detail", args=[article.pk])), (title, None))
        if article
        else _crumbs((title, None))
    )
    return render(
        request,
        "knowledge/article_form.html",
        {
            "form": form,
            "article": article,
            "heading": title,
            "can_publish": user.can("knowledge", "edit"),
            "crumbs": crumbs,
        },
    )


@login_required
def article_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    require_perm(request, "knowledge", "view")
    article = services.get_for_edit(user, pk)
    if request.method == "POST":
        form = ArticleForm(request.POST, org_id=user.org_id)
        if form.is_valid() and (saved := _save(request, form, article)):
            messages.success(request, _("Article saved."))
            return redirect("knowledge:detail", saved.pk)
    else:
        form = ArticleForm(initial=_initial(article), org_id=user.org_id)
    return _editor(request, form, article)


@login_required
@require_POST
def article_status(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    require_perm(request, "knowledge", "view")
    article = _article(request, pk)
    status = request.POST.get("status", "")
    services.set_status(actor=user, article=article, status=status)
    if status == ArticleStatus.PUBLISHED:
        messages.success(request, _("Article published: everyone in the organisation sees it."))
    else:
        messages.success(request, _("Article taken back to draft."))
    return redirect("knowledge:detail", article.pk)


@login_required
@require_POST
def article_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    require_perm(request, "knowledge", "view")
    article = _article(request, pk)
    services.delete_article(actor=user, article=article)
    messages.success(request, _("Article deleted."))
    return redirect("knowledge:list")


@login_required
def case_create(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    """GET: the prefilled case study of a closed opportunity; POST: write it up as a draft (one
    step) and open the editor."""
    user: Any = request.user
    require_perm(request, "knowledge", "create")
    opportunity: Opportunity = get_scoped_or_404(
        Opportunity.objects.visible_to(user).select_related("customer", "stage"),
        user,
        opportunity_id,
    )
    if request.method == "POST":
        article = services.write_up_case(actor=user, opportunity=opportunity)
        messages.success(request, _("Case study drafted from the opportunity. Add the lessons."))
        return redirect("knowledge:edit", article.pk)
    draft = services.case_draft(user, opportunity)
    back = request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    return render(
        request,
        "knowledge/case_create.html",
        {
            "opportunity": opportunity,
            "draft": draft,
            "body": mark_safe(draft["body"]),  # noqa: S308 - built from escaped values, sanitised
            "existing": selectors.case_studies_of(user, opportunity),
            "back": back or reverse("opportunities:detail", args=[opportunity.pk]),
            "crumbs": _crumbs((_("Case study"), None)),
        },
    )
