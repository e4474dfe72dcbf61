"""Memory this process holds but no longer uses, given back to the system.

- **Start-up pages of shared libraries.** Importing torch (the CUDA build, on a CPU machine too),
  torchvision, triton and the tokenizers runs their static initialisers and symbol lookups,
  which reads about 300 MB of library code and read-only data that a CPU run never touches
  again. Those pages are clean copies of the files on disk, counted in the process's resident
  memory (and by the kernel's out-of-memory ranking) until the system is short of memory.
  `release_library_pages`, called once a model has loaded, drops them from this process's page
  tables (`MADV_DONTNEED`); the pages it still runs come back from the page cache at the next
  touch, without reading the disk. Only mappings of shared libraries that are read-only and hold
  no page of their own (nothing written, nothing relocated) are released, so no content can
  change: a released page reads back exactly what the file holds.
- **Freed heap.** Decoded pictures come and go in the decode workers' malloc arenas, which keep
  what was freed (hundreds of MB over a run). `return_freed_heap` (`malloc_trim`) returns the
  whole free pages to the system; the indexer calls it after each batch it wrote.

Off Linux, or without glibc, both do nothing.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
from dataclasses import dataclass
from typing import Any

from searchapp.models.huge_pages import MADV_DONTNEED, libc_madvise

log = logging.getLogger(__name__)

SMAPS = "/proc/self/smaps"
OWN_PAGE_FIELDS = ("Private_Dirty:", "Shared_Dirty:", "Anonymous:")


@dataclass
class Mapping:
    start: int
    end: int
    perms: str
    path: str
    resident_kib: int = 0
    own_kib: int = 0

    @property
    def is_clean_shared_library(self) -> bool:
        """Read-only code or data of a shared library file, none of it written or relocated."""
        name = self.path.rsplit("/", 1)[-1]
        return (
            self.path.startswith("/")
            and "w" not in self.perms
            and (name.endswith(".so") or ".so." in name)
            and self.resident_kib > 0
            and self.own_kib == 0
        )


def read_mappings(smaps: str = SMAPS) -> list[Mapping]:
    """This process's mappings with their resident and own (written) sizes; [] without /proc."""
    mappings: list[Mapping] = []
    try:
        with open(smaps, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split()
                if not fields:
                    continue
                if fields[0].endswith(":"):
                    if mappings and fields[0] == "Rss:":
                        mappings[-1].resident_kib = int(fields[1])
                    elif mappings and fields[0] in OWN_PAGE_FIELDS:
                        mappings[-1].own_kib += int(fields[1])
                    continue
                start, end = (int(part, 16) for part in fields[0].split("-"))
                path = fields[5] if len(fields) > 5 else ""
                mappings.append(Mapping(start, end, fields[1], path))
    except (OSError, ValueError, IndexError):
        return []
    return mappings


def release_library_pages() -> int:
    """Drop the resident pages of clean shared-library mappings; the KiB released."""
    madvise = libc_madvise()
    if madvise is None:
        return 0
    released = 0
    for mapping in read_mappings():
        if not mapping.is_clean_shared_library:
            continue
        if madvise(mapping.start, mapping.end - mapping.start, MADV_DONTNEED) == 0:
            released += mapping.resident_kib
    log.debug("released %.0f MiB of shared-library pages", released / 1024)
    return released


@functools.cache
def _malloc_trim() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def return_freed_heap() -> bool:
    """Return the heap's free pages to the system (glibc `malloc_trim`); whether it could."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
