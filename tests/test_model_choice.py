"""Model flags are given once, at indexing; anything else is refused with a clear message."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import CliRunner, TinyModel


@pytest.fixture
def other_tiny_model(tiny_model: TinyModel, tmp_path: Path) -> TinyModel:
    """Same architecture, other weights: a different model identity."""
    import torch

    state = torch.load(tiny_model.checkpoint, weights_only=True)
    torch.manual_seed(1)
    state = {
        key: value + 0.01 * torch.randn_like(value.float()).to(value.dtype)
        if value.is_floating_point()
        else value
        for key, value in state.items()
    }
    checkpoint = tmp_path / "tiny-clip-v2.pt"
    torch.save(state, checkpoint)
    return TinyModel(tiny_model.config_path, checkpoint)


def test_index_without_flags_reuses_the_library_model(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags)

    same = cli("index", str(photo_dir), *tiny_model.flags, "--json")
    status = json.loads(cli("status", "--json").stdout)

    assert json.loads(same.stdout)["embedded"] == 0
    assert status["model"] == "tiny-clip (local checkpoint)"


def test_index_with_another_model_is_refused_without_reindex(
    cli: CliRunner, tiny_model: TinyModel, other_tiny_model: TinyModel, photo_dir: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags)

    refused = cli("index", str(photo_dir), *other_tiny_model.flags, check=False)

    assert refused.returncode == 1
    assert "was indexed with tiny-clip" in refused.stderr
    assert "--reindex" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_reindex_re_embeds_everything_with_the_new_model(
    cli: CliRunner,
    tiny_model: TinyModel,
    other_tiny_model: TinyModel,
    photo_dir: Path,
    data_dir: Path,
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags)

    summary = json.loads(
        cli("index", str(photo_dir), *other_tiny_model.flags, "--reindex", "--json").stdout
    )
    manifest = json.loads((data_dir / "vectors" / "manifest.json").read_text())

    assert summary["embedded"] == 12
    assert manifest["count"] == 12
    assert manifest["model_key"].startswith("open_clip:tiny-clip:checkpoint:")
    assert cli("search", "x", *other_tiny_model.flags, "--json").returncode == 0


def test_search_with_another_model_is_refused(
    cli: CliRunner, tiny_model: TinyModel, other_tiny_model: TinyModel, photo_dir: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags)

    refused = cli("search", "a dog", *other_tiny_model.flags, check=False)

    assert refused.returncode == 1
    assert "queries must use the same model" in refused.stderr


def test_deleted_vector_index_is_rebuilt_from_the_store(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags)
    before = json.loads(cli("search", "a boat", "--json").stdout)
    shutil.rmtree(data_dir / "vectors")

    after = json.loads(cli("search", "a boat", "--json").stdout)

    assert after == before
    manifest = json.loads((data_dir / "vectors" / "manifest.json").read_text())
    assert (data_dir / "vectors" / manifest["base"]).exists()


def test_stale_vector_index_is_rebuilt(
    cli: CliRunner, tiny_model: TinyModel, photo_dir: Path, data_dir: Path
) -> None:
    cli("index", str(photo_dir), *tiny_model.flags)
    manifest_path = data_dir / "vectors" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["generation"] -= 1
    manifest_path.write_text(json.dumps(manifest))

    results = json.loads(cli("search", "a boat", "--json", "-k", "20").stdout)

    assert len(results) == 12
    assert json.loads(manifest_path.read_text())["generation"] == manifest["generation"] + 1


def test_search_before_indexing_says_what_to_do(cli: CliRunner) -> None:
    result = cli("search", "a dog", check=False)

    assert result.returncode == 1
    assert "Run `searchapp index PATH` first" in result.stderr


def test_unknown_model_name_is_a_clear_error(cli: CliRunner, photo_dir: Path) -> None:
    result = cli("index", str(photo_dir), "--model", "ViT-B-32-typo", check=False)

    assert result.returncode == 1
    assert "Unknown model 'ViT-B-32-typo'" in result.stderr
    assert "Did you mean" in result.stderr


def test_unknown_pretrained_value_lists_the_known_tags(cli: CliRunner, photo_dir: Path) -> None:
    result = cli(
        "index", str(photo_dir), "--model", "ViT-B-32", "--pretrained", "nope", check=False
    )

    assert result.returncode == 1
    assert "neither a checkpoint file nor a known tag" in result.stderr
    assert "laion2b_s34b_b79k" in result.stderr


@pytest.mark.parametrize(
    ("env", "host"),
    [
        ({"HF_HUB_OFFLINE": "1"}, "huggingface.co"),
        ({"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}, "127.0.0.1"),
    ],
    ids=["offline-flag", "unreachable-endpoint"],
)
def test_missing_weights_fail_fast_with_a_way_out(
    cli_process: CliRunner, photo_dir: Path, env: dict[str, str], host: str, tmp_path: Path
) -> None:
    env = {**env, "HF_HOME": str(tmp_path / "empty-hf-cache")}
    started = time.monotonic()

    result = cli_process("index", str(photo_dir), check=False, env=env)

    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert "not on this machine" in result.stderr and host in result.stderr
    assert "--pretrained /path/to/weights.pt" in result.stderr
    assert "Traceback" not in result.stderr


def test_model_config_that_is_not_open_clip_is_refused(
    cli: CliRunner, tmp_path: Path, photo_dir: Path
) -> None:
    bad = tmp_path / "my-arch.json"
    bad.write_text(json.dumps({"hidden_size": 12}))

    result = cli("index", str(photo_dir), "--model-config", str(bad), check=False)

    assert result.returncode == 1
    assert "not an open_clip config: missing embed_dim, vision_cfg, text_cfg" in result.stderr


def test_checkpoint_from_another_architecture_is_refused(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path, photo_dir: Path
) -> None:
    wrong = tmp_path / "wrong.pt"
    wrong.write_bytes(b"this is not a checkpoint")

    result = cli(
        "index",
        str(photo_dir),
        "--model-config",
        str(tiny_model.config_path),
        "--pretrained",
        str(wrong),
        check=False,
    )

    assert result.returncode == 1
    assert "Could not load tiny-clip" in result.stderr
    assert json.loads(cli("status", "--json").stdout)["model"] is None
