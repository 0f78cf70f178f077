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
from .models import Article, ArticleCategory, ArticleStatus

TITLE_MAX = 200
BODY_MAX = 200_000
TAGS_MAX = 20
TAG_MAX = 30
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


def _clean(data: dict[str, Any], article: Article | None) -> dict[str, Any]:
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
        category = data.get("category") or ArticleCategory.PLAYBOOK
        if category not in ArticleCategory.values:
            errors["category"] = [_("Choose a category from the list.")]
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
    snap = audit.snapshot(article, ["title", "body", "category", "tags", "status", "opportunity"])
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
    values = _clean(data, None)
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
    values = _clean(data, article)
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
        "category": ArticleCategory.CASE_STUDY,
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
