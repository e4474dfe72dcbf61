"""The demo's training saves an ordinary open_clip config and checkpoint, loaded back through
`--model-config/--pretrained` like any user model; its loss is CLIP's; its world is reproducible
and its training pictures are never the library's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from searchapp.demo.train import MODEL_NAME, TrainedModel, TrainSettings, load_trained, train
from searchapp.demo.world import LIBRARY_SEED, training_examples, write_pictures
from tests.conftest import CliRunner

QUICK = TrainSettings(steps=2, batch_size=16, warmup_steps=1)


@pytest.fixture(scope="module")
def quick_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """Two training steps: enough to save a real checkpoint, in about a second."""
    return train(tmp_path_factory.mktemp("demo-model") / "model", QUICK)


def test_checkpoint_loads_through_the_model_flags(
    cli: CliRunner, quick_model: TrainedModel, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    write_pictures(photos, 1, LIBRARY_SEED)
    flags = ["--model-config", str(quick_model.config_path)]
    flags += ["--pretrained", str(quick_model.checkpoint)]

    indexed = json.loads(cli("index", str(photos), *flags, "--json").stdout)
    results = json.loads(cli("search", "a red circle", "--top-k", "3", "--json").stdout)
    status = json.loads(cli("status", "--json").stdout)

    assert indexed["embedded"] == 30 and indexed["failed"] == []
    assert len(results) == 3
    assert status["model"] == f"{MODEL_NAME} (local checkpoint)"
    assert quick_model.flags == flags


def test_checkpoint_is_a_plain_state_dict_of_the_config(quick_model: TrainedModel) -> None:
    import open_clip
    import torch

    open_clip.add_model_config(quick_model.config_path)
    model = open_clip.create_model(MODEL_NAME, pretrained=str(quick_model.checkpoint))
    saved = torch.load(quick_model.checkpoint, weights_only=True)

    assert quick_model.config_path.stem == MODEL_NAME
    assert set(saved) == set(model.state_dict())
    assert open_clip.get_tokenizer(MODEL_NAME).context_length == 20
    assert load_trained(quick_model.checkpoint.parent) == quick_model
    assert quick_model.report["steps"] == QUICK.steps


def test_loss_is_clips_symmetric_contrastive_loss() -> None:
    import torch
    from open_clip.loss import ClipLoss

    from searchapp.demo.train import contrastive_loss

    torch.manual_seed(0)
    images, texts = torch.randn(8, 16), torch.randn(8, 16)
    logit_scale = torch.tensor(2.5)
    normalize = torch.nn.functional.normalize
    reference = ClipLoss()(normalize(images, dim=-1), normalize(texts, dim=-1), logit_scale.exp())

    assert torch.allclose(contrastive_loss(images, texts, logit_scale), reference)


def test_world_is_reproducible_and_training_never_draws_a_library_picture(tmp_path: Path) -> None:
    from PIL import Image

    first = write_pictures(tmp_path / "a", 1, LIBRARY_SEED)
    second = write_pictures(tmp_path / "b", 1, LIBRARY_SEED)
    library = {Image.open(p.path).convert("RGB").tobytes() for p in first}
    step_zero = [image.tobytes() for image, _ in training_examples(0, 64)]
    later = {image.tobytes() for step in range(1, 4) for image, _ in training_examples(step, 64)}

    assert [p.path.read_bytes() for p in first] == [p.path.read_bytes() for p in second]
    assert step_zero == [image.tobytes() for image, _ in training_examples(0, 64)]
    assert not library & (set(step_zero) | later)
    assert len(set(step_zero) | later) == 4 * 64


def test_only_the_demo_command_imports_the_demo_package() -> None:
    root = Path(__file__).resolve().parent.parent
    demo_files = {root / "searchapp" / "cli" / "demo.py"}
    importers = [
        path.relative_to(root)
        for folder in ("searchapp", "indexer", "ui")
        for path in (root / folder).rglob("*.py")
        if "searchapp.demo" in path.read_text(encoding="utf-8")
        and path not in demo_files
        and (root / "searchapp" / "demo") not in path.parents
    ]

    assert importers == []


def test_the_ui_hook_starts_the_ui_only_once_there_is_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import ui
    from searchapp.cli.demo import start_ui

    monkeypatch.delattr(ui, "serve", raising=False)
    without = start_ui(tmp_path)
    served: list[Path] = []
    monkeypatch.setattr(ui, "serve", served.append, raising=False)

    assert without is False
    assert start_ui(tmp_path) is True and served == [tmp_path]
