"""The Milvus backend through the real CLI: the same photos give the same results as on FAISS,
`index` writes new photos to the collection and removes deleted ones, a collection that is not
this library's and model's is rebuilt rather than served, and an unreachable Milvus is one line."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.backends import needs_milvus
from tests.conftest import CliRunner, TinyModel
from tests.photos import make_photo

pytestmark = needs_milvus
QUERIES = ["a photo", "a dog on the beach"]


def _milvus_env(tmp_path: Path) -> dict[str, str]:
    return {"SEARCHAPP_VECTOR_BACKEND": "milvus", "SEARCHAPP_MILVUS_URI": str(tmp_path / "m.db")}


def _hits(cli: CliRunner, env: dict[str, str], *args: str) -> list[tuple[int, str, float]]:
    rows: list[dict[str, Any]] = json.loads(cli(*args, "--json", env=env).stdout)
    return [(row["id"], row["path"], row["score"]) for row in rows]


def _collection(uri: Path) -> tuple[list[int], dict[str, Any]]:
    """The ids and properties of the one collection in a milvus-lite file."""
    from pymilvus import MilvusClient

    from searchapp.milvus_client import release

    client = MilvusClient(str(uri))
    try:
        (name,) = client.list_collections()
        client.load_collection(name)
        rows = client.query(name, filter="id >= 0", output_fields=["id"], limit=10_000)
        return sorted(int(row["id"]) for row in rows), client.describe_collection(name)[
            "properties"
        ]
    finally:
        release(client, str(uri))


def _store_ids(data_dir: Path) -> list[int]:
    import sqlite3

    with sqlite3.connect(data_dir / "library.sqlite3") as db:
        return sorted(row[0] for row in db.execute("SELECT id FROM embeddings"))


def test_search_and_similar_on_milvus_equal_faiss_for_the_same_photos(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, tmp_path: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")
    milvus = _milvus_env(tmp_path)
    searches = [("search", q, "--top-k", "5") for q in QUERIES]
    searches.append(("search", "a photo", "--folder", str(photo_dir / "trip")))
    searches.append(("similar", str(photo_dir / "photo_04.jpg"), "--top-k", "8"))

    for args in searches:
        on_faiss = _hits(cli, {}, *args)
        on_milvus = _hits(cli, milvus, *args)
        assert [(i, p) for i, p, _ in on_milvus] == [(i, p) for i, p, _ in on_faiss], args
        assert [s for *_, s in on_milvus] == pytest.approx([s for *_, s in on_faiss], abs=1e-5)
        assert on_faiss


def test_index_writes_new_photos_to_milvus_and_removes_deleted_ones(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    milvus = _milvus_env(tmp_path)
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag", env=milvus)
    first, properties = _collection(tmp_path / "m.db")
    new = make_photo(photo_dir / "later" / "new.jpg", seed=500)
    (photo_dir / "photo_01.jpg").unlink()

    cli("index", str(photo_dir), "--no-tag", env=milvus)
    after, _ = _collection(tmp_path / "m.db")
    found = _hits(cli, milvus, "similar", str(new), "--top-k", "1")

    assert first == list(range(1, 13)) and len(after) == 12
    assert after == _store_ids(data_dir) and after != first
    assert properties["searchapp.model_key"].startswith("open_clip")
    assert found[0][1] == str(new) and found[0][2] == pytest.approx(1.0, abs=1e-4)


def test_a_collection_tagged_with_another_model_is_rebuilt_not_served(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, tmp_path: Path
) -> None:
    from pymilvus import MilvusClient

    from searchapp.milvus_client import release

    milvus = _milvus_env(tmp_path)
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag", env=milvus)
    expected = _hits(cli, milvus, "search", "a photo", "--top-k", "12")
    uri = str(tmp_path / "m.db")
    client = MilvusClient(uri)
    (name,) = client.list_collections()
    client.delete(name, ids=[expected[0][0]])  # damage that a served collection would show
    client.alter_collection_properties(name, properties={"searchapp.model_key": "another"})
    release(client, uri)

    again = _hits(cli, milvus, "search", "a photo", "--top-k", "12")
    ids, properties = _collection(tmp_path / "m.db")

    assert again == expected
    assert properties["searchapp.model_key"] != "another" and len(ids) == 12


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", [("search", "a dog"), ("serve", "--port")])
def test_an_unreachable_milvus_is_one_line_at_start(
    cli_process: CliRunner, cli: CliRunner, tiny_model: TinyModel, photo_dir: Path,
    command: tuple[str, ...],
) -> None:  # fmt: skip
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")
    uri = f"http://127.0.0.1:{_closed_port()}"
    env = {"SEARCHAPP_VECTOR_BACKEND": "milvus", "SEARCHAPP_MILVUS_URI": uri}

    if command[0] == "serve":
        command = (*command, str(_closed_port()))  # it must stop before listening anywhere

    result = cli_process(*command, check=False, env=env)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"Error: Cannot reach Milvus at {uri}")
    assert "Start the Milvus server, or set SEARCHAPP_MILVUS_URI" in lines[0]


def test_an_unknown_vector_backend_is_one_line(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")

    result = cli("search", "a dog", check=False, env={"SEARCHAPP_VECTOR_BACKEND": "qdrant"})

    assert result.returncode == 1
    assert "Unknown vector backend 'qdrant' (SEARCHAPP_VECTOR_BACKEND)" in result.stderr
    assert "faiss, milvus" in result.stderr
