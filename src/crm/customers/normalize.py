"""Name, phone and e-mail normalisation for duplicate detection and search (拼音 included).

``normalize_name("华为技术（深圳）有限公司")`` == ``normalize_name("华为技术有限公司")`` ==
``"华为技术"``: full-width to half-width, case, spaces and punctuation, legal suffixes and short
bracketed place names are ignored.
"""

from __future__ import annotations

import re
import unicodedata

from pypinyin import Style, lazy_pinyin

# Longest first, so "股份有限公司" is removed before "有限公司".
LEGAL_SUFFIXES_ZH = [
    "集团股份有限公司",
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "有限公司",
    "股份公司",
    "总公司",
    "公司",
]
LEGAL_SUFFIXES_EN = [
    "co ltd",
    "company limited",
    "co limited",
    "limited",
    "ltd",
    "incorporated",
    "inc",
    "corporation",
    "corp",
    "llc",
    "gmbh",
    "plc",
    "company",
    "co",
]
_BRACKETED = re.compile(r"[(\[{（【〔]([^()\[\]{}（）【】〔〕]{1,12})[)\]}）】〕]")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def _is_place_like(text: str) -> bool:
    """Short bracketed text such as (北京), （上海市）, (中国), (Shenzhen)."""
    text = text.strip()
    if _CJK.search(text):
        return len(text) <= 6
    return len(text) <= 12 and text.replace(" ", "").isalpha()


def normalize_name(name: str) -> str:
    """The comparison key of a company name (see module docstring)."""
    text = unicodedata.normalize("NFKC", name or "").strip().lower()
    text = _BRACKETED.sub(lambda m: " " if _is_place_like(m.group(1)) else m.group(0), text)
    # English suffixes work on words: "acme co., ltd." -> "acme"
    words = _NOT_WORD.sub(" ", text).split()
    changed = True
    while changed and words:
        changed = False
        tail = " ".join(words)
        for suffix in LEGAL_SUFFIXES_EN:
            if tail.endswith(" " + suffix) and len(words) > len(suffix.split()):
                words = words[: -len(suffix.split())]
                changed = True
                break
    text = "".join(words)
    changed = True
    while changed:
        changed = False
        for suffix in LEGAL_SUFFIXES_ZH:
            if text.endswith(suffix) and len(text) > len(suffix):
                text = text[: -len(suffix)]
                changed = True
                break
    return text


def pinyin_of(name: str) -> tuple[str, str]:
    """(full pinyin, initials), lower case, no spaces: 中国移动 → zhongguoyidong, zgyd."""
    text = unicodedata.normalize("NFKC", name or "").lower()
    full = "".join(lazy_pinyin(text, style=Style.NORMAL, errors="default"))
    initials = "".join(
        p[:1]
        for p in lazy_pinyin(text, style=Style.FIRST_LETTER, errors=lambda s: list(s))  # type: ignore[arg-type,return-value]
    )
    return _NOT_WORD.sub("", full), _NOT_WORD.sub("", initials)


def phone_digits(phone: str) -> str:
    """Digits in domestic form: "+86 138-0013-8000" → "13800138000", "+86 10 5268 6688" →
    "01052686688" (the country code dropped, the trunk 0 of a landline restored)."""
    text = unicodedata.normalize("NFKC", phone or "").strip()
    digits = re.sub(r"\D", "", text)
    international = text.startswith(("+86", "0086")) or (
        text.startswith("86") and len(digits) in (12, 13) and not digits.startswith("860")
    )
    if international:
        rest = digits[4:] if digits.startswith("0086") else digits[2:]
        if len(rest) == 11 and rest.startswith("1"):
            return rest
        if 9 <= len(rest) <= 11 and not rest.startswith("0"):
            return "0" + rest
        return rest
    return digits


def normalize_email(email: str) -> str:
    return unicodedata.normalize("NFKC", email or "").strip().lower()


def mask_phone(phone: str) -> str:
    """138****8000 style: keep the first three and last four digits."""
    digits = phone_digits(phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def mask_email(email: str) -> str:
    local, _sep, domain = (email or "").partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"
