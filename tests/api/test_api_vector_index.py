"""Over HTTP: near-duplicate groups equal the service's, and the swap from the exact index to the
approximate one, built in the server's background while it answers, loses no query."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import text

from searchapp.config import Settings
from searchapp.library import Library
from searchapp.models.base import ModelSpec
from searchapp.service import LibraryService
from searchapp.store import EmbeddedFile, ImageMeta, StoredModel
from searchapp.store.records import FileStat
from tests.api.server import running_server
from tests.conftest import TinyModel
from tests.vector_sets import add_vectors, clustered


def _generated_library(data_dir: Path, tiny_model: TinyModel) -> tuple[Library, StoredModel]:
    library = Library(Settings(data_dir=data_dir))
    spec = ModelSpec(tiny_model.name, str(tiny_model.checkpoint), tiny_model.config_path)
    model = library.indexing_model(spec)
    library.store.activate_model(model.id)
    return library, model


def test_duplicates_over_http_equal_the_service_and_bad_thresholds_are_refused(
    tmp_path: Path, tiny_model: TinyModel
) -> None:
    library, model = _generated_library(tmp_path / "data", tiny_model)
    vectors = clustered(200, model.dim)
    add_vectors(library.store, model, vectors)
    twin = vectors[0] + 0.01 * clustered(1, model.dim, seed=5)[0]
    twin /= np.linalg.norm(twin)
    photo = library.store.photos.photo_id_of("/library/photo_000000.jpg")
    assert photo is not None
    for path, digest, phash in (
        ("/copies/twin.jpg", "t" * 40, "0" * 16),
        ("/copies/other.jpg", "o" * 40, "f" * 16),
    ):
        meta = ImageMeta(320, 240, phash=phash)
        item = EmbeddedFile(FileStat(path, 5, 5), digest, meta, twin.astype(np.float32))
        library.store.write_batch(model.id, [item])
    with library.store.engine.begin() as conn:  # the original's perceptual hash: as the twin's
        conn.execute(text("UPDATE images SET phash = :h WHERE id = 1"), {"h": "0" * 16})
    library.close()

    with LibraryService(Settings(data_dir=tmp_path / "data")) as service:
        direct = [group.as_dict() for group in service.duplicates()]
        with running_server(service) as url, httpx.Client(base_url=url, timeout=60) as client:
            answered = client.get("/duplicates")
            refused = client.get("/duplicates", params={"threshold": 1.5})

    assert answered.status_code == 200 and answered.json() == {"groups": direct}
    (group,) = direct
    assert [p["path"] for p in group["photos"]] == ["/library/photo_000000.jpg", "/copies/twin.jpg"]
    assert refused.status_code == 422


def test_the_swap_from_exact_to_approximate_under_a_running_api_loses_no_query(
    tmp_path: Path, tiny_model: TinyModel
) -> None:
    data_dir = tmp_path / "data"
    library, model = _generated_library(data_dir, tiny_model)
    vectors = clustered(3000, model.dim)
    add_vectors(library.store, model, vectors[:1500])
    failures: list[str] = []
    answered = 0
    stop = threading.Event()
    settings = Settings(data_dir=data_dir, ann_min_photos=2000, precision="fp32")
    with LibraryService(settings) as service, running_server(service) as url:

        def query() -> None:
            nonlocal answered
            with httpx.Client(base_url=url, timeout=60) as client:
                while not stop.is_set():
                    response = client.get("/search", params={"q": "a photo", "top_k": 10})
                    if response.status_code != 200 or len(response.json()["results"]) != 10:
                        failures.append(f"{response.status_code}: {response.text[:200]}")
                    answered += 1

        threads = [threading.Thread(target=query) for _ in range(2)]
        for thread in threads:
            thread.start()
        add_vectors(library.store, model, vectors[1500:], first=1500)
        live = service.library.live_index(model)
        for _ in range(600):
            if live.swaps:
                break
            live.wait_for_build(0.1)
        before_swap_done = answered
        while answered < before_swap_done + 4 and not failures:
            stop.wait(0.05)
        stop.set()
        for thread in threads:
            thread.join()
        with httpx.Client(base_url=url, timeout=60) as client:
            status = client.get("/status").json()["vector_index"]
    library.close()

    assert failures == []
    assert live.swaps == 1 and status["kind"] == "ivf_sq8" and status["count"] == 3000
