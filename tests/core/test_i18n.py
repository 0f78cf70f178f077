"""Chinese first (R11.4): every string in the code is in the Simplified Chinese catalogue,
translated and not fuzzy; pages render in Chinese by default and in English on request."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crm.core.testing.world import World

SRC = Path(__file__).resolve().parents[2] / "src" / "crm"
PO = SRC / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def parse_po(text: str) -> dict[str, tuple[str, bool]]:
    """msgid -> (msgstr, fuzzy) for every entry except the header (msgctxt folded into the id)."""
    entries: dict[str, tuple[str, bool]] = {}
    for block in re.split(r"\n\s*\n", text):
        fuzzy = "#, fuzzy" in block or re.search(r"^#,.*\bfuzzy\b", block, re.M) is not None
        fields: dict[str, str] = {}
        current = None
        for line in block.splitlines():
            m = re.match(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?) "(.*)"$', line)
            if m:
                current = m.group(1)
                fields[current] = m.group(2)
            elif line.startswith('"') and current:
                fields[current] += line[1:-1]
        if "msgid" not in fields or fields["msgid"] == "":
            continue
        key = fields.get("msgctxt", "") + "\x04" + fields["msgid"]
        translated = fields.get("msgstr", fields.get("msgstr[0]", ""))
        entries[key] = (translated, fuzzy)
    return entries


def test_catalogue_is_complete_and_not_fuzzy() -> None:
    # R11.4: no empty and no fuzzy translation
    entries = parse_po(PO.read_text(encoding="utf-8"))
    assert len(entries) > 100
    missing = [k.split("\x04")[1] for k, (v, fuzzy) in entries.items() if not v or fuzzy]
    assert missing == []


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext (xgettext) not installed")
def test_every_marked_string_is_in_the_catalogue(tmp_path: Path) -> None:
    # R11.4: run makemessages on a copy of the tree; nothing new may appear
    original = PO.read_bytes()
    tree = tmp_path / "crm"
    shutil.copytree(SRC, tree, ignore=shutil.ignore_patterns("vendor", "__pycache__", "*.mo"))
    env_python = Path(sys.executable)
    result = subprocess.run(
        [
            str(env_python),
            "-m",
            "django",
            "makemessages",
            "-l",
            "zh_Hans",
            "--no-obsolete",
            "-i",
            "static/*",
            "-i",
            "locale/*",
            "--settings=crm.settings.test",
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": f"{tree.parent}:{SRC.parents[1]}", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert PO.read_bytes() == original, "makemessages must only touch the copy"
    fresh = parse_po((tree / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po").read_text("utf-8"))
    known = parse_po(PO.read_text(encoding="utf-8"))
    untranslated = sorted(k.split("\x04")[1] for k in fresh if not known.get(k, ("", False))[0])
    assert untranslated == [], "run `make messages` and translate these"


def test_pages_default_to_chinese_and_switch_to_english(world: World, client_for) -> None:
    # R11.4: Simplified Chinese by default; English by the language cookie
    client = client_for(world.admin)
    zh = client.get("/settings/departments/").content.decode()
    assert 'lang="zh-hans"' in zh and "部门" in zh
    client.cookies["crm_language"] = "en"
    en = client.get("/settings/departments/").content.decode()
    assert 'lang="en"' in en and "Departments" in en
