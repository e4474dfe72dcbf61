#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): installs the project from this working tree, runs the
# CUDA tests and measures indexing, vector search and captions on the GPU; one JSON document on
# stdout, progress on stderr, the document also in $OUT/gpu_check.json where $OUT is set.
#
#   bash benchmarks/gpu_check.sh                 # on a CUDA machine: about 8 minutes
#   bash benchmarks/gpu_check.sh --dry-run       # anywhere: every part at toy size, on the CPU
#   bash benchmarks/gpu_check.sh --fetch-wheels  # here, for a GPU machine that reaches no
#       package registry: puts into .whl/ the wheels (CPython 3.12, x86-64) of what the project
#       needs beyond that machine's image; the check then installs from .whl/ alone
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-python3}

if [[ "${1:-}" == "--fetch-wheels" ]]; then
  # Not on the nvidia-h200 image (its package list, 2026-11-17); torch, torchvision, numpy,
  # pillow, typer, rich, transformers, timm, huggingface_hub and safetensors are there.
  download=("$PYTHON" -m pip download -q --only-binary=:all: --python-version 3.12
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
    --platform manylinux2014_x86_64 -d .whl)
  "${download[@]}" --no-deps open_clip_torch faiss-cpu watchdog platformdirs setuptools
  "${download[@]}" ftfy sqlalchemy alembic pydantic-settings
  ls -l .whl
  du -sh .whl
  exit 0
fi
exec "$PYTHON" benchmarks/gpu_check.py "$@"
