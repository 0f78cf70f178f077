"""Test helper: a record page as a browser shows it once its later sections have loaded
(crm.core.record_sections fetches them after the page with htmx)."""

from __future__ import annotations

import html
import re
from typing import Any

PENDING = re.compile(
    r'<div class="record-sections-pending" hx-get="([^"]+)".*?</noscript>\s*</div>', re.S
)


def with_sections(client: Any, url: str, **extra: Any) -> Any:
    """``client.get(url)`` with each section placeholder replaced by what its request answers,
    as htmx swaps it in. Every section request must answer 200."""
    response = client.get(url, **extra)
    if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
        return response
    text = response.content.decode()

    def fill(match: re.Match[str]) -> str:
        part = client.get(html.unescape(match.group(1)), **extra)
        assert part.status_code == 200, (match.group(1), part.status_code)
        return str(part.content.decode())

    response.content = PENDING.sub(fill, text).encode()
    return response
