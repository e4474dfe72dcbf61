"""A random-weight open_clip checkpoint, so that the real CLI path
`searchapp index --model NAME --pretrained CHECKPOINT.pt` runs offline with the same compute as
the pretrained model (speed, memory and I/O are real; search quality is not).

    python benchmarks/make_random_checkpoint.py ViT-B-32-256 --out-dir ~/.cache/searchapp-bench
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, log


def checkpoint_path(model_name: str, out_dir: Path, seed: int = 0) -> Path:
    safe = model_name.replace("/", "_").replace(":", "_")
    return Path(out_dir).expanduser() / f"{safe}-random-seed{seed}.pt"


def random_checkpoint(model_name: str, out_dir: Path, seed: int = 0) -> Path:
    """Save the state_dict of `open_clip.create_model(model_name)` after torch.manual_seed(seed).

    Reuses an existing file of the same name (it is deterministic); writes atomically.
    """
    path = checkpoint_path(model_name, out_dir, seed)
    if path.is_file() and path.stat().st_size > 0:
        return path
    import open_clip
    import torch

    if model_name not in open_clip.list_models():
        raise SystemExit(f"unknown open_clip architecture: {model_name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    log(f"creating random-weight {model_name} checkpoint at {path}")
    torch.manual_seed(seed)
    model = open_clip.create_model(model_name, pretrained=None)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    torch.save(model.state_dict(), partial)
    os.replace(partial, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="open_clip architecture name, e.g. ViT-B-32-256")
    parser.add_argument(
        "--out-dir", type=Path, default=Path("~/.cache/searchapp-bench/checkpoints")
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    existed = checkpoint_path(args.model, args.out_dir, args.seed).is_file()
    path = random_checkpoint(args.model, args.out_dir, args.seed)
    emit(
        {
            "model": args.model,
            "checkpoint": str(path),
            "bytes": path.stat().st_size,
            "reused": existed,
            "seconds": round(time.perf_counter() - started, 2),
        }
    )


if __name__ == "__main__":
    main()
