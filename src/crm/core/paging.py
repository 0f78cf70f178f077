"""Reading one page of a large list (issue 8): a deferred join for the rows, a capped count."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

from .planner import joins_as_written


def capped_count(queryset: QuerySet, cap: int) -> tuple[int, bool]:
    """``(n, exact)``: the number of rows of ``queryset``, counted up to ``cap`` (0: no cap);
    beyond the cap ``(cap, False)``. ``SELECT COUNT(*) FROM (… LIMIT cap + 1)`` stops reading
    after the cap, whatever the size of the table."""
    if cap <= 0:
        return queryset.count(), True
    n = queryset.order_by()[: cap + 1].count()
    return (n, True) if n <= cap else (cap, False)


def page_rows(queryset: QuerySet, offset: int, size: int) -> list[Any]:
    """The rows ``offset … offset + size`` of ``queryset``. With joined relations
    (``select_related``) the page's ids come first from the narrow query, then those rows with
    their relations and prefetches, in the page's order: a deferred join. Without, or when the
    query is DISTINCT (its ordering columns must be selected), one query."""
    query = queryset.query
    if not query.select_related or query.distinct or query.combinator:
        return list(queryset[offset : offset + size])
    ids = list(queryset.values_list("pk", flat=True)[offset : offset + size])
    if not ids:
        return []
    with joins_as_written(queryset):
        found = queryset.order_by().filter(pk__in=ids).in_bulk()
    return [found[pk] for pk in ids if pk in found]


def capped_counts(querysets: dict[str, QuerySet], cap: int) -> dict[str, tuple[int, bool]]:
    """``key -> (n, exact)`` for several querysets in one statement: one scalar subquery each,
    ``SELECT COUNT(*) FROM (… LIMIT cap + 1)``, so every count walks the index its own
    conditions suit and stops after the cap (0: no cap). A single pass with ``COUNT(*)
    FILTER (…)`` per key reads every row any of them matches instead."""
    from django.core.exceptions import EmptyResultSet
    from django.db import connection

    parts: list[str] = []
    params: list[Any] = []
    result: dict[str, tuple[int, bool]] = {}
    for key, qs in querysets.items():
        inner = qs.order_by().values("pk")
        if cap > 0:
            inner = inner[: cap + 1]
        try:
            sql, p = inner.query.sql_with_params()
        except EmptyResultSet:
            result[key] = (0, True)
            continue
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) c{len(parts)})")  # noqa: S608 - the ORM's SQL
        params += p
    if parts:
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(parts), params)
            row = cursor.fetchone()
        keys = [k for k in querysets if k not in result]
        for key, n in zip(keys, row, strict=True):
            n = int(n or 0)
            result[key] = (cap, False) if cap > 0 and n > cap else (n, True)
    return {key: result[key] for key in querysets}


def count_label(n: int, exact: bool) -> str:
    """``12,345`` or, past a cap, ``10,000+``."""
    return f"{n:,}" if exact else f"{n:,}+"


class CappedPaginator(Paginator):
    """Django's paginator for the list pages: it counts at most ``CRM_LIST_COUNT_CAP`` rows
    (``count_exact`` False beyond; the pages stop there and the page says "10,000+") and reads
    a page by the deferred join of ``page_rows``. ``known``: a ``(n, exact)`` count the page
    already has (a tab's badge), so the rows are not counted twice."""

    def __init__(
        self,
        object_list: Any,
        per_page: int,
        *,
        known: tuple[int, bool] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self.count_exact = True
        if known is not None:
            self.__dict__["count"], self.count_exact = known

    @cached_property
    def count(self) -> int:
        if not isinstance(self.object_list, QuerySet):
            return len(self.object_list)
        n, self.count_exact = capped_count(self.object_list, settings.CRM_LIST_COUNT_CAP)
        return n

    @property
    def count_label(self) -> str:
        return count_label(self.count, self.count_exact)

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        if not isinstance(self.object_list, QuerySet):
            return super().page(number)
        rows = page_rows(self.object_list, (number - 1) * self.per_page, self.per_page)
        return Page(rows, number, self)
