"""Captions and questions about indexed photos: POST /images/{id}/caption, POST
/images/{id}/ask (streamed as server-sent events, or whole), POST /images/ask (one question about
each photo of a page of results, or one answer about them together).

A VLM that is missing, unreachable or too slow answers 503/504 with its one line; search and the
other routes never depend on it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from searchapp.api.state import service_of
from searchapp.errors import SearchAppError
from searchapp.query import MAX_PHOTO_ID
from searchapp.vlm.base import Turn

router = APIRouter(prefix="/images", tags=["captions and questions"])
PhotoId = Annotated[int, Path(ge=0, lt=MAX_PHOTO_ID, description="A photo's stable id.")]
MAX_QUESTION = 2000
MAX_TURNS = 32
MAX_PAGE = 50


class CaptionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str | None = Field(
        default=None, max_length=MAX_QUESTION, description="Default: the setting."
    )
    refresh: bool = Field(default=False, description="Caption again even when one is stored.")


class TurnBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    text: str = Field(max_length=20 * MAX_QUESTION)


class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    history: list[TurnBody] = Field(
        default_factory=list, max_length=MAX_TURNS, description="Earlier turns, oldest first."
    )
    stream: bool = Field(True, description="Server-sent events, one per piece of the answer.")


class AskPageBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    photo_ids: list[Annotated[int, Field(ge=0, lt=MAX_PHOTO_ID)]] = Field(
        min_length=1, max_length=MAX_PAGE
    )
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    together: bool = Field(
        False, description="One answer about all the photos (models that take several images)."
    )


@router.post("/{photo_id}/caption")
def caption_photo(
    request: Request, photo_id: PhotoId, body: CaptionBody | None = None
) -> dict[str, Any]:
    """The photo's caption: stored ones are reused while the model and prompt stay the same."""
    body = body or CaptionBody()
    vision = service_of(request).vision
    caption = vision.caption(vision.file_of(photo_id), body.prompt, body.refresh)
    return {"photo_id": photo_id, **caption.as_dict()}


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _sse(first: str | None, rest: Iterator[str], model: str) -> Iterator[str]:
    pieces = [] if first is None else [first]
    if first is not None:
        yield _event({"token": first})
    try:
        for piece in rest:
            pieces.append(piece)
            yield _event({"token": piece})
    except SearchAppError as exc:
        yield _event({"error": str(exc)})
        return
    yield _event({"done": True, "answer": "".join(pieces).strip(), "model": model})


@router.post(
    "/{photo_id}/ask",
    response_model=None,
    responses={200: {"content": {"text/event-stream": {}, "application/json": {}}}},
)
async def ask_photo(request: Request, photo_id: PhotoId, body: AskBody) -> Any:
    """An answer about the photo. Streamed: `data: {"token": ...}` events, then `data: {"done":
    true, "answer": ..., "model": ...}` (or `data: {"error": ...}` if the model fails midway).
    The model's first piece comes before the response starts, so a VLM that cannot load or
    answer gets its status code (503, 504) and one line, like every other error."""
    vision = service_of(request).vision
    history = [Turn(turn.role, turn.text) for turn in body.history]
    path = await run_in_threadpool(vision.file_of, photo_id)
    if not body.stream:
        answer = await run_in_threadpool(vision.ask, path, body.question, history)
        return {"photo_id": photo_id, **answer.as_dict()}
    pieces = await run_in_threadpool(vision.ask_stream, path, body.question, history)
    first = await run_in_threadpool(next, pieces, None)
    model = vision.vlm.spec.identity
    return StreamingResponse(
        _sse(first, pieces, model),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/ask")
def ask_page(request: Request, body: AskPageBody) -> dict[str, Any]:
    """One question about each photo of a page of results (batched), each answer by its photo's
    id; with `together`, one answer about the whole set."""
    vision = service_of(request).vision
    paths = [vision.file_of(photo_id) for photo_id in body.photo_ids]
    model = vision.vlm.spec.identity
    if body.together:
        answer = vision.ask_about_set(paths, body.question)
        return {"question": body.question, "answer": answer, "model": model}
    answers = vision.ask_each(paths, body.question)
    return {
        "question": body.question,
        "model": model,
        "answers": [
            {"photo_id": photo_id, "answer": a.answer}
            for photo_id, a in zip(body.photo_ids, answers, strict=True)
        ],
    }
