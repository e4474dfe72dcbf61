"""Which runtime embeds: measured at the first index and remembered, or as the settings say;
photos are searchable before tagging; label embeddings are shared by a model's libraries.

(A random tiny model's label scores are near-uniform, below any threshold, so "tagged" is checked
as the photos a tagging run looked at, not as tags.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from searchapp.config import Settings
from searchapp.models.base import ModelSpec
from searchapp.service import IndexReport, IndexRequest, LibraryService
from tests.conftest import CliRunner, TinyModel, run_searchapp
from tests.photos import make_photo


def _index_json(
    cli: CliRunner, photos: Path, tiny: TinyModel, *flags: str, env: dict[str, str]
) -> dict[str, Any]:
    return json.loads(cli("index", str(photos), *tiny.flags, "--json", *flags, env=env).stdout)


def test_the_first_index_measures_the_runtimes_and_later_ones_remember(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "own-cache"
    env = {"SEARCHAPP_RUNTIME": "auto", "SEARCHAPP_CACHE_DIR": str(cache)}

    first = _index_json(cli, photo_dir, tiny_model, env=env)
    other = {**env, "SEARCHAPP_DATA_DIR": str(tmp_path / "other-library")}
    second = _index_json(cli, photo_dir, tiny_model, env=other)

    assert first["runtime_source"] == "calibration"
    assert set(first["calibration_images_per_s"]) == {"torch fp32", "onnx fp32"}
    best = max(first["calibration_images_per_s"].items(), key=lambda item: item[1])[0]
    assert first["runtime"] == best
    remembered = json.loads((cache / "calibration.json").read_text())
    assert [entry["runtime"] + " " + entry["precision"] for entry in remembered.values()] == [best]
    assert (second["runtime"], second["runtime_source"]) == (best, "remembered")


def test_runtime_and_precision_flags_override_the_measurement(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    env = {"SEARCHAPP_RUNTIME": "auto"}

    report = _index_json(cli, photo_dir, tiny_model, "--runtime", "onnx", env=env)

    assert (report["runtime"], report["runtime_source"]) == ("onnx fp32", "settings")


def test_photos_are_searchable_while_tagging_has_not_run(
    tiny_model: TinyModel, photo_dir: Path, data_dir: Path
) -> None:
    seen: dict[str, object] = {}

    def search_from_another_process(report: IndexReport) -> None:
        done = run_searchapp(data_dir, "search", "a red circle", "--json", "-k", "3")
        seen["results"] = json.loads(done.stdout) if done.returncode == 0 else done.stderr
        tags = run_searchapp(data_dir, "tags", "--json")
        seen["tags"] = json.loads(tags.stdout) if tags.returncode == 0 else tags.stderr

    settings = Settings(data_dir=data_dir, precision="fp32", runtime="torch")
    spec = ModelSpec(tiny_model.name, str(tiny_model.checkpoint), tiny_model.config_path)
    with LibraryService(settings) as service:
        report = service.index(
            [photo_dir], IndexRequest(spec), on_searchable=search_from_another_process
        )

    assert isinstance(seen["results"], list) and len(seen["results"]) == 3
    assert seen["tags"] == []
    assert sum(run.images for run in report.tagging) == 12
    assert report.tagged_seconds is not None
    assert report.searchable_seconds <= report.tagged_seconds


def test_tagging_after_an_index_runs_without_the_indexing_model_which_loads_again_when_needed(
    tiny_model: TinyModel, photo_dir: Path, data_dir: Path
) -> None:
    settings = Settings(data_dir=data_dir, precision="fp32", runtime="onnx")
    spec = ModelSpec(tiny_model.name, str(tiny_model.checkpoint), tiny_model.config_path)
    loaded: list[tuple[str, bool]] = []
    with LibraryService(settings) as service:
        tag_new_photos = service.tag_new_photos

        def tag_and_note() -> tuple[list[Any], str | None]:
            loaded.append(("tagging", service.library.model_loaded))
            return tag_new_photos()

        service.tag_new_photos = tag_and_note  # type: ignore[method-assign]
        first = service.index(
            [photo_dir],
            IndexRequest(spec),
            on_searchable=lambda _: loaded.append(("searchable", service.library.model_loaded)),
        )
        make_photo(photo_dir / "new.jpg", seed=99)
        second = service.index([photo_dir], IndexRequest(spec))

    assert loaded == [("searchable", True), ("tagging", False), ("tagging", False)]
    assert sum(run.images for run in first.tagging) == 12
    assert second.summary.embedded == 1 and sum(run.images for run in second.tagging) == 1


def test_an_index_stopped_before_tagging_is_searchable_and_the_next_run_tags(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    untagged = _index_json(cli, photo_dir, tiny_model, "--no-tag", env={})
    searchable = json.loads(cli("search", "a red circle", "--json", "-k", "12").stdout)
    no_tags = json.loads(cli("tags", "--json").stdout)

    resumed = json.loads(cli("index", str(photo_dir), "--json").stdout)

    assert untagged["tagged_seconds"] is None and len(searchable) == 12 and no_tags == []
    assert resumed["embedded"] == 0
    assert sum(run["images"] for run in resumed["tagging"]) == 12


def test_a_second_library_of_the_model_reads_the_label_embeddings_from_the_user_cache(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "own-cache"
    env = {"SEARCHAPP_CACHE_DIR": str(cache)}
    _index_json(cli, photo_dir, tiny_model, env=env)
    (bank_file,) = (cache / "label-banks").glob("*.npz")
    with np.load(bank_file) as archive:
        saved = {name: archive[name] for name in archive.files}
    marked = saved["vectors"][::-1].copy()
    np.savez(bank_file, **{**saved, "vectors": marked})

    other = tmp_path / "other-library"
    _index_json(cli, photo_dir, tiny_model, env={**env, "SEARCHAPP_DATA_DIR": str(other)})

    from searchapp.store import Store

    store = Store(other / "library.sqlite3")
    try:
        model = store.active_model()
        assert model is not None
        vocabulary = store.tags.vocabulary("default")
        assert vocabulary is not None
        bank = store.tags.label_bank(vocabulary.id, model.id)
    finally:
        store.close()
    assert bank is not None
    np.testing.assert_array_equal(bank.vectors.reshape(marked.shape), marked)


def test_the_index_report_gives_the_steady_rate_from_the_first_batch_to_the_last(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    env = {"SEARCHAPP_RUNTIME": "onnx"}

    batches = _index_json(cli, photo_dir, tiny_model, "--batch-size", "4", "--no-tag", env=env)
    make_photo(photo_dir / "one-more.jpg", seed=77)
    one_batch = _index_json(cli, photo_dir, tiny_model, "--no-tag", env=env)

    assert batches["embedded"] == 12 and batches["steady_images_per_s"] > 0
    assert one_batch["embedded"] == 1 and one_batch["steady_images_per_s"] is None
