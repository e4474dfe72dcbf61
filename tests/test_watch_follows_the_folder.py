"""`searchapp watch` follows a folder through real file-system events: each change shows in the
library within a bounded wait. One indexer serves the module; each test uses its own subfolder."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CliRunner, TinyModel, run_searchapp
from tests.photos import make_photo
from tests.watching import IndexerProcess, content_hash, embedding_id_of

SETTLE = 0.5


@pytest.fixture(scope="module")
def library_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("watched") / "photos"
    for i in range(3):
        make_photo(root / "before" / f"old_{i}.jpg", seed=1000 + i)
    return root


@pytest.fixture(scope="module")
def indexer(library_root: Path, tiny_model: TinyModel) -> Iterator[IndexerProcess]:
    process = IndexerProcess(
        library_root.parent / "data", tiny_model, [library_root], settle=SETTLE
    )
    process.wait_idle()
    yield process
    assert process.stop() == 0, process.log()[-4000:]


def test_photos_already_there_are_indexed_by_the_first_scan(
    indexer: IndexerProcess, library_root: Path
) -> None:
    before = library_root / "before"

    assert indexer.ok_paths(before) == {str(p) for p in before.glob("*.jpg")}


def test_watch_says_it_is_loading_the_model_and_when_it_has(indexer: IndexerProcess) -> None:
    log = indexer.log()

    assert "loading the model tiny-clip" in log
    assert re.search(r"model loaded in \d+\.\d s", log), log[-2000:]


def test_a_new_photo_is_indexed(indexer: IndexerProcess, library_root: Path) -> None:
    photo = make_photo(library_root / "new" / "arrived.jpg", seed=1)

    indexer.wait_for(lambda: str(photo) in indexer.ok_paths(photo.parent), "the new photo")

    assert indexer.files(photo)[str(photo)].content_hash == content_hash(photo)


def test_a_modified_photo_is_re_embedded(indexer: IndexerProcess, library_root: Path) -> None:
    photo = make_photo(library_root / "edited" / "photo.jpg", seed=2)
    indexer.wait_for(lambda: str(photo) in indexer.ok_paths(photo.parent), "the photo")

    make_photo(photo, seed=3)
    new_hash = content_hash(photo)

    indexer.wait_for(
        lambda: indexer.files(photo)[str(photo)].content_hash == new_hash, "the new content"
    )
    assert indexer.files(photo)[str(photo)].embedded


def test_a_photo_moved_to_another_folder_is_linked_not_re_embedded(
    indexer: IndexerProcess, library_root: Path
) -> None:
    photo = make_photo(library_root / "moves" / "from" / "photo.jpg", seed=4)
    indexer.wait_for(lambda: str(photo) in indexer.ok_paths(photo.parent), "the photo")
    vector_id = embedding_id_of(indexer.store, str(photo))
    target = library_root / "moves" / "to" / "photo.jpg"
    target.parent.mkdir(parents=True)

    shutil.move(photo, target)

    indexer.wait_for(lambda: indexer.ok_paths(library_root / "moves") == {str(target)}, "the move")
    assert embedding_id_of(indexer.store, str(target)) == vector_id


def test_a_renamed_folder_follows_without_re_embedding(
    indexer: IndexerProcess, library_root: Path
) -> None:
    trip = library_root / "trips" / "2024"
    photos = [make_photo(trip / "day" / f"p{i}.jpg", seed=10 + i) for i in range(4)]
    indexer.wait_for(lambda: len(indexer.ok_paths(trip)) == 4, "the trip")
    ids = {embedding_id_of(indexer.store, str(p)) for p in photos}
    renamed = library_root / "trips" / "2024 Italy"

    trip.rename(renamed)

    expected = {str(renamed / "day" / p.name) for p in photos}
    indexer.wait_for(
        lambda: indexer.ok_paths(library_root / "trips") == expected, "the renamed folder"
    )
    assert {embedding_id_of(indexer.store, p) for p in expected} == ids


def test_deleted_photos_and_folders_leave_the_index(
    indexer: IndexerProcess, library_root: Path
) -> None:
    folder = library_root / "deletions"
    single = make_photo(folder / "single.jpg", seed=20)
    whole = [make_photo(folder / "whole" / f"p{i}.jpg", seed=21 + i) for i in range(3)]
    indexer.wait_for(lambda: len(indexer.ok_paths(folder)) == 4, "the photos")

    single.unlink()
    shutil.rmtree(folder / "whole")

    indexer.wait_for(lambda: not indexer.files(folder), "the deletions")
    assert not any(indexer.files(p) for p in whole)


def test_a_photo_with_a_non_utf8_name_is_indexed_and_forgotten(
    indexer: IndexerProcess, library_root: Path
) -> None:
    folder = library_root / "latin-1"
    folder.mkdir()
    photo = os.fsdecode(os.fsencode(folder) + b"/caf\xe9.jpg")
    try:
        make_photo(Path(photo), seed=40)
    except OSError:
        pytest.skip("this file system only takes UTF-8 names")

    indexer.wait_for(lambda: photo in indexer.ok_paths(folder), "the non-UTF-8 name")
    os.unlink(photo)

    indexer.wait_for(lambda: not indexer.files(folder), "its deletion")


def test_a_photo_still_being_written_is_read_only_once_complete(
    indexer: IndexerProcess, library_root: Path, tmp_path: Path
) -> None:
    source = make_photo(tmp_path / "big.png", seed=30, size=(640, 480))
    data = source.read_bytes()
    target = library_root / "downloads" / "big.png"
    target.parent.mkdir()
    seen: set[str | None] = set()

    chunk = len(data) // 16 + 1

    with open(target, "wb") as out:  # 16 writes over ~3 settle periods, never a pause of one
        for start in range(0, len(data), chunk):
            out.write(data[start : start + chunk])
            out.flush()
            os.fsync(out.fileno())
            known = indexer.files(target).get(str(target))
            seen.add(known.status if known else None)
            time.sleep(SETTLE / 5)

    indexer.wait_for(lambda: str(target) in indexer.ok_paths(target.parent), "the finished file")
    assert seen == {None}
    assert indexer.files(target)[str(target)].content_hash == content_hash(target)


def test_hidden_and_thumbnail_folders_stay_out(indexer: IndexerProcess, library_root: Path) -> None:
    folder = library_root / "ignored"
    make_photo(folder / ".hidden" / "secret.jpg", seed=40)
    make_photo(folder / "@eaDir" / "thumb.jpg", seed=41)
    make_photo(folder / ".dotfile.jpg", seed=42)
    # Events are handled in order of arrival: once this one is in, the others were looked at.
    last = make_photo(folder / "visible.jpg", seed=43)

    indexer.wait_for(lambda: str(last) in indexer.ok_paths(folder), "the visible photo")
    indexer.wait_idle()

    assert set(indexer.files(folder)) == {str(last)}


def test_a_root_added_while_running_is_watched(indexer: IndexerProcess, tmp_path: Path) -> None:
    other = tmp_path / "camera-import"
    first = make_photo(other / "a.jpg", seed=50)

    added = run_searchapp(indexer.data_dir, "roots", "add", str(other))
    indexer.wait_for(lambda: indexer.ok_paths(other) == {str(first)}, "the new root's photo")
    second = make_photo(other / "b.jpg", seed=51)

    indexer.wait_for(lambda: str(second) in indexer.ok_paths(other), "a photo added to it")
    assert added.returncode == 0 and "added" in added.stdout


def test_a_second_indexer_on_the_same_library_is_refused(
    indexer: IndexerProcess, library_root: Path
) -> None:
    result = run_searchapp(indexer.data_dir, "index", str(library_root))

    assert result.returncode == 1
    assert "Another indexer (searchapp watch, pid" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_reports_the_running_indexer(indexer: IndexerProcess) -> None:
    import json

    indexer.wait_idle()
    report = json.loads(run_searchapp(indexer.data_dir, "status", "--json").stdout)["indexer"]

    assert report["running"] is True
    assert report["state"] == "idle" and report["queue_length"] == 0
    assert report["pid"] == indexer.process.pid
    assert report["indexed"] >= 3 and report["last_full_scan_at"]


def test_a_model_that_cannot_load_stops_the_indexer_at_start_with_one_line(
    tiny_model: TinyModel, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"\x80\x02 not a checkpoint" * 100)
    (tmp_path / "photos").mkdir()

    result = run_searchapp(
        tmp_path / "data",
        "watch",
        str(tmp_path / "photos"),
        "--model-config",
        str(tiny_model.config_path),
        "--pretrained",
        str(broken),
        timeout=120,
    )

    assert result.returncode == 1
    assert "Error: Could not load" in result.stderr
    assert "Traceback" not in result.stderr


def test_new_photos_are_tagged_with_the_stored_vocabularies_as_index_does(
    indexer: IndexerProcess, library_root: Path
) -> None:
    photo = make_photo(library_root / "to-tag" / "photo.jpg", seed=60)
    indexer.wait_for(lambda: str(photo) in indexer.ok_paths(photo.parent), "the photo")
    indexer.wait_idle()
    model = indexer.store.active_model()
    assert model is not None

    vocabularies = indexer.store.tags.vocabularies()

    assert vocabularies
    assert all(indexer.store.tags.untagged_count(v.id, model.id) == 0 for v in vocabularies)


def test_an_ignore_pattern_added_while_running_takes_matching_photos_out_and_back(
    indexer: IndexerProcess, library_root: Path
) -> None:
    folder = library_root / "sharing"
    private = make_photo(folder / "private" / "x.jpg", seed=70)
    public = make_photo(folder / "public" / "y.jpg", seed=71)
    both = {str(private), str(public)}
    indexer.wait_for(lambda: indexer.ok_paths(folder) == both, "the photos")

    run_searchapp(indexer.data_dir, "roots", "ignore", "private")
    indexer.wait_for(lambda: indexer.ok_paths(folder) == {str(public)}, "the ignored one to go")
    run_searchapp(indexer.data_dir, "roots", "unignore", "private")

    indexer.wait_for(lambda: indexer.ok_paths(folder) == both, "it to come back")


def test_a_root_found_empty_at_start_keeps_its_photos_as_for_an_unmounted_drive(
    cli: CliRunner, tiny_model: TinyModel, data_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "usb-drive"
    photos = {str(make_photo(root / f"p{i}.jpg", seed=80 + i)) for i in range(3)}
    cli("index", str(root), *tiny_model.flags)
    shutil.move(root, tmp_path / "elsewhere")
    root.mkdir()  # what an unmounted drive leaves: its empty mount point

    second = IndexerProcess(data_dir, tiny_model, [root])
    second.wait_idle()
    kept = second.ok_paths(root)
    errors = second.store.indexer_status.recent_errors()
    assert second.stop() == 0

    assert kept == photos
    assert any("is empty" in error.reason for error in errors)
