"""Captions and questions over HTTP: POST /images/{id}/caption, POST /images/{id}/ask streamed
as server-sent events, POST /images/ask over a page of results; a VLM that fails is a 503/504
with one line while search keeps answering."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from searchapp.config import Settings
from searchapp.vlm import Prompt, Turn, load_vlm
from searchapp.vlm.images import read_photo
from tests.api.conftest import IndexedLibrary, serving
from tests.openai_server import openai_server

TOKENS = 6
VLM = {"vlm_device": "cpu", "vlm_precision": "fp32", "vlm_max_new_tokens": TOKENS}


@pytest.fixture(scope="module")
def vlm_api(indexed_library: IndexedLibrary, tiny_llava: Path) -> Iterator[httpx.Client]:
    with serving(indexed_library, vlm_model=str(tiny_llava), **VLM) as (client, _):
        yield client


@pytest.fixture(scope="module")
def photos(vlm_api: httpx.Client) -> list[dict[str, Any]]:
    return indexed_photos(vlm_api)[:5]


def indexed_photos(client: httpx.Client) -> list[dict[str, Any]]:
    """Search results that are photos of the library (not the link to a file outside it)."""
    response = client.get("/search", params={"q": "a photo", "top_k": 20})
    assert response.status_code == 200, response.text
    return [r for r in response.json()["results"] if "/photo_" in r["path"]]


def direct(model: Path, paths: list[str], question: str, history: tuple[Turn, ...] = ()) -> str:
    settings = Settings(vlm_model=str(model), **VLM)  # type: ignore[arg-type]
    images = tuple(read_photo(Path(p), settings.vlm_image_side) for p in paths)
    return load_vlm(settings).answer(Prompt(images, question, history), TOKENS)


def events(response: httpx.Response) -> list[dict[str, Any]]:
    return [
        json.loads(line[len("data: ") :])
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]


def test_caption_of_a_photo_by_id_is_the_models_and_then_reused(
    vlm_api: httpx.Client, photos: list[dict[str, Any]], tiny_llava: Path
) -> None:
    photo = photos[0]

    first = vlm_api.post(f"/images/{photo['id']}/caption")
    again = vlm_api.post(f"/images/{photo['id']}/caption", json={})

    assert first.status_code == 200, first.text
    body = first.json()
    assert body["photo_id"] == photo["id"] and body["path"] == photo["path"]
    assert body["caption"] == direct(tiny_llava, [photo["path"]], Settings().vlm_caption_prompt)
    assert body["model"] == f"transformers:{tiny_llava}"
    assert (body["cached"], again.json()["cached"]) == (False, True)


def test_ask_streams_tokens_then_the_whole_answer(
    vlm_api: httpx.Client, photos: list[dict[str, Any]], tiny_llava: Path
) -> None:
    photo = photos[1]
    question = "What does the sign say?"

    with vlm_api.stream(
        "POST", f"/images/{photo['id']}/ask", json={"question": question}
    ) as response:
        response.read()
    whole = vlm_api.post(f"/images/{photo['id']}/ask", json={"question": question, "stream": False})

    assert response.headers["content-type"].startswith("text/event-stream")
    sent = events(response)
    tokens, done = sent[:-1], sent[-1]
    assert tokens and all("token" in event for event in tokens)
    assert done["done"] is True
    assert done["answer"] == "".join(e["token"] for e in tokens).strip()
    assert done["answer"] == whole.json()["answer"] == direct(tiny_llava, [photo["path"]], question)


def test_ask_with_history_answers_the_follow_up_in_context(
    vlm_api: httpx.Client, photos: list[dict[str, Any]], tiny_llava: Path
) -> None:
    photo = photos[2]
    history = [
        {"role": "user", "text": "Is anyone wearing glasses?"},
        {"role": "assistant", "text": "yes"},
    ]

    response = vlm_api.post(
        f"/images/{photo['id']}/ask",
        json={"question": "What colour are they?", "history": history, "stream": False},
    )

    turns = (Turn("user", "Is anyone wearing glasses?"), Turn("assistant", "yes"))
    expected = direct(tiny_llava, [photo["path"]], "What colour are they?", turns)
    assert response.json()["answer"] == expected


def test_one_question_over_a_page_of_results_answers_beside_each_photo(
    vlm_api: httpx.Client, photos: list[dict[str, Any]], tiny_llava: Path
) -> None:
    page = photos[:3]
    question = "Is it outdoors?"

    each = vlm_api.post(
        "/images/ask", json={"photo_ids": [p["id"] for p in page], "question": question}
    )
    together = vlm_api.post(
        "/images/ask",
        json={"photo_ids": [p["id"] for p in page], "question": question, "together": True},
    )

    assert each.status_code == 200, each.text
    answers = each.json()["answers"]
    assert [a["photo_id"] for a in answers] == [p["id"] for p in page]
    assert [a["answer"] for a in answers] == [
        direct(tiny_llava, [p["path"]], question) for p in page
    ]
    assert together.json()["answer"] == direct(tiny_llava, [p["path"] for p in page], question)


def test_an_unknown_photo_and_an_empty_question_are_one_line(vlm_api: httpx.Client) -> None:
    missing = vlm_api.post("/images/987654/ask", json={"question": "hi"})
    empty = vlm_api.post("/images/1/ask", json={"question": ""})

    assert missing.status_code == 404
    assert missing.json()["detail"] == "No indexed photo has the id 987654."
    assert empty.status_code == 422


def test_an_unreachable_vlm_server_is_a_503_and_search_still_works(
    indexed_library: IndexedLibrary, photos: list[dict[str, Any]]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = {"vlm_backend": "openai", "vlm_url": f"http://127.0.0.1:{port}/v1"}

    with serving(indexed_library, vlm_model="llava", **settings) as (client, _):
        photo_id = photos[0]["id"]
        streamed = client.post(f"/images/{photo_id}/ask", json={"question": "hi"})
        caption = client.post(f"/images/{photo_id}/caption")
        search = client.get("/search", params={"q": "a dog"})

    assert streamed.status_code == caption.status_code == 503
    assert streamed.json()["detail"].startswith("Cannot reach the VLM endpoint")
    assert search.status_code == 200 and search.json()["results"]


def test_a_hanging_vlm_server_is_a_504_after_the_timeout(
    indexed_library: IndexedLibrary, photos: list[dict[str, Any]]
) -> None:
    with openai_server() as (url, _):
        settings = {"vlm_backend": "openai", "vlm_url": url, "vlm_timeout_seconds": 0.5}
        with serving(indexed_library, vlm_model="hang", **settings) as (client, _):
            photo_id = photos[0]["id"]
            response = client.post(f"/images/{photo_id}/ask", json={"question": "hi"})

    assert response.status_code == 504
    assert "did not answer within 0.5 s" in response.json()["detail"]
