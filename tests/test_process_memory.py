"""Memory given back once a model has loaded: clean pages of shared libraries, which read back
unchanged, and the free pages of the heap; nothing else is touched."""

from __future__ import annotations

import ctypes
import sys

import numpy as np
import pytest

from searchapp.process_memory import (
    Mapping,
    read_mappings,
    release_library_pages,
    return_freed_heap,
)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")
LIB = "/usr/lib/x86_64-linux-gnu/libfoo.so.1"


@pytest.mark.parametrize(
    ("mapping", "released"),
    [
        (Mapping(0, 4096, "r-xp", LIB, resident_kib=4), True),
        (Mapping(0, 4096, "r--p", "/opt/py/_umath.cpython-311-x86_64-linux-gnu.so", 4), True),
        (Mapping(0, 4096, "r--p", LIB, resident_kib=4, own_kib=4), False),  # relocated
        (Mapping(0, 4096, "rw-p", LIB, resident_kib=4), False),
        (Mapping(0, 4096, "r--p", "/data/ViT-B-32.pt", resident_kib=4), False),
        (Mapping(0, 4096, "r--p", "/data/towers/text.onnx", resident_kib=4), False),
        (Mapping(0, 4096, "rw-p", "", resident_kib=4), False),
        (Mapping(0, 4096, "r-xp", LIB, resident_kib=0), False),
    ],
)
def test_only_clean_read_only_library_mappings_are_released(
    mapping: Mapping, released: bool
) -> None:
    assert mapping.is_clean_shared_library is released


def _library_resident_kib() -> int:
    return sum(m.resident_kib for m in read_mappings() if m.is_clean_shared_library)


@linux_only
def test_released_library_pages_read_back_unchanged() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((64, 64))
    before = np.linalg.svd(matrix, compute_uv=False)
    assert _library_resident_kib() > 0

    released = release_library_pages()

    assert released > 0
    assert _library_resident_kib() < released
    np.testing.assert_array_equal(np.linalg.svd(matrix, compute_uv=False), before)


def _resident_mib() -> float:
    with open("/proc/self/status") as fh:
        line = next(row for row in fh if row.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


@linux_only
def test_freed_heap_goes_back_to_the_system() -> None:
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    chunk, count = 100_000, 2000  # below the mmap threshold: heap, not separate mappings
    blocks = [libc.malloc(chunk) for _ in range(count)]
    for block in blocks:
        ctypes.memset(block, 1, chunk)
    kept = blocks[::16]  # what stays allocated keeps the freed space from the heap's top
    for index, block in enumerate(blocks):
        if index % 16:
            libc.free(block)
    held = _resident_mib()

    assert return_freed_heap()

    freed_mib = chunk * (count - len(kept)) / 2**20
    assert held - _resident_mib() > freed_mib / 2
    for block in kept:
        libc.free(block)
