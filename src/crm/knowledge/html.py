"""A small allow-list HTML sanitiser for article bodies (no ``nh3``/``bleach`` in the
dependencies): what is stored is rebuilt from the parse, never copied from the input.

- allowed tags keep only their allowed attributes; every other tag is dropped but its text kept
  (escaped); the content of ``script``, ``style``, ``iframe``, ``object``, ``svg``… is dropped;
- links keep ``href`` only for ``http:``, ``https:``, ``mailto:``, ``tel:`` or a same-site path,
  and always get ``rel="noopener noreferrer nofollow"``;
- text and attribute values are re-escaped; open tags are closed at the end.
"""

from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser

ALLOWED: dict[str, set[str]] = {
    "p": set(),
    "br": set(),
    "hr": set(),
    "strong": set(),
    "b": set(),
    "em": set(),
    "i": set(),
    "u": set(),
    "s": set(),
    "h2": set(),
    "h3": set(),
    "h4": set(),
    "ul": set(),
    "ol": set(),
    "li": set(),
    "blockquote": set(),
    "pre": set(),
    "code": set(),
    "a": {"href", "title"},
    "table": set(),
    "thead": set(),
    "tbody": set(),
    "tr": set(),
    "th": {"colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
    "div": set(),
    "span": set(),
}
#: headings a pasted document may carry, mapped to the ones articles use
RENAMED = {"h1": "h2", "h5": "h4", "h6": "h4"}
VOID = {"br", "hr"}
#: elements whose whole content is dropped
DROP_CONTENT = {
    "script",
    "style",
    "iframe",
    "object",
    "embed",
    "template",
    "noscript",
    "textarea",
    "select",
    "svg",
    "math",
    "title",
    "head",
}
BLOCKS = {"p", "br", "hr", "h2", "h3", "h4", "li", "blockquote", "pre", "tr", "div", "table"}
_SAFE_URL = re.compile(r"^(https?:|mailto:|tel:|/(?!/)|#)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")


def _safe_href(value: str) -> str | None:
    cleaned = _CONTROL.sub("", value or "")
    if not cleaned or not _SAFE_URL.match(cleaned):
        return None
    return value.strip()


class _Sanitiser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.dropping = 0
        self.dropping_tag: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = RENAMED.get(tag, tag)
        if tag in DROP_CONTENT:
            if tag not in VOID:
                self.dropping += 1
                self.dropping_tag.append(tag)
            return
        if self.dropping:
            return
        if tag in BLOCKS:
            self.text.append("\n")
        if tag not in ALLOWED:
            return
        kept: list[str] = []
        for name, value in attrs:
            if name not in ALLOWED[tag] or value is None:
                continue
            if name == "href":
                href = _safe_href(value)
                if href is None:
                    continue
                value = href
            elif name in {"colspan", "rowspan"} and not value.isdigit():
                continue
            kept.append(f' {name}="{escape(value, quote=True)}"')
        if tag == "a":
            kept.append(' rel="noopener noreferrer nofollow"')
        self.out.append(f"<{tag}{''.join(kept)}>")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        tag = RENAMED.get(tag, tag)
        if tag in ALLOWED and tag not in VOID and not self.dropping and tag not in DROP_CONTENT:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        tag = RENAMED.get(tag, tag)
        if self.dropping:
            if self.dropping_tag and self.dropping_tag[-1] == tag:
                self.dropping_tag.pop()
                self.dropping -= 1
            return
        if tag in BLOCKS:
            self.text.append("\n")
        if tag not in ALLOWED or tag in VOID or tag not in self.stack:
            return
        while self.stack:
            open_tag = self.stack.pop()
            self.out.append(f"</{open_tag}>")
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.dropping:
            return
        self.out.append(escape(data, quote=False))
        self.text.append(data)

    def close_all(self) -> None:
        while self.stack:
            self.out.append(f"</{self.stack.pop()}>")


def _parse(raw: str) -> _Sanitiser:
    parser = _Sanitiser()
    parser.feed((raw or "").replace("\x00", ""))
    parser.close()
    parser.close_all()
    return parser


def sanitize(raw: str) -> str:
    """Safe HTML from ``raw`` (anything a browser or a paste may send)."""
    return "".join(_parse(raw).out).strip()


def plain_text(html: str) -> str:
    """The text of ``html`` (tags removed, whitespace runs collapsed, paragraphs kept)."""
    text = "".join(_parse(html).text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()


def from_text(text: str) -> str:
    """Paragraphs of safe HTML from plain text (blank lines separate paragraphs)."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text or "") if b.strip()]
    return "".join("<p>" + escape(b).replace("\n", "<br>") + "</p>" for b in blocks)
