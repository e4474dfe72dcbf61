"""The decode-ahead stage's sizing: how many decode workers, at what priority, and how many
files may be in flight ahead of the model (more while it is still loading, within a byte
budget of decoded pictures)."""

from __future__ import annotations

import contextlib
import os
import threading

from searchapp.config import Settings
from searchapp.image_input import draft_size

DECODE_NICENESS = 10
DECODE_AHEAD_BYTES = 256 * 2**20
PHOTO_BYTES = 3 * 12_000_000  # a 12 MP photo decoded in full


def default_workers() -> int:
    """Two more decode workers than cores, so that reads blocked on disk leave no core idle."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) + 2


def lower_thread_priority() -> None:
    """Decode workers yield the CPU to the model's threads: on a small machine the model's
    parallel kernels otherwise stall at their barriers whenever a decode thread preempts one."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DECODE_NICENESS)


def decode_ahead_count(settings: Settings, input_size: int | None) -> int:
    """How many decoded pictures fit in DECODE_AHEAD_BYTES at the draft size for `input_size`."""
    draft = draft_size(settings, input_size)
    picture = PHOTO_BYTES if draft is None else 9 * draft * draft  # 4:3, side ~1.5 × draft
    return DECODE_AHEAD_BYTES // picture


def files_in_flight(batch_size: int, workers: int, model_ready: bool, decode_ahead: int) -> int:
    """How many files may be in flight: enough to keep the model fed; while the model is
    still loading, more, so decoding gets ahead, as many as DECODE_AHEAD_BYTES of decoded
    pictures allow (they wait as pictures, not yet as the model's smaller input)."""
    steady = batch_size * 2 + workers
    if model_ready:
        return steady
    return max(steady, min(batch_size * 8 + workers, decode_ahead))
