"""API schemas of opportunities (OpportunityCreate / OpportunityUpdate / OpportunityRead …), their
list filters and the saved queries.

Money goes in as a string or a number (``"1,234.5"``, ``1234.5``) and comes out as a string with
two decimals (``"1234.50"``); dates are ``YYYY-MM-DD`` and times ISO 8601 with their offset.
Write schemas list the fields a client may set: anything else (organisation, owner, status,
creator, version of a create …) is ignored, and owner and status move through their own actions.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, FilterSchema, Schema
from pydantic import BeforeValidator

from crm.core.api import FilterDate, FilterDateTime, FilterId, ObjectIn, RecordId
from crm.core.custom_fields import CUSTOM_HELP, CUSTOM_HELP_UPDATE
from crm.core.money import parse_money
from crm.customers.schemas import CustomerBrief, UserBrief

from .choices import CLOSED_STATUSES, OPEN_STATUSES, OpportunityStatus
from .models import DictionaryItem, DictionaryKind
from .queries import overdue_q, search_q, stalled_q

STATUS_VALUES = Literal["continue", "pause", "won", "lost", "abandoned"]


# --- Input conversions ----------------------------------------------------------------------------
def _money_in(value: Any) -> Decimal | None:
    """An amount as a client sends it (string or number) → money; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError(_("Enter an amount of 0 or more, with at most two decimals."))
    try:
        return parse_money(value)
    except ValueError:
        raise ValueError(_("Enter an amount of 0 or more, with at most two decimals.")) from None


def _number_in(value: Any) -> Decimal:
    """A quantity or price as a client sends it; the services check its range."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError(_("Enter a number."))
    text = str(value).strip().replace(",", "").replace("，", "")
    text = text.removeprefix("¥").removeprefix("￥")
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValueError(_("Enter a number.")) from None
    if not number.is_finite():
        raise ValueError(_("Enter a number."))
    return number


Money = Annotated[Decimal | None, BeforeValidator(_money_in)]
Number = Annotated[Decimal, BeforeValidator(_number_in)]


def money_out(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


# --- Dictionary labels (one query per request, not per row) --------------------------------------
def _labels(context: Any, org_id: int) -> dict[tuple[str, str], str]:
    request = (context or {}).get("request")
    if request is None:
        return {}
    cache: dict[tuple[str, str], str] | None = getattr(request, "_dictionary_labels", None)
    if cache is None:
        rows = (
            DictionaryItem.objects.visible_to(request.user)
            .filter(org_id=org_id)
            .values_list("kind", "value", "label")
        )
        cache = {(kind, value): label for kind, value, label in rows}
        request._dictionary_labels = cache
    return cache


def label_of(context: Any, org_id: int, kind: str, value: str) -> str:
    if not value:
        return ""
    return _labels(context, org_id).get((kind, value), value)


# --- Briefs ---------------------------------------------------------------------------------------
class ContactBrief(Schema):
    id: int
    name: str


class PipelineBrief(Schema):
    id: int
    name: str


class StageBrief(Schema):
    id: int
    name: str
    kind: str


class NodeBrief(Schema):
    id: int
    name: str


class OpportunityBrief(Schema):
    id: int
    name: str


# --- Product lines --------------------------------------------------------------------------------
class LineRead(Schema):
    """A product line: amount = quantity × unit price, rounded half-up to the fen."""

    id: int
    product: str
    product_label: str = Field(..., description="The product list's label, or the free text")
    quantity: str
    unit_price: str
    amount: str
    notes: str

    @staticmethod
    def resolve_product_label(obj: Any, context: Any) -> str:
        return label_of(context, obj.org_id, DictionaryKind.PRODUCT, obj.product)

    @staticmethod
    def resolve_quantity(obj: Any) -> str:
        return f"{obj.quantity:.2f}"

    @staticmethod
    def resolve_unit_price(obj: Any) -> str:
        return f"{obj.unit_price:.2f}"

    @staticmethod
    def resolve_amount(obj: Any) -> str:
        return f"{obj.amount:.2f}"


class LineIn(ObjectIn):
    product: str = Field(..., min_length=1, max_length=200, description="A product value or text")
    quantity: Number = Field(..., description="Above 0, at most two decimals")
    unit_price: Number = Field(..., description="0 or more, at most two decimals")
    notes: str = Field("", max_length=300)


# --- Opportunities --------------------------------------------------------------------------------
class OpportunityRead(Schema):
    """An opportunity with its people, stage, amounts, follow-up blocks and deadlines."""

    id: int
    name: str
    customer: CustomerBrief
    contact: ContactBrief | None = Field(..., description="Main contact")
    contacts: list[ContactBrief] = Field(..., description="Other contacts")
    lead_id: int | None
    pipeline: PipelineBrief
    stage: StageBrief
    node: NodeBrief | None
    stage_entered_at: datetime
    days_in_stage: int
    business_type: str
    business_type_label: str
    source: str
    source_label: str
    owner: UserBrief
    collaborators: list[UserBrief]
    is_confidential: bool = Field(
        False, description="Seen only by the owner, collaborators, named viewers and admins"
    )
    confidential_viewer_ids: list[int] = Field(
        default_factory=list, description="Named viewers of a confidential opportunity"
    )
    probability: int = Field(..., description="Win probability, 0–100 %")
    probability_level: str
    probability_level_label: str
    feedback_cycle: str
    feedback_cycle_label: str
    action_principle: str
    action_principle_label: str
    status: str
    status_label: str
    is_open: bool
    is_key: bool
    currency: str
    expected_amount: str | None = Field(..., description='Two decimals, e.g. "12000.00"')
    weighted_amount: str | None = Field(..., description="Expected amount × probability")
    expected_close_date: date | None
    actual_amount: str | None
    actual_close_date: date | None
    closed_at: datetime | None
    loss_reason: str
    loss_reason_label: str
    loss_note: str
    notes: str
    custom: dict[str, Any] = Field(default_factory=dict, description=CUSTOM_HELP)
    last_followup_at: datetime | None
    last_followup_contact: ContactBrief | None
    last_followup_by: UserBrief | None
    last_followup_content: str
    next_followup_at: datetime | None
    next_followup_collaborator: UserBrief | None
    next_followup_content: str
    feedback_due_at: datetime | None = Field(..., description="When the feedback cycle runs out")
    stall_due_at: datetime | None = Field(..., description="When the stage's day limit runs out")
    overdue: bool = Field(..., description="No feedback within the feedback cycle")
    stalled: bool = Field(..., description="In its stage longer than the stage allows")
    lines: list[LineRead]
    created_by: UserBrief | None
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_contacts(obj: Any) -> list[Any]:
        return list(obj.contacts.all())

    @staticmethod
    def resolve_collaborators(obj: Any) -> list[Any]:
        return list(obj.collaborators.all())

    @staticmethod
    def resolve_confidential_viewer_ids(obj: Any) -> list[int]:
        return sorted(u.pk for u in obj.confidential_viewers.all())

    @staticmethod
    def resolve_lines(obj: Any) -> list[Any]:
        return list(obj.lines.all())

    @staticmethod
    def resolve_days_in_stage(obj: Any) -> int:
        return max(0, (timezone.now() - obj.stage_entered_at).days)

    @staticmethod
    def resolve_business_type_label(obj: Any, context: Any) -> str:
        return label_of(context, obj.org_id, DictionaryKind.BUSINESS_CATEGORY, obj.business_type)

    @staticmethod
    def resolve_source_label(obj: Any, context: Any) -> str:
        return label_of(context, obj.org_id, DictionaryKind.SOURCE, obj.source)

    @staticmethod
    def resolve_probability_level_label(obj: Any, context: Any) -> str:
        return label_of(
            context, obj.org_id, DictionaryKind.PROBABILITY_LEVEL, obj.probability_level
        )

    @staticmethod
    def resolve_feedback_cycle_label(obj: Any, context: Any) -> str:
        return label_of(context, obj.org_id, DictionaryKind.FEEDBACK_CYCLE, obj.feedback_cycle)

    @staticmethod
    def resolve_action_principle_label(obj: Any, context: Any) -> str:
        return label_of(context, obj.org_id, DictionaryKind.ACTION_PRINCIPLE, obj.action_principle)

    @staticmethod
    def resolve_loss_reason_label(obj: Any, context: Any) -> str:
        return label_of(context, obj.org_id, DictionaryKind.LOSS_REASON, obj.loss_reason)

    @staticmethod
    def resolve_status_label(obj: Any) -> str:
        return str(obj.get_status_display())

    @staticmethod
    def resolve_expected_amount(obj: Any) -> str | None:
        return money_out(obj.expected_amount)

    @staticmethod
    def resolve_weighted_amount(obj: Any) -> str | None:
        return money_out(obj.weighted_amount)

    @staticmethod
    def resolve_actual_amount(obj: Any) -> str | None:
        return money_out(obj.actual_amount)

    @staticmethod
    def resolve_overdue(obj: Any) -> bool:
        return bool(
            obj.status == OpportunityStatus.CONTINUE
            and obj.feedback_due_at is not None
            and obj.feedback_due_at < timezone.now()
        )

    @staticmethod
    def resolve_stalled(obj: Any) -> bool:
        return bool(
            obj.status == OpportunityStatus.CONTINUE
            and obj.stall_due_at is not None
            and obj.stall_due_at < timezone.now()
        )


class _OpportunityFields(Schema):
    business_type: str = Field("", max_length=60, description="A business-category value")
    source: str = Field("", max_length=60, description="A source value")
    probability: int | None = Field(
        None, ge=0, le=100, description="Defaults to the stage's probability"
    )
    probability_level: str = Field("", max_length=60, description="A probability-level value")
    feedback_cycle: str = Field("", max_length=60, description="A feedback-cycle value, e.g. 7d")
    action_principle: str = Field("", max_length=60, description="An action-principle value")
    is_key: bool = False
    expected_amount: Money = Field(
        None, description="String or number; defaults to the sum of the lines"
    )
    expected_close_date: date | None = None
    notes: str = ""
    custom: dict[str, Any] = Field(default_factory=dict, description=CUSTOM_HELP)


class OpportunityCreate(_OpportunityFields):
    customer_id: int
    name: str = Field(..., min_length=1, max_length=200)
    pipeline_id: int | None = Field(None, description="Defaults to the business type's pipeline")
    stage_id: int | None = Field(None, description="An open stage; defaults to the first")
    node_id: int | None = Field(None, description="A node of the stage")
    owner_id: int | None = Field(None, description="Defaults to you")
    collaborator_ids: list[RecordId] = Field([], max_length=100)
    contact_id: int | None = Field(None, description="Main contact (of the customer)")
    contact_ids: list[RecordId] = Field([], max_length=100, description="Other contacts")
    lines: list[LineIn] = Field([], max_length=200)
    is_confidential: bool = Field(
        False, description="Confidential (R1.4); only the future owner or an admin may set it"
    )
    confidential_viewer_ids: list[RecordId] = Field(
        [], max_length=50, description="Colleagues who may see it while it is confidential"
    )


class OpportunityUpdate(Schema):
    """Only the fields sent change. ``version`` is the one you read (stale → 409). Stage, status
    and owner move through their own actions (move, win, lose, transfer…)."""

    version: int = Field(..., ge=1, description="The version you read; a stale one answers 409")
    name: str | None = Field(None, min_length=1, max_length=200)
    business_type: str | None = Field(None, max_length=60)
    source: str | None = Field(None, max_length=60)
    probability: int | None = Field(None, ge=0, le=100)
    probability_level: str | None = Field(None, max_length=60)
    feedback_cycle: str | None = Field(None, max_length=60)
    action_principle: str | None = Field(None, max_length=60)
    is_key: bool | None = None
    expected_amount: Money = Field(None, description="Send null to clear")
    expected_close_date: date | None = Field(None, description="Send null to clear")
    notes: str | None = None
    custom: dict[str, Any] | None = Field(None, description=CUSTOM_HELP_UPDATE)
    contact_id: int | None = Field(None, description="Main contact; send null to clear")
    contact_ids: list[RecordId] | None = Field(None, max_length=100, description="Replaces them")
    collaborator_ids: list[RecordId] | None = Field(
        None, max_length=100, description="Replaces them"
    )
    lines: list[LineIn] | None = Field(None, max_length=200, description="Replaces the lines")
    is_confidential: bool | None = Field(
        None, description="Mark or clear confidential (owner or admin only, else 403)"
    )
    confidential_viewer_ids: list[RecordId] | None = Field(
        None, max_length=50, description="Replaces the named viewers (owner or admin only)"
    )


class MoveIn(Schema):
    stage_id: int = Field(..., description="An open stage of the opportunity's pipeline")
    node_id: int | None = Field(None, description="A node of that stage")
    contact_id: int | None = Field(None, description="The contact this step was taken with")
    note: str = Field("", max_length=500)
    version: int | None = Field(None, ge=1, description="The version you read (stale → 409)")


class WinIn(Schema):
    actual_amount: Money = Field(..., description="String or number, two decimals")
    actual_close_date: date
    note: str = Field("", max_length=2000)
    version: int | None = Field(None, ge=1)


class LoseIn(Schema):
    loss_reason: str = Field(..., min_length=1, max_length=60, description="A loss-reason value")
    note: str = Field("", max_length=5000, description="Lessons learnt")
    stage_id: int | None = Field(None, description="A lost stage; defaults to the first")
    actual_close_date: date | None = Field(None, description="Defaults to today")
    version: int | None = Field(None, ge=1)


class AbandonIn(Schema):
    loss_reason: str = Field(..., min_length=1, max_length=60, description="A loss-reason value")
    note: str = Field("", max_length=5000)
    version: int | None = Field(None, ge=1)


class StatusNoteIn(Schema):
    note: str = Field("", max_length=500)
    version: int | None = Field(None, ge=1)


class ReopenIn(Schema):
    stage_id: int | None = Field(None, description="An open stage; defaults to the last one")
    note: str = Field("", max_length=500)
    version: int | None = Field(None, ge=1)


class OpportunityTransferIn(Schema):
    to_user_id: int
    reason: str = Field("", max_length=300)


class OpportunityBulkTransferIn(Schema):
    """R10.1 (api-gaps): transfer several opportunities to a colleague, all or nothing."""

    ids: list[RecordId] = Field(..., min_length=1, max_length=500)
    to_user_id: int = Field(..., ge=1, le=2**63 - 1)
    reason: str = Field("", max_length=300)


class OpportunityCountOut(Schema):
    count: int


class OpportunityCollaboratorsIn(Schema):
    user_ids: list[RecordId] = Field([], max_length=100)


class StageHistoryRead(Schema):
    """One stay in a stage (and node): who moved it there, with which contact, from when to
    when (``left_at`` null while it is still there)."""

    id: int
    pipeline: PipelineBrief
    stage: StageBrief
    node: NodeBrief | None
    contact: ContactBrief | None
    person: UserBrief | None
    entered_at: datetime
    left_at: datetime | None
    days: int
    note: str


# --- Counts ---------------------------------------------------------------------------------------
class RepCount(Schema):
    user: UserBrief
    count: int


class QueryCount(Schema):
    key: str = Field(..., description="A built-in key (mine, overdue, plan7, done7) or the id")
    name: str
    count: int | None = Field(
        ..., description="null when the query's conditions no longer apply or it is not counted"
    )


class OpportunityCounts(Schema):
    builtin: list[QueryCount] = Field(..., description="The built-in queries and their counts")
    saved: list[QueryCount] = Field(..., description="Your saved and shared queries")
    overdue_by_rep: list[RepCount] = Field(..., description="Overdue opportunities per owner")


# --- Saved queries --------------------------------------------------------------------------------
SHARE_VALUES = Literal["private", "team", "org"]


class SavedQueryRead(Schema):
    """A saved search of the opportunity list: its conditions (see ``conditions`` of the list),
    columns and sort; private, shared with the owner's department, or with everyone."""

    id: int
    name: str
    owner: UserBrief
    mine: bool = Field(..., description="You saved it (only you may change or delete it)")
    conditions: dict[str, Any]
    columns: list[str]
    sort: str
    shared: str
    shared_label: str
    sort_order: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_mine(obj: Any, context: Any) -> bool:
        request = (context or {}).get("request")
        return bool(request is not None and obj.owner_id == request.user.pk)

    @staticmethod
    def resolve_shared_label(obj: Any) -> str:
        return str(obj.get_shared_display())


class SavedQueryCreate(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    conditions: dict[str, Any] = Field(
        {}, description='{"match": "all"|"any", "rules": [{"field", "op", "value"}], "groups": []}'
    )
    columns: list[str] = Field([], max_length=50, description="Column keys of the list")
    sort: str = Field("", max_length=60, description="A sort key of the list, - for descending")
    shared: SHARE_VALUES = "private"


class SavedQueryUpdate(Schema):
    """Only the fields sent change; only the owner may change a saved query."""

    name: str | None = Field(None, min_length=1, max_length=100)
    conditions: dict[str, Any] | None = None
    columns: list[str] | None = Field(None, max_length=50)
    sort: str | None = Field(None, max_length=60)
    shared: SHARE_VALUES | None = None


# --- Filters --------------------------------------------------------------------------------------


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


class OpportunityFilter(FilterSchema):
    """Filters of the opportunity list (applied to an already scoped queryset)."""

    q: str | None = Field(None, max_length=100, description="Name or customer name contains")
    status: STATUS_VALUES | Literal["open", "closed"] | None = Field(
        None, description="A status, or open (continue, pause) or closed (won, lost, abandoned)"
    )
    pipeline_id: FilterId | None = None
    stage_id: FilterId | None = Field(None, description="In this stage (or at a node of it)")
    owner_id: FilterId | None = None
    customer_id: FilterId | None = None
    campaign_id: FilterId | None = Field(None, description="Created from a lead of this campaign")
    is_key: bool | None = None
    overdue: bool | None = Field(None, description="true: no feedback within the cycle")
    stalled: bool | None = Field(None, description="true: in the stage longer than it allows")
    expected_close_from: FilterDate | None = Field(
        None, description="Expected to close on or after"
    )
    expected_close_to: FilterDate | None = Field(None, description="Expected to close on or before")
    updated_since: FilterDateTime | None = Field(
        None, description="Changed at or after (ISO 8601; no offset: the organisation's time zone)"
    )
    updated_before: FilterDateTime | None = Field(
        None, description="Changed before (ISO 8601): with updated_since, one sync window"
    )
    saved_query_id: FilterId | None = Field(
        None, description="Apply a saved query you may see (read by the list, not by ``apply``)"
    )

    def apply(self, qs: QuerySet, user: Any) -> QuerySet:
        now = timezone.now()
        if self.q and self.q.strip():
            qs = qs.filter(search_q(self.q))
        if self.status == "open":
            qs = qs.filter(status__in=OPEN_STATUSES)
        elif self.status == "closed":
            qs = qs.filter(status__in=CLOSED_STATUSES)
        elif self.status:
            qs = qs.filter(status=self.status)
        for field in ("pipeline_id", "owner_id", "customer_id", "is_key"):
            value = getattr(self, field)
            if value is not None:
                qs = qs.filter(**{field: value})
        if self.stage_id is not None:
            qs = qs.filter(Q(stage_id=self.stage_id) | Q(node_id=self.stage_id))
        if self.campaign_id is not None:  # H-CAMP
            qs = qs.filter(lead__campaign_id=self.campaign_id)
        overdue, stalled = overdue_q(now), stalled_q(now)
        if self.overdue is not None:
            qs = qs.filter(overdue) if self.overdue else qs.exclude(overdue)
        if self.stalled is not None:
            qs = qs.filter(stalled) if self.stalled else qs.exclude(stalled)
        if self.expected_close_from:
            qs = qs.filter(expected_close_date__gte=self.expected_close_from)
        if self.expected_close_to:
            qs = qs.filter(expected_close_date__lte=self.expected_close_to)
        return apply_updated_window(qs, self.updated_since, self.updated_before)


def apply_updated_window(qs: QuerySet, since: Any, before: Any) -> QuerySet:
    """R10.1 incremental sync: the rows changed at or after ``since`` and before ``before``
    (either may be None). The one helper of every list's ``updated_since``/``updated_before``."""
    if since:
        qs = qs.filter(updated_at__gte=since)
    if before:
        qs = qs.filter(updated_at__lt=before)
    return qs


class UpdatedWindow(Schema):
    """R10.1 incremental sync (api-gaps): ``?updated_since=…&updated_before=…&sort=updated_at``
    pages through what changed in a window, oldest change first; keep the last ``updated_at``
    seen as the next ``updated_since``."""

    updated_since: FilterDateTime | None = Field(
        None, description="Changed at or after (ISO 8601; no offset: the organisation's time zone)"
    )
    updated_before: FilterDateTime | None = Field(
        None, description="Changed before (ISO 8601): with updated_since, one sync window"
    )

    def apply(self, qs: QuerySet) -> QuerySet:
        return apply_updated_window(qs, self.updated_since, self.updated_before)


def with_updated_sort(sorts: dict[str, str]) -> dict[str, str]:
    """``sorts`` plus ``updated_at`` (the sort of an incremental sync)."""
    return {**sorts, "updated_at": "updated_at"}


#: public sort key -> model field (the list page's keys — amount, expected_close, owner — too)
OPPORTUNITY_SORTS = {
    "name": "name",
    "customer": "customer__name",
    "owner": "owner__name",
    "amount": "expected_amount",
    "expected_close": "expected_close_date",
    "created": "created_at",
    "updated": "updated_at",
    "status": "status",
    "probability": "probability",
    "expected_amount": "expected_amount",
    "expected_close_date": "expected_close_date",
    "actual_close_date": "actual_close_date",
    "stage_entered": "stage_entered_at",
    "last_followup": "last_followup_at",
    "next_followup": "next_followup_at",
    "feedback_due": "feedback_due_at",
    "updated_at": "updated_at",  # R10.1 incremental sync
}
OPPORTUNITY_DEFAULT_SORT = ["-updated_at", "-pk"]
