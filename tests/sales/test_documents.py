"""Quote and contract documents (R6.1, R6.2): the amount in Chinese capitals (大写金额), the
printable pages, the Word documents from the built-in template or the organisation's uploaded
one (checked before it is saved: junk, oversize, macros, template errors and sandbox escapes
are refused with a clear message); every download re-checks that the user may see the record."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.core.errors import ValidationFailed
from crm.core.models import Event
from crm.core.testing.world import World
from crm.sales import contract_services, documents, quote_services
from crm.sales.documents import amount_in_words
from crm.sales.models import Contract, DocumentTemplate

from .quote_helpers import grant_sales, line, make_quote, u

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("0", "零元整"),
        ("0.00", "零元整"),
        ("100", "壹佰元整"),
        ("1000005.30", "壹佰万零伍元叁角"),
        ("123456.78", "壹拾贰万叁仟肆佰伍拾陆元柒角捌分"),
        ("10.05", "壹拾元零伍分"),
        ("0.05", "伍分"),
        ("0.50", "伍角"),
        ("1010", "壹仟零壹拾元整"),
        ("100010000", "壹亿零壹万元整"),
        ("100000001", "壹亿零壹元整"),
        ("20.10", "贰拾元壹角"),
        ("1000000000000", "壹万亿元整"),
        ("99999999999999.99", "玖拾玖万亿玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
        ("-3.2", "负叁元贰角"),
        ("0.005", "壹分"),
    ],
)
def test_amount_in_words(amount: str, words: str) -> None:
    # R6.2: 大写金额 as contracts and cheques write it (half-up to the fen first)
    assert amount_in_words(Decimal(amount)) == words


def _docx_text(content: bytes) -> str:
    from docx import Document

    doc = Document(io.BytesIO(content))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    for section in doc.sections:
        parts.extend(p.text for p in section.header.paragraphs)
    return "\n".join(parts)


@pytest.fixture
def sales_world(world: World) -> World:
    return grant_sales(world)


def test_quote_docx_and_print_show_the_customer_and_the_amount(
    sales_world: World, client_for: Any
) -> None:
    # R6.1: the Word document and the printable page of a quote
    quote = make_quote(
        sales_world,
        lines=[line(description="服务器 <A&B>", quantity="2", unit_price="1000")],
    )
    client = client_for(u(sales_world, "rep_east"))
    r = client.get(reverse("sales:quote_docx", args=[quote.pk]))
    assert r.status_code == 200
    assert r["Content-Type"] == documents.DOCX_CONTENT_TYPE
    assert "attachment" in r["Content-Disposition"] and quote.number in r["Content-Disposition"]
    text = _docx_text(r.content)
    assert quote.customer.name in text
    assert "¥2,260.00" in text and "贰仟贰佰陆拾元整" in text
    assert "服务器 <A&B>" in text  # escaped into the XML, read back as typed
    assert sales_world.org.name in text
    r = client.get(reverse("sales:quote_print", args=[quote.pk]))
    body = r.content.decode()
    assert r.status_code == 200
    assert quote.customer.name in body and "贰仟贰佰陆拾元整" in body and "¥2,260.00" in body
    assert "服务器 &lt;A&amp;B&gt;" in body


def _contract(world: World) -> Contract:
    rep = u(world, "rep_east")
    quote = make_quote(world, lines=[line(quantity="1", unit_price="123456.78", tax_rate="0")])
    quote, _ = quote_services.send_quote(actor=rep, quote=quote)
    quote = quote_services.accept_quote(actor=rep, quote=quote)
    return contract_services.create_contract(
        actor=rep, quote=quote, data={"name": "数据中心采购合同", "payment_terms": "预付三成"}
    )


def test_contract_docx_and_print(sales_world: World, client_for: Any) -> None:
    # R6.2: parties, amount in figures and in words, lines of its quote, terms
    contract = _contract(sales_world)
    client = client_for(u(sales_world, "rep_east"))
    r = client.get(reverse("sales:contract_print", args=[contract.pk]))
    body = r.content.decode()
    assert r.status_code == 200
    assert contract.customer.name in body and sales_world.org.name in body
    assert "壹拾贰万叁仟肆佰伍拾陆元柒角捌分" in body and "¥123,456.78" in body
    assert "预付三成" in body
    r = client.get(reverse("sales:contract_docx", args=[contract.pk]))
    text = _docx_text(r.content)
    assert contract.customer.name in text and "壹拾贰万叁仟肆佰伍拾陆元柒角捌分" in text


def test_downloads_are_404_out_of_scope_and_across_tenants(
    sales_world: World, other_world: World, client_for: Any
) -> None:
    # R1.3: every document route re-checks the record's scope
    contract = _contract(sales_world)
    quote = contract.quote
    assert quote is not None
    for user in (u(sales_world, "rep_east2"), other_world.admin):
        client = client_for(user)
        for name, pk in (
            ("sales:quote_print", quote.pk),
            ("sales:quote_docx", quote.pk),
            ("sales:contract_print", contract.pk),
            ("sales:contract_docx", contract.pk),
        ):
            assert client.get(reverse(name, args=[pk])).status_code == 404, (user, name)


# --- uploaded templates ---------------------------------------------------------------------------
def _docx_with(text: str) -> bytes:
    """A Word document whose body is ``text`` (a template)."""
    from docx import Document

    doc = Document()
    doc.add_paragraph(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _upload(world: World, content: bytes, name: str = "模板.docx") -> DocumentTemplate:
    return documents.upload_template(
        actor=world.admin,
        kind="quote",
        name="",
        uploaded=SimpleUploadedFile(name, content),
    )


def test_an_uploaded_template_is_used_for_the_quote(sales_world: World, client_for: Any) -> None:
    # R6.1: an admin's own template replaces the built-in one
    template = _upload(sales_world, _docx_with("自有模板 {{ customer_name }} 合计 {{ total }}"))
    assert (template.name, template.kind, template.is_active) == ("模板", "quote", True)
    quote = make_quote(sales_world)
    r = client_for(u(sales_world, "rep_east")).get(reverse("sales:quote_docx", args=[quote.pk]))
    text = _docx_text(r.content)
    assert f"自有模板 {quote.customer.name} 合计 ¥2,260.00" in text
    second = _upload(sales_world, _docx_with("第二版 {{ number }}"))
    template.refresh_from_db()
    assert template.is_active is False and second.is_active is True
    documents.delete_template(actor=sales_world.admin, template=second)
    r = client_for(u(sales_world, "rep_east")).get(reverse("sales:quote_docx", args=[quote.pk]))
    assert "报价单号" in _docx_text(r.content)  # back to the built-in template


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"this is not a word file", "junk.docx", "not a Word"),
        (b"", "empty.docx", "empty"),
        (b"PK\x03\x04 broken zip", "broken.docx", "not a Word"),
        (None, "notes.txt", ".docx"),
    ],
)
def test_junk_uploads_are_refused(
    sales_world: World, content: bytes | None, name: str, message: str
) -> None:
    # R6.1: only real .docx files, with a clear message
    with pytest.raises(ValidationFailed) as exc:
        _upload(sales_world, content if content is not None else _docx_with("x"), name)
    assert "file" in exc.value.field_errors
    assert not DocumentTemplate.objects.exists()


def test_oversize_zip_without_document_and_macros_are_refused(
    sales_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R6.1: size limit; a zip that is no Word document; macros
    monkeypatch.setattr(documents, "MAX_TEMPLATE_BYTES", 1000)
    with pytest.raises(ValidationFailed) as exc:
        _upload(sales_world, _docx_with("大"))
    assert "1000" in str(exc.value.field_errors["file"][0])
    monkeypatch.undo()
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ValidationFailed):
        _upload(sales_world, plain.getvalue())
    macro = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(_docx_with("x"))) as source,
        zipfile.ZipFile(macro, "w") as archive,
    ):
        for item in source.infolist():
            archive.writestr(item, source.read(item))
        archive.writestr("word/vbaProject.bin", b"macro")
    with pytest.raises(ValidationFailed) as exc:
        _upload(sales_world, macro.getvalue())
    assert "macros" in str(exc.value.message) or "宏" in str(exc.value.message)
    assert not DocumentTemplate.objects.exists()


@pytest.mark.parametrize(
    "text",
    [
        "{{ customer_name ",  # a syntax error
        "{% for x in %}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # a sandbox escape
        "{{ lines.__class__ }}",
    ],
)
def test_broken_or_unsafe_templates_are_refused(sales_world: World, text: str) -> None:
    # R6.1: the template is filled in with a sample before saving, in a sandbox
    with pytest.raises(ValidationFailed) as exc:
        _upload(sales_world, _docx_with(text))
    assert "file" in exc.value.field_errors
    assert not DocumentTemplate.objects.exists()


def test_template_pages(sales_world: World, other_world: World, client_for: Any) -> None:
    # R6.1: configurers upload and delete on the page; reps get 403; other tenants 404
    admin = client_for(sales_world.admin)
    r = admin.post(
        reverse("sales:template_list"),
        {"kind": "quote", "name": "公司模板", "file": SimpleUploadedFile("a.docx", b"junk")},
    )
    assert r.status_code == 200 and not DocumentTemplate.objects.exists()
    r = admin.post(
        reverse("sales:template_list"),
        {
            "kind": "contract",
            "name": "公司合同模板",
            "file": SimpleUploadedFile("a.docx", _docx_with("合同 {{ amount_in_words }}")),
        },
    )
    assert r.status_code == 302
    template = DocumentTemplate.objects.get(org=sales_world.org)
    assert "公司合同模板" in admin.get(reverse("sales:template_list")).content.decode()
    r = admin.get(reverse("sales:template_sample") + "?kind=contract")
    assert r.status_code == 200 and "甲方" in _docx_text(r.content)
    r = admin.get(reverse("sales:template_download", args=[template.pk]))
    assert "{{ amount_in_words }}" in _docx_text(r.content)
    rep = client_for(u(sales_world, "rep_east"))
    assert rep.get(reverse("sales:template_list")).status_code == 403
    assert rep.post(reverse("sales:template_delete", args=[template.pk])).status_code == 403
    other = client_for(other_world.admin)
    events = Event.objects.count()
    assert other.get(reverse("sales:template_download", args=[template.pk])).status_code == 404
    assert other.post(reverse("sales:template_delete", args=[template.pk])).status_code == 404
    assert DocumentTemplate.objects.filter(pk=template.pk).exists()
    assert Event.objects.count() == events
    r = admin.post(reverse("sales:template_delete", args=[template.pk]))
    assert r.status_code == 302 and not DocumentTemplate.objects.exists()


def test_the_built_in_templates_are_checked_in() -> None:
    # R6.1: the files documents fall back to exist and fill in without error
    for kind in documents.DOCUMENT_KINDS:
        path = documents.builtin_path(kind)
        assert path.exists()
        out = documents.render_docx(path.read_bytes(), documents.sample_context(kind))
        assert "示例客户有限公司" in _docx_text(out)
