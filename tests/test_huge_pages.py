"""Memory a session mapped while opening is found and collapsed into huge pages where the kernel
does that on request; elsewhere nothing happens and nothing fails."""

from __future__ import annotations

import mmap
import sys
from pathlib import Path

import numpy as np
import pytest

from searchapp.models.huge_pages import (
    HUGE_PAGE,
    anonymous_regions,
    collapse,
    collapse_grown,
    grown_since,
)

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _huge_kib(start: int, end: int) -> int:
    """AnonHugePages of the mappings overlapping [start, end)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            lo, hi = (int(part, 16) for part in head.split("-"))
            inside = lo < end and start < hi
        elif inside and head == "AnonHugePages:":
            total += int(line.split()[1])
    return total


def test_new_and_grown_mappings_are_what_grew_by_a_huge_page_or_more() -> None:
    before = {0x1000_0000: 0x1000_1000, 0x2000_0000: 0x2040_0000}
    after = {
        0x1000_0000: 0x1000_1000,  # unchanged
        0x2000_0000: 0x2080_0000,  # grew by 4 MiB
        0x3000_0000: 0x3000_2000,  # new but small
        0x4000_0000: 0x4060_0000,  # new, 6 MiB
    }
    assert sorted(grown_since(before, after)) == [
        (0x2040_0000, 0x2080_0000),
        (0x4000_0000, 0x4060_0000),
    ]


def test_nothing_to_collapse_is_no_work() -> None:
    assert collapse([]) == 0
    assert collapse_grown(anonymous_regions()) == 0


def _thp_mode() -> str:
    """`always`, `madvise` or `never` (the bracketed word); empty without transparent huge pages."""
    if not sys.platform.startswith("linux") or not THP.exists():
        return ""
    text = THP.read_text()
    return text[text.index("[") + 1 : text.index("]")] if "[" in text else ""


@pytest.mark.skipif(
    _thp_mode() != "madvise",
    reason="needs Linux giving transparent huge pages on request only (THP mode `madvise`)",
)
def test_memory_mapped_since_a_snapshot_ends_in_huge_pages() -> None:
    before = anonymous_regions()
    # A mapping of its own: memory from malloc may reuse space an earlier test freed.
    mapped = mmap.mmap(-1, 16 * HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    weights = np.frombuffer(mapped, dtype=np.float32)
    weights[:] = 1.0  # written, like packed weights
    start, end = weights.ctypes.data, weights.ctypes.data + weights.nbytes
    ranges = [r for r in grown_since(before, anonymous_regions()) if r[0] < end and start < r[1]]
    assert ranges, "the new mapping was not found"
    already = _huge_kib(start, end)  # it may have merged with an older, huge one
    if collapse(ranges) == 0:
        pytest.skip("this kernel does not collapse on request (MADV_COLLAPSE needs Linux 6.1+)")
    assert _huge_kib(start, end) - already >= 8 * HUGE_PAGE // 1024
    assert float(weights.sum()) == weights.size  # the contents are untouched
    del weights
    mapped.close()
