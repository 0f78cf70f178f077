"""Knowledge-base search (R9.4): Chinese and English full text, pinyin of titles, tags and
categories — on SQLite (substring fallback) and on PostgreSQL (full-text search with the
``simple`` configuration plus the substring fallback for Chinese). The expected results are
computed independently in plain Python over the rows created here."""

from __future__ import annotations

import pytest
from django.db import connection

from crm.knowledge import selectors
from crm.knowledge.models import Article
from tests.knowledge.conftest import KB, article, fresh

ROWS = [
    ("销售技巧十讲", "<p>如何<b>约见</b>关键决策人</p>", "playbook", ["拜访"]),
    ("竞品对比：华为", "<p>Huawei pricing and renewal discount policy</p>", "competitor", ["竞品"]),
    (
        "Quarterly renewal playbook",
        "<p>Call the customer 90 days before expiry.</p>",
        "playbook",
        [],
    ),
    (
        "制造业采购流程",
        "<p>招标、评标、定标，采购部主导</p>",
        "purchase_process",
        ["制造业", "招标"],
    ),
    ("常见问题：发票", "<p>专票需要开票资料</p>", "faq", []),
]


def _make(kbw: KB) -> dict[str, int]:
    return {
        title: article(kbw.editor, title, body=body, category=cat, tags=tags).pk
        for title, body, cat, tags in ROWS
    }


def _expected(ids: dict[str, int], needle: str) -> set[int]:
    """Independent rule: case-insensitive substring of title, body text or a tag, or a prefix
    or substring of the title's pinyin / initials (plain Python, pypinyin directly)."""
    from pypinyin import Style, lazy_pinyin

    out = set()
    n = needle.lower()
    for title, body, _cat, tags in ROWS:
        text = body.replace("<p>", "").replace("</p>", "").replace("<b>", "").replace("</b>", "")
        full = "".join(lazy_pinyin(title.lower())).replace(" ", "")
        initials = "".join(p[0] for p in lazy_pinyin(title.lower(), style=Style.FIRST_LETTER) if p)
        latin_ok = n.isascii() and n.replace(" ", "").isalnum()
        if (
            n in title.lower()
            or n in text.lower()
            or any(n in t.lower() for t in tags)
            or (latin_ok and (n in full or n in initials))
        ):
            out.add(ids[title])
    return out


def _found(kbw: KB, text: str) -> set[int]:
    return set(
        selectors.search(selectors.articles(fresh(kbw.rep)), text).values_list("pk", flat=True)
    )


@pytest.mark.parametrize(
    "needle", ["约见", "关键决策人", "采购", "华为", "renewal", "RENEWAL", "huawei", "发票", "招标"]
)
def test_full_text_in_chinese_and_english(kbw: KB, needle: str) -> None:
    # R9.4: full-text search in Chinese and English (both databases)
    ids = _make(kbw)
    expected = _expected(ids, needle)
    assert expected, needle
    assert _found(kbw, needle) == expected


@pytest.mark.parametrize("needle", ["xsjq", "xiaoshou", "zzycglc", "zhizaoye", "cjwt"])
def test_pinyin_and_initials_of_titles(kbw: KB, needle: str) -> None:
    # R9.4: pinyin search on titles (full pinyin and initials)
    ids = _make(kbw)
    expected = _expected(ids, needle)
    assert len(expected) == 1, needle
    assert _found(kbw, needle) == expected


def test_nothing_matches_nonsense_and_filters_combine(kbw: KB) -> None:
    # R9.4
    ids = _make(kbw)
    assert _found(kbw, "量子纠缠") == set()
    qs = selectors.search(
        selectors.articles(fresh(kbw.rep)).filter(category__key="playbook"), "renewal"
    )
    assert set(qs.values_list("pk", flat=True)) == {ids["Quarterly renewal playbook"]}
    tagged = selectors.articles(fresh(kbw.rep)).filter(selectors.tag_q("招标"))
    assert set(tagged.values_list("pk", flat=True)) == {ids["制造业采购流程"]}
    # a tag is matched whole, not as a fragment of another tag
    assert not selectors.articles(fresh(kbw.rep)).filter(selectors.tag_q("招")).exists()


@pytest.mark.postgres
def test_postgres_full_text_ranks_titles_first_and_takes_web_search_syntax(kbw: KB) -> None:
    # R9.4: PostgreSQL full-text search ('simple' configuration, title weighted above body)
    assert connection.vendor == "postgresql"
    ids = _make(kbw)
    ranked = list(
        selectors.search(selectors.articles(fresh(kbw.rep)), "renewal").values_list("pk", flat=True)
    )
    assert ranked[0] == ids["Quarterly renewal playbook"]  # in the title: weight A
    assert set(ranked) == {ids["Quarterly renewal playbook"], ids["竞品对比：华为"]}
    # words in any order (full text), not only as one substring
    assert _found(kbw, "discount huawei") == {ids["竞品对比：华为"]}
    # exclusion with web-search syntax
    both = _found(kbw, "renewal -huawei")
    assert ids["Quarterly renewal playbook"] in both
    assert Article.objects.count() == len(ROWS)
