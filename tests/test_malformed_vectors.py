"""A stored vector of the wrong size (a damaged row) is reported in one line that names the
repair, by search and by `doctor`, and `doctor --repair` re-embeds it: never a NumPy traceback."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from tests.conftest import CliRunner, TinyModel


def _cut_one_vector(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "library.sqlite3") as conn:
        (embedding_id,) = conn.execute("SELECT min(id) FROM embeddings").fetchone()
        conn.execute(
            "UPDATE embeddings SET vector = substr(vector, 1, 12) WHERE id = ?", (embedding_id,)
        )
    return int(embedding_id)


def _vector_bytes(data_dir: Path) -> set[int]:
    with sqlite3.connect(data_dir / "library.sqlite3") as conn:
        return {int(n) for (n,) in conn.execute("SELECT DISTINCT length(vector) FROM embeddings")}


def test_a_cut_vector_is_one_line_and_doctor_repair_re_embeds_it(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")
    widths = _vector_bytes(data_dir)
    bad_id = _cut_one_vector(data_dir)
    shutil.rmtree(data_dir / "vectors", ignore_errors=True)

    for args in (("search", "a photo"), ("search", "a photo", "--folder", str(photo_dir))):
        result = cli(*args, check=False)
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0 and len(lines) == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert f"the vector {bad_id} has 12 bytes" in lines[0], lines[0]
        assert "searchapp doctor --repair" in lines[0]

    checked = json.loads(cli("doctor", "--json", check=False).stdout)
    vectors = next(f for f in checked["findings"] if f["part"] == "vectors")
    assert not checked["healthy"] and not vectors["ok"] and str(bad_id) in vectors["message"]

    repaired = json.loads(cli("doctor", "--repair", "--json", check=False).stdout)
    vectors = next(f for f in repaired["findings"] if f["part"] == "vectors")
    assert repaired["healthy"], repaired["findings"][1:3]
    assert "re-embedded" in vectors["repaired"]
    assert _vector_bytes(data_dir) == widths
    assert json.loads(cli("search", "a photo", "--json").stdout)
