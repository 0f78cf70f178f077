"""Every write of the knowledge base: create, update, publish, unpublish, delete an article and
write a closed opportunity up as a case study. Each checks the function permission and the data
scope, validates, saves and records an event in one transaction."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Min
from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _

from crm.core import audit
from crm.core.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from crm.core.money import format_cny
from crm.core.scoping import assert_in_scope, get_scoped_or_404
from crm.customers.normalize import pinyin_of
from crm.org.models import User
from crm.pipeline.choices import OpportunityStatus
from crm.pipeline.models import DictionaryItem, Opportunity, Stage, StageHistory

from .html import from_text, plain_text, sanitize
from .models import Article, ArticleCategory, ArticleStatus, Category

TITLE_MAX = 200
BODY_MAX = 200_000
TAGS_MAX = 20
TAG_MAX = 30
CATEGORY_NAME_MAX = 60
CATEGORIES_MAX = 200
CASE_STATUSES = (OpportunityStatus.WON, OpportunityStatus.LOST)
_TAG_SPLIT = re.compile(r"[,，;；、\n]+")


def _require(actor: User, action: str) -> None:
    if not actor.can("knowledge", action):
        raise PermissionDenied()


def clean_tags(raw: Any) -> list[str]:
    """Tags from a list or a comma-separated string (Chinese commas too): trimmed, unique."""
    items = raw if isinstance(raw, list | tuple) else _TAG_SPLIT.split(str(raw or ""))
    tags: list[str] = []
    for item in items:
        tag = " ".join(str(item).replace(",", " ").split())
        if not tag:
            continue
        if len(tag) > TAG_MAX:
            raise ValidationFailed(
                field_errors={
                    "tags": [_("A tag may have at most %(n)d characters.") % {"n": TAG_MAX}]
                }
            )
        if tag.lower() not in {t.lower() for t in tags}:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise ValidationFailed(field_errors={"tags": [_("At most %(n)d tags.") % {"n": TAGS_MAX}]})
    return tags


def _stages(actor: User, ids: Any) -> list[Stage]:
    ids = list(dict.fromkeys(ids or []))
    if not ids:
        return []
    try:
        found = list(Stage.objects.filter(org_id=actor.org_id, pk__in=ids))
    except (TypeError, ValueError):
        found = []
    if len(found) != len(ids):
        raise ValidationFailed(field_errors={"stage_ids": [_("Choose stages from the list.")]})
    return found


def _industries(actor: User, values: Any) -> list[DictionaryItem]:
    values = list(dict.fromkeys(str(v) for v in (values or [])))
    if not values:
        return []
    found = list(
        DictionaryItem.objects.filter(org_id=actor.org_id, kind="industry", value__in=values)
    )
    if len(found) != len(values):
        raise ValidationFailed(field_errors={"industries": [_("Choose industries from the list.")]})
    return found


# --- categories (defined by the organisation) --------------------------------------------------
def _built_in_name(key: str) -> str:
    return str(ArticleCategory(key).label)


def install_default_categories(org: Any, admin: Any = None) -> None:
    """Organisation initializer: the built-in categories, in their usual order (named in the
    language active at sign-up). Existing keys are left alone."""
    existing = set(Category.objects.for_org(org.pk).values_list("key", flat=True))
    names = set(Category.objects.for_org(org.pk).values_list("name", flat=True))
    rows = []
    for order, key in enumerate(ArticleCategory.values, start=1):
        name = _built_in_name(key)
        if key in existing or name in names:
            continue
        rows.append(Category(org_id=org.pk, key=key, name=name, sort_order=order * 10))
    Category.objects.bulk_create(rows)


def categories(org_id: int, *, active_only: bool = False) -> list[Category]:
    """The organisation's categories in list order (seeded if it has none at all)."""
    qs = Category.objects.for_org(org_id)
    if not qs.exists():
        from crm.org.models import Organization

        install_default_categories(Organization.objects.get(pk=org_id))
    if active_only:
        qs = qs.filter(is_active=True)
    return list(qs.order_by("sort_order", "pk"))


def default_category(org_id: int) -> Category | None:
    rows = categories(org_id, active_only=True)
    return rows[0] if rows else None


def case_study_category(org_id: int) -> Category:
    """Where write-ups of closed opportunities go: the built-in *case study* category (put back,
    at the end of the list, if the organisation deleted it)."""
    row = Category.objects.for_org(org_id).filter(key=ArticleCategory.CASE_STUDY).first()
    if row is None:
        name = _built_in_name(ArticleCategory.CASE_STUDY)
        row = Category.objects.for_org(org_id).filter(name=name).first()
    if row is None:
        last = Category.objects.for_org(org_id).aggregate(m=Max("sort_order"))["m"] or 0
        row = Category.objects.create(
            org_id=org_id, key=ArticleCategory.CASE_STUDY, name=name, sort_order=last + 10
        )
    return row


def category_of(org_id: int, value: Any) -> Category | None:
    """The organisation's category named by ``value``: a row, an id, or a built-in key
    (``"faq"``: what the API took before categories were the organisation's own)."""
    if isinstance(value, Category):
        return value if value.org_id == org_id else None
    qs = Category.objects.for_org(org_id)
    text = str(value or "").strip()
    if text.isdigit():
        return qs.filter(pk=int(text)).first()
    if text in ArticleCategory.values:
        return qs.filter(key=text).first()
    return None


def _article_category(org_id: int, value: Any, article: Article | None) -> Category | None:
    if value in (None, ""):
        return article.category if article is not None else default_category(org_id)
    row = category_of(org_id, value)
    if row is None:
        return None
    keeps = article is not None and article.category_id == row.pk
    if not row.is_active and not keeps and not isinstance(value, Category):
        return None  # an inactive category takes no new articles
    return row


def _require_configure(actor: User) -> None:
    if not actor.can("knowledge", "configure"):
        raise PermissionDenied(_("Only administrators of the knowledge base edit categories."))


def _category_name(actor: User, raw: Any, exclude_pk: int | None = None) -> str:
    name = " ".join(str(raw or "").split())
    if not name:
        raise ValidationFailed(field_errors={"name": [_("Enter a name.")]})
    if len(name) > CATEGORY_NAME_MAX:
        raise ValidationFailed(
            field_errors={"name": [_("At most %(n)d characters.") % {"n": CATEGORY_NAME_MAX}]}
        )
    taken = Category.objects.for_org(actor.org_id).filter(name__iexact=name)  # type: ignore[arg-type]
    if exclude_pk:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationFailed(field_errors={"name": [_("A category with this name exists.")]})
    return name


def _category_snapshot(row: Category) -> dict[str, Any]:
    return audit.snapshot(row, ["name", "sort_order", "is_active"])


@transaction.atomic
def create_category(*, actor: User, name: Any, sort_order: int | None = None) -> Category:
    """A new category at the end of the list (or at ``sort_order``)."""
    _require_configure(actor)
    org_id: int = actor.org_id  # type: ignore[assignment]
    qs = Category.objects.for_org(org_id)
    if qs.count() >= CATEGORIES_MAX:
        raise ValidationFailed(_("At most %(n)d categories.") % {"n": CATEGORIES_MAX})
    clean = _category_name(actor, name)
    if sort_order is None:
        sort_order = (qs.aggregate(m=Max("sort_order"))["m"] or 0) + 10
    row = Category.objects.create(org_id=org_id, name=clean, sort_order=max(int(sort_order), 0))
    audit.record(
        actor=actor,
        obj=row,
        verb="category.created",
        changes=audit.diff({}, _category_snapshot(row)),
    )
    return row


def _locked_category(actor: User, category: Category) -> Category:
    row = Category.objects.select_for_update().filter(pk=category.pk, org_id=actor.org_id).first()
    if row is None:
        from crm.core.errors import NotFound

        raise NotFound()
    return row


@transaction.atomic
def update_category(*, actor: User, category: Category, data: dict[str, Any]) -> Category:
    """Rename, move (``sort_order``), deactivate or reactivate a category. The last active
    category stays active (new articles need one)."""
    _require_configure(actor)
    row = _locked_category(actor, category)
    before = _category_snapshot(row)
    if data.get("name") is not None:
        row.name = _category_name(actor, data["name"], exclude_pk=row.pk)
    if data.get("sort_order") is not None:
        row.sort_order = max(int(data["sort_order"]), 0)
    if data.get("is_active") is not None:
        active = bool(data["is_active"])
        if not active and row.is_active:
            others = (
                Category.objects.for_org(row.org_id)
                .filter(is_active=True)
                .exclude(pk=row.pk)
                .exists()
            )
            if not others:
                raise ValidationFailed(
                    field_errors={"is_active": [_("Keep at least one category active.")]}
                )
        row.is_active = active
    row.save()
    changes = audit.diff(before, _category_snapshot(row))
    if changes:
        audit.record(actor=actor, obj=row, verb="category.updated", changes=changes)
    return row


@transaction.atomic
def move_category(*, actor: User, category: Category, direction: str) -> Category:
    """One place up or down in the list (renumbers the list 10, 20, 30…)."""
    _require_configure(actor)
    row = _locked_category(actor, category)
    rows = list(
        Category.objects.select_for_update().filter(org_id=row.org_id).order_by("sort_order", "pk")
    )
    i = next(n for n, r in enumerate(rows) if r.pk == row.pk)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(rows):
        rows[i], rows[j] = rows[j], rows[i]
    for n, r in enumerate(rows, start=1):
        if r.sort_order != n * 10:
            Category.objects.filter(pk=r.pk).update(sort_order=n * 10, updated_at=timezone.now())
    audit.record(actor=actor, obj=row, verb="category.updated", data={"moved": direction})
    row.refresh_from_db()
    return row


@transaction.atomic
def delete_category(*, actor: User, category: Category, move_to: Category | None = None) -> int:
    """Delete a category. One in use is refused unless ``move_to`` names another category of
    the organisation: its articles move there first. Returns how many articles moved."""
    _require_configure(actor)
    row = _locked_category(actor, category)
    in_use = Article.objects.filter(org_id=row.org_id, category=row).count()
    others_active = (
        Category.objects.for_org(row.org_id).filter(is_active=True).exclude(pk=row.pk).exists()
    )
    if row.is_active and not others_active:
        raise ValidationFailed(_("Keep at least one category active."))
    moved = 0
    if in_use:
        if move_to is None:
            raise Conflict(
                _(
                    "%(n)d articles are in this category: choose a category to move them to, "
                    "or deactivate it instead."
                )
                % {"n": in_use}
            )
        if move_to.org_id != row.org_id or move_to.pk == row.pk:
            raise ValidationFailed(
                field_errors={"move_to": [_("Choose another category of the list.")]}
            )
        moved = Article.objects.filter(org_id=row.org_id, category=row).update(
            category=move_to, updated_at=timezone.now()
        )
    audit.record(
        actor=actor,
        obj=row,
        verb="category.deleted",
        data={"name": row.name, "moved": moved, "to": move_to.name if move_to else None},
    )
    row.delete()
    return moved


def _clean(org_id: int, data: dict[str, Any], article: Article | None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    if "title" in data or article is None:
        title = " ".join(str(data.get("title") or "").split())
        if not title:
            errors["title"] = [_("Enter a title.")]
        elif len(title) > TITLE_MAX:
            errors["title"] = [_("At most %(n)d characters.") % {"n": TITLE_MAX}]
        values["title"] = title
    if "body" in data or article is None:
        raw = str(data.get("body") or "")
        if len(raw) > BODY_MAX:
            errors["body"] = [_("The content is too long.")]
        values["body"] = sanitize(raw)
    if "category" in data or article is None:
        category = _article_category(org_id, data.get("category"), article)
        if category is None:
            errors["category"] = [_("Choose a category from the list.")]
        else:
            values["category"] = category
    if "tags" in data:
        try:
            values["tags"] = clean_tags(data.get("tags"))
        except ValidationFailed as exc:
            errors.update(exc.field_errors)
    if errors:
        raise ValidationFailed(field_errors=errors)
    return values


def _apply(article: Article, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if key == "tags":
            article.tags = ("," + ",".join(value) + ",") if value else ""
        else:
            setattr(article, key, value)
    article.body_text = plain_text(article.body)
    article.title_pinyin, article.title_initials = pinyin_of(article.title)
    article.title_pinyin = article.title_pinyin[:600]
    article.title_initials = article.title_initials[:200]


def _tracked(article: Article) -> dict[str, Any]:
    snap = audit.snapshot(article, ["title", "body", "tags", "status", "opportunity"])
    snap["category"] = article.category.name if article.category_id else None
    snap["stages"] = sorted(article.stages.values_list("pk", flat=True)) if article.pk else []
    snap["industries"] = (
        sorted(article.industries.values_list("value", flat=True)) if article.pk else []
    )
    return snap


@transaction.atomic
def create_article(
    *,
    actor: User,
    data: dict[str, Any],
    stage_ids: list[int] | None = None,
    industries: list[str] | None = None,
    publish: bool = False,
    opportunity: Opportunity | None = None,
) -> Article:
    """A new article by ``actor`` (knowledge:create), a draft unless ``publish``."""
    _require(actor, "create")
    values = _clean(actor.org_id, data, None)  # type: ignore[arg-type]
    stages = _stages(actor, stage_ids)
    items = _industries(actor, industries)
    article = Article(org=actor.org, author=actor, created_by=actor, opportunity=opportunity)
    _apply(article, values)
    if publish:
        article.status = ArticleStatus.PUBLISHED
        article.published_at = timezone.now()
    article.save()
    article.stages.set(stages)
    article.industries.set(items)
    audit.record(
        actor=actor, obj=article, verb="article.created", changes=audit.diff({}, _tracked(article))
    )
    return article


def get_for_edit(actor: User, pk: Any) -> Article:
    """The article ``actor`` may edit (knowledge:edit within scope, or their own draft)."""
    article: Article = get_scoped_or_404(Article, actor, pk, "view")
    if not may_edit(actor, article):
        raise PermissionDenied()
    return article


def may_edit(actor: User, article: Article) -> bool:
    """Editors edit what their ``knowledge:edit`` scope covers (published articles and drafts of
    the people in it); an author keeps editing their own article while they may create."""
    if article.author_id == actor.pk and actor.can("knowledge", "create"):
        return True
    return Article.objects.visible_to(actor, "edit").filter(pk=article.pk).exists()


def may_delete(actor: User, article: Article) -> bool:
    if article.author_id == actor.pk and not article.is_published:
        return actor.can("knowledge", "create")
    return Article.objects.visible_to(actor, "delete").filter(pk=article.pk).exists()


def _check_version(article: Article, version: int | None) -> None:
    if version is not None and int(version) != article.version:
        raise Conflict()


@transaction.atomic
def update_article(
    *,
    actor: User,
    article: Article,
    data: dict[str, Any],
    stage_ids: list[int] | None = None,
    industries: list[str] | None = None,
    version: int | None = None,
) -> Article:
    """Change an article (only the keys given; ``None`` leaves stages or industries alone)."""
    article = Article.objects.select_for_update().get(pk=article.pk, org_id=actor.org_id)
    if not may_edit(actor, article):
        raise PermissionDenied()
    _check_version(article, version)
    before = _tracked(article)
    values = _clean(actor.org_id, data, article)  # type: ignore[arg-type]
    stages = _stages(actor, stage_ids) if stage_ids is not None else None
    items = _industries(actor, industries) if industries is not None else None
    _apply(article, values)
    article.version += 1
    article.save()
    if stages is not None:
        article.stages.set(stages)
    if items is not None:
        article.industries.set(items)
    changes = audit.diff(before, _tracked(article))
    if changes:
        audit.record(actor=actor, obj=article, verb="article.updated", changes=changes)
    return article


@transaction.atomic
def set_status(
    *, actor: User, article: Article, status: str, version: int | None = None
) -> Article:
    """Publish (organisation-wide) or take back to draft. Publishing needs knowledge:edit."""
    article = Article.objects.select_for_update().get(pk=article.pk, org_id=actor.org_id)
    if not may_edit(actor, article) or not actor.can("knowledge", "edit"):
        raise PermissionDenied(_("Only editors of the knowledge base publish articles."))
    if status not in ArticleStatus.values:
        raise ValidationFailed(field_errors={"status": [_("Choose a status from the list.")]})
    _check_version(article, version)
    if article.status == status:
        raise InvalidTransition()
    old = article.status
    article.status = status
    if status == ArticleStatus.PUBLISHED:
        article.published_at = timezone.now()
    article.version += 1
    article.save(update_fields=["status", "published_at", "version", "updated_at"])
    verb = "article.published" if status == ArticleStatus.PUBLISHED else "article.unpublished"
    audit.record(actor=actor, obj=article, verb=verb, changes={"status": [old, status]})
    return article


@transaction.atomic
def delete_article(*, actor: User, article: Article) -> None:
    """Delete: knowledge:delete within scope, or the author's own draft."""
    if not may_delete(actor, article):
        raise PermissionDenied()
    audit.record(actor=actor, obj=article, verb="article.deleted", data={"title": article.title})
    article.delete()


# --- case studies -----------------------------------------------------------------------------
def case_draft(actor: User, opportunity: Opportunity) -> dict[str, Any]:
    """The prefilled case study of a closed opportunity ``actor`` sees: title, body (safe HTML),
    industries. A fixed number of queries (history and follow-ups are aggregated in SQL)."""
    from crm.activities.models import FollowUp
    from crm.pipeline import dictionaries

    if opportunity.status not in CASE_STATUSES:
        raise InvalidTransition(_("Only a won or lost opportunity can be written up as a case."))
    customer = opportunity.customer
    won = opportunity.status == OpportunityStatus.WON
    history = list(
        StageHistory.objects.filter(opportunity=opportunity)
        .select_related("stage")
        .order_by("entered_at", "pk")
    )
    follow = FollowUp.objects.filter(org_id=opportunity.org_id, opportunity=opportunity).aggregate(
        n=Count("pk"), first=Min("happened_at"), last=Max("happened_at")
    )
    recent = list(
        FollowUp.objects.filter(org_id=opportunity.org_id, opportunity=opportunity)
        .order_by("-happened_at", "-pk")
        .values_list("happened_at", "content")[:5]
    )
    amount = opportunity.actual_amount if won else opportunity.expected_amount
    tz = timezone.get_current_timezone()
    title = (
        _("Won case: %(customer)s — %(name)s") if won else _("Lost case: %(customer)s — %(name)s")
    ) % {"customer": customer.name, "name": opportunity.name}
    parts = [
        "<h2>" + escape(_("Background")) + "</h2>",
        "<ul>",
        f"<li>{escape(_('Customer'))}: {escape(customer.name)}</li>",
    ]
    if customer.industry:
        label = dictionaries.label(opportunity.org_id, "industry", customer.industry)
        parts.append(f"<li>{escape(_('Industry'))}: {escape(label)}</li>")
    parts.append(f"<li>{escape(_('Opportunity'))}: {escape(opportunity.name)}</li>")
    if amount is not None:
        parts.append(f"<li>{escape(_('Amount'))}: {escape(format_cny(Decimal(amount)))}</li>")
    parts.append(
        f"<li>{escape(_('Result'))}: {escape(opportunity.get_status_display())}"
        + (
            f" ({escape(date_filter(opportunity.actual_close_date, 'Y-m-d'))})"
            if opportunity.actual_close_date
            else ""
        )
        + "</li>"
    )
    parts.append("</ul>")
    if history:
        parts.append("<h2>" + escape(_("Stage history")) + "</h2><ol>")
        for row in history:
            entered = timezone.localtime(row.entered_at, tz)
            days = ""
            if row.left_at:
                days = " · " + _("%(n)d days") % {"n": (row.left_at - row.entered_at).days}
            note = f" — {escape(row.note)}" if row.note else ""
            parts.append(
                f"<li>{escape(row.stage.name)} ({escape(date_filter(entered, 'Y-m-d'))}"
                f"{escape(days)}){note}</li>"
            )
        parts.append("</ol>")
    if not won:
        reason = dictionaries.label(opportunity.org_id, "loss_reason", opportunity.loss_reason)
        parts.append("<h2>" + escape(_("Why we lost")) + "</h2>")
        parts.append(f"<p>{escape(_('Loss reason'))}: {escape(reason or '—')}</p>")
        if opportunity.loss_note:
            parts.append(from_text(opportunity.loss_note))
    parts.append("<h2>" + escape(_("Follow-ups")) + "</h2>")
    if follow["n"]:
        first = date_filter(timezone.localtime(follow["first"], tz), "Y-m-d")
        last = date_filter(timezone.localtime(follow["last"], tz), "Y-m-d")
        parts.append(
            "<p>"
            + escape(
                _("%(n)d follow-ups from %(first)s to %(last)s. The latest:")
                % {"n": follow["n"], "first": first, "last": last}
            )
            + "</p><ul>"
        )
        for when, content in recent:
            day = date_filter(timezone.localtime(when, tz), "Y-m-d")
            excerpt = " ".join((content or "").split())[:200]
            parts.append(f"<li>{escape(day)}: {escape(excerpt)}</li>")
        parts.append("</ul>")
    else:
        parts.append("<p>" + escape(_("No follow-ups were recorded.")) + "</p>")
    parts.append("<h2>" + escape(_("Lessons learnt")) + "</h2><p></p>")
    return {
        "title": title[:TITLE_MAX],
        "body": sanitize("".join(parts)),
        "category": case_study_category(opportunity.org_id),
        "tags": [_("Won") if won else _("Lost")],
        "industries": [customer.industry] if customer.industry else [],
    }


@transaction.atomic
def write_up_case(*, actor: User, opportunity: Opportunity) -> Article:
    """One step: a draft case study of a closed opportunity the actor sees, prefilled with its
    customer, amount, stage history, loss reason and follow-up summary."""
    _require(actor, "create")
    opportunity = get_scoped_or_404(Opportunity, actor, opportunity.pk, "view")
    draft = case_draft(actor, opportunity)
    industries = [
        v
        for v in draft.pop("industries")
        if DictionaryItem.objects.filter(org_id=actor.org_id, kind="industry", value=v).exists()
    ]
    article = create_article(
        actor=actor, data=draft, industries=industries, opportunity=opportunity
    )
    assert_in_scope(actor, article)
    return article
