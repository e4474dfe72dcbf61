"""`searchapp models fetch NAME --to FILE` saves a model's weights as one file for an offline
machine, which then indexes with `--pretrained FILE`; offline it fails at once with one line and
leaves no file. The weights come from a pretrained tag registered here whose URL is a local
`file://` one (the suite never touches the network), through open_clip's own download path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CliRunner, TinyModel


@pytest.fixture
def tiny_tags(tiny_model: TinyModel) -> Iterator[None]:
    """Pretrained tags of the tiny model, as open_clip keeps them for the real ones."""
    from open_clip import pretrained

    pretrained._PRETRAINED[tiny_model.name] = {
        "local": pretrained._pcfg(url=tiny_model.checkpoint.as_uri()),
        "hub": pretrained._pcfg(hf_hub="searchapp-tests/no-such-repo/"),
    }
    yield
    del pretrained._PRETRAINED[tiny_model.name]


@pytest.mark.usefixtures("tiny_tags")
def test_fetched_weights_are_the_checkpoint_and_index_offline(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path, photo_dir: Path
) -> None:
    target = tmp_path / "usb stick" / "tiny.pt"

    fetched = cli("models", "fetch", tiny_model.name, "--pretrained", "local", "--to", str(target))
    indexed = cli(
        "index", str(photo_dir), "--model-config", str(tiny_model.config_path),
        "--pretrained", str(target), "--no-tag",
    )  # fmt: skip

    assert target.read_bytes() == tiny_model.checkpoint.read_bytes()
    assert f"saved {tiny_model.name} (local) to {target}" in fetched.stdout
    assert "Indexed 12 " in indexed.stdout
    assert [p.name for p in target.parent.iterdir()] == ["tiny.pt"]  # no temporary left


@pytest.mark.usefixtures("tiny_tags")
def test_offline_fetch_is_one_line_that_says_what_to_do_and_writes_nothing(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    target = tmp_path / "tiny.pt"

    result = cli(
        "models", "fetch", tiny_model.name, "--pretrained", "hub", "--to", str(target),
        check=False, env={"HF_HUB_OFFLINE": "1"},
    )  # fmt: skip

    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "this machine is offline" in result.stderr
    assert "on a machine with internet access, copy FILE here" in result.stderr
    assert not target.exists()


@pytest.mark.usefixtures("tiny_tags")
def test_a_model_with_several_tags_asks_which(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path
) -> None:
    result = cli("models", "fetch", tiny_model.name, "--to", str(tmp_path / "w.pt"), check=False)

    assert result.returncode != 0
    assert "has several pretrained tags; choose one with --pretrained: local, hub" in result.stderr


def test_models_still_lists_architectures_and_tags(cli: CliRunner) -> None:
    listing = cli("models").stdout.splitlines()

    assert "ViT-B-32-256\tdatacomp_s34b_b86k" in listing
