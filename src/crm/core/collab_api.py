"""/api/v1/collab/: comments and attachments of records (R4.9).

A record is named by ``?target=customer|opportunity|followup&id=<id>``; comments and files of a
record the caller may not see answer 404, like a missing one. Whoever may view a record may read
and add its comments; adding files needs edit rights on the record (else 403). Only the author
edits a comment; the author or an organisation administrator deletes one; the uploader or
someone with edit rights removes a file. Downloads are always attachments (never inline).
"""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from . import collab
from .api import Paginated
from .schemas import ActorBrief

router = Router()


class TargetQuery(Schema):
    target: str = Field(..., description="The kind of record: customer, opportunity or followup")
    id: int = Field(..., description="The record's id")


class CommentRead(Schema):
    id: int
    target: str
    target_id: int
    author: ActorBrief | None
    body: str
    mentions: list[ActorBrief]
    created_at: datetime
    edited_at: datetime | None

    @staticmethod
    def resolve_target(obj: Any) -> str:
        return collab.spec_of_type(obj.target_type).key

    @staticmethod
    def resolve_target_id(obj: Any) -> int:
        return int(obj.target_id)

    @staticmethod
    def resolve_mentions(obj: Any) -> list[Any]:
        return list(obj.mentions.all())


class CommentWrite(Schema):
    body: str = Field(
        ...,
        description="The text (at most 5000 characters); @username or @name mentions a colleague",
    )


class AttachmentRead(Schema):
    id: int
    target: str
    target_id: int
    name: str
    size: int
    content_type: str
    description: str
    uploaded_by: ActorBrief | None
    created_at: datetime
    download_url: str

    @staticmethod
    def resolve_target(obj: Any) -> str:
        return collab.spec_of_type(obj.target_type).key

    @staticmethod
    def resolve_target_id(obj: Any) -> int:
        return int(obj.target_id)

    @staticmethod
    def resolve_download_url(obj: Any) -> str:
        return f"/api/v1/collab/attachments/{obj.pk}/download"


def _record(request: HttpRequest, where: TargetQuery) -> Any:
    return collab.get_target(request.user, where.target, where.id)


# --- Comments ----------------------------------------------------------------------------------
@router.get("/comments", response=list[CommentRead], summary="Comments of a record, oldest first")
@paginate(Paginated)
def list_comments(request: HttpRequest, where: Query[TargetQuery]) -> Any:
    return collab.comments_queryset(_record(request, where))


@router.post(
    "/comments",
    response={201: CommentRead},
    summary="Comment on a record (mentioned colleagues who may see it are notified)",
)
def add_comment(request: HttpRequest, where: Query[TargetQuery], payload: CommentWrite) -> Any:
    record = _record(request, where)
    return Status(201, collab.add_comment(actor=request.user, target=record, body=payload.body))


@router.patch("/comments/{comment_id}", response=CommentRead, summary="Edit one's own comment")
def edit_comment(request: HttpRequest, comment_id: int, payload: CommentWrite) -> Any:
    comment, _record = collab.get_comment(request.user, comment_id)
    return collab.edit_comment(actor=request.user, comment=comment, body=payload.body)


@router.delete(
    "/comments/{comment_id}",
    response={204: None},
    summary="Delete a comment (its author or an administrator)",
)
def delete_comment(request: HttpRequest, comment_id: int) -> Any:
    comment, _record = collab.get_comment(request.user, comment_id)
    collab.delete_comment(actor=request.user, comment=comment)
    return Status(204, None)


# --- Attachments -------------------------------------------------------------------------------
@router.get(
    "/attachments", response=list[AttachmentRead], summary="Files of a record, newest first"
)
@paginate(Paginated)
def list_attachments(request: HttpRequest, where: Query[TargetQuery]) -> Any:
    return collab.attachments_on(_record(request, where))


@router.post(
    "/attachments",
    response={201: AttachmentRead},
    summary="Attach a file to a record (multipart: file, description; needs edit rights)",
)
def upload_attachment(
    request: HttpRequest,
    where: Query[TargetQuery],
    file: File[UploadedFile],
    description: Form[str] = "",
) -> Any:
    record = _record(request, where)
    attachment = collab.upload_attachment(
        actor=request.user, target=record, uploaded_file=file, description=description
    )
    return Status(201, attachment)


@router.get(
    "/attachments/{attachment_id}/download",
    summary="Download a file (always as an attachment, under its original name)",
    openapi_extra={
        "responses": {
            "200": {
                "description": "The file",
                # served with the type it was uploaded with
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def download_attachment(request: HttpRequest, attachment_id: int) -> Any:
    attachment, _record = collab.get_attachment(request.user, attachment_id)
    return collab.file_response(attachment)


@router.delete(
    "/attachments/{attachment_id}",
    response={204: None},
    summary="Remove a file (its uploader, or someone who may edit the record)",
)
def delete_attachment(request: HttpRequest, attachment_id: int) -> Any:
    attachment, _record = collab.get_attachment(request.user, attachment_id)
    collab.delete_attachment(actor=request.user, attachment=attachment)
    return Status(204, None)
