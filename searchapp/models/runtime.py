"""Which runtime embeds: torch (fp32, bf16; fp16 on CUDA) or exported towers on ONNX Runtime
(fp32, int8), chosen by measurement on this machine, remembered, overridable.

`SEARCHAPP_RUNTIME` / `--runtime` (`auto`, `torch`, `onnx`) and `SEARCHAPP_PRECISION` /
`--precision` (`auto`, `fp32`, `bf16`, `fp16`, `int8`) decide when given. With `auto` on a CPU,
the first load of a model on a machine times each candidate on the same batch, interleaved
(torch in bf16 where the CPU has native bf16, else fp32; ONNX Runtime in fp32 where the CPU
has native bf16, else in int8; or as asked), keeps the fastest, and records the choice in
`SEARCHAPP_CACHE_DIR/calibration.json`, keyed by model, CPU and requested precision. Each
candidate is warmed up on the full batch and rated by its best round. A calibration during which
other processes kept more than `CONTENDED_CORES` busy (and used at least
`CONTENDED_MIN_CPU_S`) is used for that run and recorded as contended: the next load measures
again (under contention torch's thread pool slows several times more than
ONNX Runtime's, so a busy moment would pin the wrong runtime for good). On a GPU
torch runs (fp16). `--runtime onnx` alone runs int8 or fp32 by the same CPU rule.

The first CPU load of a model also exports its towers (`onnx_export`), whatever the runtime, so
that single-photo commands later start without torch.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from searchapp.errors import SearchAppError
from searchapp.models.cpu_contention import OtherProcessesCpu
from searchapp.models.export_cache import Manifest, load_manifest
from searchapp.models.precision import cpu_has_native_bf16, cpu_signature, cuda_possible
from searchapp.models.registry import load_embedder

if TYPE_CHECKING:
    from searchapp.config import Settings
    from searchapp.models.base import Embedder, ModelIdentity, ModelSpec

log = logging.getLogger(__name__)
CALIBRATION_FILE = "calibration.json"
CALIBRATION_BATCH = 8
CALIBRATION_ROUNDS = 3
CONTENDED_CORES = 0.3
CONTENDED_MIN_CPU_S = 0.25


@dataclass(frozen=True)
class RuntimeChoice:
    runtime: str
    precision: str
    source: str
    images_per_s: dict[str, float] = field(default_factory=dict)
    other_cores: float = 0.0
    """Cores other processes kept busy while it was measured."""
    contended: bool = False
    """Measured while other processes took enough CPU to distort it: not reused."""

    @property
    def label(self) -> str:
        return f"{self.runtime} {self.precision}"


def auto_onnx_precision() -> str:
    """ONNX Runtime's precision under `--precision auto`: int8 on CPUs without native bf16 (its
    rankings agree with fp32's on trained models, ViT and ResNet towers: README, *Runtimes on
    this machine*), fp32 where torch has native bf16 to compete with."""
    return "fp32" if cpu_has_native_bf16() else "int8"


def _onnx_precision(requested: str) -> str:
    if requested == "auto":
        return auto_onnx_precision()
    return "int8" if requested == "int8" else "fp32"


def _calibration_key(identity: ModelIdentity, settings: Settings) -> str:
    """Per model, CPU, requested precision and the ONNX precision that request measures, so a
    change of the automatic choice is measured again rather than read back."""
    requested = str(settings.precision)
    return f"{identity.key}|{cpu_signature()}|{requested}|onnx {_onnx_precision(requested)}"


def _read_calibrations(cache_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((cache_dir / CALIBRATION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remembered_choice(identity: ModelIdentity, settings: Settings) -> RuntimeChoice | None:
    entry = _read_calibrations(settings.cache_dir).get(_calibration_key(identity, settings))
    if not isinstance(entry, dict) or entry.get("runtime") not in ("torch", "onnx"):
        return None
    if entry.get("contended", True) is not False:
        return None  # measured while the machine was busy, or before that was recorded
    return RuntimeChoice(
        str(entry["runtime"]), str(entry["precision"]), "remembered", entry.get("images_per_s", {})
    )


def remember_choice(identity: ModelIdentity, settings: Settings, choice: RuntimeChoice) -> None:
    data = _read_calibrations(settings.cache_dir)
    entry = {k: v for k, v in asdict(choice).items() if k != "source"}
    data[_calibration_key(identity, settings)] = {
        **entry,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = settings.cache_dir / f".{CALIBRATION_FILE}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(temporary, settings.cache_dir / CALIBRATION_FILE)


def _images_per_s(
    embedders: dict[str, Embedder], size: int
) -> tuple[dict[str, float], OtherProcessesCpu]:
    """Each candidate's rate on the same random batch (warmed up on that batch's shape, rounds
    interleaved, best round), and the cores other processes kept busy meanwhile."""
    rng = np.random.default_rng(0)
    batch = list(rng.standard_normal((CALIBRATION_BATCH, 3, size, size), dtype=np.float32))
    inputs = {name: _as_inputs(embedder, batch) for name, embedder in embedders.items()}
    timings: dict[str, list[float]] = {name: [] for name in embedders}
    with OtherProcessesCpu() as others:
        for name, embedder in embedders.items():
            embedder.encode_images(inputs[name])
        for _ in range(CALIBRATION_ROUNDS):
            for name, embedder in embedders.items():
                started = time.perf_counter()
                embedder.encode_images(inputs[name])
                timings[name].append(time.perf_counter() - started)
    rates = {name: round(CALIBRATION_BATCH / min(t), 2) for name, t in timings.items()}
    return rates, others


def _as_inputs(embedder: Embedder, batch: list[Any]) -> list[Any]:
    if getattr(embedder, "runtime", "torch") == "onnx":
        return batch
    import torch

    return [torch.from_numpy(item) for item in batch]


def _cast(embedder: Embedder, precision: str) -> str:
    """Cast a loaded fp32 torch model to `precision` where the backend can; what it runs in."""
    cast = getattr(embedder, "use_precision", None)
    if precision != embedder.precision and cast is not None:
        cast(precision)
    return embedder.precision


class RuntimeLoader:
    """Loads the embedder of a model for indexing, in the runtime the settings or calibration
    choose. `choice` says what was chosen and why once `load` returned."""

    def __init__(self, spec: ModelSpec, settings: Settings, identity: ModelIdentity) -> None:
        self.spec = spec
        self.settings = settings
        self.identity = identity
        self.choice: RuntimeChoice | None = None

    def _torch(self, precision: str) -> Embedder:
        settings = self.settings.model_copy(update={"precision": precision, "device": "cpu"})
        return load_embedder(self.spec, settings, self.identity)

    def _exported(self, torch_fp32: Embedder | None = None) -> Manifest | None:
        """The model's export, made now (with `torch_fp32`, or a model loaded for it) if
        missing or damaged."""
        manifest = load_manifest(self.settings.cache_dir, self.identity)
        if manifest is not None:
            return manifest
        owned = torch_fp32 is None
        model = torch_fp32 if torch_fp32 is not None else self._torch("fp32")
        export = getattr(model, "export_onnx", None)
        try:
            return export(self.settings.cache_dir) if export is not None else None
        except Exception:
            log.warning("could not export %s to ONNX", self.identity.describe(), exc_info=True)
            return None
        finally:
            if owned:
                model.unload()

    def _onnx(self, manifest: Manifest | None, precision: str) -> Embedder | None:
        from searchapp.models.onnx_embedder import OnnxEmbedder

        if manifest is None or manifest.image is None or manifest.text is None:
            return None
        if precision == "int8":
            from searchapp.models.onnx_quantize import ensure_int8

            manifest = ensure_int8(manifest)
        try:
            return OnnxEmbedder(self.identity, manifest, precision)
        except ValueError:
            return None

    def _onnx_for(self, manifest: Manifest | None, requested: str) -> Embedder | None:
        """The ONNX embedder for the requested precision; under `auto`, fp32 when the int8
        towers were refused (too far from fp32 on their check inputs)."""
        precision = _onnx_precision(requested)
        embedder = self._onnx(manifest, precision)
        if embedder is None and requested == "auto" and precision == "int8":
            log.warning("no usable int8 towers of %s; using fp32", self.identity.describe())
            return self._onnx(manifest, "fp32")
        return embedder

    def load(self) -> Embedder:
        settings = self.settings
        runtime, precision = settings.runtime, str(settings.precision)
        if precision == "int8":
            if runtime == "torch":
                raise SearchAppError(
                    "int8 runs on ONNX Runtime: use --runtime onnx (or auto) with --precision int8."
                )
            runtime = "onnx"
        if precision in ("bf16", "fp16"):
            if runtime == "onnx":
                raise SearchAppError(
                    f"ONNX Runtime here runs fp32 or int8, not {precision}: use --runtime torch, "
                    "or --precision fp32 / int8."
                )
            runtime = "torch"
        if runtime != "onnx" and cuda_possible(settings.device):
            embedder = load_embedder(self.spec, settings, self.identity)
            if embedder.device == "cuda":
                self.choice = RuntimeChoice("torch", embedder.precision, "gpu")
                return embedder
            embedder.unload()
        if runtime == "onnx":
            return self._load_onnx(precision)
        if runtime == "torch":
            return self._load_torch(precision, "settings")
        remembered = remembered_choice(self.identity, settings)
        if remembered is not None:
            return self._load_remembered(remembered)
        return self._calibrate(precision)

    def _load_onnx(self, requested: str) -> Embedder:
        embedder = self._onnx_for(self._exported(), requested)
        if embedder is None:
            log.warning("no ONNX export of %s; using torch", self.identity.describe())
            return self._load_torch("fp32", "fallback")
        self.choice = RuntimeChoice("onnx", embedder.precision, "settings")
        return embedder

    def _torch_precision(self, precision: str) -> str:
        if precision == "auto":
            return "bf16" if cpu_has_native_bf16() else "fp32"
        return precision

    def _load_torch(self, precision: str, source: str) -> Embedder:
        wanted = self._torch_precision(precision)
        if load_manifest(self.settings.cache_dir, self.identity) is not None:
            embedder = self._torch(wanted)  # read straight into its precision: no fp32 copy
        else:
            embedder = self._torch("fp32")  # the export is made from fp32 weights
            self._exported(embedder)
        self.choice = RuntimeChoice("torch", _cast(embedder, wanted), source)
        return embedder

    def _load_remembered(self, remembered: RuntimeChoice) -> Embedder:
        if remembered.runtime == "onnx":
            embedder = self._onnx(self._exported(), remembered.precision)
            if embedder is not None:
                self.choice = remembered
                return embedder
        return self._load_torch(remembered.precision, "remembered")

    def _calibrate(self, precision: str) -> Embedder:
        torch_embedder = self._torch("fp32")
        manifest = self._exported(torch_embedder)
        torch_precision = _cast(torch_embedder, self._torch_precision(precision))
        onnx_embedder = self._onnx_for(manifest, precision)
        if onnx_embedder is None:
            self.choice = RuntimeChoice("torch", torch_precision, "only runtime")
            return torch_embedder
        candidates = {
            f"torch {torch_precision}": torch_embedder,
            f"onnx {onnx_embedder.precision}": onnx_embedder,
        }
        rates, others = _images_per_s(candidates, onnx_embedder.input_size)
        best = max(rates, key=lambda name: rates[name])
        runtime, chosen_precision = best.split(" ")
        contended = others.cores > CONTENDED_CORES and others.cpu_s >= CONTENDED_MIN_CPU_S
        self.choice = RuntimeChoice(
            runtime, chosen_precision, "calibration", rates, round(others.cores, 2), contended
        )
        remember_choice(self.identity, self.settings, self.choice)
        log.info("runtime calibration: %s; using %s", rates, best)
        if contended:
            log.info(
                "other processes kept %.1f cores busy during the runtime calibration: it is "
                "used for this run and measured again at the next load",
                others.cores,
            )
        loser = onnx_embedder if runtime == "torch" else torch_embedder
        loser.unload()
        return candidates[best]
