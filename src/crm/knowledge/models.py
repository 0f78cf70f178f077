"""The sales knowledge base (R9.4): articles — playbooks, FAQ, competitor notes, each industry's
purchase process, won/lost case studies — linked to pipeline stages and industries.

Visibility: a *published* article is read by every member of the organisation with
``knowledge:view`` (org-wide knowledge); a *draft* only by its author and by the editors whose
``knowledge`` data scope covers the author (a manager sees the drafts of the department tree,
a director or marketing with the whole organisation all of them). Another organisation never.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.core.models import ScopedModel, TenantModel
from crm.core.scoping import ScopedQuerySet, ScopeFields

if TYPE_CHECKING:
    from crm.org.models import User


class ArticleCategory(models.TextChoices):
    """The built-in categories every organisation starts with (``Category.key``); the
    organisation renames, reorders, deactivates or adds to them (``Category``)."""

    PLAYBOOK = "playbook", _("Playbook")
    FAQ = "faq", _("FAQ")
    COMPETITOR = "competitor", _("Competitor notes")
    PURCHASE_PROCESS = "purchase_process", _("Purchase process")
    CASE_STUDY = "case_study", _("Case study")
    OTHER = "other", pgettext_lazy("article category", "Other")


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("article status", "Draft")
    PUBLISHED = "published", pgettext_lazy("article status", "Published")


class Category(TenantModel):
    """A category of articles, defined by the organisation (R9.4): a name, a place in the list
    and an active flag. New organisations (and, by migration, existing ones) start with the
    built-in ones (``key`` = an ``ArticleCategory`` value, blank for the organisation's own);
    ``case_study`` is where the write-ups of closed opportunities go. Every member with
    ``knowledge:view`` reads the list; ``knowledge:configure`` edits it. A category in use is
    never deleted (its articles are moved to another one first)."""

    name = models.CharField(_("name"), max_length=60)
    key = models.CharField(_("built-in key"), max_length=30, blank=True, editable=False)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "knowledge"

    class Meta:
        verbose_name = _("article category")
        verbose_name_plural = _("article categories")
        ordering = ["sort_order", "pk"]
        indexes = [
            models.Index(fields=["org", "is_active", "sort_order"], name="kb_category_order_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], name="kb_category_unique_name"),
            models.UniqueConstraint(
                fields=["org", "key"], condition=~Q(key=""), name="kb_category_unique_key"
            ),
        ]

    def __str__(self) -> str:
        return self.name


def _published(user: User) -> Q:
    """Published articles are organisation-wide knowledge (ORed into the author's scope)."""
    return Q(status=ArticleStatus.PUBLISHED)


class Article(ScopedModel):
    """One article. ``body`` is sanitised HTML (``crm.knowledge.html.sanitize``, never raw
    input); ``body_text`` its plain text for search and excerpts. ``tags`` is stored as
    ``",tag1,tag2,"`` so one tag is a portable ``contains`` filter. ``title_pinyin`` and
    ``title_initials`` are filled by the service (pinyin search: ``xsjq`` finds 销售技巧).
    ``opportunity`` is the closed opportunity a case study was written from."""

    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("content"), blank=True)
    body_text = models.TextField(_("plain text"), blank=True, editable=False)
    category = models.ForeignKey(
        Category,
        on_delete=models.PROTECT,
        related_name="articles",
        verbose_name=_("category"),
    )
    tags = models.CharField(_("tags"), max_length=500, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("author"),
    )
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    stages = models.ManyToManyField(
        "pipeline.Stage", blank=True, related_name="+", verbose_name=_("pipeline stages")
    )
    industries = models.ManyToManyField(
        "pipeline.DictionaryItem",
        blank=True,
        related_name="+",
        verbose_name=_("industries"),
        limit_choices_to={"kind": "industry"},
    )
    opportunity = models.ForeignKey(
        "pipeline.Opportunity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("written up from"),
    )
    title_pinyin = models.CharField(max_length=600, blank=True, editable=False)
    title_initials = models.CharField(max_length=200, blank=True, editable=False)

    scope: ClassVar[ScopeFields] = ScopeFields(owner="author", also=_published)
    scope_module: ClassVar[str] = "knowledge"

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        ordering = ["-updated_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "status", "-updated_at"], name="kb_article_status_idx"),
            models.Index(fields=["org", "category", "-updated_at"], name="kb_article_cat_idx"),
            models.Index(fields=["org", "author", "-updated_at"], name="kb_article_author_idx"),
            models.Index(fields=["org", "opportunity"], name="kb_article_opp_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def tag_list(self) -> list[str]:
        return [t for t in self.tags.split(",") if t]

    @property
    def is_published(self) -> bool:
        return self.status == ArticleStatus.PUBLISHED
