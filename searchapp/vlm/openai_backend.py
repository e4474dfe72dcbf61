"""Any OpenAI-compatible chat endpoint that takes images (Ollama, vLLM, llama.cpp server, hosted
APIs), through httpx. Photos travel as base64 `data:` URLs of a downscaled JPEG; answers stream
over server-sent events; every failure becomes one line that says what to do."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx

from searchapp.errors import VlmEndpointError, VlmTimeoutError
from searchapp.vlm.base import Prompt, VlmSpec
from searchapp.vlm.images import jpeg_data_url

if TYPE_CHECKING:
    from searchapp.config import Settings

log = logging.getLogger(__name__)
PARALLEL_REQUESTS = 4


def chat_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base if base.endswith("/chat/completions") else base + "/chat/completions"


def _error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error))[:200]
    return str(error or body)[:200]


class OpenAICompatibleVlm:
    def __init__(self, spec: VlmSpec, settings: Settings) -> None:
        assert spec.url is not None
        self.spec = spec
        self.settings = settings
        self.url = chat_url(spec.url)
        self._timeout = httpx.Timeout(
            settings.vlm_timeout_seconds, connect=settings.vlm_connect_timeout_seconds
        )
        headers = {"Authorization": f"Bearer {spec.key}"} if spec.key else {}
        self._client = httpx.Client(timeout=self._timeout, headers=headers)

    def unload(self) -> None:
        self._client.close()
        self._client = httpx.Client(timeout=self._timeout, headers=self._client.headers)

    # -- requests ---------------------------------------------------------------------------

    def request_body(self, prompt: Prompt, max_new_tokens: int, stream: bool) -> dict[str, Any]:
        side = self.settings.vlm_image_side
        messages: list[dict[str, Any]] = []
        images_placed = False
        for turn in prompt.turns():
            if turn.role == "user" and not images_placed:
                content: list[dict[str, Any]] = [{"type": "text", "text": turn.text}]
                content.extend(
                    {"type": "image_url", "image_url": {"url": jpeg_data_url(image, side)}}
                    for image in prompt.images
                )
                messages.append({"role": "user", "content": content})
                images_placed = True
            else:
                messages.append({"role": turn.role, "content": turn.text})
        return {
            "model": self.spec.model,
            "messages": messages,
            "max_tokens": max_new_tokens,
            "temperature": 0,
            "stream": stream,
        }

    def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        if response.is_stream_consumed is False:
            response.read()
        detail = _error_detail(response)
        status = response.status_code
        if status in (401, 403):
            raise VlmEndpointError(
                f"The VLM endpoint {self.spec.url} refused the request (HTTP {status}: {detail}): "
                "check the key (--vlm-key or SEARCHAPP_VLM_KEY)."
            )
        if status == 404:
            raise VlmEndpointError(
                f"The VLM endpoint {self.spec.url} has no model '{self.spec.model}' or no chat "
                f"API (HTTP 404: {detail}): check --vlm-model and --vlm-url (for Ollama: "
                f"`ollama pull {self.spec.model}` and the URL http://HOST:11434/v1)."
            )
        raise VlmEndpointError(
            f"The VLM endpoint {self.spec.url} answered HTTP {status}: {detail}. "
            "Check the server's log; search works without it."
        )

    def _failure(self, exc: httpx.HTTPError) -> Exception:
        if isinstance(exc, httpx.TimeoutException):
            return VlmTimeoutError(
                f"The VLM endpoint {self.spec.url} did not answer within "
                f"{self.settings.vlm_timeout_seconds:g} s: check the server, or raise "
                "SEARCHAPP_VLM_TIMEOUT_SECONDS for a slow model."
            )
        if isinstance(exc, (httpx.ConnectError, httpx.RemoteProtocolError)):
            return VlmEndpointError(
                f"Cannot reach the VLM endpoint {self.spec.url} ({exc}): is the server running? "
                "Check --vlm-url (Ollama: http://localhost:11434/v1)."
            )
        return VlmEndpointError(f"The VLM endpoint {self.spec.url} failed: {exc}")

    def _bad_answer(self, what: str) -> VlmEndpointError:
        return VlmEndpointError(
            f"The VLM endpoint {self.spec.url} sent {what}; is it an OpenAI-compatible chat API?"
        )

    def answer(self, prompt: Prompt, max_new_tokens: int) -> str:
        body = self.request_body(prompt, max_new_tokens, stream=False)
        try:
            response = self._client.post(self.url, json=body)
        except httpx.HTTPError as exc:
            raise self._failure(exc) from None
        self._raise_for_status(response)
        try:
            return str(response.json()["choices"][0]["message"]["content"] or "").strip()
        except (ValueError, KeyError, IndexError, TypeError):
            raise self._bad_answer("an answer without choices[0].message.content") from None

    def answer_batch(self, prompts: Sequence[Prompt], max_new_tokens: int) -> list[str]:
        """Several requests in flight at once (servers batch them themselves)."""
        if len(prompts) <= 1:
            return [self.answer(p, max_new_tokens) for p in prompts]
        with ThreadPoolExecutor(min(PARALLEL_REQUESTS, len(prompts))) as pool:
            return list(pool.map(lambda p: self.answer(p, max_new_tokens), prompts))

    def stream(self, prompt: Prompt, max_new_tokens: int) -> Iterator[str]:
        body = self.request_body(prompt, max_new_tokens, stream=True)
        try:
            with self._client.stream("POST", self.url, json=body) as response:
                self._raise_for_status(response)
                for line in response.iter_lines():
                    piece = self._sse_piece(line)
                    if piece is None:
                        return
                    if piece:
                        yield piece
        except httpx.HTTPError as exc:
            raise self._failure(exc) from None

    def _sse_piece(self, line: str) -> str | None:
        """The text in one SSE line; '' for lines without any; None at the end of the stream."""
        if not line.startswith("data:"):
            return ""
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            return None
        try:
            event = json.loads(data)
        except ValueError:
            raise self._bad_answer("a stream event that is not JSON") from None
        if isinstance(event, dict) and "error" in event:
            raise VlmEndpointError(f"The VLM endpoint {self.spec.url} failed: {event['error']}")
        try:
            choice = event["choices"][0]
        except (KeyError, IndexError, TypeError):
            return ""
        delta = choice.get("delta") or {}
        return str(delta.get("content") or "")
