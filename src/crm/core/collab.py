"""Comments with @mentions and file attachments on records (R4.9): customers, opportunities,
follow-ups, and later contracts.

A record kind joins with :func:`register_target` (``crm.core.collab_sections`` registers the
built-in ones once the apps are ready, so this module imports no domain app). The rules:

- whoever may *view* a record may read and add its comments; only the author edits a comment,
  the author or an organisation administrator deletes it;
- attachments are read (listed, downloaded) by whoever may view the record; adding one needs
  *edit* rights on the record; the uploader or someone with edit rights deletes it;
- ``@username`` or ``@显示名`` mentions active colleagues of the organisation; each mentioned
  colleague who may see the record is notified once, and the record's owner hears of comments
  by others;
- uploads are checked before anything is stored: size limit, allowed extension *and* matching
  content (images, PDF, Office, text, CSV, ZIP; never executables, HTML, SVG or scripts),
  archives without unpacking them (zip bombs), and a clean file name. Files are stored under a
  random name and served only as downloads.

Reads of comments and attachments go through the record: the caller has checked (through
:func:`get_target` or the record page) that the user sees it.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import FileResponse
from django.template.defaultfilters import filesizeformat
from django.urls import NoReverseMatch
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import audit, rights
from .errors import NotFound, PermissionDenied, ValidationFailed
from .models import Attachment, Comment
from .notifications import notify
from .scoping import get_scoped_or_404

# --- Targets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A kind of record that takes comments and attachments.

    ``key`` names it in URLs and the API ("customer"); ``model_label`` is "app.Model";
    ``url_fn(record)`` gives the record's page (links in notifications, redirects).
    """

    key: str
    model_label: str
    url_fn: Callable[[Any], str]

    @property
    def model(self) -> type[models.Model]:
        return apps.get_model(self.model_label)

    @property
    def type_label(self) -> str:
        """What ``Comment.target_type`` / ``Attachment.target_type`` store ("app.model")."""
        return self.model_label.lower()

    def url(self, record: Any) -> str:
        try:
            return self.url_fn(record) or ""
        except NoReverseMatch:
            return ""


TARGETS: dict[str, Target] = {}

VERBS = {
    "comment.added": gettext_lazy("Comment added"),
    "comment.edited": gettext_lazy("Comment edited"),
    "comment.deleted": gettext_lazy("Comment deleted"),
    "attachment.added": gettext_lazy("File attached"),
    "attachment.deleted": gettext_lazy("File removed"),
}


def register_target(key: str, model_label: str, url_fn: Callable[[Any], str]) -> None:
    """Let records of ``model_label`` take comments and attachments under the name ``key``."""
    TARGETS[key] = Target(key=key, model_label=model_label, url_fn=url_fn)


def target_spec(key: str) -> Target:
    """The registered kind ``key``; an unknown kind answers like a missing record."""
    spec = TARGETS.get(key)
    if spec is None:
        raise NotFound()
    return spec


def spec_of(record: models.Model) -> Target:
    """The registered kind of ``record`` (ValueError for a model that takes no comments)."""
    label = record._meta.label_lower
    for spec in TARGETS.values():
        if spec.type_label == label:
            return spec
    raise ValueError(f"{label} takes no comments or attachments")


def spec_of_type(type_label: str) -> Target:
    """The registered kind whose rows store ``type_label`` ("app.model"); else NotFound."""
    for spec in TARGETS.values():
        if spec.type_label == type_label:
            return spec
    raise NotFound()


def get_target(user: Any, key: str, pk: Any, action: str = "view") -> Any:
    """The record of kind ``key`` and id ``pk`` that ``user`` may ``action``; NotFound (404)
    when it does not exist, the kind is unknown, or the user may not see it."""
    return get_scoped_or_404(target_spec(key).model, user, pk, action)


def may(user: Any, record: models.Model, action: str) -> bool:
    """May ``user`` ``action`` ``record`` (data scope and function permission)? Answered from
    the record when its page read it with the user's rights (``crm.core.rights``)."""
    return rights.may(user, record, action)


def _require_visible(actor: Any, record: models.Model) -> None:
    if not may(actor, record, "view"):
        raise NotFound()


def _record_name(record: models.Model) -> str:
    name = str(record)
    if len(name) > 60:
        name = name[:59] + "…"
    return _("%(type)s “%(name)s”") % {"type": record._meta.verbose_name, "name": name}


# --- Comments --------------------------------------------------------------------------------

MAX_COMMENT_LENGTH = 5000
#: at most this many @ signs are looked at in one comment
MAX_MENTION_TOKENS = 50
_ASCII_WORD = re.compile(r"[A-Za-z0-9_.\-]")


def _word_char(ch: str) -> bool:
    return bool(_ASCII_WORD.fullmatch(ch))


def _continues_word(text: str, end: int) -> bool:
    """Does a Latin login name go on after ``end`` ("@bob2", "@bob.smith"; not "@bob.")?"""
    rest = text[end : end + 2]
    if not rest:
        return False
    if rest[0] in ".-":
        return len(rest) > 1 and _word_char(rest[1])
    return _word_char(rest[0])


def find_mentions(text: str, users: Iterable[Any]) -> list[tuple[int, int, Any]]:
    """Spans ``(start, end, user)`` of the @mentions of ``users`` in ``text``.

    After an ``@`` (not inside a word, so e-mail addresses do not count) the longest user name
    or display name that follows wins, so ``@张三丰`` is 张三丰 and not 张三, and a Chinese name
    may run straight into the sentence (``@张三请跟进``). A name that ends in a Latin letter or
    digit must end the word there (``@bob2`` is not ``@bob``). Two colleagues with the same
    display name are both mentioned; the autocomplete inserts the login name instead.
    """
    keys: dict[str, list[Any]] = {}
    for user in users:
        for key in {user.username, user.name}:
            if key and "@" not in key:
                keys.setdefault(key.lower(), []).append(user)
    ordered = sorted(keys, key=len, reverse=True)
    spans: list[tuple[int, int, Any]] = []
    seen = 0
    for match in re.finditer("@", text):
        start = match.start()
        if start > 0 and _word_char(text[start - 1]):
            continue
        seen += 1
        if seen > MAX_MENTION_TOKENS:
            break
        for key in ordered:
            end = start + 1 + len(key)
            if text[start + 1 : end].lower() != key:
                continue
            if _word_char(key[-1]) and _continues_word(text, end):
                continue
            spans.extend((start, end, user) for user in keys[key])
            break
    return spans


def parse_mentions(org_id: int, text: str) -> list[Any]:
    """Active colleagues of organisation ``org_id`` mentioned in ``text``, in order, once each.
    Other organisations' users and unknown names never match."""
    if "@" not in text:
        return []
    from django.contrib.auth import get_user_model

    colleagues = (
        get_user_model()
        ._default_manager.filter(org_id=org_id, is_active=True)
        .only("pk", "username", "name", "org_id", "language")
    )
    result: list[Any] = []
    for _start, _end, user in find_mentions(text, colleagues):
        if all(u.pk != user.pk for u in result):
            result.append(user)
    return result


def render_body(comment: Comment) -> SafeString:
    """The comment as HTML: escaped text, line breaks, mentions of its users highlighted."""
    text = comment.body
    spans = find_mentions(text, comment.mentions.all())
    out: list[str] = []
    pos = 0
    for start, end, _user in spans:
        if start < pos:
            continue  # a name shared by two mentioned users: highlight it once
        out.append(escape(text[pos:start]))
        out.append(f'<span class="mention text-primary fw-medium">{escape(text[start:end])}</span>')
        pos = end
    out.append(escape(text[pos:]))
    return mark_safe("".join(out).replace("\n", "<br>"))  # noqa: S308 - every piece escaped


def _clean_body(body: str) -> str:
    text = (body or "").replace("\r\n", "\n").strip()
    if not text:
        raise ValidationFailed(field_errors={"body": [_("Write a comment.")]})
    if len(text) > MAX_COMMENT_LENGTH:
        raise ValidationFailed(
            field_errors={
                "body": [
                    _("A comment may be at most %(n)d characters long.") % {"n": MAX_COMMENT_LENGTH}
                ]
            }
        )
    return text


def _excerpt(text: str, n: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


def _notify_comment(
    actor: Any,
    record: models.Model,
    comment: Comment,
    mentioned: list[Any],
    already: set[int],
    *,
    edited: bool = False,
) -> list[Any]:
    """Notify mentioned colleagues (not ``already`` notified, not the author) who may see the
    record, and, for a new comment, the record's owner when someone else wrote it. Returns the
    mentioned colleagues who may not see the record (and so were not told)."""
    spec = spec_of(record)
    url = spec.url(record)
    if url:
        url += "#section-comments"
    told: set[int] = {actor.pk, *already}
    unreachable: list[Any] = []
    for user in mentioned:
        if user.pk in told:
            continue
        told.add(user.pk)
        if not may(user, record, "view"):
            unreachable.append(user)
            continue
        with translation.override(user.language or settings.LANGUAGE_CODE):
            message = _("%(actor)s mentioned you in a comment on %(record)s: %(text)s") % {
                "actor": actor.display_name,
                "record": _record_name(record),
                "text": _excerpt(comment.body),
            }
        notify(
            recipient=user,
            actor=actor,
            verb="comment.mention",
            message=message,
            url=url,
            target=record,
        )
    owner = getattr(record, "owner", None) if getattr(record, "owner_id", None) else None
    if (
        not edited
        and owner is not None
        and owner.pk not in told
        and owner.is_active
        and may(owner, record, "view")
    ):
        with translation.override(owner.language or settings.LANGUAGE_CODE):
            message = _("%(actor)s commented on %(record)s: %(text)s") % {
                "actor": actor.display_name,
                "record": _record_name(record),
                "text": _excerpt(comment.body),
            }
        notify(
            recipient=owner,
            actor=actor,
            verb="comment.added",
            message=message,
            url=url,
            target=record,
        )
    return unreachable


@transaction.atomic
def add_comment(*, actor: Any, target: models.Model, body: str) -> Comment:
    """Comment on ``target`` (which the actor may see), mention colleagues, notify them and the
    record's owner. ``comment.unreachable`` lists mentioned colleagues who may not see the
    record: they are recorded as mentioned but not notified."""
    _require_visible(actor, target)
    spec = spec_of(target)
    text = _clean_body(body)
    comment = Comment.objects.create(
        org_id=actor.org_id,
        target_type=spec.type_label,
        target_id=str(target.pk),
        author=actor,
        body=text,
    )
    mentioned = parse_mentions(actor.org_id, text)
    if mentioned:
        comment.mentions.set(mentioned)
    audit.record(
        actor=actor,
        obj=target,
        verb="comment.added",
        data={
            "comment": comment.pk,
            "text": _excerpt(text, 200),
            "mentions": [u.pk for u in mentioned],
        },
    )
    comment.unreachable = _notify_comment(actor, target, comment, mentioned, set())  # type: ignore[attr-defined]
    return comment


def get_comment(user: Any, pk: Any) -> tuple[Comment, Any]:
    """A comment and its record, when ``user`` may see the record (else NotFound)."""
    org_id = getattr(user, "org_id", None)
    if org_id is None or not getattr(user, "is_authenticated", False):
        raise NotFound()
    try:
        comment = Comment.objects.for_org(org_id).select_related("author").get(pk=pk)
    except (Comment.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    spec = spec_of_type(comment.target_type)
    return comment, get_target(user, spec.key, comment.target_id, "view")


@transaction.atomic
def edit_comment(*, actor: Any, comment: Comment, body: str) -> Comment:
    """Change the text of one's own comment; colleagues newly mentioned are notified."""
    _comment, record = get_comment(actor, comment.pk)
    if comment.author_id != actor.pk:
        raise PermissionDenied(_("Only the author may edit a comment."))
    text = _clean_body(body)
    before = set(comment.mentions.values_list("pk", flat=True))
    old = comment.body
    comment.body = text
    comment.edited_at = timezone.now()
    comment.save(update_fields=["body", "edited_at", "updated_at"])
    mentioned = parse_mentions(actor.org_id, text)
    comment.mentions.set(mentioned)
    audit.record(
        actor=actor,
        obj=record,
        verb="comment.edited",
        data={"comment": comment.pk, "before": _excerpt(old, 200), "text": _excerpt(text, 200)},
    )
    comment.unreachable = _notify_comment(  # type: ignore[attr-defined]
        actor, record, comment, mentioned, before, edited=True
    )
    return comment


@transaction.atomic
def delete_comment(*, actor: Any, comment: Comment) -> None:
    """Delete a comment: its author, or an organisation administrator."""
    _comment, record = get_comment(actor, comment.pk)
    if comment.author_id != actor.pk and not actor.is_org_admin:
        raise PermissionDenied(_("Only the author or an administrator may delete a comment."))
    audit.record(
        actor=actor,
        obj=record,
        verb="comment.deleted",
        data={
            "comment": comment.pk,
            "author": comment.author_id,
            "text": _excerpt(comment.body, 200),
        },
    )
    comment.delete()


def comments_on(record: models.Model, limit: int = 200) -> list[Comment]:
    """The latest ``limit`` comments of ``record``, oldest first (the caller checked that the
    user sees the record)."""
    spec = spec_of(record)
    qs = (
        Comment.objects.for_org(record.org_id)  # type: ignore[attr-defined]
        .filter(target_type=spec.type_label, target_id=str(record.pk))
        .select_related("author")
        .prefetch_related("mentions")
        .order_by("-created_at", "-pk")
    )
    return list(reversed(qs[:limit]))


def comments_queryset(record: models.Model) -> QuerySet[Comment]:
    """Every comment of ``record``, oldest first (for the API's pages)."""
    spec = spec_of(record)
    return (
        Comment.objects.for_org(record.org_id)  # type: ignore[attr-defined]
        .filter(target_type=spec.type_label, target_id=str(record.pk))
        .select_related("author")
        .prefetch_related("mentions")
        .order_by("created_at", "pk")
    )


# --- Attachments -----------------------------------------------------------------------------

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
#: unpacked size and packing ratio above which an archive counts as a zip bomb
ZIP_MAX_UNPACKED = 200 * 1024 * 1024
ZIP_MAX_RATIO = 100
#: the ratio is not held against archives that unpack to less than this
ZIP_RATIO_FLOOR = 1024 * 1024
ZIP_MAX_ENTRIES = 10_000
MAX_NAME_LENGTH = 200
SNIFF_BYTES = 8192

#: extension -> content type served; only these can be allowed (CRM_ATTACHMENT_TYPES picks)
CONTENT_TYPES: dict[str, str] = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "txt": "text/plain",
    "csv": "text/csv",
    "zip": "application/zip",
}
_OFFICE_PARTS = {"docx": "word/", "xlsx": "xl/", "pptx": "ppt/"}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_EXECUTABLE_MAGIC = (
    b"MZ",  # Windows executables and DLLs
    b"\x7fELF",  # Linux
    b"\xfe\xed\xfa\xce",  # Mach-O
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # Mach-O universal, Java classes
    b"#!",  # scripts
)
_MARKUP = (b"<!doctype html", b"<html", b"<script", b"<svg", b"<?xml", b"<iframe", b"<body")
_WINDOWS_RESERVED = re.compile(r'[<>:"|?*]')


def max_bytes() -> int:
    return int(getattr(settings, "CRM_ATTACHMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def allowed_extensions() -> list[str]:
    """Extensions users may upload: CRM_ATTACHMENT_TYPES, limited to the checkable ones."""
    configured = getattr(settings, "CRM_ATTACHMENT_TYPES", None) or list(CONTENT_TYPES)
    wanted = {str(e).strip().lower().lstrip(".") for e in configured}
    return [e for e in CONTENT_TYPES if e in wanted]


def clean_filename(raw: str) -> str:
    """The name to show and download a file under: the last path component only, without
    control, format (bidi override) or reserved characters, trimmed to 200 characters."""
    name = unicodedata.normalize("NFC", str(raw or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        " " if unicodedata.category(ch) in ("Zl", "Zp") else ch
        for ch in name
        if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    name = _WINDOWS_RESERVED.sub("_", name)
    name = " ".join(name.split()).strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem.strip(" ."):
        raise ValidationFailed(field_errors={"file": [_type_message(name or "?")]})
    ext = ext[:10]
    return stem[: MAX_NAME_LENGTH - len(ext) - 1].rstrip(" .") + "." + ext


def extension_of(name: str) -> str:
    return name.rpartition(".")[2].lower()


def _type_message(name: str) -> str:
    return _("“%(name)s” is not an allowed file type. Allowed: %(types)s.") % {
        "name": name,
        "types": ", ".join(allowed_extensions()),
    }


def _refuse(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, field_errors={"file": [message]})


def _check_zip(file: Any, name: str, ext: str) -> None:
    """An archive is looked at without unpacking: its directory only."""
    bad = _("“%(name)s” is not a valid %(type)s file.") % {"name": name, "type": ext.upper()}
    try:
        file.seek(0)
        with zipfile.ZipFile(file) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _refuse(name, bad) from None
    bomb = _("“%(name)s” unpacks to too much data and was refused.") % {"name": name}
    if len(entries) > ZIP_MAX_ENTRIES:
        raise _refuse(name, bomb)
    unpacked = sum(max(e.file_size, 0) for e in entries)
    packed = sum(max(e.compress_size, 0) for e in entries)
    if unpacked > ZIP_MAX_UNPACKED or (
        unpacked > ZIP_RATIO_FLOOR and unpacked > ZIP_MAX_RATIO * max(packed, 1)
    ):
        raise _refuse(name, bomb)
    names = [e.filename for e in entries]
    if any(n.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", n) for n in names):
        raise _refuse(name, bad)
    if ext in _OFFICE_PARTS:
        part = _OFFICE_PARTS[ext]
        if "[Content_Types].xml" not in names or not any(n.startswith(part) for n in names):
            raise _refuse(name, bad)
        if any(n.lower().endswith("vbaproject.bin") for n in names):
            raise _refuse(name, _("“%(name)s” contains macros and was refused.") % {"name": name})


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            # the sample may end inside a character: let the decoder wait for the rest
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
            return True
        except UnicodeDecodeError:
            continue
    return False


def sniff(file: Any, name: str) -> str:
    """The content type of an upload whose content matches its extension; ValidationFailed
    for anything else (executables and markup whatever they are called)."""
    ext = extension_of(name)
    if ext not in allowed_extensions():
        raise _refuse(name, _type_message(name))
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    mismatch = _("The content of “%(name)s” does not match its type (%(type)s).") % {
        "name": name,
        "type": ext.upper(),
    }
    if head.startswith(_EXECUTABLE_MAGIC) and not (ext in ("txt", "csv") and head[:2] == b"MZ"):
        raise _refuse(name, mismatch)
    ok: bool
    if ext in ("jpg", "jpeg"):
        ok = head.startswith(b"\xff\xd8\xff")
    elif ext == "png":
        ok = head.startswith(b"\x89PNG\r\n\x1a\n")
    elif ext == "gif":
        ok = head.startswith((b"GIF87a", b"GIF89a"))
    elif ext == "webp":
        ok = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    elif ext == "pdf":
        ok = b"%PDF-" in head[:1024]
    elif ext in ("doc", "xls"):
        ok = head.startswith(_OLE)
    elif ext in ("docx", "xlsx", "pptx", "zip"):
        ok = head.startswith((b"PK\x03\x04", b"PK\x05\x06"))
        if ok:
            _check_zip(file, name, ext)
    else:  # txt, csv
        lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        ok = (
            _is_text(head)
            and not lowered.startswith(_MARKUP)
            and not lowered.startswith(b"#!")
            and b"<script" not in lowered
        )
    if not ok:
        raise _refuse(name, mismatch)
    file.seek(0)
    return CONTENT_TYPES[ext]


def check_upload(uploaded_file: Any) -> tuple[str, str]:
    """``(clean name, content type)`` of an acceptable upload; ValidationFailed otherwise.
    The size is checked first, before a byte is read."""
    raw_name = str(getattr(uploaded_file, "name", "") or "")
    size = getattr(uploaded_file, "size", None)
    limit = max_bytes()
    shown = clean_filename(raw_name) if raw_name else "?"
    if size is None or size > limit:
        message = _("“%(name)s” is %(size)s; files may be at most %(limit)s.") % {
            "name": shown,
            "size": filesizeformat(size or 0),
            "limit": filesizeformat(limit),
        }
        raise _refuse(shown, message)
    if size == 0:
        raise _refuse(shown, _("“%(name)s” is empty.") % {"name": shown})
    return shown, sniff(uploaded_file, shown)


def upload_attachment(
    *, actor: Any, target: models.Model, uploaded_file: Any, description: str = ""
) -> Attachment:
    """Attach a file to ``target``: the actor must have edit rights on it. Checked (size,
    type, content, archives) before it is stored under a random name."""
    _require_visible(actor, target)
    if not may(actor, target, "edit"):
        raise PermissionDenied(_("You may read this record but not add files to it."))
    name, content_type = check_upload(uploaded_file)
    spec = spec_of(target)
    attachment = Attachment(
        org_id=actor.org_id,
        target_type=spec.type_label,
        target_id=str(target.pk),
        uploaded_by=actor,
        name=name,
        size=uploaded_file.size,
        content_type=content_type,
        description=" ".join((description or "").split())[:300],
    )
    uploaded_file.seek(0)
    attachment.file.save(name, uploaded_file, save=False)
    try:
        with transaction.atomic():
            attachment.save()
            audit.record(
                actor=actor,
                obj=target,
                verb="attachment.added",
                data={"attachment": attachment.pk, "name": name, "size": attachment.size},
            )
    except BaseException:
        attachment.file.delete(save=False)
        raise
    return attachment


def get_attachment(user: Any, pk: Any) -> tuple[Attachment, Any]:
    """An attachment and its record, when ``user`` may see the record (else NotFound)."""
    org_id = getattr(user, "org_id", None)
    if org_id is None or not getattr(user, "is_authenticated", False):
        raise NotFound()
    try:
        attachment = Attachment.objects.for_org(org_id).select_related("uploaded_by").get(pk=pk)
    except (Attachment.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    spec = spec_of_type(attachment.target_type)
    return attachment, get_target(user, spec.key, attachment.target_id, "view")


def may_delete_attachment(user: Any, attachment: Attachment, record: models.Model) -> bool:
    return attachment.uploaded_by_id == user.pk or may(user, record, "edit")


@transaction.atomic
def delete_attachment(*, actor: Any, attachment: Attachment) -> None:
    """Remove a file: its uploader, or someone with edit rights on the record."""
    _attachment, record = get_attachment(actor, attachment.pk)
    if not may_delete_attachment(actor, attachment, record):
        raise PermissionDenied(
            _("Only the uploader or someone who may edit the record may remove this file.")
        )
    audit.record(
        actor=actor,
        obj=record,
        verb="attachment.deleted",
        data={"attachment": attachment.pk, "name": attachment.name, "size": attachment.size},
    )
    stored = attachment.file.name or ""
    storage = attachment.file.storage
    attachment.delete()
    if stored:
        transaction.on_commit(lambda: storage.delete(stored))


def attachments_on(record: models.Model) -> QuerySet[Attachment]:
    """The files of ``record``, newest first (the caller checked that the user sees it)."""
    spec = spec_of(record)
    return (
        Attachment.objects.for_org(record.org_id)  # type: ignore[attr-defined]
        .filter(target_type=spec.type_label, target_id=str(record.pk))
        .select_related("uploaded_by")
        .order_by("-created_at", "-pk")
    )


def file_response(attachment: Attachment) -> FileResponse:
    """The file as a download under its original name (RFC 5987 for non-ASCII names), never
    shown inline, never sniffed, sandboxed if a browser opens it anyway."""
    if not attachment.file.name:
        raise NotFound()
    try:
        handle = attachment.file.storage.open(attachment.file.name, "rb")
    except (FileNotFoundError, OSError, ValueError):
        raise NotFound() from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.name,
        content_type=attachment.content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
