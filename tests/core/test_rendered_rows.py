"""Rows built in Python instead of template loops (R11.2: the dashboard's 500-row ranking and
the 500-person pickers of the list and board pages): the same HTML, escaped the same way."""

from __future__ import annotations

from dataclasses import dataclass

from django.template import Context, Template

from crm.analytics.figures import COUNT, MONEY, TEXT, Column, Figure

EVIL = '<script>alert("x")</script>&'


@dataclass
class Person:
    pk: int
    display_name: str
    department_id: int | None = None
    department_name: str = ""


def test_a_figure_table_escapes_its_cells_and_links_its_first_one() -> None:
    figure = Figure(
        key="ranking",
        title="Ranking",
        columns=[Column("name", "Rep", TEXT), Column("n", "Won", COUNT), Column("amt", "¥", MONEY)],
        rows=[
            {"name": EVIL, "n": 3, "amt": "1234.5", "_url": '/opportunities/?q="a"&b=1'},
            {"name": "王芳", "n": 0, "amt": None},
        ],
    )
    html = str(figure.table_html())
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp;</a>" in html
    first, second = html.strip().split("\n")
    assert first.startswith('<tr data-href="/opportunities/?q=&quot;a&quot;&amp;b=1">')
    assert '<td><a href="/opportunities/?q=&quot;a&quot;&amp;b=1">&lt;script&gt;' in first
    assert '<td class="text-end text-nowrap">3</td>' in first
    assert "¥1,234.50" in first
    assert second.startswith("<tr><td>王芳</td>")  # no url: no link, no data-href
    assert second.count("<td") == 3


def test_an_empty_figure_shows_its_no_data_row() -> None:
    figure = Figure(key="k", title="t", columns=[Column("a", "A")], rows=[])
    html = Template('{% include "analytics/_figure.html" %}').render(
        Context({"figure": figure, "can_export": False})
    )
    assert 'colspan="1"' in html and "<tr data-href" not in html


def test_person_options_escape_names_and_mark_the_chosen_one() -> None:
    people = [Person(7, EVIL, 3, "华东<区>"), Person(9, "李雷")]
    board = Template("{% load crm %}{% person_options people chosen %}").render(
        Context({"people": people, "chosen": "9"})
    )
    assert board == (
        '<option value="7">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;</option>'
        '<option value="9" selected>李雷</option>'
    )
    table = Template("{% load crm %}{% person_options people with_department=True %}").render(
        Context({"people": people})
    )
    assert "(华东&lt;区&gt;)</option>" in table and " selected" not in table
    assert '<option value="9">李雷</option>' in table  # no department: no brackets
