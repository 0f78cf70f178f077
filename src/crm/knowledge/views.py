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
from crm.core.errors import Conflict, DomainError, ValidationFailed
from crm.core.forms import error_text
from crm.core.scoping import get_scoped_or_404
from crm.core.views import require_perm
from crm.pipeline.models import Opportunity

from . import selectors, services
from .forms import ArticleForm, CategoryDeleteForm, CategoryForm, FilterForm
from .models import Article, ArticleStatus, Category

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
    form = FilterForm(request.GET or None, org_id=user.org_id)
    base = selectors.articles(user)
    qs = base
    data = form.cleaned_data if form.is_valid() else {}
    if data.get("category"):
        qs = qs.filter(category_id=data["category"])
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
        {"value": str(c.pk), "label": c.name, "count": counts.get(c.pk, 0)}
        for c in services.categories(user.org_id)
        if c.is_active or counts.get(c.pk)
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
            "can_configure": user.can("knowledge", "configure"),
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
        "category": str(article.category_id),
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
        chosen = services.category_of(user.org_id, request.GET.get("category"))
        if chosen is not None and chosen.is_active:
            initial["category"] = str(chosen.pk)
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
    keep = article.category_id
    if request.method == "POST":
        form = ArticleForm(request.POST, org_id=user.org_id, keep_category=keep)
        if form.is_valid() and (saved := _save(request, form, article)):
            messages.success(request, _("Article saved."))
            return redirect("knowledge:detail", saved.pk)
    else:
        form = ArticleForm(initial=_initial(article), org_id=user.org_id, keep_category=keep)
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


# --- categories (knowledge:configure) ------------------------------------------------------------
def _category(request: HttpRequest, pk: int) -> Category:
    row: Category = get_scoped_or_404(Category, request.user, pk, "configure")
    return row


def _settings_crumbs(*extra: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    return _crumbs((_("Categories"), reverse("knowledge:categories")), *extra)


def _form_errors(form: Any, exc: DomainError) -> None:
    for field, errors in exc.field_errors.items():
        for error in errors:
            form.add_error(field if field in form.fields else None, error)
    if not exc.field_errors:
        form.add_error(None, str(exc.message))


@login_required
def category_list(request: HttpRequest) -> HttpResponse:
    """The organisation's article categories: add, rename, reorder, deactivate, delete."""
    user: Any = request.user
    require_perm(request, "knowledge", "configure")
    form = CategoryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.create_category(actor=user, name=form.cleaned_data["name"])
        except ValidationFailed as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Category added."))
            return redirect("knowledge:categories")
    rows = Category.objects.visible_to(user, "configure").order_by("sort_order", "pk")
    counts = dict(
        Article.objects.visible_to(user, "configure")
        .order_by()
        .values_list("category")
        .annotate(n=Count("pk"))
        .values_list("category", "n")
    )
    return render(
        request,
        "knowledge/category_list.html",
        {
            "form": form,
            "rows": [{"category": c, "count": counts.get(c.pk, 0)} for c in rows],
            "crumbs": _crumbs((_("Categories"), None)),
        },
    )


@login_required
def category_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename a category (GET: the form; POST: save)."""
    user: Any = request.user
    require_perm(request, "knowledge", "configure")
    row = _category(request, pk)
    form = CategoryForm(request.POST or None, initial={"name": row.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.update_category(
                actor=user, category=row, data={"name": form.cleaned_data["name"]}
            )
        except ValidationFailed as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Category renamed."))
            return redirect("knowledge:categories")
    return render(
        request,
        "knowledge/category_form.html",
        {"form": form, "category": row, "crumbs": _settings_crumbs((row.name, None))},
    )


@login_required
@require_POST
def category_move(request: HttpRequest, pk: int) -> HttpResponse:
    user: Any = request.user
    require_perm(request, "knowledge", "configure")
    row = _category(request, pk)
    direction = "up" if request.POST.get("direction") == "up" else "down"
    services.move_category(actor=user, category=row, direction=direction)
    return redirect("knowledge:categories")


@login_required
@require_POST
def category_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivate (no new articles in it; existing ones keep it) or reactivate a category."""
    user: Any = request.user
    require_perm(request, "knowledge", "configure")
    row = _category(request, pk)
    active = request.POST.get("active") == "1"
    try:
        services.update_category(actor=user, category=row, data={"is_active": active})
    except ValidationFailed as exc:
        messages.error(request, error_text(exc))
    else:
        if active:
            messages.success(request, _("Category reactivated."))
        else:
            messages.success(request, _("Category deactivated: it takes no new articles."))
    return redirect("knowledge:categories")


@login_required
def category_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: confirm (and, for a category in use, choose where its articles go); POST: delete."""
    user: Any = request.user
    require_perm(request, "knowledge", "configure")
    row = _category(request, pk)
    in_use = Article.objects.visible_to(user, "configure").filter(category=row).count()
    others = [
        (c.pk, c.name)
        for c in Category.objects.visible_to(user, "configure")
        .exclude(pk=row.pk)
        .order_by("sort_order", "pk")
    ]
    data = request.POST if request.method == "POST" else None
    form = CategoryDeleteForm(data, choices=others)
    if request.method == "POST" and form.is_valid():
        move_to = None
        if form.cleaned_data.get("move_to"):
            move_to = get_scoped_or_404(Category, user, form.cleaned_data["move_to"], "configure")
        try:
            moved = services.delete_category(actor=user, category=row, move_to=move_to)
        except (ValidationFailed, Conflict) as exc:
            _form_errors(form, exc)
        else:
            if moved:
                messages.success(
                    request,
                    _("Category deleted; %(n)d articles moved to “%(to)s”.")
                    % {"n": moved, "to": move_to.name if move_to else ""},
                )
            else:
                messages.success(request, _("Category deleted."))
            return redirect("knowledge:categories")
    return render(
        request,
        "knowledge/category_delete.html",
        {
            "form": form,
            "category": row,
            "in_use": in_use,
            "crumbs": _settings_crumbs((row.name, None)),
        },
    )
