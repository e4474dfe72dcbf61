"""Change detection that `touch` cannot fool: size, mtime, ctime and inode; `index --reindex`
re-reads and re-embeds everything; `index --verify` re-hashes every file and fixes what changed."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from searchapp.config import Settings
from searchapp.store import Store
from searchapp.store.schema import files
from tests.conftest import CliRunner, TinyModel
from tests.photos import draw_photo


def _index(cli: CliRunner, folder: Path, *flags: str) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(cli("index", str(folder), *flags, "--json").stdout)
    return summary


def _replace_keeping_size_and_mtime(target: Path, seed: int) -> bytes:
    """New picture bytes in `target`, padded to its old size, its atime and mtime restored."""
    before = target.stat()
    for quality in range(90, 5, -5):
        out = io.BytesIO()
        draw_photo(seed).save(out, "JPEG", quality=quality)
        data = out.getvalue()
        if len(data) <= before.st_size:
            break
    data += b"\x00" * (before.st_size - len(data))  # bytes after the JPEG's end are ignored
    target.write_bytes(data)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    return data


def _top_hit_for(cli: CliRunner, image: Path) -> dict[str, Any]:
    results: list[dict[str, Any]] = json.loads(cli("similar", str(image), "--json").stdout)
    return results[0]


def test_replaced_content_with_restored_size_and_mtime_is_re_embedded(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, tmp_path: Path
) -> None:
    _index(cli, photo_dir, *tiny_model.flags)
    target = photo_dir / "photo_01.jpg"
    data = _replace_keeping_size_and_mtime(target, seed=4321)
    outside = tmp_path / "query.jpg"
    outside.write_bytes(data)

    summary = _index(cli, photo_dir)
    top = _top_hit_for(cli, outside)

    assert (summary["embedded"], summary["unchanged"]) == (1, 11)
    assert top["path"] == str(target) and top["score"] == pytest.approx(1.0, abs=1e-4)


def test_reindex_reads_and_re_embeds_every_photo(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    _index(cli, photo_dir, *tiny_model.flags)

    summary = _index(cli, photo_dir, "--reindex")

    assert (summary["embedded"], summary["unchanged"], summary["linked"]) == (12, 0, 0)
    assert len(json.loads(cli("search", "photo", "--json", "-k", "50").stdout)) == 12


def test_verify_re_hashes_every_file_and_re_embeds_one_whose_stat_lies(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    _index(cli, photo_dir, *tiny_model.flags)
    target = photo_dir / "trip" / "photo_03.jpg"
    data = _replace_keeping_size_and_mtime(target, seed=5555)
    outside = tmp_path / "query.jpg"
    outside.write_bytes(data)
    st = target.stat()
    store = Store(Settings(data_dir=data_dir).database_path)
    with store.engine.begin() as conn:  # a file system whose ctime and inode say nothing
        conn.execute(
            update(files)
            .where(files.c.path == str(target))
            .values(ctime_ns=st.st_ctime_ns, inode=st.st_ino)
        )
    store.close()

    plain = _index(cli, photo_dir)
    verified = _index(cli, photo_dir, "--verify")
    top = _top_hit_for(cli, outside)

    assert (plain["embedded"], plain["unchanged"]) == (0, 12)  # stat alone cannot tell
    assert (verified["embedded"], verified["unchanged"], verified["linked"]) == (1, 11, 0)
    assert top["path"] == str(target) and top["score"] == pytest.approx(1.0, abs=1e-4)
