"""What the API refuses: a request without the right token, a photo outside the library (by a
traversal path or a symlink), an oversized, corrupt or decompression-bomb upload, malformed
JSON, a bad parameter, and a non-loopback bind without a token; each with a clear 4xx."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr

from searchapp.api.server import check_bind
from searchapp.errors import SearchAppError
from tests.api.conftest import IndexedLibrary, serving
from tests.conftest import CliRunner

TOKEN = "s3cret-token"


def png(size: tuple[int, int], colour: int = 128) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def search_hits(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/search", params={"q": "x", "top_k": 50, **params})
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["results"]
    return hits


@pytest.fixture(scope="module")
def guarded(indexed_library: IndexedLibrary) -> Iterator[str]:
    with serving(indexed_library, api_token=SecretStr(TOKEN)) as (_, url):
        yield url


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_every_route_but_health_needs_the_token(guarded: str, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=guarded, headers=headers, timeout=60) as client:
        assert client.get("/health").status_code == 200
        for method, path in [
            ("GET", "/search?q=x"),
            ("POST", "/search"),
            ("POST", "/search/image"),
            ("GET", "/images/1"),
            ("GET", "/images/1/thumbnail"),
            ("GET", "/images/1/file"),
            ("GET", "/status"),
            ("GET", "/tags"),
            ("POST", "/classify"),
            ("POST", "/tag"),
            ("POST", "/tag/new"),
        ]:
            response = client.request(method, path)
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert "token" in response.json()["detail"].lower()


def test_the_right_token_is_let_through(guarded: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=guarded, headers=headers, timeout=60) as client:
        assert client.get("/status").status_code == 200
        assert client.get("/search", params={"q": "x"}).status_code == 200


def test_a_non_loopback_bind_without_a_token_is_refused_with_a_message(cli: CliRunner) -> None:
    result = cli("serve", "--host", "0.0.0.0", "--port", "1", check=False)

    assert result.returncode == 1
    assert "Refusing to listen on 0.0.0.0 without a token" in result.stderr
    with pytest.raises(SearchAppError, match=r"Refusing to listen on 192\.168\.1\.10"):
        check_bind("192.168.1.10", None)
    check_bind("0.0.0.0", TOKEN)
    check_bind("::1", None)
    check_bind("localhost", None)


@pytest.mark.parametrize(
    "path",
    [
        "/images/..%2F..%2F..%2Fetc%2Fpasswd/file",
        "/images/%2Fetc%2Fpasswd/file",
        "/images/1/file/../../../../etc/passwd",
        "/images/-1/file",
        "/images/99999999999999999999999/file",
    ],
)
def test_files_are_served_by_id_only(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code in (404, 422), response.text
    assert b"root:" not in response.content


def test_a_symlink_to_a_file_outside_the_library_is_never_served(
    api: httpx.Client, indexed_library: IndexedLibrary
) -> None:
    link = indexed_library.photos / "link-to-secret.jpg"
    linked = [hit for hit in search_hits(api) if hit["path"] == str(link)]
    assert linked, "the indexer stored the symlink as a photo"

    for suffix in ("/file", "/thumbnail"):
        response = api.get(f"/images/{linked[0]['id']}{suffix}")
        assert response.status_code == 404
        assert response.json()["detail"] == (
            f"The photo {linked[0]['id']} is a link to a file outside the library."
        )


def test_an_oversized_upload_gets_413_before_it_is_read(indexed_library: IndexedLibrary) -> None:
    with serving(indexed_library, max_upload_megabytes=0.1) as (client, _):
        big = b"\xff" * 300_000
        response = client.post("/search/image", files={"file": ("big.jpg", big)})
        assert response.status_code == 413
        assert "0.1 MB upload limit" in response.json()["detail"]

        def chunks() -> Iterator[bytes]:
            for _ in range(30):
                yield b"x" * 10_000

        chunked = client.post(
            "/search", content=chunks(), headers={"content-type": "application/json"}
        )
        assert chunked.status_code == 413
        assert client.get("/health").status_code == 200


def test_a_corrupt_upload_gets_422_with_the_reason(api: httpx.Client) -> None:
    corrupt = png((64, 64))[:60]
    response = api.post("/search/image", files={"file": ("broken.png", corrupt)})

    assert response.status_code == 422
    assert response.json()["detail"].startswith("Cannot use broken.png as a query image:")
    empty = api.post("/search/image", files={"file": ("empty.jpg", b"")})
    assert empty.status_code == 422 and "empty file" in empty.json()["detail"]


def test_a_decompression_bomb_is_refused_before_it_is_decoded(
    indexed_library: IndexedLibrary,
) -> None:
    bomb = png((4000, 3000))  # 12 MP of one grey: a few kilobytes of PNG
    assert len(bomb) < 100_000
    with serving(indexed_library, max_image_megapixels=10) as (client, _):
        response = client.post("/search/image", files={"file": ("bomb.png", bomb)})
    assert response.status_code == 422
    assert "exceeds the 10 MP limit" in response.json()["detail"]


def test_malformed_json_and_bad_parameters_get_a_4xx_with_one_line(api: httpx.Client) -> None:
    cases: list[tuple[httpx.Response, int, str]] = [
        (
            api.post(
                "/search", content=b'{"positive": [', headers={"content-type": "application/json"}
            ),
            422,
            "not valid JSON",
        ),
        (api.post("/search", json={"positive": []}), 422, "positive"),
        (
            api.post("/search", json={"positive": [{"text": "a", "image_id": 1}]}),
            422,
            "exactly one",
        ),
        (api.post("/search", json={"positive": [{"text": "a", "weight": -1}]}), 422, "weight"),
        (api.get("/search", params={"q": "x", "top_k": 0}), 422, "top_k"),
        (api.get("/search", params={"q": "x", "min_score": "high"}), 400, "min_score"),
        (api.get("/search", params={"q": "x", "folder": "relative/dir"}), 400, "absolute"),
        (api.get("/search", params={"q": "x", "type": "docx"}), 400, "Unknown file type"),
        (api.get("/search", params={"q": "x", "taken_before": "31/12/2024"}), 400, "date"),
        (api.get("/search", params={"q": "photo:99999999999"}), 404, "No indexed photo"),
        (api.get("/search", params={"q": "a - a"}), 400, "cancel"),
        (api.get("/images/1/thumbnail", params={"size": 5}), 422, "size"),
        (api.post("/classify", json={"image_id": 123456789}), 404, "No indexed photo"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, response.text
        assert words in response.json()["detail"], response.text
