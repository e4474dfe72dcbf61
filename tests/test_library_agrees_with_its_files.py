"""Property: any sequence of adding, modifying with the mtime restored, moving and deleting
photos, with interrupted and complete index runs between them, ends with store, vector index and
files in agreement (every photo there once with its current content, nothing else)."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.pipeline import Indexer
from searchapp.config import Settings
from searchapp.library import Library
from searchapp.models.base import ModelSpec
from tests.conftest import TinyModel
from tests.photos import draw_photo, make_photo
from tests.watching import assert_consistent, assert_matches_folder

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["add", "modify", "move", "delete", "index", "interrupted index"]),
        st.integers(min_value=0, max_value=1000),
    ),
    min_size=1,
    max_size=8,
)


def _replace_keeping_mtime(path: Path, seed: int) -> None:
    before = path.stat()
    out = io.BytesIO()
    draw_photo(seed).save(out, "JPEG", quality=80)
    path.write_bytes(out.getvalue())
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _index(library: Library, tiny_model: TinyModel, folder: Path, interrupted: bool) -> None:
    spec = ModelSpec(tiny_model.name, str(tiny_model.checkpoint), tiny_model.config_path)
    model = library.indexing_model(spec)
    stop = (lambda: True) if interrupted else None
    Indexer.for_library(library, model, should_stop=stop).run([str(folder)])


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS)
def test_any_sequence_of_changes_and_index_runs_ends_with_store_index_and_files_agreeing(
    tiny_model: TinyModel, operations: list[tuple[str, int]]
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "photos"
        data_dir = Path(scratch) / "data"
        for i in range(4):
            make_photo(folder / f"start_{i}.jpg", seed=i)
        library = Library(Settings(data_dir=data_dir, precision="fp32", batch_size=2))
        try:
            _index(library, tiny_model, folder, interrupted=False)
            for step, (operation, number) in enumerate(operations):
                photos = sorted(folder.rglob("*.jpg"))
                target = photos[number % len(photos)] if photos else None
                if operation == "add" or target is None:
                    make_photo(folder / f"added_{step}_{number}.jpg", seed=2000 + number)
                elif operation == "modify":
                    _replace_keeping_mtime(target, seed=5000 + number)
                elif operation == "move":
                    (folder / "moved").mkdir(exist_ok=True)
                    target.rename(folder / "moved" / f"{step}_{target.name}")
                elif operation == "delete":
                    target.unlink()
                else:
                    _index(library, tiny_model, folder, interrupted=operation != "index")
            _index(library, tiny_model, folder, interrupted=False)
        finally:
            library.close()

        assert_consistent(data_dir)
        assert_matches_folder(data_dir, folder, folder.rglob("*.jpg"))
