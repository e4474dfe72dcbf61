"""The stages of the Ray pipeline (`indexer.ray_runner`), as plain functions and one actor
class that Ray Data runs in its worker processes; no Ray import here.

Rows cross stages as columns of plain types (strings, integers, bytes, float32 vectors; paths
as their bytes, since a file name need not be UTF-8), so
blocks travel through the object store as Arrow tables: `listing_rows` → `decode_batch` (CPU
tasks: read, hash, skip content already embedded, decode, perceptual hash) → `EmbedBatch` (an
actor pool, one model load per actor) → `outcomes_of` on the driver, which writes them.
An empty string or 0 stands for "none" in a column.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from searchapp.config import Settings
from searchapp.decode import DecodeError
from searchapp.image_input import decode_for_model
from searchapp.models.base import Embedder, ModelIdentity, ModelSpec
from searchapp.perceptual import perceptual_hash
from searchapp.store import EmbeddedFile, FailedFile, ImageMeta, LinkedFile, Store
from searchapp.store.records import FileStat

log = logging.getLogger(__name__)
Columns = dict[str, Any]
EMBED, LINK, CONFIRM, FAIL = "embed", "link", "confirm", "fail"
PASS_THROUGH = ("path", "size", "mtime_ns", "ctime_ns", "inode", "kind", "content_hash", "reason")
META = ("width", "height", "orientation", "captured_at", "camera", "phash")


def content_hash(data: bytes) -> str:
    """The same content hash as the local pipeline's (`indexer.pipeline.content_hash`)."""
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def listing_rows(todo: Sequence[FileStat], known_hashes: Mapping[str, str | None]) -> list[Columns]:
    """The files to read, one row each, with the content hash the store knows for the path."""
    return [
        {
            "path": os.fsencode(stat.path),
            "size": stat.size,
            "mtime_ns": stat.mtime_ns,
            "ctime_ns": stat.ctime_ns,
            "inode": stat.inode,
            "known_hash": known_hashes.get(stat.path) or "",
        }
        for stat in todo
    ]


@functools.lru_cache(maxsize=4)
def _reader(database: Path | str) -> Store | None:
    """This worker process's read-only view of the store, to skip content already embedded; None
    where the store cannot be opened from here (then such content is embedded again, and the
    write replaces the vector: slower, never wrong)."""
    try:
        return Store(database, read_only=True)
    except Exception as exc:
        log.warning("store not readable from this worker (%s); embedding every file", exc)
        return None


def _embedded_already(store: Store | None, digest: str, model_id: int) -> bool:
    if store is None:
        return False
    try:
        return store.is_embedded(digest, model_id)
    except Exception:
        return False


def _empty_row(row: Mapping[str, Any]) -> Columns:
    return {
        **{key: row[key] for key in ("path", "size", "mtime_ns", "ctime_ns", "inode")},
        "kind": FAIL,
        "content_hash": "",
        "reason": "",
        "width": 0,
        "height": 0,
        "orientation": 0,
        "captured_at": "",
        "camera": "",
        "phash": "",
        "pixels": b"",
        "pix_width": 0,
        "pix_height": 0,
    }


def _decode_row(
    row: Mapping[str, Any],
    settings: Settings,
    input_size: int | None,
    model_id: int,
    verify: bool,
    reembed: bool,
) -> Columns:
    out = _empty_row(row)
    limit_mb = settings.max_file_megabytes
    if int(row["size"]) > limit_mb * 1e6:
        out["reason"] = (
            f"refused: {int(row['size']) / 1e6:.0f} MB is over the {limit_mb:.0f} MB limit for "
            "one image file (SEARCHAPP_MAX_FILE_MEGABYTES)"
        )
        return out
    try:
        with open(bytes(row["path"]), "rb") as fh:
            data = fh.read()
    except OSError as exc:
        out["reason"] = f"cannot read: {exc.strerror or exc}"
        return out
    digest = content_hash(data)
    out["content_hash"] = digest
    if not reembed and _embedded_already(_reader(settings.database), digest, model_id):
        out["kind"] = CONFIRM if verify and row["known_hash"] == digest else LINK
        return out
    try:
        decoded = decode_for_model(data, settings, input_size, os.fsdecode(bytes(row["path"])))
    except DecodeError as exc:
        out["reason"] = str(exc)
        return out
    except Exception as exc:  # a decoder bug must cost one file, never the run
        out["reason"] = f"could not decode: {type(exc).__name__}: {exc}"
        return out
    image = decoded.image.convert("RGB")
    meta = decoded.meta
    out.update(
        kind=EMBED,
        width=meta.width,
        height=meta.height,
        orientation=meta.orientation or 0,
        captured_at=meta.captured_at or "",
        camera=meta.camera or "",
        phash=perceptual_hash(decoded.image) or "",
        pixels=image.tobytes(),
        pix_width=image.width,
        pix_height=image.height,
    )
    return out


def _rows(batch: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    keys = list(batch)
    for values in zip(*(batch[key] for key in keys), strict=True):
        yield {
            key: value.item() if hasattr(value, "item") else value
            for key, value in zip(keys, values, strict=True)
        }


def _columns(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> Columns:
    return {key: [row[key] for row in rows] for key in keys}


DECODED_KEYS = (*PASS_THROUGH, *META, "pixels", "pix_width", "pix_height")


def decode_batch(
    batch: Mapping[str, Any],
    settings: Settings,
    input_size: int | None,
    model_id: int,
    verify: bool,
    reembed: bool,
) -> Columns:
    """CPU stage: each listed file read once, hashed, and decoded unless its content is already
    embedded (then it is only linked, or with `verify` confirmed)."""
    rows = [
        _decode_row(row, settings, input_size, model_id, verify, reembed) for row in _rows(batch)
    ]
    return _columns(rows, DECODED_KEYS)


class EmbedBatch:
    """The embedding stage: one model per actor, loaded when the actor starts (on its GPU when
    Ray gave it one), in the runtime the settings choose, as the local pipeline loads it."""

    def __init__(
        self, spec: ModelSpec, settings: Settings, identity: ModelIdentity, dim: int
    ) -> None:
        from searchapp.models.runtime import RuntimeLoader

        self.embedder: Embedder = RuntimeLoader(spec, settings, identity).load()
        self.dim = dim

    def __call__(self, batch: Mapping[str, Any]) -> Columns:
        rows = list(_rows(batch))
        wanted: list[int] = []
        pixels: list[Any] = []
        for index, row in enumerate(rows):
            if row["kind"] != EMBED:
                continue
            size = (int(row["pix_width"]), int(row["pix_height"]))
            try:
                picture = Image.frombytes("RGB", size, bytes(row["pixels"]))
                pixels.append(self.embedder.preprocess(picture))
            except Exception as exc:
                row.update(kind=FAIL, reason=f"could not preprocess: {type(exc).__name__}: {exc}")
                continue
            wanted.append(index)
        vectors: NDArray[np.float32] | None = None
        if pixels:
            vectors = np.asarray(self.embedder.encode_images(pixels), dtype=np.float32)
        out = _columns(rows, (*PASS_THROUGH, *META))
        matrix = np.zeros((len(rows), self.dim), dtype=np.float32)
        if vectors is not None:
            matrix[wanted] = vectors
        out["vector"] = matrix
        return out


def embed_stage(spec: ModelSpec, settings: Settings, identity: ModelIdentity, dim: int) -> type:
    """`EmbedBatch` bound to its model, as a class without constructor arguments: Ray keeps its
    definition, not arguments in the object store that a restarted actor could lose."""

    class BoundEmbedBatch(EmbedBatch):
        def __init__(self) -> None:
            super().__init__(spec, settings, identity, dim)

    return BoundEmbedBatch


def outcomes_of(
    batch: Mapping[str, Any],
) -> tuple[list[EmbeddedFile], list[LinkedFile], list[LinkedFile], list[FailedFile]]:
    """A batch from the embedding stage as the store's records: embedded, linked, confirmed
    (`--verify`: content as indexed) and failed files."""
    embedded: list[EmbeddedFile] = []
    linked: list[LinkedFile] = []
    confirmed: list[LinkedFile] = []
    failed: list[FailedFile] = []
    vectors = np.asarray(batch["vector"], dtype=np.float32)
    for index, row in enumerate(_rows({k: v for k, v in batch.items() if k != "vector"})):
        stat = FileStat(
            os.fsdecode(bytes(row["path"])),
            int(row["size"]),
            int(row["mtime_ns"]),
            int(row["ctime_ns"]),
            int(row["inode"]),
        )
        kind = row["kind"]
        if kind == EMBED:
            meta = ImageMeta(
                int(row["width"]),
                int(row["height"]),
                row["captured_at"] or None,
                row["camera"] or None,
                int(row["orientation"]) or None,
                row["phash"] or None,
            )
            embedded.append(
                EmbeddedFile(stat, str(row["content_hash"]), meta, vectors[index].copy())
            )
        elif kind == LINK:
            linked.append(LinkedFile(stat, str(row["content_hash"])))
        elif kind == CONFIRM:
            confirmed.append(LinkedFile(stat, str(row["content_hash"])))
        else:
            failed.append(FailedFile(stat, str(row["reason"])))
    return embedded, linked, confirmed, failed
