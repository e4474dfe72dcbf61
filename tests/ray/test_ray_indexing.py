"""`searchapp index --ray`: the Ray Data pipeline on a local Ray cluster (`ray.init(num_cpus=2)`)
stores what the local indexer stores (same photos, same vectors, same search ranking), never
duplicates a file when a job is repeated or a worker is killed, and reads nothing in a rerun
that was already committed."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path
from types import ModuleType

import numpy as np

from searchapp.errors import SearchAppError
from searchapp.indexing import IndexSummary
from tests.conftest import CliRunner, TinyModel
from tests.ray.conftest import PHOTOS, index, rankings
from tests.ray.library_state import StoredFile, row_counts, stored_files

EMBED_ACTOR = "BoundEmbedBatch"
log = logging.getLogger(__name__)


def assert_same_library(data_dir: Path, reference: Path) -> None:
    ours, theirs = stored_files(data_dir), stored_files(reference)
    assert sorted(ours) == sorted(theirs)
    for path, expected in theirs.items():
        got: StoredFile = ours[path]
        assert (got.status, got.error, got.content_hash) == (
            expected.status,
            expected.error,
            expected.content_hash,
        ), path
        if expected.vector is None:
            assert got.vector is None, path
        else:
            assert got.vector is not None, path
            np.testing.assert_allclose(got.vector, expected.vector, atol=1e-5)
    counts = row_counts(data_dir)
    assert counts == row_counts(reference)
    assert counts["repeated_contents"] == counts["repeated_vectors"] == 0
    assert counts["images_without_files"] == 0


def test_ray_index_stores_what_the_local_indexer_stores_and_a_repeat_duplicates_nothing(
    ray_cluster: ModuleType,
    cli: CliRunner,
    data_dir: Path,
    ray_library: Path,
    tiny_model: TinyModel,
    local_reference: Path,
) -> None:
    first = json.loads(
        cli(
            "index",
            str(ray_library),
            *tiny_model.flags,
            "--no-tag",
            "--json",
            "--ray",
            env={"SEARCHAPP_BATCH_SIZE": "4"},
        ).stdout
    )

    assert (first["indexed"], first["scanned"]) == (PHOTOS + 1, PHOTOS + 2)
    assert [(f["path"], f["reason"]) for f in first["failed"]] == [
        (str(ray_library / "broken.jpg"), "not an image, or a format this build cannot read")
    ]
    assert_same_library(data_dir, local_reference)
    ranked = rankings(data_dir)
    assert all(len(paths) >= 5 for paths in ranked)
    assert ranked == rankings(local_reference)

    again = index(data_dir, ray_library, tiny_model, "ray", reindex=True)

    assert again.embedded + again.linked == PHOTOS + 1
    assert_same_library(data_dir, local_reference)
    assert rankings(data_dir) == rankings(local_reference)
    unchanged = index(data_dir, ray_library, tiny_model, "ray")
    assert (unchanged.unchanged, unchanged.embedded, unchanged.linked) == (PHOTOS + 2, 0, 0)


def embedding_actor_pids() -> list[int]:
    """Processes of the embedding actors (Ray names them after the stage's class)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if EMBED_ACTOR in command and command.startswith("ray::"):
            found.append(int(entry.name))
    return found


def test_a_worker_killed_mid_job_leaves_a_store_that_a_rerun_completes_without_duplicates(
    ray_cluster: ModuleType,
    tmp_path: Path,
    ray_library: Path,
    tiny_model: TinyModel,
    local_reference: Path,
) -> None:
    data_dir = tmp_path / "data"
    killed: list[int] = []
    later: set[int] = set()

    def kill_the_actor_after_the_first_batch(done: int, total: int) -> None:
        if done > 0 and not killed:
            killed.extend(embedding_actor_pids())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
        elif killed:
            later.update(embedding_actor_pids())

    try:
        outcome: IndexSummary | str = index(
            data_dir, ray_library, tiny_model, "ray", progress=kill_the_actor_after_the_first_batch
        )
    except SearchAppError as exc:
        outcome = str(exc)
    assert killed, "no embedding actor was found to kill"
    if isinstance(outcome, str):
        assert "\n" not in outcome and "Run `searchapp index --ray` again" in outcome
        assert 0 < row_counts(data_dir)["files"] < PHOTOS + 2
    else:  # Ray restarted the actor and retried its batches
        assert outcome.embedded + outcome.linked + len(outcome.failed) == PHOTOS + 2
        log.info("recovered: actor %s killed, %s seen after", killed, sorted(later - set(killed)))

    rerun = index(data_dir, ray_library, tiny_model, "ray")

    assert rerun.unchanged + rerun.indexed + len(rerun.failed) == PHOTOS + 2
    assert_same_library(data_dir, local_reference)
