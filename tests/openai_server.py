"""A small OpenAI-compatible chat server on loopback, for the HTTP VLM backend's tests.

It answers `POST /v1/chat/completions` like Ollama or vLLM do, whole or as server-sent events,
records every request it gets, and misbehaves on demand through the model name: `missing` (404),
`broken` (500), `hang` (never answers), `hang-mid-stream` (one event, then silence)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER_PIECES = ["A golden", " retriever", " catching", " a frisbee."]
HANG_SECONDS = 5.0


@dataclass
class ServerState:
    key: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    state: ServerState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        self.state.requests.append(body)
        self.state.headers.append(dict(self.headers.items()))
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        if self.state.key and self.headers.get("Authorization") != f"Bearer {self.state.key}":
            self._json(401, {"error": {"message": "invalid api key"}})
            return
        model = body.get("model")
        if model == "missing":
            self._json(404, {"error": {"message": "model 'missing' not found"}})
        elif model == "broken":
            self._json(500, {"error": {"message": "CUDA error: device-side assert"}})
        elif model == "hang":
            self.state.release.wait(HANG_SECONDS)
        elif body.get("stream"):
            self._stream(hang=model == "hang-mid-stream")
        else:
            answer = "".join(ANSWER_PIECES)
            self._json(200, {"choices": [{"message": {"role": "assistant", "content": answer}}]})

    def _stream(self, hang: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for piece in ANSWER_PIECES:
            event = {"choices": [{"delta": {"content": piece}, "index": 0}]}
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
            if hang:
                self.state.release.wait(HANG_SECONDS)
                return
            time.sleep(0.01)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


@contextmanager
def openai_server(key: str | None = None) -> Iterator[tuple[str, ServerState]]:
    """(base URL, state) of a server listening on a free loopback port."""
    state = ServerState(key=key)
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
