"""The OpenAI-compatible backend against a real HTTP server on loopback: the request it sends
(image as a base64 JPEG data: URL, downscaled), streaming over SSE, and the one line a user sees
for each failure."""

from __future__ import annotations

import base64
import io
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from searchapp.config import Settings
from searchapp.errors import VlmEndpointError, VlmModelError, VlmTimeoutError
from searchapp.vlm import Prompt, Turn, load_vlm
from searchapp.vlm.base import VisionLanguageModel
from tests.openai_server import ANSWER_PIECES, ServerState, openai_server


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    with openai_server(key="sk-test") as running:
        yield running


def client(
    url: str, tmp_path: Path, model: str = "llava:7b", **extra: object
) -> VisionLanguageModel:
    settings = Settings(
        data_dir=tmp_path,
        vlm_backend="openai",
        vlm_url=url,
        vlm_model=model,
        vlm_key="sk-test",
        vlm_image_side=64,
        **extra,
    )
    return load_vlm(settings)


def big_photo() -> Image.Image:
    return Image.new("RGB", (640, 480), (200, 120, 40))


def test_the_request_carries_the_question_and_a_downscaled_jpeg_data_url(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    url, state = server

    answer = client(url, tmp_path).answer(Prompt((big_photo(),), "What is this?"), 32)

    assert answer == "".join(ANSWER_PIECES)
    (body,) = state.requests
    assert body["model"] == "llava:7b"
    assert body["max_tokens"] == 32 and body["stream"] is False
    text, image = body["messages"][0]["content"]
    assert text == {"type": "text", "text": "What is this?"}
    prefix = "data:image/jpeg;base64,"
    assert image["type"] == "image_url" and image["image_url"]["url"].startswith(prefix)
    sent = Image.open(io.BytesIO(base64.b64decode(image["image_url"]["url"][len(prefix) :])))
    assert sent.format == "JPEG" and sent.size == (64, 48)
    assert state.headers[0]["Authorization"] == "Bearer sk-test"


def test_earlier_turns_are_sent_as_the_conversation(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    url, state = server
    history = (Turn("user", "Is it a dog?"), Turn("assistant", "Yes."))

    client(url, tmp_path).answer(Prompt((big_photo(),), "What colour?", history), 8)

    messages = state.requests[0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"][0]["text"] == "Is it a dog?"
    assert messages[0]["content"][1]["type"] == "image_url"
    assert messages[1:] == [
        {"role": "assistant", "content": "Yes."},
        {"role": "user", "content": "What colour?"},
    ]


def test_streaming_yields_the_pieces_as_the_server_sends_them(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    url, state = server

    pieces = list(client(url, tmp_path).stream(Prompt((big_photo(),), "Describe."), 16))

    assert pieces == ANSWER_PIECES
    assert state.requests[0]["stream"] is True


def test_a_batch_sends_one_request_per_photo_and_keeps_the_order(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    url, state = server
    prompts = [Prompt((Image.new("RGB", (32, 32), (i, i, i)),), f"photo {i}") for i in range(5)]

    answers = client(url, tmp_path).answer_batch(prompts, 8)

    assert answers == ["".join(ANSWER_PIECES)] * 5
    asked = sorted(r["messages"][0]["content"][0]["text"] for r in state.requests)
    assert asked == [f"photo {i}" for i in range(5)]


def test_a_wrong_key_says_to_check_the_key(server: tuple[str, ServerState], tmp_path: Path) -> None:
    url, _ = server
    settings = Settings(data_dir=tmp_path, vlm_backend="openai", vlm_url=url, vlm_model="m")

    with pytest.raises(VlmEndpointError, match=r"refused the request \(HTTP 401.*--vlm-key"):
        load_vlm(settings).answer(Prompt((big_photo(),), "hi"), 4)


def test_an_unknown_model_says_how_to_pull_it(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    url, _ = server

    with pytest.raises(VlmEndpointError, match=r"no model 'missing'.*ollama pull missing"):
        client(url, tmp_path, model="missing").answer(Prompt((big_photo(),), "hi"), 4)


def test_a_server_error_is_reported_with_its_message(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    url, _ = server

    with pytest.raises(VlmEndpointError, match=r"HTTP 500: CUDA error: device-side assert"):
        list(client(url, tmp_path, model="broken").stream(Prompt((big_photo(),), "hi"), 4))


def test_a_hanging_server_times_out_with_the_setting_to_raise(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    url, _ = server
    vlm = client(url, tmp_path, model="hang", vlm_timeout_seconds=0.5)

    started = time.monotonic()
    with pytest.raises(VlmTimeoutError, match=r"did not answer within 0.5 s.*TIMEOUT_SECONDS"):
        vlm.answer(Prompt((big_photo(),), "hi"), 4)

    assert time.monotonic() - started < 4


def test_a_stream_that_stalls_midway_times_out(
    server: tuple[str, ServerState], tmp_path: Path
) -> None:
    url, _ = server
    vlm = client(url, tmp_path, model="hang-mid-stream", vlm_timeout_seconds=0.5)
    pieces: list[str] = []

    with pytest.raises(VlmTimeoutError):
        for piece in vlm.stream(Prompt((big_photo(),), "hi"), 4):
            pieces.append(piece)

    assert pieces == ANSWER_PIECES[:1]


def test_an_unreachable_endpoint_says_to_check_the_url(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(VlmEndpointError, match=r"Cannot reach the VLM endpoint.*--vlm-url"):
        client(f"http://127.0.0.1:{port}/v1", tmp_path).answer(Prompt((big_photo(),), "hi"), 4)


def test_the_openai_backend_without_a_url_is_refused_before_any_request(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, vlm_backend="openai", vlm_model="llava")

    with pytest.raises(VlmModelError, match="needs the server's base URL: pass --vlm-url"):
        load_vlm(settings)


def test_an_unknown_backend_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(
        VlmModelError, match=r"Unknown VLM backend 'llamafile'.*openai, transformers"
    ):
        load_vlm(Settings(data_dir=tmp_path, vlm_backend="llamafile"))
