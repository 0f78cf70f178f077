"""Targets (R8.6): period helpers, resolving the target of a range, saving a grid in one
transaction with a message per bad cell, who may set and who may see whose targets, the grid
page and the "targets" import resource (H-DASH)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from crm.analytics import targets
from crm.analytics.models import Target
from crm.analytics.target_import import TARGETS
from crm.core.errors import NotFound, PermissionDenied, ValidationFailed
from crm.core.models import Event
from crm.core.testing.world import World, build_world, make_role, make_user, role
from crm.imports.registry import RowContext, get_resource
from crm.org.models import User

D = Decimal


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


class People:
    def __init__(self, w: World):
        admin, org = w.admin, w.org
        self.world = w
        self.rep = make_user(admin, "目标销售甲", w.depts["east"], [role(org, "rep")])
        self.rep2 = make_user(admin, "目标销售乙", w.depts["east"], [role(org, "rep")])
        self.rep_other = make_user(admin, "二部目标销售", w.depts["sales2"], [role(org, "rep")])
        self.manager = make_user(admin, "一部经理", w.depts["sales1"], [role(org, "manager")])
        setter = make_role(
            admin, "目标设定", "dept_tree", ["analytics:view", "analytics:configure"]
        )
        self.setter = make_user(admin, "一部目标专员", w.depts["sales1"], [setter])
        self.director = make_user(admin, "总监", w.depts["root"], [role(org, "director")])

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        return fresh(value) if isinstance(value, User) else value


@pytest.fixture
def people(db: None) -> People:
    return People(build_world())


def grid(actor: User, level: str, cells: dict[tuple[int, date], Any], **kw: Any) -> Any:
    return targets.save_grid(
        actor=actor,
        metric=kw.get("metric", "signed"),
        period=kw.get("period", "month"),
        year=kw.get("year", 2026),
        level=level,
        cells=cells,
    )


# --- periods and resolution ------------------------------------------------------------------
def test_period_helpers() -> None:
    # R8.6: months, quarters and years
    assert targets.period_starts("quarter", 2026) == [date(2026, m, 1) for m in (1, 4, 7, 10)]
    assert len(targets.period_starts("month", 2026)) == 12
    assert targets.period_starts("year", 2026) == [date(2026, 1, 1)]
    assert targets.period_end("quarter", date(2026, 10, 1)) == date(2027, 1, 1)
    assert targets.period_start("quarter", date(2026, 8, 31)) == date(2026, 7, 1)
    assert targets.period_label("quarter", date(2026, 7, 1)) == "2026 Q3"
    assert targets.months_between(date(2026, 1, 15), date(2026, 3, 1)) == [
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]


class _T:
    def __init__(self, period: str, start: date, value: str, user_id: int = 1) -> None:
        self.user_id, self.department_id = user_id, None
        self.period, self.period_start, self.value = period, start, D(value)


def test_target_book_rules() -> None:
    # R8.6: explicit targets win, a missing month takes a share of its quarter or year,
    # a partial month counts by days; no target at all is None, not zero
    book = targets.TargetBook(
        [
            _T("year", date(2026, 1, 1), "1200"),
            _T("quarter", date(2026, 4, 1), "600"),
            _T("month", date(2026, 4, 1), "100"),
        ]
    )
    assert book.for_range("u", 1, date(2026, 1, 1), date(2027, 1, 1)) == D("1200.00")
    assert book.for_range("u", 1, date(2026, 4, 1), date(2026, 7, 1)) == D("600.00")
    assert book.for_range("u", 1, date(2026, 4, 1), date(2026, 5, 1)) == D("100.00")
    assert book.for_range("u", 1, date(2026, 5, 1), date(2026, 6, 1)) == D("200.00")  # 600 / 3
    assert book.for_range("u", 1, date(2026, 1, 1), date(2026, 2, 1)) == D("100.00")  # 1200 / 12
    # half of June (15 of 30 days) of 200
    assert book.for_range("u", 1, date(2026, 6, 1), date(2026, 6, 16)) == D("100.00")
    assert book.for_range("u", 2, date(2026, 1, 1), date(2027, 1, 1)) is None


# --- saving a grid ---------------------------------------------------------------------------
def test_save_grid_creates_updates_deletes_with_audit(people: People) -> None:
    # R8.6: one transaction; an empty cell removes the target; "target.saved" events
    jan, feb = date(2026, 1, 1), date(2026, 2, 1)
    result = grid(
        people.director, "rep", {(people.rep.pk, jan): "10,000", (people.rep.pk, feb): "¥20000.5"}
    )
    assert (result.created, result.updated, result.deleted) == (2, 0, 0)
    values = dict(Target.objects.filter(user=people.rep).values_list("period_start", "value"))
    assert values == {jan: D("10000.00"), feb: D("20000.50")}
    result = grid(people.director, "rep", {(people.rep.pk, jan): "12000", (people.rep.pk, feb): ""})
    assert (result.created, result.updated, result.deleted) == (0, 1, 1)
    assert list(Target.objects.filter(user=people.rep).values_list("value", flat=True)) == [
        D("12000.00")
    ]
    assert Event.objects.filter(verb="target.saved").count() == 4


def test_bad_cells_refuse_the_whole_grid(people: People) -> None:
    # R8.6: negative or non-numeric refused with a message per cell, nothing saved
    jan, feb, mar = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)
    with pytest.raises(ValidationFailed) as exc:
        grid(
            people.director,
            "rep",
            {(people.rep.pk, jan): "5000", (people.rep.pk, feb): "-1", (people.rep.pk, mar): "abc"},
        )
    errors = exc.value.field_errors
    assert set(errors) == {
        targets.cell_name(people.rep.pk, feb),
        targets.cell_name(people.rep.pk, mar),
    }
    assert Target.objects.count() == 0
    assert not Event.objects.filter(verb="target.saved").exists()
    with pytest.raises(ValidationFailed):
        grid(people.director, "rep", {(people.rep.pk, jan): "2.5"}, metric="new_customers")
    with pytest.raises(ValidationFailed):  # not the start of a quarter
        grid(people.director, "rep", {(people.rep.pk, feb): "1"}, period="quarter")
    with pytest.raises(ValidationFailed):
        grid(people.director, "rep", {(people.rep.pk, jan): "1"}, year="20x6")
    assert Target.objects.count() == 0


def test_who_may_set_targets(people: People) -> None:
    # R8.6: editing needs analytics:configure, inside the configure scope
    jan = date(2026, 1, 1)
    for actor in (people.rep, people.manager):
        with pytest.raises(PermissionDenied):
            grid(actor, "rep", {(actor.pk, jan): "1"})
    # the department-tree setter of 销售一部 may set 华东组's reps and departments …
    grid(people.setter, "rep", {(people.rep.pk, jan): "1000"})
    grid(people.setter, "department", {(people.world.depts["east"].pk, jan): "5000"})
    # … but not 销售二部's, and nothing of the grid is saved
    with pytest.raises(NotFound):
        grid(people.setter, "rep", {(people.rep2.pk, jan): "1", (people.rep_other.pk, jan): "1"})
    with pytest.raises(NotFound):
        grid(people.setter, "department", {(people.world.depts["sales2"].pk, jan): "1"})
    assert not Target.objects.filter(user=people.rep2).exists()
    # another organisation's rep is not found either
    other = People(build_world("另一家目标公司"))
    with pytest.raises(NotFound):
        grid(people.director, "rep", {(other.rep.pk, jan): "1"})


def test_who_sees_which_targets(people: People) -> None:
    # R8.6: anyone with analytics:view sees the targets inside their scope
    jan = date(2026, 1, 1)
    d = people.world.depts
    grid(
        people.director,
        "rep",
        {(people.rep.pk, jan): "1", (people.rep2.pk, jan): "2", (people.rep_other.pk, jan): "3"},
    )
    grid(
        people.director,
        "department",
        {(d["east"].pk, jan): "10", (d["sales2"].pk, jan): "30", (d["sales1"].pk, jan): "20"},
    )

    def seen(user: User) -> set[Any]:
        return {(t.user_id or 0, t.department_id or 0) for t in Target.objects.visible_to(user)}

    assert seen(people.rep) == {(people.rep.pk, 0), (0, d["east"].pk)}
    manager = seen(people.manager)
    assert (people.rep_other.pk, 0) not in manager and (0, d["sales2"].pk) not in manager
    assert {
        (people.rep.pk, 0),
        (people.rep2.pk, 0),
        (0, d["east"].pk),
        (0, d["sales1"].pk),
    } <= manager
    assert len(seen(people.director)) == 6


# --- the page ----------------------------------------------------------------------------------
def _url(**params: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return reverse("analytics:targets") + ("?" + query if query else "")


def test_grid_page_saves_all_cells(people: People, client_for: Any) -> None:
    # R8.6: the grid page (rows: reps of a department; columns: the quarters of a year)
    east = people.world.depts["east"]
    url = _url(year=2026, period="quarter", metric="collected", level="rep", department=east.pk)
    client = client_for(people.director)
    r = client.get(url)
    assert r.status_code == 200
    page = r.content.decode()
    assert targets.cell_name(people.rep.pk, date(2026, 4, 1)) in page
    assert "2026 Q4" in page
    r = client.post(
        url,
        {
            targets.cell_name(people.rep.pk, date(2026, 1, 1)): "1000",
            targets.cell_name(people.rep2.pk, date(2026, 4, 1)): "2000",
        },
    )
    assert r.status_code == 302
    assert Target.objects.filter(metric="collected", period="quarter").count() == 2
    # bad input: the page again with the message by the cell, nothing changed
    r = client.post(
        url,
        {
            targets.cell_name(people.rep.pk, date(2026, 1, 1)): "",
            targets.cell_name(people.rep2.pk, date(2026, 4, 1)): "-5",
        },
    )
    assert r.status_code == 200
    assert (
        f'data-cell-error="{targets.cell_name(people.rep2.pk, date(2026, 4, 1))}"'
        in r.content.decode()
    )
    assert Target.objects.filter(metric="collected", period="quarter").count() == 2


def test_rep_sees_but_cannot_edit(people: People, client_for: Any) -> None:
    # R8.6: a rep sees their own and their department's targets, read-only; posting is 403
    grid(
        people.director,
        "rep",
        {(people.rep.pk, date(2026, 1, 1)): "1234", (people.rep_other.pk, date(2026, 1, 1)): "999"},
    )
    client = client_for(people.rep)
    r = client.get(_url(year=2026, period="month", metric="signed", level="rep"))
    page = r.content.decode()
    assert r.status_code == 200
    assert "¥1,234.00" in page
    assert "¥999.00" not in page
    assert 'name="c-' not in page  # no inputs
    r = client.post(_url(year=2026), {targets.cell_name(people.rep.pk, date(2026, 1, 1)): "1"})
    assert r.status_code == 403
    assert Target.objects.get(user=people.rep).value == D("1234.00")


def test_grid_page_of_departments_and_bad_choice(people: People, client_for: Any) -> None:
    # R8.6: departments as rows; an unknown choice falls back to the defaults with a message
    client = client_for(people.setter)
    r = client.get(_url(year=2026, period="year", metric="new_customers", level="department"))
    page = r.content.decode()
    assert people.world.depts["east"].name in page
    assert people.world.depts["sales2"].name not in page
    r = client.get(_url(year=1900, period="decade"))
    assert r.status_code == 200
    assert "invalid-feedback" in r.content.decode()


# --- import --------------------------------------------------------------------------------
def test_targets_import_resource(people: People) -> None:
    # R8.6: targets importable (rep username or department name, metric, period, start, value)
    assert get_resource("targets") is TARGETS
    assert TARGETS.may_import(people.director) and not TARGETS.may_import(people.manager)
    ctx = RowContext(actor=people.director, resource=TARGETS)
    row = {
        "rep": people.rep.username,
        "metric": "签约金额",
        "period": "月",
        "period_start": "2026/3/1",
        "value": "80,000",
    }
    assert TARGETS.find(ctx, row) is None
    made = TARGETS.create(ctx, row)
    assert (made.user_id, made.metric, made.period, made.value) == (
        people.rep.pk,
        "signed",
        "month",
        D("80000.00"),
    )
    assert TARGETS.find(ctx, row).pk == made.pk
    updated = TARGETS.update(ctx, made, {**row, "value": "90000"})
    assert updated.value == D("90000.00")
    dept_row = {
        "department": "华东组",
        "metric": "collected",
        "period": "quarter",
        "period_start": "2026-04-01",
        "value": "5",
    }
    assert TARGETS.create(ctx, dept_row).department_id == people.world.depts["east"].pk
    for bad in (
        {**row, "value": "-1"},
        {**row, "period_start": "2026-03-02"},
        {**row, "metric": "利润"},
        {**row, "department": "华东组"},
    ):
        with pytest.raises(ValidationFailed):
            TARGETS.create(ctx, bad)
    setter_ctx = RowContext(actor=people.setter, resource=TARGETS)
    with pytest.raises(ValidationFailed):
        TARGETS.create(setter_ctx, {**row, "rep": people.rep_other.username})
