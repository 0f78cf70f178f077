from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.pagination import paginate

from crm.core.api import Paginated, apply_sort, scoped, scoped_get

from . import services
from .models import Memo

router = Router()


class MemoRead(Schema):
    id: int
    title: str
    owner_id: int | None


class MemoWrite(Schema):
    title: str


@router.get("/memos", response=list[MemoRead])
@paginate(Paginated)
def list_memos(request: HttpRequest, sort: str | None = None) -> Any:
    return apply_sort(scoped(request, Memo), sort, {"title": "title", "id": "id"}, ["pk"])


@router.post("/memos", response={201: MemoRead})
def create_memo(request: HttpRequest, payload: MemoWrite) -> Any:
    return Status(201, services.create_memo(actor=request.user, title=payload.title))


@router.get("/memos/{memo_id}", response=MemoRead)
def get_memo(request: HttpRequest, memo_id: int) -> Any:
    return scoped_get(request, Memo, memo_id)


@router.patch("/memos/{memo_id}", response=MemoRead)
def update_memo(request: HttpRequest, memo_id: int, payload: MemoWrite) -> Any:
    return services.update_memo(
        actor=request.user, memo=scoped_get(request, Memo, memo_id, "edit"), title=payload.title
    )


@router.delete("/memos/{memo_id}", response={204: None})
def delete_memo(request: HttpRequest, memo_id: int) -> Any:
    services.delete_memo(actor=request.user, memo=scoped_get(request, Memo, memo_id, "delete"))
    return Status(204, None)
