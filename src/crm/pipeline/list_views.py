"""The opportunity list with its condition builder and saved queries, and the pipeline board
(R4.6, R11.1).

Every read starts from ``Opportunity.objects.visible_to`` (through ``crm.pipeline.queries``) or
``get_scoped_or_404``: another organisation's and out-of-scope ids answer 404, a missing
permission 403. Writes are one service call each (saved queries, transfer, stage moves, win and
lose); their errors are shown as flash messages, or returned as JSON to the board's script.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Case, Count, DecimalField, F, Q, Sum, When
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from crm.core import custom_field_filters as cf_params
from crm.core import custom_fields
from crm.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from crm.core.forms import error_text
from crm.core.money import format_cny
from crm.core.paging import page_rows
from crm.core.scoping import get_scoped_or_404
from crm.core.views import require_perm
from crm.org.models import User

from . import dictionaries, queries
from . import opportunities as services
from .choices import OPEN_STATUSES, STATUS_COLORS, OpportunityStatus, StageKind
from .list_forms import SavedQueryForm, TransferForm
from .models import DictionaryKind, Opportunity, Pipeline, SavedQuery, SavedQueryShare, Stage

OPPORTUNITIES = gettext_lazy("Opportunities")
BOARD = gettext_lazy("Pipeline board")
PAGE_SIZES = (20, 50, 100)
DEFAULT_PAGE_SIZE = 50
COLUMNS_SESSION_KEY = "opportunities.list.columns"
#: cards per board column (the column header still counts them all) and how long closed
#: opportunities stay on the board
CARD_LIMIT = 20
CLOSED_DAYS = 30
DICTIONARY_COLUMNS = {
    "business_type": DictionaryKind.BUSINESS_CATEGORY,
    "source": DictionaryKind.SOURCE,
    "action_principle": DictionaryKind.ACTION_PRINCIPLE,
}


# --- helpers -------------------------------------------------------------------------------------
def _me(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _next_url(request: HttpRequest, default: str) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return url
    return default


def _query(params: QueryDict, drop: tuple[str, ...] = (), **changes: Any) -> str:
    """``params`` as a query string without ``drop`` and ``page``, with ``changes`` applied."""
    params = params.copy()
    for key in (*drop, "page"):
        params.pop(key, None)
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = str(value)
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


def _local_date(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d") if value else ""


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


def _cond_param(conditions: dict[str, Any]) -> str:
    return json.dumps(conditions, ensure_ascii=False, separators=(",", ":"))


def list_url_for(conditions: dict[str, Any]) -> str:
    """The list filtered by ``conditions`` (used by the board's "more" links)."""
    params = QueryDict(mutable=True)
    params["cond"] = _cond_param(conditions)
    return f"{reverse('opportunities:list')}?{params.urlencode()}"


def _flags(o: Opportunity, now: Any) -> list[tuple[str, Any, str]]:
    """(key, label, colour) of the alerts of an opportunity: stalled, overdue, paused."""
    flags = []
    if o.status == OpportunityStatus.CONTINUE and o.stall_due_at and o.stall_due_at < now:
        flags.append(("stalled", _("Stalled"), "orange"))
    if o.status == OpportunityStatus.CONTINUE and o.feedback_due_at and o.feedback_due_at < now:
        flags.append(("overdue", _("Overdue"), "red"))
    if o.status == OpportunityStatus.PAUSE:
        flags.append(("paused", _("Paused"), "yellow"))
    return flags


def _cells(
    o: Opportunity,
    columns: list[str],
    labels: dict[str, dict[str, str]],
    now: Any,
    custom: dict[str, Any] | None = None,
) -> list[tuple[str, Any]]:
    """(column key, value) of one row; ``custom``: the custom-field columns' values (H-CF)."""
    values: dict[str, Any] = {
        "customer": o.customer.name,
        "stage": (o.stage.name, o.node.name if o.node_id and o.node else ""),
        "status": (o.get_status_display(), STATUS_COLORS.get(o.status, "secondary")),
        "amount": format_cny(o.expected_amount),
        "probability": f"{o.probability}%",
        "owner": o.owner.display_name,
        "expected_close": o.expected_close_date.isoformat() if o.expected_close_date else "",
        "last_followup": _local_date(o.last_followup_at),
        "next_followup": (
            _local_date(o.next_followup_at),
            bool(o.next_followup_at and o.next_followup_at < now and o.is_open),
        ),
        "days_in_stage": max(0, (now - o.stage_entered_at).days),
        "is_key": o.is_key,
        "flags": _flags(o, now),
        "pipeline": o.pipeline.name,
        "actual_amount": format_cny(o.actual_amount),
        "actual_close": o.actual_close_date.isoformat() if o.actual_close_date else "",
        "created": _local_date(o.created_at),
        "updated": _local_date(o.updated_at),
    }
    for key, names in labels.items():
        value = getattr(o, key)
        values[key] = names.get(value, value)
    values.update(custom or {})
    return [(key, values.get(key, "")) for key in columns]


def _chosen_columns(
    request: HttpRequest, saved: SavedQuery | None, custom: list[str] | None = None
) -> list[str]:
    """Columns from ``?cols=`` (remembered in the session), the saved query, the session, or
    the defaults. ``custom``: the keys of the custom-field columns offered (H-CF; shown by
    default)."""
    keys = queries.COLUMN_KEYS + list(custom or [])
    if "cols" in request.GET:
        raw = ",".join(request.GET.getlist("cols")).split(",")
        chosen = [c for c in keys if c in raw]
        request.session[COLUMNS_SESSION_KEY] = chosen
        return chosen
    if saved is not None and saved.columns:
        return [c for c in keys if c in saved.columns]
    stored = request.session.get(COLUMNS_SESSION_KEY)
    if isinstance(stored, list):
        return [c for c in keys if c in stored]
    return [*queries.DEFAULT_COLUMNS, *(custom or [])]


class _Selection:
    """What the list shows, parsed from the query string: a built-in or saved query, the rep
    picked under "overdue", the builder's conditions, the quick search, sort and page."""

    def __init__(self, request: HttpRequest, me: User, saved: list[SavedQuery]):
        self.problems: list[str] = []
        get = request.GET
        self.key = get.get("query") or "all"
        self.builtin = queries.BUILTIN_BY_KEY.get(self.key)
        self.saved: SavedQuery | None = None
        if self.builtin is None and self.key != "all":
            pk = _int(self.key)
            if pk is None:
                self.key = "all"
            else:  # one of the user's own or shared queries, else "not found"
                self.saved = next((q for q in saved if q.pk == pk), None)
                if self.saved is None:
                    raise NotFound()
        self.rep = _int(get.get("rep"))
        self.campaign = _int(get.get("campaign_id"))  # H-CAMP: click-through from attribution
        self.search = (get.get("search") or "").strip()[: queries.MAX_SEARCH]
        self.conditions: dict[str, Any] | None = None
        self.condition_q = Q()
        raw = get.get("cond")
        try:
            parsed = queries.parse_conditions(raw)
            if parsed is None and self.saved is not None:
                parsed = self.saved.conditions or None
            if parsed is not None:
                self.condition_q, self.conditions = queries.compile_and_clean(me, parsed)
        except ValidationFailed as exc:
            self.problems.append(error_text(exc))
            self.conditions = None
            self.condition_q = Q(pk__in=[])
        self.has_cond = bool(raw and raw.strip())
        sort = get.get("sort") or (self.saved.sort if self.saved else "")
        try:
            self.sort = queries.clean_sort(sort)
        except ValidationFailed as exc:
            self.problems.append(error_text(exc))
            self.sort = ""
        size = _int(get.get("size"))
        self.size = size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE
        self.page = max(1, min(_int(get.get("page")) or 1, 100_000))

    def queryset(self, me: User, now: Any) -> Any:
        qs = queries.visible(me)
        if self.builtin is not None:
            qs = qs.filter(self.builtin.condition(me, now))
        if self.rep:
            qs = qs.filter(owner_id=self.rep)
        if self.campaign:
            qs = qs.filter(lead__campaign_id=self.campaign)
        if self.condition_q:
            qs = qs.filter(self.condition_q)
        if self.search:
            qs = qs.filter(queries.search_q(self.search))
        return qs

    def known_total(self, counts: dict[str, int], saved_counts: dict[int, int | None]) -> Any:
        """The number of matching rows when a sidebar count already says it (no second COUNT)."""
        if self.rep or self.search or self.problems or self.campaign:
            return None
        if self.builtin is not None and not self.has_cond:
            return counts.get(self.builtin.key)
        if self.saved is not None and not self.has_cond:
            return saved_counts.get(self.saved.pk)
        return None


def _sort_links(params: QueryDict, current: str) -> dict[str, dict[str, Any]]:
    links = {}
    effective = current or queries.DEFAULT_SORT
    for key in queries.SORTS:
        active = effective.lstrip("-") == key
        descending = active and effective.startswith("-")
        target = key if (not active or descending) else f"-{key}"
        links[key] = {"url": _query(params, sort=target), "active": active, "desc": descending}
    return links


# --- the list ------------------------------------------------------------------------------------
@login_required
def opportunity_list(request: HttpRequest) -> HttpResponse:
    """Opportunities with the built-in and saved queries and their live counts, a quick search,
    the condition builder, chosen columns, sorting and paging (R4.6)."""
    require_perm(request, "opportunities", "view")
    me = _me(request)
    assert me.org_id is not None
    now = timezone.now()
    saved = list(queries.saved_queries(me))
    sel = _Selection(request, me, saved)
    custom_defs = custom_fields.column_defs(me, "opportunity")
    columns = _chosen_columns(request, sel.saved, [key for key, _f in custom_defs])
    qs = sel.queryset(me, now)
    qs = cf_params.filter_for_page(me, "opportunity", request.GET, qs, sel.problems)  # H-PLAT
    qs = queries.apply_sort(qs, sel.sort)
    qs = qs.select_related("customer", "owner", "stage", "node", "pipeline")
    offset = (sel.page - 1) * sel.size
    rows = page_rows(qs, offset, sel.size + 1)  # the page's ids first, then their relations
    has_next = len(rows) > sel.size
    rows = rows[: sel.size]
    shown_custom = [f for key, f in custom_defs if key in columns]
    custom_values = custom_fields.column_values(me, shown_custom, rows) if shown_custom else {}

    mine = [q for q in saved if q.owner_id == me.pk]
    shared = [q for q in saved if q.owner_id != me.pk]
    counts, saved_counts = queries.sidebar_counts(me, mine + shared, now=now)
    people = queries.colleague_choices(me)
    kinds = {f.kind for f in queries.FIELDS.values() if f.type == queries.FieldType.DICTIONARY}
    dictionary = queries.dictionary_labels(me, kinds | set(DICTIONARY_COLUMNS.values()))
    base = QueryDict(mutable=True)
    if "size" in request.GET and sel.size != DEFAULT_PAGE_SIZE:
        base["size"] = str(sel.size)
    builtins = [
        {
            "key": b.key,
            "label": b.label,
            "help": b.help,
            "count": counts[b.key],
            "url": _query(base, query=b.key),
            "active": sel.key == b.key and not sel.rep,
        }
        for b in queries.BUILTIN
    ]
    overdue_reps = [
        {
            "user": user,
            "count": n,
            "url": _query(base, query="overdue", rep=user.pk),
            "active": sel.key == "overdue" and sel.rep == user.pk,
        }
        for user, n in queries.overdue_by_rep(me, now=now, people=people)
    ]

    def saved_entry(q: SavedQuery) -> dict[str, Any]:
        return {
            "query": q,
            "count": saved_counts.get(q.pk, ""),
            "url": _query(base, query=q.pk),
            "active": sel.saved is not None and sel.saved.pk == q.pk,
        }

    labels = {
        key: dict(dictionary[kind]) for key, kind in DICTIONARY_COLUMNS.items() if key in columns
    }
    links = _sort_links(request.GET, sel.sort)
    column_defs = [
        {
            "key": c.key,
            "label": c.label,
            "chosen": c.key in columns,
            "sort": links.get(c.sort) if c.sort else None,
        }
        for c in queries.COLUMNS
    ] + [
        {"key": key, "label": f.label, "chosen": key in columns, "sort": None, "custom": True}
        for key, f in custom_defs
    ]
    chosen_defs = sorted(
        (c for c in column_defs if c["chosen"]), key=lambda c: columns.index(c["key"])
    )
    applied = queries.merged_conditions(sel.builtin, sel.rep, sel.conditions)
    total = sel.known_total(counts, saved_counts)
    if cf_params.has_filters(request.GET):  # H-PLAT: the sidebar counts ignore cf_<key>
        total = None
    can_change_saved = sel.saved is not None and queries.can_change(me, sel.saved)
    return render(
        request,
        "pipeline/list/opportunity_list.html",
        {
            "sel": sel,
            "rows": [
                {
                    "o": o,
                    "cells": _cells(o, columns, labels, now, custom_values.get(o.pk)),
                    "flags": _flags(o, now),
                }
                for o in rows
            ],
            "columns": chosen_defs,
            "all_columns": column_defs,
            "name_sort": links["name"],
            "builtins": builtins,
            "overdue_reps": overdue_reps,
            "all_url": _query(base),
            "my_queries": [saved_entry(q) for q in mine],
            "shared_queries": [saved_entry(q) for q in shared],
            "field_options": queries.field_options(me, people=people, labels=dictionary),
            "builder_conditions": sel.conditions or {"match": "all", "rules": []},
            "applied_cond": _cond_param(applied),
            "cols_value": ",".join(columns),
            "keep_params": [
                (k, v)
                for k, values in request.GET.lists()
                if k not in ("cols", "page")
                for v in values
            ],
            "page": {
                "number": sel.page,
                "size": sel.size,
                "start": offset + 1 if rows else 0,
                "end": offset + len(rows),
                "total": total,
                "previous": _query(request.GET, page=sel.page - 1) if sel.page > 1 else None,
                "next": _query(request.GET, page=sel.page + 1) if has_next else None,
                "sizes": [(n, _query(request.GET, size=n), n == sel.size) for n in PAGE_SIZES],
            },
            "share_choices": SavedQueryShare.choices,
            "can_change_saved": can_change_saved,
            "colleagues": people,
            "can_transfer": me.can("opportunities", "transfer"),
            "can_create": me.can("opportunities", "create"),
            "crumbs": [(OPPORTUNITIES, None)],
        },
    )


@login_required
@require_POST
def bulk_transfer(request: HttpRequest) -> HttpResponse:
    """Transfer the checked opportunities to a colleague (all or nothing; needs transfer)."""
    require_perm(request, "opportunities", "transfer")
    me = _me(request)
    back = _next_url(request, reverse("opportunities:list"))
    ids = sorted({int(v) for v in request.POST.getlist("ids") if v.isdigit() and len(v) < 19})
    if not ids:
        messages.error(request, _("Check at least one opportunity."))
        return redirect(back)
    form = TransferForm(request.POST, user=me)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect(back)
    chosen = list(Opportunity.objects.visible_to(me, "transfer").filter(pk__in=ids))
    if len(chosen) != len(ids):
        raise NotFound()
    try:
        with transaction.atomic():
            count = services.transfer_opportunities(
                actor=me,
                opportunities=chosen,
                to_user=form.cleaned_data["to_user"],
                reason=form.cleaned_data.get("reason") or "",
            )
    except DomainError as exc:
        if exc.status == 404:
            raise
        messages.error(request, error_text(exc))
    else:
        messages.success(
            request,
            ngettext(
                "%(count)d opportunity transferred.", "%(count)d opportunities transferred.", count
            )
            % {"count": count},
        )
    return redirect(back)


# --- saved queries -------------------------------------------------------------------------------
def _query_data(request: HttpRequest, form: SavedQueryForm) -> dict[str, Any]:
    """Name and sharing from the form; conditions, columns and sort from the list's hidden
    fields when the request carries them."""
    data: dict[str, Any] = {
        "name": form.cleaned_data["name"],
        "shared": form.cleaned_data["shared"],
    }
    post = request.POST
    if "cond" in post:
        data["conditions"] = queries.parse_conditions(post.get("cond")) or {}
    if "cols" in post:
        data["columns"] = [c for c in (post.get("cols") or "").split(",") if c]
    if "sort" in post:
        data["sort"] = post.get("sort") or ""
    return data


@login_required
@require_POST
def query_save(request: HttpRequest) -> HttpResponse:
    """Save what the list shows as a new query of the user."""
    require_perm(request, "opportunities", "view")
    me = _me(request)
    form = SavedQueryForm(request.POST)
    back = _next_url(request, reverse("opportunities:list"))
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect(back)
    try:
        saved = queries.save_query(me, _query_data(request, form))
    except DomainError as exc:
        if exc.status in (403, 404):
            raise
        messages.error(request, error_text(exc))
        return redirect(back)
    messages.success(request, _("Query “%(name)s” was saved.") % {"name": saved.name})
    return redirect(f"{reverse('opportunities:list')}?query={saved.pk}")


@login_required
def query_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename or re-share a saved query, or (from the list) replace its conditions, columns and
    sort with what the list shows. Only its owner may; others get 403, strangers 404."""
    require_perm(request, "opportunities", "view")
    me = _me(request)
    saved = get_scoped_or_404(SavedQuery.objects.filter(subject=queries.SUBJECT), me, pk)
    if not queries.can_change(me, saved):
        raise PermissionDenied(_("Only the person who saved this query may change it."))
    if request.method == "POST":
        form = SavedQueryForm(request.POST)
        if form.is_valid():
            try:
                queries.save_query(me, _query_data(request, form), saved)
            except DomainError as exc:
                if exc.status in (403, 404):
                    raise
                form.add_error(None, error_text(exc))
            else:
                messages.success(request, _("Query “%(name)s” was saved.") % {"name": saved.name})
                return redirect(f"{reverse('opportunities:list')}?query={saved.pk}")
    else:
        form = SavedQueryForm(initial={"name": saved.name, "shared": saved.shared})
    list_url = reverse("opportunities:list")
    return render(
        request,
        "pipeline/list/query_form.html",
        {
            "form": form,
            "saved": saved,
            "crumbs": [
                (OPPORTUNITIES, list_url),
                (saved.name, f"{list_url}?query={saved.pk}"),
                (_("Edit"), None),
            ],
        },
    )


@login_required
@require_POST
def query_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a saved query (its owner only)."""
    require_perm(request, "opportunities", "view")
    me = _me(request)
    saved = get_scoped_or_404(SavedQuery.objects.filter(subject=queries.SUBJECT), me, pk)
    name = saved.name
    queries.delete_query(me, saved)
    messages.success(request, _("Query “%(name)s” was deleted.") % {"name": name})
    return redirect("opportunities:list")


# --- the board -----------------------------------------------------------------------------------
def _board_owner(
    request: HttpRequest, me: User, people: list[queries.Colleague]
) -> tuple[str, int | None]:
    """The owner filter: ``mine``, an active colleague's id, or everyone visible ("")."""
    raw = request.GET.get("owner") or ""
    if raw == "mine":
        return "mine", me.pk
    pk = _int(raw)
    if pk is not None and any(u.pk == pk for u in people):
        return str(pk), pk
    return "", None


def _fen(value: Any) -> int:
    return int((value or 0) * 100)


@login_required
def board(request: HttpRequest) -> HttpResponse:
    """The pipeline board: a column per active stage with its count and total, cards of the
    open opportunities (and of those closed in the last 30 days on the won and lost columns),
    dragged between stages with SortableJS (R4.6, R11.1)."""
    require_perm(request, "opportunities", "view")
    me = _me(request)
    assert me.org_id is not None
    now = timezone.now()
    pipelines = list(
        Pipeline.objects.visible_to(me).filter(is_active=True).order_by("sort_order", "pk")
    )
    chosen_pk = _int(request.GET.get("pipeline"))
    pipeline = next((p for p in pipelines if p.pk == chosen_pk), None) or next(
        (p for p in pipelines if p.is_default), pipelines[0] if pipelines else None
    )
    people = queries.colleague_choices(me)
    owner_key, owner_id = _board_owner(request, me, people)
    columns: list[dict[str, Any]] = []
    if pipeline is not None:
        columns = _board_columns(me, pipeline, owner_id, now)
    return render(
        request,
        "pipeline/list/board.html",
        {
            "pipelines": pipelines,
            "pipeline": pipeline,
            "columns": columns,
            "owner_key": owner_key,
            "colleagues": people,
            "can_edit": me.can("opportunities", "edit"),
            "can_create": me.can("opportunities", "create"),
            "loss_reasons": dictionaries.choices(me.org_id, DictionaryKind.LOSS_REASON),
            "today": timezone.localdate().isoformat(),
            "card_limit": CARD_LIMIT,
            "closed_days": CLOSED_DAYS,
            "crumbs": [(OPPORTUNITIES, reverse("opportunities:list")), (BOARD, None)],
        },
    )


#: Columns a card needs (the rest of the row is not loaded for the board).
CARD_FIELDS = (
    "name",
    "version",
    "status",
    "is_key",
    "is_confidential",
    "expected_amount",
    "actual_amount",
    "stage_id",
    "stage_entered_at",
    "stall_due_at",
    "feedback_due_at",
    "updated_at",
    "closed_at",
    "customer__name",
    "owner__name",
    "owner__username",
    "owner__first_name",
    "owner__last_name",
)


def _board_columns(
    me: User, pipeline: Pipeline, owner_id: int | None, now: Any
) -> list[dict[str, Any]]:
    """The columns of ``pipeline`` with their counts and totals (one GROUP BY query) and their
    cards (one query: the most recently changed opportunities, at most ``CARD_LIMIT`` per
    column, key ones first), so the board costs the same at a hundred rows or a million."""
    since = now - timedelta(days=CLOSED_DAYS)
    stages = list(
        Stage.objects.visible_to(me)
        .filter(pipeline=pipeline, parent__isnull=True)
        .order_by("sort_order", "pk")
    )
    base = queries.visible(me).filter(pipeline=pipeline)
    if owner_id:
        base = base.filter(owner_id=owner_id)
    shown = base.filter(
        Q(status__in=OPEN_STATUSES)
        | Q(status__in=(OpportunityStatus.WON, OpportunityStatus.LOST), closed_at__gte=since)
    )
    amount = Case(
        When(status=OpportunityStatus.WON, then=F("actual_amount")),
        default=F("expected_amount"),
        output_field=DecimalField(max_digits=18, decimal_places=2),
    )
    summary = {
        row["stage_id"]: row
        for row in shown.order_by().values("stage_id").annotate(n=Count("pk"), total=Sum(amount))
    }
    stages = [s for s in stages if s.is_active or s.pk in summary]  # retired: while in use
    cards: dict[int, list[Opportunity]] = {s.pk: [] for s in stages}
    if summary:
        scan = min(CARD_LIMIT * len(stages), 1000)
        recent = (
            shown.select_related("customer", "owner")
            .only(*CARD_FIELDS)
            .order_by("-updated_at", "-pk")[:scan]
        )
        for o in recent:
            column = cards.get(o.stage_id)
            if column is not None and len(column) < CARD_LIMIT:
                column.append(o)
    columns = []
    for stage in stages:
        row = summary.get(stage.pk)
        closed = stage.kind in (StageKind.WON, StageKind.LOST)
        statuses: tuple[str, ...] = (
            (OpportunityStatus.WON,)
            if stage.kind == StageKind.WON
            else (OpportunityStatus.LOST,)
            if stage.kind == StageKind.LOST
            else OPEN_STATUSES
        )
        shown_cards = sorted(
            cards[stage.pk],
            key=lambda o: (
                (o.closed_at or o.updated_at).timestamp()
                if closed
                else (o.is_key, o.updated_at.timestamp())
            ),
            reverse=True,
        )
        count = row["n"] if row else 0
        more_rules: list[dict[str, Any]] = [
            {"field": "pipeline", "op": "eq", "value": pipeline.pk},
            {"field": "stage", "op": "eq", "value": stage.pk},
            {"field": "status", "op": "in", "value": [str(s) for s in statuses]},
        ]
        if closed:
            more_rules.append({"field": "closed_at", "op": "last_days", "value": CLOSED_DAYS})
        if owner_id:
            more_rules.append({"field": "owner", "op": "eq", "value": owner_id})
        columns.append(
            {
                "stage": stage,
                "kind": stage.kind,
                "count": count,
                "total": format_cny((row["total"] if row else None) or 0),
                "total_fen": _fen(row["total"] if row else 0),
                "cards": [_card(o, now, closed) for o in shown_cards],
                "more_url": (
                    list_url_for({"match": "all", "rules": more_rules})
                    if count > len(shown_cards)
                    else None
                ),
            }
        )
    return columns


def _card(o: Opportunity, now: Any, closed: bool) -> dict[str, Any]:
    """What a board card shows, computed here rather than by template tags per card."""
    amount = o.actual_amount if o.status == OpportunityStatus.WON else o.expected_amount
    days = max(0, (now - o.stage_entered_at).days)
    return {
        "o": o,
        "url": reverse("opportunities:detail", args=[o.pk]),
        "amount": format_cny(amount),
        "amount_fen": _fen(amount),
        "days": days,
        "days_label": ngettext("%(days)s day in stage", "%(days)s days in stage", days)
        % {"days": days},
        "flags": _flags(o, now),
        "draggable": not closed,
    }


def _json_error(exc: DomainError) -> JsonResponse:
    return JsonResponse(
        {
            "code": exc.code,
            "message": error_text(exc) if exc.status != 404 else str(exc.message),
            "errors": {k: [str(m) for m in v] for k, v in exc.field_errors.items()},
        },
        status=exc.status,
    )


@login_required
@require_POST
def board_move(request: HttpRequest) -> HttpResponse:
    """A card dropped on another column: ``pk``, ``stage`` (the target column) and ``version``
    (what the board read). An open stage moves it (move_stage); the won stage wins it with
    ``actual_amount`` and ``actual_close_date``; a lost stage loses it with ``loss_reason`` and
    ``note``. Answers JSON: the new version, or the error (409 on a stale version, 404 out of
    scope)."""
    require_perm(request, "opportunities", "edit")
    me = _me(request)
    post = request.POST
    try:
        pk, stage_id, version = _int(post.get("pk")), _int(post.get("stage")), post.get("version")
        if pk is None or stage_id is None:
            raise ValidationFailed(_("Choose an opportunity and a stage."))
        opportunity = get_scoped_or_404(
            Opportunity.objects.select_related("pipeline", "stage"), me, pk
        )
        stage = get_scoped_or_404(Stage.objects.filter(parent__isnull=True), me, stage_id)
        if stage.pipeline_id != opportunity.pipeline_id:
            raise ValidationFailed(field_errors={"stage": [_("Choose a stage of this pipeline.")]})
        lock = _int(version)
        if version not in (None, "") and lock is None:
            raise ValidationFailed(field_errors={"version": [_("Reload the board and try again.")]})
        if stage.kind == StageKind.WON:
            saved = services.win_opportunity(
                actor=me,
                opportunity=opportunity,
                actual_amount=post.get("actual_amount"),
                actual_close_date=post.get("actual_close_date"),
                note=post.get("note") or "",
                version=lock,
            )
            done = _("“%(name)s” was won.")
        elif stage.kind == StageKind.LOST:
            saved = services.lose_opportunity(
                actor=me,
                opportunity=opportunity,
                reason=post.get("loss_reason") or "",
                note=post.get("note") or "",
                stage=stage,
                version=lock,
            )
            done = _("“%(name)s” was lost.")
        else:
            saved = services.move_stage(
                actor=me, opportunity=opportunity, stage=stage, version=lock
            )
            done = _("“%(name)s” moved to %(stage)s.")
    except DomainError as exc:
        return _json_error(exc)
    card = _card(saved, timezone.now(), saved.status not in OPEN_STATUSES)
    return JsonResponse(
        {
            "id": saved.pk,
            "version": saved.version,
            "stage": saved.stage_id,
            "status": saved.status,
            "closed": saved.status not in OPEN_STATUSES,
            "amount": card["amount"],
            "amount_fen": card["amount_fen"],
            "days_label": card["days_label"],
            "message": done % {"name": saved.name, "stage": stage.name},
        }
    )
