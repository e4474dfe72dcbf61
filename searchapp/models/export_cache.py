"""Exported model graphs in the per-user cache, one directory per model identity.

An export is shared by every library of the same model (`SEARCHAPP_CACHE_DIR/exports/<id>/`). Its
`manifest.json` says which model made it, what each file must be (size and a fingerprint), how
images are preprocessed and texts tokenised, and the model's zero-shot constants, so that a
command can embed with ONNX Runtime without importing torch or open_clip. A manifest of another
model or format, a missing file, or a file whose size or fingerprint changed makes the export
stale or damaged: `load_manifest` returns None and the export is built again.

Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from searchapp.file_stamps import FileStamps
from searchapp.models.base import ModelIdentity

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
IMAGE_GRAPH = "image.onnx"
TEXT_GRAPH = "text.onnx"
STAMPS = "verified.json"
FINGERPRINT_BLOCK = 1 << 16
FINGERPRINT_BLOCKS = 64


def int8_name(graph: str) -> str:
    return graph.replace(".onnx", "-int8.onnx")


def export_dir(cache_dir: Path, identity: ModelIdentity) -> Path:
    digest = hashlib.sha256(identity.key.encode()).hexdigest()[:20]
    return cache_dir / "exports" / digest


def file_fingerprint(path: Path) -> str:
    """SHA-256 over the size and 64 blocks of 64 KiB spread over the file (all of it when
    small): reads 4 MiB of a 350 MB graph, so a cold query can afford it at every start."""
    size = path.stat().st_size
    digest = hashlib.sha256(size.to_bytes(8, "little"))
    with path.open("rb") as fh:
        if size <= FINGERPRINT_BLOCK * FINGERPRINT_BLOCKS:
            digest.update(fh.read())
        else:
            step = (size - FINGERPRINT_BLOCK) // (FINGERPRINT_BLOCKS - 1)
            for block in range(FINGERPRINT_BLOCKS):
                fh.seek(block * step)
                digest.update(fh.read(FINGERPRINT_BLOCK))
    return digest.hexdigest()


def describe_file(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "fingerprint": file_fingerprint(path)}


@dataclass(frozen=True)
class Manifest:
    """What an export holds. `image`/`text` are None when that tower could not be exported
    (e.g. a preprocessing or tokenizer we do not reproduce), and torch then serves it."""

    directory: Path
    data: dict[str, Any]

    @property
    def dim(self) -> int:
        return int(self.data["dim"])

    @property
    def image(self) -> dict[str, Any] | None:
        image = self.data.get("image")
        return image if isinstance(image, dict) else None

    @property
    def text(self) -> dict[str, Any] | None:
        text = self.data.get("text")
        return text if isinstance(text, dict) else None

    @property
    def scoring(self) -> dict[str, Any]:
        return dict(self.data["scoring"])

    def graph_path(self, tower: str, precision: str) -> Path | None:
        """The graph file of `tower` ("image" or "text") in `precision`, when present."""
        section = self.data.get(tower)
        if not isinstance(section, dict):
            return None
        name = section["graph"] if precision == "fp32" else int8_name(section["graph"])
        return self.directory / name if name in self.data["files"] else None


def _valid_files(directory: Path, files: dict[str, Any]) -> bool:
    """Every file of the manifest has its size and fingerprint; a fingerprint once verified is
    not read again while the file is unchanged (`FileStamps`)."""
    stamps = FileStamps(directory / STAMPS)
    try:
        for name, expected in files.items():
            path = directory / name
            if path.stat().st_size != expected["size"]:
                log.warning("exported graph %s has the wrong size; rebuilding it", path)
                return False
            if stamps.checksum(path, file_fingerprint) != expected["fingerprint"]:
                log.warning("exported graph %s is damaged; rebuilding it", path)
                return False
    except OSError:
        return False
    finally:
        stamps.save()
    return True


def load_manifest(cache_dir: Path, identity: ModelIdentity) -> Manifest | None:
    """The export of `identity`, when present, of this format, and undamaged."""
    directory = export_dir(cache_dir, identity)
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        return None
    if data.get("identity") != identity.key:
        log.warning("export in %s belongs to another model; rebuilding it", directory)
        return None
    if not _valid_files(directory, data.get("files", {})):
        return None
    return Manifest(directory, data)


def write_manifest(directory: Path, data: dict[str, Any]) -> Manifest:
    """Record every graph file of `directory` and write the manifest last, atomically."""
    files = {
        path.name: describe_file(path)
        for path in sorted(directory.iterdir())
        if path.suffix in {".onnx", ".data"}
    }
    data = {**data, "format": FORMAT_VERSION, "files": files}
    temporary = directory / f".{MANIFEST}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(temporary, directory / MANIFEST)
    return Manifest(directory, data)


def replace_directory(staging: Path, final: Path) -> None:
    """Move a finished export into place; another process's finished export wins a race."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        shutil.rmtree(final, ignore_errors=True)
    try:
        os.replace(staging, final)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
