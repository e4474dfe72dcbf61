"""Exported graphs with their weights in a separate file, which ONNX Runtime maps from disk.

Exports made before weights went to external data hold them inside the `.onnx` file, and
ONNX Runtime parses and copies all of them at every session start (a ViT-B-32 text tower: ~0.6 s
warm, 1.4 s from a cold page cache, against ~0.2 s mapped). Such a graph is rewritten once,
unchanged (ONNX Runtime with every optimisation off saves the graph it read), into
`mapped/<key>/` next to it, with the weights beside it. `key` is the source graph's fingerprint
and the ONNX Runtime version, so a rewritten graph always belongs to the file it came from;
its own files are checked by size and fingerprint (as the export's are, read once while they
are unchanged) before each use, and a damaged one is made again. Any failure to write (read-only
or full cache) leaves the source graph in use, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from searchapp.file_stamps import FileStamps
from searchapp.models.export_cache import STAMPS, describe_file, file_fingerprint

log = logging.getLogger(__name__)
INLINE_WEIGHTS_BYTES = 16 << 20
MAPPED_DIR = "mapped"
RECORD = "files.json"


def _key(graph: Path, runtime_version: str) -> str:
    digest = hashlib.sha256(f"{graph.name}\0{runtime_version}\0".encode())
    digest.update(file_fingerprint(graph).encode())
    return digest.hexdigest()[:24]


def _intact(directory: Path) -> bool:
    stamps = FileStamps(directory / STAMPS)
    try:
        files = json.loads((directory / RECORD).read_text(encoding="utf-8"))
        return bool(files) and all(
            (directory / name).stat().st_size == expected["size"]
            and stamps.checksum(directory / name, file_fingerprint) == expected["fingerprint"]
            for name, expected in files.items()
        )
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return False
    finally:
        stamps.save()


def _rewrite(graph: Path, staging: Path, onnxruntime: Any) -> None:
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.optimized_model_filepath = str(staging / graph.name)
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_file_name", f"{graph.name}.data"
    )
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
    )
    onnxruntime.InferenceSession(
        str(graph), sess_options=options, providers=["CPUExecutionProvider"]
    )
    files = {path.name: describe_file(path) for path in sorted(staging.iterdir())}
    (staging / RECORD).write_text(json.dumps(files), encoding="utf-8")


def mapped_graph(graph: Path, onnxruntime: Any, min_bytes: int = INLINE_WEIGHTS_BYTES) -> Path:
    """The graph to open for `graph`: itself when it is under `min_bytes` (its weights are
    external, or too small to matter), else its rewritten copy with mapped weights, made on
    first use."""
    try:
        if graph.stat().st_size < min_bytes:
            return graph
        final = graph.parent / MAPPED_DIR / graph.stem / _key(graph, onnxruntime.__version__)
        if _intact(final):
            return final / graph.name
        log.info("rewriting %s once with memory-mapped weights (faster start-up)", graph)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=final.parent))
        try:
            _rewrite(graph, staging, onnxruntime)
            for old in final.parent.iterdir():  # copies of an older source or runtime
                if old not in (staging, final) and not old.name.startswith(".staging-"):
                    shutil.rmtree(old, ignore_errors=True)
            with contextlib.suppress(OSError):  # another process's copy is in place
                os.replace(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if _intact(final):
            return final / graph.name
    except (OSError, RuntimeError) as exc:
        log.warning("could not rewrite %s with mapped weights (%s); loading it whole", graph, exc)
    return graph
