"""GET /search (a text in rclip's syntax), POST /search (weighted terms), POST /search/image (an
upload): each returns results best first (or newest first) with per-stage timings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from searchapp.api.inline import run_blocking
from searchapp.api.schemas import MAX_TEXT, SearchBody, SearchParams
from searchapp.api.state import service_of
from searchapp.query import parse_query

router = APIRouter(tags=["search"])
"""Search routes return a JSONResponse of plain records: no second pass through FastAPI's
jsonable_encoder."""


class TextSearchParams(SearchParams):
    model_config = ConfigDict(extra="ignore")

    q: str = Field(
        min_length=1,
        max_length=MAX_TEXT,
        description='What to look for; rclip syntax combines terms: "2:dog + photo:17 - cat".',
    )


def _never_a_file(_: str) -> bool:
    return False


@router.get("/search")
async def search_text(
    request: Request, params: Annotated[TextSearchParams, Query()]
) -> JSONResponse:
    """Photos matching a text; `photo:ID` terms are indexed photos (never a client's path)."""
    query = parse_query(params.q, is_image_file=_never_a_file)
    photo_filter, options = params.photo_filter(), params.options()
    service = service_of(request)
    response = await run_blocking(request, lambda: service.search(query, photo_filter, options))
    return JSONResponse(response.as_dict())


@router.post("/search")
async def search_terms(request: Request, body: SearchBody) -> JSONResponse:
    """Weighted positive and negative terms (texts, indexed photos) with the same filters."""
    query, photo_filter, options = body.query(), body.photo_filter(), body.options()
    service = service_of(request)
    response = await run_blocking(request, lambda: service.search(query, photo_filter, options))
    return JSONResponse(response.as_dict())


@router.post("/search/image")
def search_image(
    request: Request,
    file: Annotated[UploadFile, File(description="An image file (JPEG, PNG, WebP, ...).")],
    params: Annotated[SearchParams, Query()],
) -> JSONResponse:
    """Photos that look like the uploaded picture."""
    photo_filter, options = params.photo_filter(), params.options()
    data = file.file.read()
    name = file.filename or "the upload"
    response = service_of(request).search_upload(data, name, photo_filter, options)
    return JSONResponse(response.as_dict())
