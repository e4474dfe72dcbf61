"""Photos by id only (never by a client's path): metadata and tags, a cached thumbnail with an
ETag, and the original file when it is still the indexed regular file."""

from __future__ import annotations

import mimetypes
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import FileResponse

from searchapp.api.state import service_of
from searchapp.file_names import shown_path
from searchapp.query import MAX_PHOTO_ID
from searchapp.thumbnails import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE, media_type_of

router = APIRouter(prefix="/images", tags=["images"])
PhotoId = Annotated[int, Path(ge=0, lt=MAX_PHOTO_ID, description="A photo's stable id.")]
THUMBNAIL_CACHE_CONTROL = "private, max-age=3600"


@router.get("/{photo_id}")
def image_details(request: Request, photo_id: PhotoId) -> dict[str, Any]:
    return service_of(request).photo(photo_id).as_dict()


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags


@router.get(
    "/{photo_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/webp": {}, "image/jpeg": {}}}, 304: {}},
)
def image_thumbnail(
    request: Request,
    photo_id: PhotoId,
    size: Annotated[int, Query(ge=MIN_SIZE, le=MAX_SIZE)] = DEFAULT_SIZE,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The photo upright, its longest side at most `size` pixels (WebP, or JPEG)."""
    path = service_of(request).thumbnail(photo_id, size)
    etag = f'"{path.stem}"'
    headers = {"ETag": etag, "Cache-Control": THUMBNAIL_CACHE_CONTROL}
    if _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media_type_of(path), headers=headers)


@router.get("/{photo_id}/file", response_class=FileResponse)
def image_file(request: Request, photo_id: PhotoId) -> FileResponse:
    """The original file as indexed."""
    path = service_of(request).photo_file(photo_id)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(
        path,
        media_type=media_type,
        filename=shown_path(path.name),
        content_disposition_type="inline",
    )
