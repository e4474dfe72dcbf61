"""Health, the library's status, its tags, classifying a photo and tagging runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

import searchapp
from searchapp.api.schemas import ClassifyBody, TagBody
from searchapp.api.state import service_of
from searchapp.errors import InvalidQueryError

router = APIRouter(tags=["library"])
health_router = APIRouter(tags=["library"])


@health_router.get("/health")
async def health() -> dict[str, str]:
    """Always open (no token): says the server is up (async: no trip through the pool)."""
    return {"status": "ok", "version": searchapp.__version__}


@router.get("/status")
def status(request: Request) -> dict[str, Any]:
    return service_of(request).status()


@router.get("/duplicates")
def duplicates(
    request: Request,
    threshold: Annotated[float | None, Query(gt=0.0, le=1.0)] = None,
    max_hamming: Annotated[int | None, Query(ge=0, le=64)] = None,
) -> dict[str, Any]:
    """Groups of near-identical photos (resized, recompressed, cropped copies, bursts), each
    with its best-quality member first; largest groups first."""
    groups = service_of(request).duplicates(threshold, max_hamming)
    return {"groups": [group.as_dict() for group in groups]}


@router.get("/tags")
def tags(
    request: Request, vocabulary: Annotated[str | None, Query(max_length=100)] = None
) -> dict[str, Any]:
    """Every tag with its number of photos, most frequent first."""
    counts = service_of(request).tag_counts(vocabulary)
    return {
        "tags": [{"vocabulary": v, "label": label, "photos": n} for v, label, n in counts],
    }


def _templates(lines: list[str] | None) -> tuple[str, ...] | None:
    from searchapp.tagging.vocabulary import parse_templates

    return None if lines is None else parse_templates("\n".join(lines), "the templates")


@router.post("/classify")
def classify(request: Request, body: ClassifyBody) -> dict[str, Any]:
    """An indexed photo's best-fitting labels (nothing is stored)."""
    from searchapp.tagging.vocabulary import parse_labels

    service = service_of(request)
    labels = None if body.labels is None else parse_labels("\n".join(body.labels), "api", "labels")
    vector = service.photo_vector(body.image_id)
    ranked = service.classify(vector, labels, _templates(body.templates), body.top_k)
    return {"labels": [{"label": label, "score": round(score, 6)} for label, score in ranked]}


@router.post("/tag")
def tag(request: Request, body: TagBody) -> dict[str, Any]:
    """A tagging run: the vocabulary is stored under `name` and every photo tagged with it."""
    from searchapp.tagging.vocabulary import DEFAULT_VOCABULARY, default_labels, parse_labels

    if body.labels is None:
        labels = default_labels()
    elif body.name == DEFAULT_VOCABULARY:
        raise InvalidQueryError(f"'{DEFAULT_VOCABULARY}' is the built-in vocabulary's name.")
    else:
        labels = parse_labels("\n".join(body.labels), body.name, "labels")
    report = service_of(request).tag(labels, _templates(body.templates), body.threshold, body.top_k)
    return report.as_dict()


@router.post("/tag/new")
def tag_new(request: Request) -> dict[str, Any]:
    """Tag the photos embedded since the last run with every stored vocabulary."""
    runs, skipped = service_of(request).tag_new_photos()
    return {"runs": [run.as_dict() for run in runs], "skipped": skipped}
