"""Train the demo's tiny CLIP model on freshly drawn pictures of the synthetic world.

The model is an ordinary open_clip architecture (`MODEL_CONFIG`, saved as `<name>.json`) and its
weights an ordinary state dict (`<name>.pt`), so it loads through `--model-config/--pretrained`
like any user model. Training is the standard CLIP recipe, scaled down: symmetric contrastive
(InfoNCE) loss over in-batch pairs with a learnable temperature, AdamW, linear warm-up and cosine
decay, every step on pictures never drawn before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from searchapp.demo.world import training_examples, world_fingerprint

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

MODEL_NAME = "searchapp-demo-clip"
# A CLIP ResNet image tower (open_clip's ModifiedResNet, OpenAI's RN50 design at a quarter of its
# width, one block per stage) and a 2-layer text transformer. Measured on 2 CPU cores, this one
# passes every threshold of the semantic test after about 200 steps of 256 pairs (seeds 0 to 3
# of the init seed); tiny ViTs (patch 4 or 8, widths 64-128, 2-4 layers) needed 500 to 800
# steps of 256-512 pairs, well over the 3-minute budget.
MODEL_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 16},
    "text_cfg": {"context_length": 20, "vocab_size": 49408, "width": 96, "heads": 3, "layers": 2},
}
RECIPE_VERSION = 1  # bump when a change to the training code changes the weights it makes
MAX_LOGIT_SCALE = math.log(100.0)
TRAINING_FILE = "training.json"

ProgressCallback = Callable[[int, int, float], None]


@dataclass(frozen=True)
class TrainSettings:
    """What decides the trained weights (`max_seconds` only stops a slow machine early)."""

    steps: int = 300
    batch_size: int = 256
    learning_rate: float = 3e-3
    warmup_steps: int = 30
    weight_decay: float = 0.1
    seed: int = 0
    max_seconds: float = 170.0

    def fingerprint(self) -> str:
        """Names the cached model: the world, the architecture and these settings."""
        settings = {k: v for k, v in asdict(self).items() if k != "max_seconds"}
        payload = {
            "world": world_fingerprint(),
            "config": MODEL_CONFIG,
            "train": settings,
            "recipe": RECIPE_VERSION,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TrainedModel:
    """A config and checkpoint on disk, with what training reported."""

    config_path: Path
    checkpoint: Path
    report: dict[str, Any]

    @property
    def flags(self) -> list[str]:
        """The `searchapp index` flags that load this model."""
        return ["--model-config", str(self.config_path), "--pretrained", str(self.checkpoint)]


def contrastive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE: each picture must pick its caption among the batch's, and each caption
    its picture; `logit_scale` is the learnable inverse temperature (in log space)."""
    import torch
    import torch.nn.functional as F

    image_features = F.normalize(image_features, dim=-1)
    text_features = F.normalize(text_features, dim=-1)
    logits = logit_scale.exp() * image_features @ text_features.T
    labels = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """CLIP's convention: no weight decay on biases, norms, embeddings and the temperature."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        skip = parameter.ndim < 2 or "embedding" in name or "logit_scale" in name
        (no_decay if skip else decay).append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _learning_rate(step: int, elapsed: float, settings: TrainSettings) -> float:
    """Linear warm-up, then cosine decay to zero over the steps, or over the time budget if
    that runs out first: a slow machine trains fewer steps but still ends with a decayed rate.
    (On a machine fast enough to finish in time, the time term never counts, so the schedule
    and the weights depend on the settings alone.)"""
    if step < settings.warmup_steps:
        return settings.learning_rate * (step + 1) / settings.warmup_steps
    by_steps = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
    progress = min(1.0, max(by_steps, elapsed / settings.max_seconds))
    return settings.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def _optimizer(model: torch.nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    """AdamW with CLIP's betas; the fused kernel when this torch has it on CPU (an eighth of
    the time of the default one, which otherwise costs a sixth of every step)."""
    import torch

    groups = _parameter_groups(model, settings.weight_decay)
    options: dict[str, Any] = {"lr": settings.learning_rate, "betas": (0.9, 0.98), "eps": 1e-6}
    try:
        return torch.optim.AdamW(groups, fused=True, **options)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, **options)


def create_model(config_path: Path) -> tuple[Any, Any, Any]:
    """The untrained model, its inference preprocessing and its tokenizer (SimpleTokenizer)."""
    import open_clip

    open_clip.add_model_config(config_path)
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL_NAME)
    return model, preprocess, open_clip.get_tokenizer(MODEL_NAME)


Pixels = Callable[[Sequence[Image.Image]], "torch.Tensor"]


def _batch_pixels(size: int, mean: torch.Tensor, std: torch.Tensor) -> Pixels:
    """open_clip's default preprocessing (bicubic resize, centre crop, scale to [0, 1],
    normalise) for a batch of square pictures at once, instead of picture by picture."""
    import numpy as np
    import torch

    def pixels(pictures: Sequence[Image.Image]) -> torch.Tensor:
        array = np.stack(
            [np.asarray(p.resize((size, size), Image.Resampling.BICUBIC)) for p in pictures]
        )
        batch = torch.from_numpy(array).permute(0, 3, 1, 2).float().div(255)
        return (batch - mean) / std

    return pixels


def pixel_function(preprocess: Any) -> Pixels:
    """Preprocessing for training batches that gives exactly the indexer's pixels: the batched
    form when it matches the model's own transform on sample pictures, else that transform."""
    import torch

    def one_by_one(pictures: Sequence[Image.Image]) -> torch.Tensor:
        return torch.stack([preprocess(p) for p in pictures])

    steps = {type(step).__name__: step for step in getattr(preprocess, "transforms", [])}
    resize, normalize = steps.get("Resize"), steps.get("Normalize")
    if resize is None or normalize is None or not isinstance(resize.size, int):
        return one_by_one
    mean = torch.tensor(normalize.mean).view(1, 3, 1, 1)
    std = torch.tensor(normalize.std).view(1, 3, 1, 1)
    batched = _batch_pixels(resize.size, mean, std)
    samples = [image for image, _ in training_examples(-1, 8)]
    if torch.allclose(batched(samples), one_by_one(samples), atol=1e-5):
        return batched
    log.info("batched preprocessing differs from the model's; preprocessing one by one")
    return one_by_one


class CachedTokenizer:
    """The model's tokenizer, remembering each caption's tokens: the world's grammar has a few
    thousand captions, which would otherwise be tokenized again at every step."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._rows: dict[str, torch.Tensor] = {}

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        import torch

        new = [text for text in dict.fromkeys(texts) if text not in self._rows]
        if new:
            self._rows.update(zip(new, self._tokenizer(new), strict=True))
        return torch.stack([self._rows[text] for text in texts])


def _batch(
    step: int, batch_size: int, pixels: Pixels, tokenizer: CachedTokenizer
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pictures preprocessed exactly as the indexer preprocesses photos, and their captions."""
    pictures, captions = zip(*training_examples(step, batch_size), strict=True)
    return pixels(pictures), tokenizer(list(captions))


def train(
    output_dir: Path, settings: TrainSettings, progress: ProgressCallback | None = None
) -> TrainedModel:
    """Train from scratch and save `<MODEL_NAME>.json`, `.pt` and `training.json` into
    `output_dir` (written elsewhere first, then moved into place)."""
    import torch

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".training-", dir=output_dir.parent))
    try:
        config_path = staging / f"{MODEL_NAME}.json"
        config_path.write_text(json.dumps(MODEL_CONFIG, indent=2))
        torch.manual_seed(settings.seed)
        model, preprocess, tokenizer = create_model(config_path)
        model.train()
        optimizer = _optimizer(model, settings)
        pixels = pixel_function(preprocess)
        tokens = CachedTokenizer(tokenizer)
        report = _optimise(model, optimizer, pixels, tokens, settings, progress)
        model.eval()
        torch.save(model.state_dict(), staging / f"{MODEL_NAME}.pt")
        (staging / TRAINING_FILE).write_text(json.dumps(report, indent=2))
        if output_dir.exists():
            shutil.rmtree(output_dir)
        os.replace(staging, output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return TrainedModel(output_dir / f"{MODEL_NAME}.json", output_dir / f"{MODEL_NAME}.pt", report)


# Training runs in fp32: bf16 autocast made a training step 15-20x slower on the 2-core AVX2
# machine (no native bf16) where it was measured, with the tiny ViTs tried first.
def _optimise(
    model: Any,
    optimizer: torch.optim.Optimizer,
    pixels: Pixels,
    tokenizer: CachedTokenizer,
    settings: TrainSettings,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    """The training loop; the next batch is drawn in a thread while this one trains."""
    import torch

    started, cpu_started = time.perf_counter(), time.process_time()
    loss_value = float("nan")
    done = 0
    with ThreadPoolExecutor(1, thread_name_prefix="draw") as drawer:
        upcoming: Future[tuple[torch.Tensor, torch.Tensor]] = drawer.submit(
            _batch, 0, settings.batch_size, pixels, tokenizer
        )
        for step in range(settings.steps):
            images, texts = upcoming.result()
            if step + 1 < settings.steps:
                upcoming = drawer.submit(_batch, step + 1, settings.batch_size, pixels, tokenizer)
            elapsed = time.perf_counter() - started
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(step, elapsed, settings)
            loss = contrastive_loss(
                model.encode_image(images), model.encode_text(texts), model.logit_scale
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
            loss_value = float(loss.detach())
            done = step + 1
            elapsed = time.perf_counter() - started
            if progress is not None:
                progress(done, settings.steps, loss_value)
            if step % 50 == 0:
                log.info("step %d/%d loss %.4f (%.0f s)", done, settings.steps, loss_value, elapsed)
            if elapsed > settings.max_seconds and done < settings.steps:
                log.warning(
                    "training stopped at step %d of %d: over its %.0f s budget",
                    done,
                    settings.steps,
                    settings.max_seconds,
                )
                break
    return {
        "steps": done,
        "planned_steps": settings.steps,
        "final_loss": round(loss_value, 4),
        "temperature": round(1 / float(model.logit_scale.detach().exp()), 4),
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
        "threads": torch.get_num_threads(),
        "settings": asdict(settings),
        "fingerprint": settings.fingerprint(),
    }


def load_trained(output_dir: Path) -> TrainedModel | None:
    """A model `train` saved in `output_dir`, or None."""
    config_path = output_dir / f"{MODEL_NAME}.json"
    checkpoint = output_dir / f"{MODEL_NAME}.pt"
    report_path = output_dir / TRAINING_FILE
    if not (config_path.is_file() and checkpoint.is_file() and report_path.is_file()):
        return None
    try:
        report = json.loads(report_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return TrainedModel(config_path, checkpoint, dict(report))


def model_dir(cache_dir: Path, settings: TrainSettings) -> Path:
    """Where the model trained with `settings` is cached."""
    return cache_dir / f"{MODEL_NAME}-{settings.fingerprint()}"
