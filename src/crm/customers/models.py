"""Customers (客户), contacts (联系人), public pools (公海) and the record of ownership moves."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.core.models import ScopedModel, TenantModel
from crm.core.scoping import ScopedQuerySet, ScopeFields

from .choices import Grade, MoveKind


def _pool_rows_visible(user: Any) -> Q:
    """Customers in a public pool the user may see (pool open to all, or to their department)."""
    from .pools import visible_pool_ids

    return Q(owner__isnull=True, pool_id__in=visible_pool_ids(user))


class PublicPool(TenantModel):
    """A public customer pool (公海) with its rules. ``departments`` empty = open to everyone.

    Rules (null/0 = off): return a customer after ``days_without_followup`` days without a
    follow-up, or ``days_without_deal`` days without a won deal; ``grade_rules`` overrides both per
    grade (``{"A": {"days_without_followup": 60, "days_without_deal": 365}}``); warn the owner
    ``warning_days`` before; a rep may own at most ``owner_cap`` customers; the previous owner may
    re-claim only after ``reclaim_cooldown_days``; at most ``daily_claim_limit`` claims per rep per
    day; contact phone numbers masked until claimed when ``mask_contacts``.
    """

    name = models.CharField(_("name"), max_length=100)
    departments = models.ManyToManyField(
        "org.Department", blank=True, related_name="+", verbose_name=_("departments that may claim")
    )
    is_default = models.BooleanField(_("default pool"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    days_without_followup = models.PositiveIntegerField(
        _("return after days without follow-up"), null=True, blank=True
    )
    days_without_deal = models.PositiveIntegerField(
        _("return after days without a won deal"), null=True, blank=True
    )
    grade_rules = models.JSONField(_("rules per grade"), default=dict, blank=True)
    exclude_won = models.BooleanField(_("never return customers with a won deal"), default=True)
    exclude_open_opportunities = models.BooleanField(
        _("never return customers with open opportunities"), default=True
    )
    warning_days = models.PositiveIntegerField(_("warn days before return"), default=3)
    owner_cap = models.PositiveIntegerField(
        _("most customers a rep may own"), null=True, blank=True
    )
    reclaim_cooldown_days = models.PositiveIntegerField(
        _("days before the previous owner may re-claim"), default=0
    )
    daily_claim_limit = models.PositiveIntegerField(
        _("claims per rep per day"), null=True, blank=True
    )
    mask_contacts = models.BooleanField(_("mask contact phones until claimed"), default=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "customers"

    class Meta:
        verbose_name = _("public pool")
        verbose_name_plural = _("public pools")
        ordering = ["-is_default", "name"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="pool_unique_name")]

    def __str__(self) -> str:
        return self.name

    def rule_for(self, grade: str) -> tuple[int | None, int | None]:
        """(days without follow-up, days without deal) that apply to a customer of ``grade``."""
        override = (self.grade_rules or {}).get(grade or "", {})
        return (
            override.get("days_without_followup", self.days_without_followup),
            override.get("days_without_deal", self.days_without_deal),
        )


class Tag(TenantModel):
    """A label on customers (e.g. 重点, 渠道, 老客户)."""

    name = models.CharField(_("name"), max_length=40)
    color = models.CharField(_("colour"), max_length=20, default="blue")

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "customers"

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="tag_unique_name")]

    def __str__(self) -> str:
        return self.name


class Customer(ScopedModel):
    """A customer company (客户). ``owner`` null means it sits in ``pool`` (公海)."""

    name = models.CharField(_("name"), max_length=200)
    normalized_name = models.CharField(max_length=200, editable=False, db_index=False)
    name_pinyin = models.CharField(max_length=600, editable=False, blank=True)
    name_initials = models.CharField(max_length=200, editable=False, blank=True)
    short_name = models.CharField(_("short name"), max_length=100, blank=True)
    customer_type = models.CharField(_("type"), max_length=60, blank=True)
    category = models.CharField(_("category"), max_length=60, blank=True)
    business_category = models.CharField(_("business category"), max_length=60, blank=True)
    industry = models.CharField(_("industry"), max_length=60, blank=True)
    source = models.CharField(_("source"), max_length=60, blank=True)
    grade = models.CharField(_("grade"), max_length=1, choices=Grade.choices, blank=True)
    is_new = models.BooleanField(_("new customer"), default=True)
    signed_amount_12m = models.DecimalField(
        _("signed in the last 12 months"), max_digits=16, decimal_places=2, default=Decimal("0")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("owner"),
    )
    collaborators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("collaborators")
    )
    is_confidential = models.BooleanField(_("confidential"), default=False)
    confidential_viewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        verbose_name=_("named viewers of a confidential record"),
    )
    pool = models.ForeignKey(
        PublicPool,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
        verbose_name=_("public pool"),
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subsidiaries",
        verbose_name=_("parent customer"),
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers", verbose_name=_("tags"))
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    phone_digits = models.CharField(max_length=40, editable=False, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    website = models.CharField(_("website"), max_length=200, blank=True)
    region = models.CharField(_("region"), max_length=100, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    # Invoicing details (开票信息)
    invoice_title = models.CharField(_("invoice title"), max_length=200, blank=True)
    tax_number = models.CharField(_("tax number"), max_length=40, blank=True)
    invoice_address_phone = models.CharField(
        _("invoice address and phone"), max_length=300, blank=True
    )
    bank_name = models.CharField(_("bank"), max_length=200, blank=True)
    bank_account = models.CharField(_("bank account"), max_length=60, blank=True)
    # Ownership clock and follow-up blocks (kept current by the services).
    owner_since = models.DateTimeField(_("owned since"), null=True, blank=True)
    last_followup_at = models.DateTimeField(_("last follow-up"), null=True, blank=True)
    next_followup_at = models.DateTimeField(_("next follow-up"), null=True, blank=True)
    last_won_at = models.DateTimeField(_("last won deal"), null=True, blank=True)
    open_opportunities = models.PositiveIntegerField(_("open opportunities"), default=0)
    pool_entered_at = models.DateTimeField(_("entered the pool"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("released by"),
    )
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    release_reason = models.CharField(_("release reason"), max_length=300, blank=True)
    return_warned_at = models.DateTimeField(null=True, blank=True, editable=False)
    sweep_token = models.CharField(max_length=40, blank=True, editable=False)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    scope: ClassVar[ScopeFields] = ScopeFields(
        owner="owner", shared="collaborators", also=_pool_rows_visible, confidential=True
    )
    scope_module: ClassVar[str] = "customers"

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["-updated_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "owner", "-updated_at"], name="cust_owner_idx"),
            # the lists' default order (most recently changed first), for every data scope
            models.Index(fields=["org", "-updated_at", "-id"], name="cust_recent_idx"),
            models.Index(fields=["org", "normalized_name"], name="cust_norm_idx"),
            models.Index(fields=["org", "name_initials"], name="cust_initials_idx"),
            models.Index(fields=["org", "phone_digits"], name="cust_phone_idx"),
            models.Index(fields=["org", "pool", "owner"], name="cust_pool_idx"),
            models.Index(fields=["org", "owner", "last_followup_at"], name="cust_followup_idx"),
            models.Index(fields=["org", "sweep_token"], name="cust_sweep_idx"),
            # the few confidential customers, read once per request by the scope engine (R1.4)
            models.Index(
                fields=["org"], condition=Q(is_confidential=True), name="cust_confidential_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def in_pool(self) -> bool:
        return self.owner_id is None


class Contact(ScopedModel):
    """A person at a customer (联系人). Visible exactly when the customer is."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="contacts", verbose_name=_("customer")
    )
    name = models.CharField(_("name"), max_length=100)
    superior_unit = models.CharField(_("superior unit"), max_length=200, blank=True)
    department = models.CharField(_("department"), max_length=100, blank=True)
    title = models.CharField(_("title"), max_length=100, blank=True)
    office_phone = models.CharField(_("office phone"), max_length=40, blank=True)
    mobile = models.CharField(_("mobile"), max_length=40, blank=True)
    mobile_digits = models.CharField(max_length=40, editable=False, blank=True)
    fax = models.CharField(_("fax"), max_length=40, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    is_primary = models.BooleanField(_("primary contact"), default=False)
    notes = models.TextField(_("notes"), blank=True)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)

    scope: ClassVar[ScopeFields] = ScopeFields(via="customer")
    scope_module: ClassVar[str] = "customers"

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-is_primary", "name", "pk"]
        indexes = [
            models.Index(fields=["org", "customer"], name="contact_cust_idx"),
            models.Index(fields=["org", "mobile_digits"], name="contact_mobile_idx"),
            models.Index(fields=["org", "email"], name="contact_email_idx"),
            models.Index(fields=["org", "-updated_at", "-id"], name="contact_updated_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class OwnershipMove(TenantModel):
    """Every time a customer changes hands: claims, releases, assignments, transfers, returns.

    Kept for claim limits and re-claim cool-downs (indexed by user and time) beside the events.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="moves")
    kind = models.CharField(_("kind"), max_length=20, choices=MoveKind.choices)
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pool = models.ForeignKey(
        PublicPool, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(via="customer")
    scope_module: ClassVar[str] = "customers"

    class Meta:
        verbose_name = _("ownership move")
        verbose_name_plural = _("ownership moves")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["org", "to_user", "kind", "created_at"], name="move_claims_idx"),
            models.Index(
                fields=["org", "customer", "from_user", "created_at"], name="move_release_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.customer_id}"


class CareReminderLog(TenantModel):
    """One row per care reminder sent (birthday of a contact in a year, holiday per owner), so
    each goes out exactly once however often or concurrently the job runs."""

    key = models.CharField(max_length=200)

    objects = ScopedQuerySet.as_manager()
    scope: ClassVar[ScopeFields] = ScopeFields(owner=None, org_wide=True)
    scope_module: ClassVar[str] = "customers"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "key"], name="care_once")]

    def __str__(self) -> str:
        return self.key
