"""Several indexer workers write one PostgreSQL database at once: each file, image and vector is
stored once (unique constraints and upserts, no locks in Python), vectors are consistent, and a
reader that follows the store by "ids above the highest held" misses none of them."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from searchapp.models.base import ModelIdentity
from searchapp.store import EmbeddedFile, ImageMeta, Store
from searchapp.store.records import FileStat
from searchapp.store.vector_state import vector_changes
from tests.conftest import BASE_ENV, TinyModel
from tests.photos import make_photo
from tests.reference import ReferenceModel

DIM = 8


def _item(path_number: int, content_number: int) -> EmbeddedFile:
    vector = np.random.default_rng(content_number).standard_normal(DIM).astype(np.float32)
    stat = FileStat(f"/library/{path_number:03d}.jpg", 1000 + content_number, 7)
    return EmbeddedFile(stat, f"content-{content_number}", ImageMeta(64, 48), vector)


def test_threads_writing_overlapping_batches_store_each_file_once(postgres_url: str) -> None:
    items = [_item(n, n % 40) for n in range(60)]  # 20 files are copies of another's content
    stores = [Store(postgres_url) for _ in range(4)]
    identity = ModelIdentity("open_clip", "tiny", "w", "c")
    model = stores[0].register_model(identity, None, None, DIM)
    failures: list[BaseException] = []
    done = threading.Event()
    held: set[int] = set()

    def write(store: Store, seed: int) -> None:
        order = random.Random(seed).sample(items, len(items))
        try:
            for start in range(0, len(order), 7):
                store.write_batch(model.id, order[start : start + 7])
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    def follow() -> None:
        """What a vector index holder does: add the ids above its highest, drop removed ones."""
        highest, seq = 0, 0
        while True:
            finished = done.is_set()
            changes = vector_changes(stores[0].engine, model.id, DIM, highest, seq)
            held.difference_update(changes.dropped.tolist())
            held.update(changes.ids.tolist())
            highest = max([highest, *changes.ids.tolist()])
            seq = changes.state.removal_seq
            if finished:
                return

    reader = threading.Thread(target=follow)
    writers = [threading.Thread(target=write, args=(s, i)) for i, s in enumerate(stores)]
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(120)
    done.set()
    reader.join(60)

    assert failures == []
    store = stores[0]
    assert store.vectors.counts() == {
        "files_ok": 60,
        "files_failed": 0,
        "images": 40,
        "embeddings": 40,
    }
    everything = vector_changes(store.engine, model.id, DIM, 0, 0)
    assert held == set(everything.ids.tolist())
    for item in items:
        stored = store.vectors.stored_vector(item.stat.path, item.stat.size, 7, model.id)
        assert stored is not None and np.array_equal(stored, item.vector)
    for each in stores:
        each.close()


def test_worker_processes_indexing_overlapping_folders_store_each_photo_once(
    tmp_path: Path, tiny_model: TinyModel, postgres_url: str
) -> None:
    library = tmp_path / "library"
    for folder, first in (("a", 0), ("b", 6), ("c", 12)):
        for seed in range(first, first + 6):
            make_photo(library / folder / f"photo_{seed:02d}.jpg", seed=seed)
    shutil.copy(library / "a" / "photo_00.jpg", library / "c" / "copy_of_00.jpg")
    assignments = [("a", "b"), ("b", "c"), ("c", "a")]  # every photo indexed by two workers
    env = {
        **BASE_ENV,
        "SEARCHAPP_DATABASE_URL": postgres_url,
        "SEARCHAPP_FAST_JPEG_DECODE": "false",
        "SEARCHAPP_BATCH_SIZE": "2",
    }
    workers = []
    for number, folders in enumerate(assignments):
        args = ["index", *(str(library / f) for f in folders), *tiny_model.flags, "--no-tag"]
        worker_env = {**env, "SEARCHAPP_DATA_DIR": str(tmp_path / f"worker-{number}")}
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "searchapp", *args],
                env={**os.environ, **worker_env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outcomes = [worker.communicate(timeout=300) for worker in workers]

    assert [w.returncode for w in workers] == [0, 0, 0], [err for _, err in outcomes]
    photos = sorted(library.rglob("*.jpg"))
    store = Store(postgres_url)
    model = store.active_model()
    assert model is not None
    assert store.vectors.counts() == {
        "files_ok": 19,
        "files_failed": 0,
        "images": 18,
        "embeddings": 18,
    }
    known = store.known_files([str(library)], model.id)
    assert sorted(known) == [str(p) for p in photos] and all(k.embedded for k in known.values())
    reference = ReferenceModel(tiny_model).images(photos)
    for photo, expected in zip(photos, reference, strict=True):
        stat = photo.stat()
        stored = store.vectors.stored_vector(str(photo), stat.st_size, stat.st_mtime_ns, model.id)
        assert stored is not None
        np.testing.assert_allclose(stored, expected, atol=2e-4)
    store.close()
