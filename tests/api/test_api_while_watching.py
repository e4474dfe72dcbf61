"""The server follows the background indexer: while `searchapp watch` writes the same library,
clients searching over HTTP get answers (never a 5xx) and see the new photos appear."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import httpx

from searchapp.config import Settings
from searchapp.service import LibraryService
from tests.api.server import running_server
from tests.conftest import TinyModel
from tests.photos import make_photo
from tests.watching import IndexerProcess


def test_searches_over_http_succeed_and_see_new_photos_while_watch_writes(
    tiny_model: TinyModel, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    for i in range(6):
        make_photo(root / f"first_{i}.jpg", seed=i)
    data_dir = tmp_path / "data"
    indexer = IndexerProcess(data_dir, tiny_model, [root])
    indexer.wait_idle()
    statuses: Counter[int] = Counter()
    stop = threading.Event()
    with (
        LibraryService(Settings(data_dir=data_dir)) as service,
        running_server(service) as url,
    ):
        assert httpx.get(f"{url}/search", params={"q": "warm up"}, timeout=300).status_code == 200

        def client_loop() -> None:
            with httpx.Client(base_url=url, timeout=60) as client:
                while not stop.is_set():
                    statuses[client.get("/search", params={"q": "a photo"}).status_code] += 1
                    statuses[client.get("/status").status_code] += 1

        clients = [threading.Thread(target=client_loop) for _ in range(2)]
        for thread in clients:
            thread.start()
        try:
            added = {str(make_photo(root / "new" / f"p{i}.jpg", seed=50 + i)) for i in range(20)}
            with httpx.Client(base_url=url, timeout=60) as client:

                def all_found() -> bool:
                    found = client.get("/search", params={"q": "a photo", "top_k": 100})
                    statuses[found.status_code] += 1
                    return added <= {hit["path"] for hit in found.json()["results"]}

                indexer.wait_for(all_found, "the server to find every new photo")
        finally:
            stop.set()
            for thread in clients:
                thread.join(60)
    assert indexer.stop() == 0
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 10
