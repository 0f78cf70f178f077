"""Quote and contract documents (R6.1, R6.2): the amount in Chinese capital numerals (大写金额),
what a printable page and a Word document show, the Word documents themselves (docxtpl), and the
organisation's own Word templates.

- A Word document is filled in from the organisation's active uploaded template of its kind
  (``quote`` or ``contract``) or, without one, from the built-in template in
  ``crm/sales/doc_templates/`` (written with python-docx by :func:`write_builtin_template` at
  first use when missing; the checked-in files are what it writes).
- Templates are Jinja templates inside Word (docxtpl): ``{{ customer_name }}``, ``{{ total }}``,
  table rows repeated with ``{%tr for line in lines %}`` … ``{%tr endfor %}``. The variables are
  listed by :data:`TEMPLATE_VARIABLES`. They are filled in a sandbox (no attribute tricks, no
  access to Python objects: every value is a plain string, number, list or dict) with every value
  escaped, so neither a customer's name nor an uploaded template can break out of the document.
- An uploaded template must be a real ``.docx`` (a zip archive with ``word/document.xml``, no
  macros, no zip bomb), at most :data:`MAX_TEMPLATE_BYTES`, and must fill in without error with a
  sample record before it is saved; the newest upload of a kind becomes the active one.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.core import audit
from crm.core.errors import PermissionDenied, ValidationFailed
from crm.core.money import format_cny, money
from crm.org.models import User

from .choices import DiscountKind
from .models import Contract, DocumentTemplate, Quote, QuoteLine
from .product_services import may_configure

BUILTIN_DIR = Path(__file__).resolve().parent / "doc_templates"
DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
#: the kinds of documents, with their names
DOCUMENT_KINDS: dict[str, Any] = {
    "quote": gettext_lazy("Quote"),
    "contract": gettext_lazy("Contract"),
}
MAX_TEMPLATE_BYTES = 5 * 1024 * 1024
#: an uploaded template may unpack to at most this much (zip bombs are refused)
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_ENTRIES = 2000

# --- 大写金额 ------------------------------------------------------------------------------------
_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_UNITS = ("", "拾", "佰", "仟")
_GROUPS = ("", "万", "亿", "万亿")


def _four_digits(n: int) -> str:
    """1–9999 in capitals, zeros inside read once (1010 → 壹仟零壹拾); no leading 零."""
    out = ""
    pending_zero = False
    for position in (3, 2, 1, 0):
        digit = n // 10**position % 10
        if digit == 0:
            pending_zero = pending_zero or bool(out)
            continue
        if pending_zero:
            out += "零"
            pending_zero = False
        out += _DIGITS[digit] + _UNITS[position]
    return out


def _integer_words(n: int) -> str:
    groups = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    if len(groups) > len(_GROUPS):
        raise ValueError("amount too large")
    out = ""
    pending_zero = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            pending_zero = pending_zero or bool(out)
            continue
        if out and (pending_zero or group < 1000):
            out += "零"
        pending_zero = False
        out += _four_digits(group) + _GROUPS[index]
    return out


def amount_in_words(amount: Any) -> str:
    """An amount in Chinese capital numerals as cheques and contracts write it (大写金额):
    ``Decimal("123456.78")`` → 壹拾贰万叁仟肆佰伍拾陆元柒角捌分; 0 → 零元整; 100 → 壹佰元整;
    1,000,005.30 → 壹佰万零伍元叁角; 10.05 → 壹拾元零伍分; 0.50 → 伍角. The amount is first
    rounded half-up to the fen (:func:`crm.core.money.money`); a negative one starts with 负."""
    value = money(amount)
    sign = "负" if value < 0 else ""
    value = abs(value)
    fen_total = int(value * 100)
    yuan, cents = divmod(fen_total, 100)
    jiao, fen = divmod(cents, 10)
    if yuan == 0 and cents == 0:
        return "零元整"
    out = _integer_words(yuan) + "元" if yuan else ""
    if cents == 0:
        return sign + out + "整"
    if jiao:
        out += _DIGITS[jiao] + "角"
    elif yuan:
        out += "零"
    if fen:
        out += _DIGITS[fen] + "分"
    return sign + out


# --- what the documents show ---------------------------------------------------------------------
def _day(value: date | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


def _number(value: Decimal) -> str:
    """A quantity or rate without trailing zeros (2.00 → 2, 1.50 → 1.5)."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _discount_text(line: QuoteLine) -> str:
    if not line.discount_value:
        return ""
    if line.discount_kind == DiscountKind.PERCENT:
        return f"{_number(line.discount_value)}%"
    return format_cny(line.discount_value)


def line_rows(lines: list[QuoteLine]) -> list[dict[str, Any]]:
    """The lines as the documents print them (plain strings)."""
    return [
        {
            "no": index,
            "product_code": line.product.code if line.product_id and line.product else "",
            "description": line.description,
            "unit": line.unit,
            "quantity": _number(line.quantity),
            "unit_price": format_cny(line.unit_price),
            "discount": _discount_text(line),
            "tax_rate": f"{_number(line.tax_rate)}%",
            "subtotal": format_cny(line.subtotal),
            "discount_amount": format_cny(line.discount),
            "tax": format_cny(line.tax),
            "total": format_cny(line.total),
        }
        for index, line in enumerate(lines, start=1)
    ]


def _quote_lines(quote: Quote | None) -> list[QuoteLine]:
    if quote is None:
        return []
    return list(
        QuoteLine.objects.filter(quote=quote).select_related("product").order_by("sort_order", "pk")
    )


def quote_context(quote: Quote) -> dict[str, Any]:
    """Everything a quote document shows, as plain values (the caller checked the user may see
    the quote; ``quote`` comes with its customer, contact, owner and organisation)."""
    lines = _quote_lines(quote)
    return {
        "kind": "quote",
        "org_name": quote.org.name,
        "title": quote.title,
        "number": quote.number,
        "revision": quote.revision,
        "status": str(quote.get_status_display()),
        "date": _day(timezone.localdate()),
        "created": _day(timezone.localtime(quote.created_at).date()),
        "valid_until": _day(quote.valid_until),
        "customer_name": quote.customer.name,
        "customer_address": quote.customer.address,
        "contact_name": quote.contact.name if quote.contact_id and quote.contact else "",
        "contact_phone": (
            (quote.contact.mobile or quote.contact.office_phone)
            if quote.contact_id and quote.contact
            else ""
        ),
        "owner_name": quote.owner.display_name,
        "owner_phone": getattr(quote.owner, "mobile", "") or "",
        "owner_email": quote.owner.email or "",
        "currency": quote.currency,
        "lines": line_rows(lines),
        "subtotal": format_cny(quote.subtotal),
        "discount_total": format_cny(quote.discount_total),
        "tax_total": format_cny(quote.tax_total),
        "total": format_cny(quote.total),
        "total_in_words": amount_in_words(quote.total),
        "terms": quote.terms,
        "notes": quote.notes,
    }


def contract_context(contract: Contract) -> dict[str, Any]:
    """Everything a contract document shows: the parties (甲方 the customer, 乙方 the
    organisation), the amount in figures and in words, the dates, the payment terms and, when
    the contract comes from a quote, the quote's lines."""
    quote = contract.quote if contract.quote_id else None
    lines = _quote_lines(quote)
    return {
        "kind": "contract",
        "org_name": contract.org.name,
        "name": contract.name,
        "number": contract.number,
        "status": str(contract.get_status_display()),
        "date": _day(timezone.localdate()),
        "customer_name": contract.customer.name,
        "customer_address": contract.customer.address,
        "customer_signer": contract.customer_signer,
        "signer_name": contract.signer.display_name
        if contract.signer_id and contract.signer
        else "",
        "owner_name": contract.owner.display_name,
        "amount": format_cny(contract.amount),
        "amount_in_words": amount_in_words(contract.amount),
        "currency": contract.currency,
        "signed_on": _day(contract.signed_on),
        "starts_on": _day(contract.starts_on),
        "ends_on": _day(contract.ends_on),
        "renewal_on": _day(contract.renewal_on),
        "payment_terms": contract.payment_terms,
        "notes": contract.notes,
        "quote_number": f"{quote.number} v{quote.revision}" if quote is not None else "",
        "lines": line_rows(lines),
        "subtotal": format_cny(quote.subtotal) if quote is not None else "",
        "discount_total": format_cny(quote.discount_total) if quote is not None else "",
        "tax_total": format_cny(quote.tax_total) if quote is not None else "",
        "total": format_cny(quote.total) if quote is not None else "",
    }


#: the variables templates may use, per kind (shown on the templates page)
TEMPLATE_VARIABLES: dict[str, list[str]] = {
    "quote": [
        "org_name",
        "title",
        "number",
        "revision",
        "date",
        "valid_until",
        "customer_name",
        "customer_address",
        "contact_name",
        "contact_phone",
        "owner_name",
        "owner_phone",
        "owner_email",
        "lines",
        "subtotal",
        "discount_total",
        "tax_total",
        "total",
        "total_in_words",
        "terms",
        "notes",
    ],
    "contract": [
        "org_name",
        "name",
        "number",
        "date",
        "customer_name",
        "customer_address",
        "customer_signer",
        "signer_name",
        "owner_name",
        "amount",
        "amount_in_words",
        "signed_on",
        "starts_on",
        "ends_on",
        "renewal_on",
        "payment_terms",
        "notes",
        "quote_number",
        "lines",
        "total",
    ],
}
LINE_VARIABLES = [
    "no",
    "product_code",
    "description",
    "unit",
    "quantity",
    "unit_price",
    "discount",
    "tax_rate",
    "subtotal",
    "tax",
    "total",
]


def sample_context(kind: str, org_name: str = "示例科技有限公司") -> dict[str, Any]:
    """A made-up record to check an uploaded template with."""
    line = {
        "no": 1,
        "product_code": "P-001",
        "description": "示例产品 <&>",
        "unit": "套",
        "quantity": "2",
        "unit_price": "¥1,000.00",
        "discount": "10%",
        "tax_rate": "13%",
        "subtotal": "¥2,000.00",
        "discount_amount": "¥200.00",
        "tax": "¥234.00",
        "total": "¥2,034.00",
    }
    common = {
        "kind": kind,
        "org_name": org_name,
        "number": "BJ-2026-00001" if kind == "quote" else "HT-2026-00001",
        "date": "2026-01-01",
        "customer_name": "示例客户有限公司",
        "customer_address": "上海市",
        "owner_name": "张三",
        "currency": "CNY",
        "lines": [line, {**line, "no": 2}],
        "subtotal": "¥4,000.00",
        "discount_total": "¥400.00",
        "tax_total": "¥468.00",
        "total": "¥4,068.00",
        "notes": "备注\n第二行",
        "status": "",
    }
    if kind == "quote":
        return {
            **common,
            "title": "示例报价",
            "revision": 1,
            "created": "2026-01-01",
            "valid_until": "2026-01-31",
            "contact_name": "李四",
            "contact_phone": "13800000000",
            "owner_phone": "13900000000",
            "owner_email": "sales@example.com",
            "total_in_words": amount_in_words(Decimal("4068")),
            "terms": "付款方式：预付 30%\n交付：合同签订后 30 日内",
        }
    return {
        **common,
        "name": "示例合同",
        "customer_signer": "李四",
        "signer_name": "张三",
        "amount": "¥4,068.00",
        "amount_in_words": amount_in_words(Decimal("4068")),
        "signed_on": "2026-01-01",
        "starts_on": "2026-01-01",
        "ends_on": "2026-12-31",
        "renewal_on": "2026-12-01",
        "payment_terms": "签订后 10 日内支付 30%，验收后支付 70%",
        "quote_number": "BJ-2026-00001 v1",
    }


# --- the built-in Word templates -----------------------------------------------------------------
def builtin_path(kind: str) -> Path:
    return BUILTIN_DIR / f"{kind}.docx"


def write_builtin_template(kind: str, path: Path | None = None) -> Path:
    """Write the built-in Word template of ``kind`` with python-docx (Chinese labels, A4,
    the organisation's name as the header, the lines table, totals and a signature block)."""
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    path = path or builtin_path(kind)
    document = Document()
    section = document.sections[0]
    section.page_height, section.page_width = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin"):
        setattr(section, side, Cm(2.0))
    style = document.styles["Normal"]
    style.font.name = "SimSun"
    style.font.size = Pt(10.5)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), "宋体")
    header = section.header.paragraphs[0]
    header.text = "{{ org_name }}"
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER

    def heading(text: str) -> None:
        paragraph = document.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = paragraph.add_run(text)
        run.bold = True
        run.font.size = Pt(18)

    def line(text: str, bold: bool = False) -> None:
        run = document.add_paragraph().add_run(text)
        run.bold = bold

    def lines_table(columns: list[tuple[str, str]]) -> None:
        table = document.add_table(rows=4, cols=len(columns))
        table.style = "Table Grid"
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        for cell, (label, _key) in zip(table.rows[0].cells, columns, strict=True):
            cell.text = label
            for run in cell.paragraphs[0].runs:
                run.bold = True
        table.rows[1].cells[0].text = "{%tr for line in lines %}"
        for cell, (_label, key) in zip(table.rows[2].cells, columns, strict=True):
            cell.text = "{{ line.%s }}" % key  # noqa: UP031 - Jinja braces in the text
        table.rows[3].cells[0].text = "{%tr endfor %}"

    if kind == "quote":
        heading("报 价 单")
        line("报价单号：{{ number }}（第 {{ revision }} 版）    日期：{{ date }}")
        line("客户：{{ customer_name }}")
        line("联系人：{{ contact_name }}    电话：{{ contact_phone }}")
        line("报价方：{{ org_name }}    联系人：{{ owner_name }} {{ owner_phone }}")
        line("报价名称：{{ title }}")
        line("以下价格为不含税单价，税额按各行税率另计。")
        lines_table(
            [
                ("序号", "no"),
                ("产品/服务", "description"),
                ("单位", "unit"),
                ("数量", "quantity"),
                ("单价（不含税）", "unit_price"),
                ("折扣", "discount"),
                ("税率", "tax_rate"),
                ("金额（含税）", "total"),
            ]
        )
        document.add_paragraph()
        line("小计：{{ subtotal }}    折扣：{{ discount_total }}    税额：{{ tax_total }}")
        line("合计（含税）：{{ total }}    大写：{{ total_in_words }}", bold=True)
        line("报价有效期至：{{ valid_until }}")
        line("条款：", bold=True)
        line("{{ terms }}")
        line("备注：{{ notes }}")
        document.add_paragraph()
        line("报价方（盖章）：{{ org_name }}            客户确认（盖章）：")
        line("经办人：{{ owner_name }}                      签字：")
        line("日期：{{ date }}                              日期：")
    else:
        heading("{{ name }}")
        line("合同编号：{{ number }}    签订日期：{{ signed_on }}")
        line("甲方（买方）：{{ customer_name }}")
        line("地址：{{ customer_address }}")
        line("乙方（卖方）：{{ org_name }}")
        line("合同金额：{{ amount }}（大写：{{ amount_in_words }}）", bold=True)
        line("合同期限：{{ starts_on }} 至 {{ ends_on }}    续约日期：{{ renewal_on }}")
        line("{% if lines %}产品明细（依据报价单 {{ quote_number }}）：{% endif %}")
        lines_table(
            [
                ("序号", "no"),
                ("产品/服务", "description"),
                ("单位", "unit"),
                ("数量", "quantity"),
                ("单价（不含税）", "unit_price"),
                ("税率", "tax_rate"),
                ("金额（含税）", "total"),
            ]
        )
        line("付款条款：", bold=True)
        line("{{ payment_terms }}")
        line("其他约定：{{ notes }}")
        document.add_paragraph()
        line("甲方（盖章）：{{ customer_name }}        乙方（盖章）：{{ org_name }}")
        line("代表签字：{{ customer_signer }}                代表签字：{{ signer_name }}")
        line("日期：                                    日期：")
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path


def builtin_bytes(kind: str) -> bytes:
    path = builtin_path(kind)
    if not path.exists():
        write_builtin_template(kind, path)
    return path.read_bytes()


def active_template(org_id: int, kind: str) -> DocumentTemplate | None:
    """The organisation's template of ``kind`` in use (the newest active upload)."""
    return (
        DocumentTemplate.objects.filter(org_id=org_id, kind=kind, is_active=True)
        .order_by("-created_at", "-pk")
        .first()
    )


# --- filling templates in ------------------------------------------------------------------------
def _environment() -> Any:
    """A Jinja sandbox that escapes every value and refuses (rather than silently empties) any
    attempt to reach an unsafe attribute, so such a template is refused on upload."""
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Sandbox(ImmutableSandboxedEnvironment):
        def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
            raise SecurityError(_("The template may not use “%(name)s”.") % {"name": attribute})

    return Sandbox(autoescape=True)


def render_docx(template_bytes: bytes, context: dict[str, Any]) -> bytes:
    """Fill ``template_bytes`` (a docxtpl template) in with ``context`` in the sandbox; raise
    ValidationFailed (with the template's error) when it cannot be filled in."""
    from docxtpl import DocxTemplate
    from jinja2 import TemplateError

    try:
        template = DocxTemplate(io.BytesIO(template_bytes))
        template.render(context, jinja_env=_environment(), autoescape=True)
        out = io.BytesIO()
        template.save(out)
    except TemplateError as exc:
        message = _("The Word template has an error: %(error)s") % {"error": str(exc)[:300]}
        raise ValidationFailed(message, field_errors={"file": [message]}) from None
    except Exception:
        message = _("The Word template could not be filled in. Check that it is a valid .docx.")
        raise ValidationFailed(message, field_errors={"file": [message]}) from None
    return out.getvalue()


def document_bytes(org_id: int, kind: str, context: dict[str, Any]) -> bytes:
    """The Word document of a record: the organisation's template, else the built-in one."""
    uploaded = active_template(org_id, kind)
    if uploaded is not None:
        with uploaded.file.open("rb") as handle:
            source = handle.read()
    else:
        source = builtin_bytes(kind)
    return render_docx(source, context)


def quote_docx(quote: Quote) -> bytes:
    return document_bytes(quote.org_id, "quote", quote_context(quote))


def contract_docx(contract: Contract) -> bytes:
    return document_bytes(contract.org_id, "contract", contract_context(contract))


def download_name(number: str, suffix: str = "") -> str:
    """A file name for a download (ASCII letters, digits and dashes of the number)."""
    safe = "".join(ch for ch in number if ch.isascii() and (ch.isalnum() or ch in "-_"))
    return f"{safe or 'document'}{suffix}.docx"


# --- uploaded templates --------------------------------------------------------------------------
def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, field_errors={"file": [message]})


def check_template_file(uploaded: Any) -> bytes:
    """The bytes of an acceptable uploaded template; ValidationFailed with a clear message for
    anything else (too big, not a .docx, macros, a zip bomb)."""
    size = getattr(uploaded, "size", None)
    if size is None or size > MAX_TEMPLATE_BYTES:
        raise _refuse(
            _("The file is %(size)s; a template may be at most %(limit)s.")
            % {"size": filesizeformat(size or 0), "limit": filesizeformat(MAX_TEMPLATE_BYTES)}
        )
    if size == 0:
        raise _refuse(_("The file is empty."))
    name = str(getattr(uploaded, "name", "") or "")
    if not name.lower().endswith(".docx"):
        raise _refuse(_("Upload a Word document (.docx)."))
    uploaded.seek(0)
    content = uploaded.read(MAX_TEMPLATE_BYTES + 1)
    if len(content) > MAX_TEMPLATE_BYTES:
        raise _refuse(
            _("A template may be at most %(limit)s.")
            % {"limit": filesizeformat(MAX_TEMPLATE_BYTES)}
        )
    not_docx = _("This is not a Word document (.docx).")
    if not content.startswith(b"PK\x03\x04"):
        raise _refuse(not_docx)
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _refuse(not_docx) from None
    names = {entry.filename for entry in entries}
    if "word/document.xml" not in names or "[Content_Types].xml" not in names:
        raise _refuse(not_docx)
    if len(entries) > MAX_ENTRIES or sum(e.file_size for e in entries) > MAX_UNPACKED_BYTES:
        raise _refuse(_("The document unpacks to too much data and was refused."))
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise _refuse(_("The document contains macros and was refused."))
    return content


@transaction.atomic
def upload_template(
    *, actor: User, kind: str, name: str, uploaded: Any, org_name: str = ""
) -> DocumentTemplate:
    """Check an uploaded Word template (file, then a test fill-in with a sample record) and make
    it the organisation's template of ``kind`` (earlier ones of the kind are kept, inactive)."""
    if not actor.org_id or not may_configure(actor):
        raise PermissionDenied()
    if kind not in DOCUMENT_KINDS:
        raise ValidationFailed(field_errors={"kind": [_("Choose quote or contract.")]})
    name = str(name or "").strip()
    if len(name) > 100:
        raise ValidationFailed(field_errors={"name": [_("At most %(n)s characters.") % {"n": 100}]})
    content = check_template_file(uploaded)
    render_docx(content, sample_context(kind, org_name or "示例科技有限公司"))
    if not name:
        base = str(getattr(uploaded, "name", "") or "").replace("\\", "/").rsplit("/", 1)[-1]
        name = base.removesuffix(".docx").removesuffix(".DOCX")[:100] or str(DOCUMENT_KINDS[kind])
    DocumentTemplate.objects.filter(org_id=actor.org_id, kind=kind, is_active=True).update(
        is_active=False
    )
    template = DocumentTemplate(org_id=actor.org_id, kind=kind, name=name, is_active=True)
    template.file.save(f"{kind}.docx", ContentFile(content), save=False)
    template.save()
    audit.record(
        actor=actor,
        obj=template,
        verb="documenttemplate.uploaded",
        changes={"name": [None, name], "kind": [None, kind]},
    )
    return template


@transaction.atomic
def delete_template(*, actor: User, template: DocumentTemplate) -> None:
    """Remove an uploaded template (its file too, once the transaction commits). Without an
    active upload of its kind, documents use the built-in template again."""
    if not may_configure(actor) or template.org_id != actor.org_id:
        raise PermissionDenied()
    audit.record(actor=actor, obj=template, verb="documenttemplate.deleted")
    stored = template.file.name
    storage = template.file.storage
    template.delete()
    if stored:
        transaction.on_commit(lambda: storage.delete(stored))
