"""API schemas of the customers module (XCreate / XUpdate / XRead / XBrief).

Money is a string with two decimals (``"12000.00"``); dates and times are ISO 8601. Phones and
e-mails of customers waiting in a pool that masks contacts are shown masked (``138****8000``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ninja import Field, Schema

from crm.core.api import ObjectIn, RecordId
from crm.core.custom_fields import CUSTOM_HELP, CUSTOM_HELP_UPDATE

from .api_helpers import days_since_followup, is_masked, masked_email, masked_phone, pool_return_at


# --- Briefs ---------------------------------------------------------------------------------------
class UserBrief(Schema):
    id: int
    username: str
    name: str

    @staticmethod
    def resolve_name(obj: Any) -> str:
        return str(obj.display_name)


class PoolBrief(Schema):
    id: int
    name: str


class CustomerBrief(Schema):
    id: int
    name: str


class TagRead(Schema):
    id: int
    name: str
    color: str


class TagCreate(Schema):
    name: str = Field(..., min_length=1, max_length=40)
    color: str = Field("blue", max_length=20)


# --- Contacts -------------------------------------------------------------------------------------
class ContactRead(Schema):
    """A contact. Phones and e-mail are masked while the customer waits in a masking pool."""

    id: int
    customer: CustomerBrief
    name: str
    superior_unit: str
    department: str
    title: str
    office_phone: str
    mobile: str
    fax: str
    email: str
    birthday: date | None
    owner: UserBrief | None
    is_primary: bool
    notes: str
    custom: dict[str, Any] = Field(default_factory=dict, description=CUSTOM_HELP)
    masked: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_masked(obj: Any) -> bool:
        return is_masked(obj.customer)

    @staticmethod
    def resolve_office_phone(obj: Any) -> str:
        return masked_phone(obj.customer, obj.office_phone)

    @staticmethod
    def resolve_mobile(obj: Any) -> str:
        return masked_phone(obj.customer, obj.mobile)

    @staticmethod
    def resolve_fax(obj: Any) -> str:
        return masked_phone(obj.customer, obj.fax)

    @staticmethod
    def resolve_email(obj: Any) -> str:
        return masked_email(obj.customer, obj.email)


class ContactCreate(ObjectIn):
    name: str = Field(..., min_length=1, max_length=100)
    superior_unit: str = Field("", max_length=200)
    department: str = Field("", max_length=100)
    title: str = Field("", max_length=100)
    office_phone: str = Field("", max_length=40)
    mobile: str = Field("", max_length=40)
    fax: str = Field("", max_length=40)
    email: str = Field("", max_length=254)
    birthday: date | None = None
    is_primary: bool = False
    notes: str = ""
    custom: dict[str, Any] = Field(default_factory=dict, description=CUSTOM_HELP)


class ContactUpdate(Schema):
    """Only the fields sent change. ``version`` is the one you read (stale → 409)."""

    version: int = Field(..., ge=1, description="The version you read; a stale one answers 409")
    name: str | None = Field(None, min_length=1, max_length=100)
    superior_unit: str | None = Field(None, max_length=200)
    department: str | None = Field(None, max_length=100)
    title: str | None = Field(None, max_length=100)
    office_phone: str | None = Field(None, max_length=40)
    mobile: str | None = Field(None, max_length=40)
    fax: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    birthday: date | None = None
    is_primary: bool | None = None
    notes: str | None = None
    custom: dict[str, Any] | None = Field(None, description=CUSTOM_HELP_UPDATE)


# --- Customers ------------------------------------------------------------------------------------
class CustomerRead(Schema):
    """A customer with its owner, pool, tags, parent and the figures of its header."""

    id: int
    name: str
    short_name: str
    customer_type: str
    category: str
    business_category: str
    industry: str
    source: str
    grade: str
    is_new: bool
    signed_amount_12m: str = Field(..., description="Signed in the last 12 months, two decimals")
    owner: UserBrief | None
    in_pool: bool
    pool: PoolBrief | None
    parent: CustomerBrief | None
    tags: list[TagRead]
    collaborators: list[UserBrief]
    is_confidential: bool = Field(
        False, description="Seen only by the owner, collaborators, named viewers and admins"
    )
    confidential_viewer_ids: list[int] = Field(
        default_factory=list, description="Named viewers of a confidential customer"
    )
    phone: str
    email: str
    masked: bool = Field(..., description="Phones and e-mails are masked (pool masks contacts)")
    website: str
    region: str
    address: str
    notes: str
    custom: dict[str, Any] = Field(default_factory=dict, description=CUSTOM_HELP)
    invoice_title: str
    tax_number: str
    invoice_address_phone: str
    bank_name: str
    bank_account: str
    owner_since: datetime | None
    last_followup_at: datetime | None
    next_followup_at: datetime | None
    last_won_at: datetime | None
    open_opportunities: int
    pool_entered_at: datetime | None
    released_at: datetime | None
    release_reason: str
    merged_into_id: int | None
    contacts_count: int
    days_since_followup: int | None = Field(
        ..., description="Whole days since the last follow-up; null if there was none"
    )
    pool_return_at: datetime | None = Field(
        ..., description="When the pool's rules return the customer unless followed up or won"
    )
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_signed_amount_12m(obj: Any) -> str:
        return f"{obj.signed_amount_12m:.2f}"

    @staticmethod
    def resolve_tags(obj: Any) -> list[Any]:
        return list(obj.tags.all())

    @staticmethod
    def resolve_collaborators(obj: Any) -> list[Any]:
        return list(obj.collaborators.all())

    @staticmethod
    def resolve_confidential_viewer_ids(obj: Any) -> list[int]:
        return sorted(u.pk for u in obj.confidential_viewers.all())

    @staticmethod
    def resolve_masked(obj: Any) -> bool:
        return is_masked(obj)

    @staticmethod
    def resolve_phone(obj: Any) -> str:
        return masked_phone(obj, obj.phone)

    @staticmethod
    def resolve_email(obj: Any) -> str:
        return masked_email(obj, obj.email)

    @staticmethod
    def resolve_contacts_count(obj: Any) -> int:
        annotated = getattr(obj, "contacts_count", None)
        return int(annotated) if annotated is not None else obj.contacts.count()

    @staticmethod
    def resolve_days_since_followup(obj: Any) -> int | None:
        return days_since_followup(obj)

    @staticmethod
    def resolve_pool_return_at(obj: Any) -> datetime | None:
        return pool_return_at(obj)


class _CustomerFields(Schema):
    short_name: str = Field("", max_length=100)
    customer_type: str = Field("", max_length=60, description="A customer-type dictionary value")
    category: str = Field("", max_length=60, description="A customer-category dictionary value")
    business_category: str = Field("", max_length=60)
    industry: str = Field("", max_length=60, description="An industry dictionary value")
    source: str = Field("", max_length=60, description="A source dictionary value")
    phone: str = Field("", max_length=40)
    email: str = Field("", max_length=254)
    website: str = Field("", max_length=200)
    region: str = Field("", max_length=100)
    address: str = Field("", max_length=300)
    notes: str = ""
    invoice_title: str = Field("", max_length=200)
    tax_number: str = Field("", max_length=40)
    invoice_address_phone: str = Field("", max_length=300)
    bank_name: str = Field("", max_length=200)
    bank_account: str = Field("", max_length=60)
    custom: dict[str, Any] = Field(default_factory=dict, description=CUSTOM_HELP)


class CustomerCreate(_CustomerFields):
    name: str = Field(..., min_length=1, max_length=200)
    owner_id: int | None = Field(None, description="Defaults to you")
    parent_id: int | None = Field(None, description="Parent customer (group company)")
    tag_ids: list[RecordId] = []
    contacts: list[ContactCreate] = Field([], max_length=20, description="First contacts")
    is_confidential: bool = Field(
        False, description="Confidential (R1.4); only the future owner or an admin may set it"
    )
    confidential_viewer_ids: list[RecordId] = Field(
        [], max_length=50, description="Colleagues who may see it while it is confidential"
    )
    allow_duplicate: bool = Field(
        False,
        description="Create even if it looks like a customer nobody else owns (never allowed "
        "when another person owns the match)",
    )


class CustomerUpdate(Schema):
    """Only the fields sent change; owner and pool move through their own actions."""

    version: int = Field(..., ge=1, description="The version you read; a stale one answers 409")
    name: str | None = Field(None, min_length=1, max_length=200)
    short_name: str | None = Field(None, max_length=100)
    customer_type: str | None = Field(None, max_length=60)
    category: str | None = Field(None, max_length=60)
    business_category: str | None = Field(None, max_length=60)
    industry: str | None = Field(None, max_length=60)
    source: str | None = Field(None, max_length=60)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    website: str | None = Field(None, max_length=200)
    region: str | None = Field(None, max_length=100)
    address: str | None = Field(None, max_length=300)
    notes: str | None = None
    invoice_title: str | None = Field(None, max_length=200)
    tax_number: str | None = Field(None, max_length=40)
    invoice_address_phone: str | None = Field(None, max_length=300)
    bank_name: str | None = Field(None, max_length=200)
    bank_account: str | None = Field(None, max_length=60)
    custom: dict[str, Any] | None = Field(None, description=CUSTOM_HELP_UPDATE)
    parent_id: int | None = Field(None, description="Send null to clear")
    tag_ids: list[RecordId] | None = Field(None, description="Replaces the tags when sent")
    is_confidential: bool | None = Field(
        None, description="Mark or clear confidential (owner or admin only, else 403)"
    )
    confidential_viewer_ids: list[RecordId] | None = Field(
        None, max_length=50, description="Replaces the named viewers (owner or admin only)"
    )


# --- Duplicates -----------------------------------------------------------------------------------
class DuplicateCandidate(Schema):
    """An existing customer that looks the same; masked (id null) when you may not see it.
    A confidential customer you may not see has neither name, owner, phone nor e-mail."""

    id: int | None
    name: str
    visible: bool
    in_pool: bool
    owner: str
    phone: str
    email: str
    reasons: list[str]


class DuplicateCheck(Schema):
    name: str = Field("", max_length=200)
    phones: list[str] = Field([], max_length=20)
    emails: list[str] = Field([], max_length=20)
    exclude_id: int | None = Field(None, description="The customer being edited")


class DuplicateCandidates(Schema):
    candidates: list[DuplicateCandidate]


class FieldErrorOut(Schema):
    field: str
    message: str


class DuplicateError(Schema):
    """409 body when the customer (or a contact's phone or e-mail) already exists."""

    code: str
    message: str
    errors: list[FieldErrorOut]
    candidates: list[DuplicateCandidate] = []  # none on a stale version's 409


# --- Ownership moves and bulk actions -------------------------------------------------------------
class TransferIn(Schema):
    to_user_id: int
    reason: str = Field("", max_length=300)


class BulkTransferIn(Schema):
    ids: list[RecordId] = Field(..., min_length=1, max_length=500)
    to_user_id: int
    reason: str = Field("", max_length=300)


class ReleaseIn(Schema):
    reason: str = Field(..., min_length=1, max_length=300)
    pool_id: int | None = Field(None, description="Defaults to the customer's pool")


class BulkReleaseIn(Schema):
    """R10.1 (api-gaps): release several customers to a pool, all or nothing."""

    ids: list[RecordId] = Field(..., min_length=1, max_length=500)
    reason: str = Field(..., min_length=1, max_length=300)
    pool_id: int | None = Field(
        None, ge=1, le=2**63 - 1, description="Defaults to each customer's pool"
    )


class AssignIn(Schema):
    to_user_id: int


class MergeIn(Schema):
    source_id: int = Field(..., description="The customer merged into this one (then gone)")


class CollaboratorsIn(Schema):
    user_ids: list[RecordId] = Field([], max_length=100)


class TagCustomersIn(Schema):
    ids: list[RecordId] = Field(..., min_length=1, max_length=500)
    tag_ids: list[RecordId] = Field(..., min_length=1, max_length=50)
    remove: bool = False


class CountOut(Schema):
    count: int


# --- Pools ----------------------------------------------------------------------------------------
class PoolRead(Schema):
    """A public pool (公海), its rules and how many customers wait in it."""

    id: int
    name: str
    is_default: bool
    is_active: bool
    department_ids: list[RecordId] = Field(..., description="Empty: open to everyone")
    days_without_followup: int | None
    days_without_deal: int | None
    grade_rules: dict[str, Any]
    exclude_won: bool
    exclude_open_opportunities: bool
    warning_days: int
    owner_cap: int | None
    reclaim_cooldown_days: int
    daily_claim_limit: int | None
    mask_contacts: bool
    waiting: int = Field(..., description="Customers waiting in the pool")

    @staticmethod
    def resolve_department_ids(obj: Any) -> list[int]:
        return sorted(d.pk for d in obj.departments.all())

    @staticmethod
    def resolve_waiting(obj: Any) -> int:
        annotated = getattr(obj, "waiting", None)
        if annotated is not None:
            return int(annotated)
        return obj.customers.filter(owner__isnull=True, merged_into__isnull=True).count()


class PoolCreate(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    is_default: bool = False
    is_active: bool = True
    department_ids: list[RecordId] = []
    days_without_followup: int | None = Field(None, ge=1, le=36500)
    days_without_deal: int | None = Field(None, ge=1, le=36500)
    grade_rules: dict[str, dict[str, int | None]] = Field(
        {}, description='e.g. {"A": {"days_without_followup": 60}}'
    )
    exclude_won: bool = True
    exclude_open_opportunities: bool = True
    warning_days: int = Field(3, ge=0, le=3650)
    owner_cap: int | None = Field(None, ge=1, le=1_000_000)
    reclaim_cooldown_days: int = Field(0, ge=0, le=36500)
    daily_claim_limit: int | None = Field(None, ge=1, le=100_000)
    mask_contacts: bool = True


class PoolUpdate(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    is_default: bool | None = None
    is_active: bool | None = None
    department_ids: list[RecordId] | None = None
    days_without_followup: int | None = Field(None, ge=1, le=36500)
    days_without_deal: int | None = Field(None, ge=1, le=36500)
    grade_rules: dict[str, dict[str, int | None]] | None = None
    exclude_won: bool | None = None
    exclude_open_opportunities: bool | None = None
    warning_days: int | None = Field(None, ge=0, le=3650)
    owner_cap: int | None = Field(None, ge=1, le=1_000_000)
    reclaim_cooldown_days: int | None = Field(None, ge=0, le=36500)
    daily_claim_limit: int | None = Field(None, ge=1, le=100_000)
    mask_contacts: bool | None = None


class CallerOut(Schema):
    """Caller lookup: the normalised number and who has it."""

    phone: str = Field(..., description="The number as digits (country code dropped)")
    customers: list[CustomerRead]
    contacts: list[ContactRead]
